"""On a Dask cluster started elsewhere (``--dask-scheduler``), steps run in the runner's folder
when the workers have it (a shared file system), as they would locally; when they do not, the
step's log says so in one line.

The cluster here is a real one in a process of its own, started in another folder than the tests'
(a LocalCluster's workers would otherwise inherit this process's folder)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

import framework0
from framework0.events import EventBus, LogLines

if TYPE_CHECKING:
    from tests.engine.dask.dask_steps import require_distributed
else:
    from dask_steps import require_distributed

HERE = Path(__file__).resolve().parent

CLUSTER = """
import sys
import dask
import distributed

with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
    cluster = distributed.LocalCluster(
        n_workers=1,
        threads_per_worker=2,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        scheduler_kwargs={"dashboard": False, "dashboard_address": "127.0.0.1:0"},
        preload=["framework0.engine.executors.dask_worker"],
    )
print(cluster.scheduler_address, flush=True)
sys.stdin.read()  # until the test closes it
cluster.close()
"""


@pytest.fixture(scope="module")
def elsewhere(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The address of a Dask cluster whose workers run in a folder of their own."""
    require_distributed()
    folder = tmp_path_factory.mktemp("workers-folder")
    process = subprocess.Popen(
        [sys.executable, "-c", CLUSTER],
        cwd=folder,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdin is not None and process.stdout is not None
    first: list[str] = []
    reader = threading.Thread(target=lambda: first.append(process.stdout.readline()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    reader.join(timeout=120)
    try:
        if not first or not first[0].startswith("tcp://"):
            raise RuntimeError(f"the Dask cluster did not start (exit code {process.poll()})")
        yield first[0].strip()
    finally:
        process.stdin.close()
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        process.stdout.close()


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The folder the runner runs in, with a data file that steps read by a relative path."""
    folder = tmp_path / "project"
    (folder / "data").mkdir(parents=True)
    (folder / "data" / "in.txt").write_text("hello\n", encoding="utf-8")
    monkeypatch.chdir(folder)
    return folder


def run(address: str, text: str, bus: EventBus | None = None) -> framework0.RunResult:
    recipe = framework0.load_recipe_text(textwrap.dedent(text), file="t.yaml", base_dir=HERE)
    return framework0.run(recipe, executor=framework0.DaskExecutor(address), store=None, bus=bus)


def test_steps_on_a_cluster_started_elsewhere_run_in_the_runners_folder(elsewhere: str, project: Path) -> None:
    result = run(
        elsewhere,
        """
        steps:
          - {name: shell_reads, uses: shell, args: {cmd: cat data/in.txt}}
          - {name: python_reads, module: dask_steps, function: read_file, args: {path: data/in.txt}}
          - {name: writes, uses: files, args: {action: write, path: out/result.txt, content: done}}
          - {name: where, module: dask_steps, function: working_folder}
        """,
    )
    assert result.status == "succeeded", {name: step.error for name, step in result.steps.items()}
    assert result.steps["shell_reads"].output["stdout"] == "hello\n"
    assert result.steps["python_reads"].output == "hello\n"
    assert (project / "out" / "result.txt").read_text(encoding="utf-8") == "done"
    assert os.path.realpath(result.steps["where"].output) == os.path.realpath(project)


def test_a_worker_without_the_runners_folder_says_so_in_the_steps_log(elsewhere: str, project: Path) -> None:
    # The first step moves the runner's folder away, so that the workers no longer have it.
    bus = EventBus()
    notes: list[LogLines] = []
    bus.subscribe(
        lambda event: notes.append(event) if isinstance(event, LogLines) and event.stream == "framework" else None
    )
    moved = project.with_name("moved")
    result = run(
        elsewhere,
        f"""
        steps:
          - {{name: move, module: dask_steps, function: rename, args: {{source: "{project}", destination: "{moved}"}}}}
          - {{name: reads, uses: shell, args: {{cmd: cat data/in.txt}}, depends_on: [move]}}
        """,
        bus,
    )
    assert result.steps["reads"].status == "failed"
    said = [note.text for note in notes if note.step == "reads" and note.stream == "framework"]
    assert len(said) == 1 and said[0].startswith("this Dask worker (tcp://127.0.0.1:"), said
    assert f"has no folder {project} (the runner's): relative paths resolve in the worker's folder" in said[0]
