"""``kill -9`` of ``f0 run``: what a running shell step started dies with the runner, so that
``f0 resume`` never runs the step again beside an old copy still doing the work."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
from pathlib import Path

import psutil
import pytest
from tests.helpers import eventually, f0, start_f0

pytestmark = pytest.mark.skipif(os.name != "posix", reason="SIGKILL; the watchdog covers POSIX only")

# First session: a writer in the background (a grandchild of the runner) ticks into `out`, a
# sleeper (another one) and the shell itself wait; their pids go to `pids`. Resumed: the step says
# `second`, then shows the last line of `out` a second later (an old writer would have ticked).
RECIPE = """
steps:
  - name: work
    uses: shell
    args:
      cmd: |
        if [ -e pids ]; then echo second >> out; sleep 1; tail -n 1 out; exit 0; fi
        (while :; do echo first >> out; sleep 0.1; done) &
        writer=$!
        sleep 300 &
        echo $$ $writer $! > pids.tmp && mv pids.tmp pids
        wait
"""

WITHIN = 30.0  # generous: CI is a busy 2-core machine


def wait_for_pids(path: Path, runner: subprocess.Popen[str], stderr: Path) -> list[int]:
    def written() -> bool:
        assert runner.poll() is None, f"f0 run ended (exit {runner.returncode}) first:\n{stderr.read_text()}"
        return path.exists()

    eventually(written, "the shell step to write its pids", within=WITHIN)
    return [int(word) for word in path.read_text().split()]


def running(pid: int) -> bool:
    """Whether ``pid`` still runs; a zombie (dead, waiting to be reaped) does not."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def assert_ended(pids: list[int]) -> None:
    """Wait, at most WITHIN, for every process of ``pids`` to end."""
    eventually(
        lambda: not any(running(pid) for pid in pids),
        lambda: f"processes {[pid for pid in pids if running(pid)]} to end",
        within=WITHIN,
    )


def kill_left_overs(processes: list[psutil.Process]) -> None:
    for process in processes:
        try:
            process.kill()
        except psutil.Error:
            pass


PROCESS = pytest.param("process", None, id="process")

STRICT = os.environ.get("F0_STRICT", "") not in ("", "0")
# Under F0_STRICT=1 a missing Dask is not skipped: the dask case then fails.
DASK = pytest.param(
    "dask",
    None,
    marks=pytest.mark.skipif(
        importlib.util.find_spec("distributed") is None and not STRICT,
        reason="Dask's distributed scheduler is not installed (pip install dask[distributed])",
    ),
    id="dask-local-cluster",
)


@pytest.mark.parametrize(
    ("executor", "timeout"),
    [
        pytest.param("local", None, id="local"),
        pytest.param("local", "10m", id="local-with-a-timeout"),
        PROCESS,
        DASK,
    ],
)
def test_kill_9_of_f0_run_ends_the_shell_step_and_what_it_started_and_resume_runs_it_alone(
    tmp_path: Path, executor: str, timeout: str | None
) -> None:
    recipe = RECIPE if timeout is None else RECIPE + f"      timeout: {timeout}\n"
    (tmp_path / "r.yaml").write_text(recipe, encoding="utf-8")
    store = f"sqlite:///{tmp_path / 's.db'}"
    stderr = tmp_path / "stderr"
    with stderr.open("wb") as errors:
        runner = start_f0(
            "run",
            "r.yaml",
            "--executor",
            executor,
            "--store",
            store,
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=errors,
        )
    started: list[psutil.Process] = []
    try:
        step_pids = wait_for_pids(tmp_path / "pids", runner, stderr)
        # Everything the runner started, the step's processes and (process executor) its workers.
        started = psutil.Process(runner.pid).children(recursive=True)
        assert set(step_pids) <= {process.pid for process in started}
        runner.kill()
        runner.wait(timeout=WITHIN)

        assert_ended(step_pids)
        assert_ended([process.pid for process in started])
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.wait()
        kill_left_overs(started)

    (run,) = json.loads(f0("runs", "list", "--json", "--store", store, cwd=tmp_path).stdout)
    resumed = f0("resume", run["run_id"], "--executor", executor, "--store", store, "--json", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    result = json.loads(resumed.stdout)
    assert result["steps"]["work"]["status"] == "succeeded"
    assert result["steps"]["work"]["output"]["stdout"] == "second\n"
