"""``f0 logs``: what steps printed and logged, per attempt, read back from the store; through the real
``f0`` command in process (a real process where it must be one: following, Ctrl-C), each test
with a store of its own."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from tests.helpers import eventually, invoke, start_f0

from framework0.errors import StoreNotFound
from framework0.store import open_store

STEPS = """\
import logging
import sys
import time
from pathlib import Path


def greet():
    print("hello")
    print("mind the gap", file=sys.stderr)


def warn():
    logging.getLogger("greeter").warning("low on %s", "coffee")


def fetch(item, counter):
    path = Path(f"{counter}.{item}")
    count = int(path.read_text()) + 1 if path.exists() else 1
    path.write_text(str(count))
    print(f"fetching {item}, try {count}")
    if item == "b" and count == 1:
        raise ConnectionError("flaky network")


def wait_for(go):
    print("first", flush=True)
    deadline = time.monotonic() + 30
    while not Path(go).exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    print("second")
"""

RECIPE = """\
steps:
  - {name: greet, module: log_steps, function: greet}
  - {name: warn, module: log_steps, function: warn, depends_on: [greet]}
  - {name: shell, uses: shell, args: {argv: ["PYTHON", "-c", "print('from the command')"]}}
"""

FOREACH = """\
steps:
  - name: fetch
    module: log_steps
    function: fetch
    foreach: "{{ ['a', 'b'] }}"
    args: {item: "{{ item }}", counter: count}
    retry: {attempts: 2, delay: 0}
"""

LIVE = """\
steps:
  - {name: live, module: log_steps, function: wait_for, args: {go: go}}
"""

# A step with a timeout runs on a worker thread; one alone without runs on the scheduler's thread.
LIVE_ON_A_WORKER = """\
steps:
  - {name: live, module: log_steps, function: wait_for, args: {go: go}, timeout: 60}
"""


def f0(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``f0 ARGS`` in ``cwd`` (in this process), with no F0_* setting from the test session."""
    return invoke(*args, cwd=cwd)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "log_steps.py").write_text(STEPS, encoding="utf-8")
    (tmp_path / "r.yaml").write_text(RECIPE.replace("PYTHON", sys.executable.replace("\\", "/")), encoding="utf-8")
    (tmp_path / "foreach.yaml").write_text(FOREACH, encoding="utf-8")
    (tmp_path / "live.yaml").write_text(LIVE, encoding="utf-8")
    (tmp_path / "live_on_a_worker.yaml").write_text(LIVE_ON_A_WORKER, encoding="utf-8")
    return tmp_path


def store_url(folder: Path) -> str:
    return f"sqlite:///{folder / 'runs.db'}"


def run_recipe(folder: Path, recipe: str, *options: str) -> str:
    """Run ``recipe`` with ``f0 run`` into the folder's store; the run's id."""
    process = f0("run", recipe, "--store", store_url(folder), *options, cwd=folder)
    assert process.returncode in (0, 1), process.stdout + process.stderr
    return only_run(folder)


def only_run(folder: Path) -> str:
    store = open_store(store_url(folder))
    try:
        (run,) = store.list_runs()
        return str(run["run_id"])
    finally:
        store.close()


def logs(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return f0("logs", *args, "--store", store_url(folder), cwd=folder)


def test_f0_logs_shows_what_each_step_printed_with_stderr_and_logging_marked(project):
    run_id = run_recipe(project, "r.yaml")
    process = logs(project, run_id)
    assert process.returncode == 0, process.stderr
    lines = process.stdout.splitlines()
    assert lines[:2] == ["greet | hello", "greet stderr | mind the gap"]
    assert "warn log | WARNING greeter: low on coffee" in lines
    assert "shell | from the command" in lines


def test_a_run_id_prefix_is_enough(project):
    run_id = run_recipe(project, "r.yaml")
    assert logs(project, run_id[:6], "greet").stdout.splitlines()[0] == "greet | hello"


def test_f0_logs_of_one_step_shows_only_its_lines(project):
    run_id = run_recipe(project, "r.yaml")
    assert logs(project, run_id, "shell").stdout == "shell | from the command\n"


def test_stream_keeps_only_that_stream(project):
    run_id = run_recipe(project, "r.yaml")
    assert logs(project, run_id, "--stream", "log").stdout == "warn log | WARNING greeter: low on coffee\n"


def test_each_attempt_of_a_retried_foreach_item_has_its_own_lines(project):
    run_id = run_recipe(project, "foreach.yaml")
    assert sorted(logs(project, run_id, "--stream", "stdout").stdout.splitlines()) == [
        "fetch[0] #1 | fetching a, try 1",
        "fetch[1] #1 | fetching b, try 1",
        "fetch[1] #2 | fetching b, try 2",
    ]


def test_the_process_executor_records_what_steps_print(project):
    run_id = run_recipe(project, "r.yaml", "--executor", "process")
    lines = logs(project, run_id).stdout.splitlines()
    assert lines[:2] == ["greet | hello", "greet stderr | mind the gap"]
    assert "shell | from the command" in lines


def test_an_unknown_step_is_one_line_with_a_suggestion_and_exit_2(project):
    run_id = run_recipe(project, "r.yaml")
    process = logs(project, run_id, "gret")
    assert process.returncode == 2
    assert process.stderr == "error: the run has no step 'gret' (did you mean 'greet'?)\n"


def test_an_unknown_run_is_one_line_and_exit_2(project):
    run_recipe(project, "r.yaml")
    process = logs(project, "nosuchrun")
    assert process.returncode == 2
    assert process.stderr.startswith("error: no run 'nosuchrun' in the store ")
    assert process.stderr.count("\n") == 1


@pytest.mark.parametrize("recipe", ["live.yaml", "live_on_a_worker.yaml"], ids=["scheduler-thread", "worker-thread"])
def test_follow_prints_lines_as_they_come_and_exits_when_the_run_ends(project, recipe):
    url = store_url(project)
    run = start_f0("run", recipe, "--store", url, cwd=project, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    follow = None
    try:
        run_id = wait_for_line(project, "first")
        follow = start_f0("logs", run_id, "--follow", "--store", url, cwd=project)
        assert follow.stdout is not None
        first = follow.stdout.readline()  # it follows now: the stored line is printed
        assert follow.poll() is None, "f0 logs --follow ended while the run still ran"
        (project / "go").touch()
        out, err = follow.communicate(timeout=60)
        assert (follow.returncode, first + out, err) == (0, "live | first\nlive | second\n", "")
        assert run.wait(timeout=60) == 0
    finally:
        for process in (run, follow):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait()


@pytest.mark.skipif(sys.platform == "win32", reason="sends SIGINT")
def test_ctrl_c_stops_follow_quietly_with_exit_130(project):
    url = store_url(project)
    run = start_f0(
        "run",
        "live_on_a_worker.yaml",
        "--store",
        url,
        cwd=project,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    follow = None
    try:
        run_id = wait_for_line(project, "first")
        follow = start_f0("logs", run_id, "--follow", "--store", url, cwd=project)
        assert follow.stdout is not None
        first = follow.stdout.readline()  # it follows now: the stored line is printed
        follow.send_signal(signal.SIGINT)
        out, err = follow.communicate(timeout=60)
        assert (follow.returncode, first + out, err) == (130, "live | first\n", "")
    finally:
        (project / "go").touch()
        run.wait(timeout=60)
        if follow is not None and follow.poll() is None:
            follow.kill()
            follow.wait()


def logged_run(folder: Path, text: str) -> str | None:
    """The id of the folder's run whose store holds a log line ``text``, if there is one yet."""
    if not (folder / "runs.db").exists():
        return None
    store = open_store(store_url(folder), create=False)  # never a migration of its own, racing the runner's
    try:
        for run in store.list_runs():
            if any(row["text"] == text for row in store.logs(run["run_id"])):
                return str(run["run_id"])
        return None
    finally:
        store.close()


def wait_for_line(folder: Path, text: str) -> str:
    """The id of the folder's one run, once its store holds a log line ``text``."""
    return eventually(lambda: logged_run(folder, text), f"a log line {text!r}", ignoring=(StoreNotFound,))


@pytest.mark.parametrize("executor", ["local", "process"])
def test_run_json_prints_only_the_result_on_stdout_when_steps_print(project, executor):
    process = f0("run", "r.yaml", "--json", "--executor", executor, "--store", store_url(project), cwd=project)
    assert process.returncode == 0, process.stderr
    assert json.loads(process.stdout)["status"] == "succeeded"
    assert "hello\n" in process.stderr
