"""Ctrl-C: running steps are cancelled, their teardown runs, finished work is kept, exit code 130."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import signal
import sqlite3
import subprocess
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.helpers import eventually, invoke, start_f0

HERE = Path(__file__).resolve().parents[1] / "engine"

pytestmark = pytest.mark.skipif(os.name != "posix", reason="sends SIGINT, as a terminal's Ctrl-C does on POSIX")

STRICT = os.environ.get("F0_STRICT", "") not in ("", "0")
# Under F0_STRICT=1 a missing Dask is not skipped: the dask case then fails.
DASK = pytest.param(
    "dask",
    marks=pytest.mark.skipif(
        importlib.util.find_spec("distributed") is None and not STRICT,
        reason="Dask's distributed scheduler is not installed (pip install dask[distributed])",
    ),
)


def start(tmp_path: Path, executor: str) -> tuple[subprocess.Popen[str], Path, Path]:
    log, started = tmp_path / "log", tmp_path / "started"
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        textwrap.dedent(
            f"""
            steps:
              - {{name: quick, module: engine_steps, function: echo, args: {{value: done}}}}
              - name: long
                module: engine_steps
                function: Lifecycle
                depends_on: [quick]
                args: {{log: "{log}", wait: 60, started: "{started}"}}
              - {{name: after, module: engine_steps, function: noop, depends_on: [long]}}
            """
        )
    )
    process = start_f0("run", recipe, "--json", "--executor", executor, cwd=tmp_path, env={"PYTHONPATH": str(HERE)})
    wait_for_file(process, started)
    return process, log, started


def finish(process: subprocess.Popen[str], timeout: float = 30) -> tuple[str, str]:
    """The process's output once it ends; killed (with its pipes closed) if it has not within ``timeout``."""
    try:
        return process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        stdout, stderr = process.communicate()
        pytest.fail(f"still running {timeout:g} s after Ctrl-C; its stderr:\n{stderr}", pytrace=False)


@pytest.mark.parametrize("executor", ["local", "process", DASK])
def test_ctrl_c_cancels_the_running_step_runs_its_teardown_and_exits_130(tmp_path, executor):
    process, log, _ = start(tmp_path, executor)
    process.send_signal(signal.SIGINT)
    stdout, stderr = finish(process)
    assert process.returncode == 130, stderr
    result = json.loads(stdout)
    assert result["status"] == "cancelled"
    assert result["steps"]["quick"] == {**result["steps"]["quick"], "status": "succeeded", "output": "done"}
    assert result["steps"]["long"]["status"] == "cancelled"
    assert result["steps"]["after"]["status"] == "pending"
    assert log.read_text().splitlines()[-1] == "teardown:StepCancelled"
    assert "interrupted" in stderr
    assert "Traceback" not in stderr


def start_runbook(tmp_path: Path, executor: str, cleanup_waits: float = 0) -> tuple[subprocess.Popen[str], Path]:
    """A runbook that takes a lock, works until stopped, and removes the lock in a cleanup step."""
    lock, started, cleaning = tmp_path / "lock", tmp_path / "started", tmp_path / "cleaning"
    recipe = tmp_path / "runbook.yaml"
    recipe.write_text(
        textwrap.dedent(
            f"""
            steps:
              - {{name: take_lock, uses: shell, args: {{cmd: "echo held > {lock}"}}}}
              - name: work
                module: engine_steps
                function: Lifecycle
                depends_on: [take_lock]
                args: {{log: "{tmp_path / "work.log"}", wait: 60, started: "{started}"}}
              - {{name: report, module: engine_steps, function: noop, depends_on: [work]}}
              - name: release_lock
                module: engine_steps
                function: Lifecycle
                depends_on: [report]
                trigger: always
                args: {{log: "{tmp_path / "cleanup.log"}", wait: {cleanup_waits}, started: "{cleaning}"}}
              - {{name: remove, uses: shell, args: {{cmd: "rm {lock}"}}, depends_on: [release_lock], trigger: always}}
            """
        )
    )
    process = start_f0("run", recipe, "--json", "--executor", executor, cwd=tmp_path, env={"PYTHONPATH": str(HERE)})
    wait_for_file(process, started)
    return process, lock


def wait_for(process: subprocess.Popen[str], condition: Callable[[], bool], what: str) -> None:
    """Wait until ``condition`` holds, failing at once with its output if ``process`` ends first."""

    def holds() -> bool:
        assert process.poll() is None, process.communicate()
        return condition()

    eventually(holds, what, within=60)


def wait_for_file(process: subprocess.Popen[str], path: Path) -> None:
    wait_for(process, path.exists, f"{path.name} to appear")


@pytest.mark.parametrize("executor", ["local", "process", DASK])
def test_ctrl_c_stops_the_running_steps_then_runs_the_cleanup_steps(tmp_path, executor):
    process, lock = start_runbook(tmp_path, executor)
    assert lock.exists()
    process.send_signal(signal.SIGINT)
    stdout, stderr = finish(process)
    assert process.returncode == 130, stderr
    result = json.loads(stdout)
    statuses = {name: step["status"] for name, step in result["steps"].items()}
    assert statuses == {
        "take_lock": "succeeded",
        "work": "cancelled",
        "report": "pending",
        "release_lock": "succeeded",
        "remove": "succeeded",
    }
    assert not lock.exists()
    assert (tmp_path / "work.log").read_text().splitlines()[-1] == "teardown:StepCancelled"
    assert result["status"] == "cancelled"


def test_a_second_ctrl_c_abandons_the_cleanup_steps(tmp_path):
    process, lock = start_runbook(tmp_path, "local", cleanup_waits=60)
    process.send_signal(signal.SIGINT)
    wait_for_file(process, tmp_path / "cleaning")
    process.send_signal(signal.SIGINT)
    stdout, stderr = finish(process)
    assert process.returncode == 130, stderr
    result = json.loads(stdout)
    assert result["steps"]["release_lock"]["status"] == "cancelled"
    assert result["steps"]["remove"]["status"] == "pending"
    assert lock.exists()
    assert "Traceback" not in stderr


def run_in_background(tmp_path: Path, text: str, *options: str) -> subprocess.Popen[str]:
    recipe = tmp_path / "r.yaml"
    recipe.write_text(textwrap.dedent(text))
    return start_f0("run", recipe, "--json", *options, cwd=tmp_path, env={"PYTHONPATH": str(HERE)})


def test_ctrl_c_does_not_stop_a_cleanup_step_that_runs_alone(tmp_path):
    # Alone, with nothing else to watch, a step may run on the scheduler's own thread, where
    # Ctrl-C lands; a cleanup step never does. (It takes 0.5 s of the 2 s grace period.)
    cleaning = tmp_path / "cleaning"
    process = run_in_background(
        tmp_path,
        f"""
        steps:
          - {{name: work, module: engine_steps, function: noop}}
          - name: cleanup
            module: engine_steps
            function: Lifecycle
            depends_on: [work]
            trigger: always
            args: {{log: "{tmp_path / "cleanup.log"}", wait: 0.5, started: "{cleaning}"}}
        """,
    )
    wait_for_file(process, cleaning)
    process.send_signal(signal.SIGINT)
    stdout, stderr = finish(process)
    assert process.returncode == 130, stderr
    result = json.loads(stdout)
    assert result["steps"]["cleanup"]["status"] == "succeeded"
    assert (tmp_path / "cleanup.log").read_text().splitlines()[-1] == "teardown:None"


def retry_recorded(database: Path, step: str) -> bool:
    """Whether the store at ``database`` holds a failed attempt of ``step`` that will be retried."""
    if not database.exists():
        return False
    with contextlib.closing(sqlite3.connect(database, timeout=5)) as connection:
        try:
            row = connection.execute(
                "SELECT 1 FROM attempts WHERE step = ? AND status = 'failed' AND retry_in_s IS NOT NULL", (step,)
            ).fetchone()
        except sqlite3.OperationalError:  # the tables are not there yet
            return False
    return row is not None


def test_a_second_ctrl_c_finishes_a_cleanup_step_waiting_to_retry_with_its_error(tmp_path):
    started, log, store = tmp_path / "started", tmp_path / "cleanup.log", f"sqlite:///{tmp_path}/s.db"
    process = run_in_background(
        tmp_path,
        f"""
        steps:
          - name: work
            module: engine_steps
            function: Lifecycle
            args: {{log: "{tmp_path / "work.log"}", wait: 60, started: "{started}"}}
          - name: cleanup
            module: engine_steps
            function: Lifecycle
            depends_on: [work]
            trigger: always
            retry: {{attempts: 5, delay: 60s}}
            args: {{log: "{log}", fail: true}}
        """,
        "--store",
        store,
    )
    wait_for_file(process, started)
    process.send_signal(signal.SIGINT)
    # its first attempt failed and the runner chose to retry it (recorded with its wait): only then is
    # the step waiting rather than running, whatever the machine's load
    wait_for(process, lambda: retry_recorded(tmp_path / "s.db", "cleanup"), "the cleanup step to wait for a retry")
    process.send_signal(signal.SIGINT)
    stdout, stderr = finish(process)
    assert process.returncode == 130, stderr
    cleanup = json.loads(stdout)["steps"]["cleanup"]
    assert (cleanup["status"], cleanup["attempts"], cleanup["error"]["type"]) == ("failed", 1, "RuntimeError")
    shown = invoke("runs", "show", json.loads(stdout)["run_id"], "--json", "--store", store)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["steps"]["cleanup"]["status"] == "failed"


def test_ctrl_c_during_f0_bench_exits_130_and_saves_no_baseline(tmp_path):
    started = tmp_path / "started"
    recipe = tmp_path / "bench.yaml"
    recipe.write_text(
        "test_meta: {test_id: BENCH-CTRL-C}\nsteps:\n"
        f"  - {{name: long, module: engine_steps, function: Lifecycle, "
        f'args: {{log: "{tmp_path / "log"}", wait: 60, started: "{started}"}}}}\n'
    )
    store = f"sqlite:///{tmp_path / 'runs.db'}"
    process = start_f0(
        "bench", recipe, "-n", "3", "--save-baseline", "main", "--store", store, cwd=tmp_path,
        env={"PYTHONPATH": str(HERE)},
    )  # fmt: skip
    wait_for_file(process, started)
    process.send_signal(signal.SIGINT)
    _, stderr = finish(process)

    assert process.returncode == 130, stderr
    assert "interrupted in run 1 of 4" in stderr and "no baseline saved" in stderr
    assert "Traceback" not in stderr
    with contextlib.closing(sqlite3.connect(tmp_path / "runs.db")) as connection:
        assert connection.execute("SELECT COUNT(*) FROM baselines").fetchone() == (0,)
        assert connection.execute("SELECT status FROM runs").fetchall() == [("cancelled",)]
