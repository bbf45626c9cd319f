"""``f0 runs list`` and ``f0 runs show``, in process (the real command line), against a store of real runs."""

from __future__ import annotations

import json
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.helpers import eventually, invoke, start_f0

HELLO = """\
test_meta:
  test_id: HELLO-1
params:
  who: world
steps:
  - name: greet
    uses: hello_world
    args: {name: "{{ params.who }}"}
  - name: check
    uses: assert
    args: {that: "steps.greet.output.startswith('Hello')"}
"""

FAILING = """\
steps:
  - name: boom
    uses: shell
    args: {cmd: "echo the widget is on fire >&2; exit 3"}
  - name: after
    uses: hello_world
    depends_on: [boom]
"""

SLOW = """\
test_meta:
  test_id: SLOW-1
params:
  nap: 30
steps:
  - name: first
    uses: set_context
    args: {values: {a: 1}}
  - name: nap
    uses: sleep
    args: {seconds: "{{ params.nap }}"}
    depends_on: [first]
"""

DAY = 86400.0


def f0(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``f0 ARGS`` in ``cwd`` (in this process), with no F0_* setting from the test session."""
    return invoke(*args, cwd=cwd)


def run_id_of(completed: subprocess.CompletedProcess[str]) -> str:
    run_id: str = json.loads(completed.stdout)["run_id"]
    return run_id


def age(db: Path, run_id: str, days: float) -> None:
    """Make a recorded run look as if it started ``days`` earlier."""
    with closing(sqlite3.connect(db)) as connection, connection:
        connection.execute(
            "UPDATE runs SET started_at = started_at - ?, finished_at = finished_at - ? WHERE run_id = ?",
            (days * DAY, days * DAY, run_id),
        )


@dataclass
class History:
    folder: Path
    store: str
    db: Path
    old_hello: str  # HELLO-1, 5 days ago
    failed: str  # failing.yaml, failed
    new_hello: str  # HELLO-1, -p who=moon, just now

    def f0(self, *args: str) -> subprocess.CompletedProcess[str]:
        return f0(*args, "--store", self.store, cwd=self.folder)


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> History:
    """Three runs, oldest first: HELLO-1 (aged 5 days), failing.yaml (failed), HELLO-1 again."""
    folder = tmp_path_factory.mktemp("history")
    (folder / "hello.yaml").write_text(HELLO, encoding="utf-8")
    (folder / "failing.yaml").write_text(FAILING, encoding="utf-8")
    db = folder / "s.db"
    store = f"sqlite:///{db}"
    old = f0("run", "hello.yaml", "--json", "--store", store, cwd=folder)
    failed = f0("run", "failing.yaml", "--json", "--store", store, cwd=folder)
    new = f0("run", "hello.yaml", "-p", "who=moon", "--json", "--store", store, cwd=folder)
    assert (old.returncode, failed.returncode, new.returncode) == (0, 1, 0), failed.stderr
    age(db, run_id_of(old), 5)
    return History(folder, store, db, run_id_of(old), run_id_of(failed), run_id_of(new))


def listed_ids(completed: subprocess.CompletedProcess[str]) -> list[str]:
    assert completed.returncode == 0, completed.stderr
    return [run["run_id"] for run in json.loads(completed.stdout)]


def test_runs_list_shows_the_newest_run_first(history: History) -> None:
    listing = history.f0("runs", "list")

    assert listing.returncode == 0, listing.stderr
    rows = listing.stdout.splitlines()
    assert rows[0].split() == ["RUN", "RECIPE", "STATUS", "STARTED", "DURATION", "STEPS"]
    assert [row.split()[0] for row in rows[1:]] == [history.new_hello, history.failed, history.old_hello]
    assert rows[2].split()[1:3] == ["failing.yaml", "failed"]
    assert rows[2].endswith("1 failed, 1 skipped")
    assert rows[1].endswith("2 succeeded")


def test_runs_list_shows_the_start_in_local_time(history: History) -> None:
    listing = history.f0("runs", "list")
    with closing(sqlite3.connect(history.db)) as connection, connection:
        started = connection.execute("SELECT started_at FROM runs WHERE run_id = ?", (history.failed,)).fetchone()[0]

    expected = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started))
    assert expected in listing.stdout.splitlines()[2]


def test_runs_list_json_is_a_list_of_runs_newest_first(history: History) -> None:
    listing = history.f0("runs", "list", "--json")

    assert listed_ids(listing) == [history.new_hello, history.failed, history.old_hello]
    failed = json.loads(listing.stdout)[1]
    assert failed["recipe"] == {"test_id": None, "path": "failing.yaml"}
    assert failed["status"] == "failed"
    assert failed["runner_gone"] is False
    assert failed["steps"] == {"failed": 1, "skipped": 1}
    assert failed["error"]["type"] == "StepFailed"
    assert failed["duration_s"] > 0


@pytest.mark.parametrize(
    ("recipe", "expected"),
    [("HELLO-1", ["new_hello", "old_hello"]), ("failing.yaml", ["failed"]), ("nothing.yaml", [])],
    ids=["by-test-id", "by-file-name", "no-match"],
)
def test_runs_list_recipe_keeps_the_runs_of_that_recipe(history: History, recipe: str, expected: list[str]) -> None:
    listing = history.f0("runs", "list", "--recipe", recipe, "--json")

    assert listed_ids(listing) == [getattr(history, name) for name in expected]


def test_runs_list_status_keeps_the_runs_with_that_status(history: History) -> None:
    assert listed_ids(history.f0("runs", "list", "--status", "failed", "--json")) == [history.failed]
    assert listed_ids(history.f0("runs", "list", "--status", "succeeded", "--json")) == [
        history.new_hello,
        history.old_hello,
    ]


@pytest.mark.parametrize(
    ("since", "expected"),
    [("2d", ["new_hello", "failed"]), ("48h", ["new_hello", "failed"]), ("1w", ["new_hello", "failed", "old_hello"])],
    ids=["days", "hours", "weeks"],
)
def test_runs_list_since_an_age_leaves_out_older_runs(history: History, since: str, expected: list[str]) -> None:
    listing = history.f0("runs", "list", "--since", since, "--json")

    assert listed_ids(listing) == [getattr(history, name) for name in expected]


def test_runs_list_since_a_date_leaves_out_runs_before_it(history: History) -> None:
    two_days_ago = time.strftime("%Y-%m-%d", time.localtime(time.time() - 2 * DAY))

    listing = history.f0("runs", "list", "--since", two_days_ago, "--json")

    assert listed_ids(listing) == [history.new_hello, history.failed]


def test_runs_list_since_something_else_is_a_usage_error(history: History) -> None:
    listing = history.f0("runs", "list", "--since", "yesterday")

    assert listing.returncode == 2
    assert listing.stderr.strip() == (
        "error: --since 'yesterday': expected an age like 30d, 12h or 2w, or an ISO date like 2026-01-31"
    )


def test_runs_list_limit_shows_the_newest_runs_and_says_there_are_more(history: History) -> None:
    listing = history.f0("runs", "list", "--limit", "2")

    assert [row.split()[0] for row in listing.stdout.splitlines()[1:3]] == [history.new_hello, history.failed]
    assert listing.stdout.splitlines()[-1] == "(the newest 2 runs; --limit N shows more, --limit 0 all)"


def test_runs_list_of_an_empty_store_says_so(tmp_path: Path) -> None:
    from framework0.store import open_store

    open_store(f"sqlite:///{tmp_path}/empty.db").close()  # a store whose runs were all cleaned
    listing = f0("runs", "list", "--store", f"sqlite:///{tmp_path}/empty.db", cwd=tmp_path)

    assert (listing.returncode, listing.stdout) == (0, "no runs recorded\n")


def test_runs_show_prints_params_steps_and_errors(history: History) -> None:
    shown = history.f0("runs", "show", history.failed)

    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0] == f"run {history.failed}  failing.yaml  (failing.yaml)"
    assert lines[1].startswith("  status    failed in ")
    assert "  error     StepFailed: step 'boom' failed: CommandFailed: command" in shown.stdout
    assert re.search(r"^  ✗ boom   failed +\S+  1 attempt$", shown.stdout, re.MULTILINE)
    assert "      CommandFailed: command 'echo the widget is on fire >&2; exit 3' exited with code 3" in shown.stdout
    assert re.search(r"^  - after  skipped\s*$", shown.stdout, re.MULTILINE)
    assert "      (upstream step 'boom' failed)" in lines


def test_runs_show_prints_the_params_and_outputs(history: History) -> None:
    shown = history.f0("runs", "show", history.new_hello)

    assert 'params\n  who = "moon"\n' in shown.stdout
    assert "      → Hello, moon!" in shown.stdout.splitlines()


def test_runs_show_accepts_a_unique_prefix_of_the_run_id(history: History) -> None:
    shown = history.f0("runs", "show", history.failed[:5], "--json")

    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["run_id"] == history.failed


def test_runs_show_of_an_unknown_run_is_one_line_and_exit_2(history: History) -> None:
    shown = history.f0("runs", "show", "nosuchrun")

    assert shown.returncode == 2
    assert shown.stderr == f"error: no run 'nosuchrun' in the store {history.store}; f0 runs list shows the runs\n"


@pytest.mark.parametrize("command", [["runs"], ["runs", "list"], ["runs", "show"]], ids=" ".join)
def test_every_runs_command_help_has_an_example(tmp_path: Path, command: list[str]) -> None:
    helped = f0(*command, "--help", cwd=tmp_path)

    assert helped.returncode == 0, helped.stderr
    assert re.search(r"Examples?:\n\s+f0 runs ", helped.stdout)


# -- a run whose runner was killed ---------------------------------------------------------------


def store_shows(db: Path, query: str) -> bool:
    """Whether the SQLite store ``db`` has a row for ``query`` (no store or tables yet: no)."""
    if not db.exists():
        return False
    with closing(sqlite3.connect(db)) as connection, connection:
        return connection.execute(query).fetchone() is not None


@pytest.fixture
def killed(tmp_path: Path) -> Iterator[tuple[Path, str, str]]:
    """A run killed (SIGKILL) while its step ``nap`` ran: (folder, store URL, run id)."""
    (tmp_path / "slow.yaml").write_text(SLOW, encoding="utf-8")
    db = tmp_path / "s.db"
    store = f"sqlite:///{db}"
    process = start_f0(
        "run", "slow.yaml", "--store", store, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        running = "SELECT 1 FROM steps WHERE name = 'nap' AND status = 'running'"
        eventually(lambda: store_shows(db, running), "the step nap running", ignoring=(sqlite3.OperationalError,))
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    with closing(sqlite3.connect(db)) as connection, connection:
        run_id = connection.execute("SELECT run_id FROM runs").fetchone()[0]
    yield tmp_path, store, run_id


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_a_killed_run_is_marked_in_the_list_but_running_in_json(killed: tuple[Path, str, str]) -> None:
    folder, store, run_id = killed

    table = f0("runs", "list", "--store", store, cwd=folder)
    listed = f0("runs", "list", "--json", "--store", store, cwd=folder)

    assert table.stdout.splitlines()[1].split()[:5] == [run_id, "SLOW-1", "interrupted", "(runner", "gone)"]
    assert [(run["status"], run["runner_gone"]) for run in json.loads(listed.stdout)] == [("running", True)]


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_runs_show_of_a_killed_run_says_how_to_continue_it(killed: tuple[Path, str, str]) -> None:
    folder, store, run_id = killed

    shown = f0("runs", "show", run_id, "--store", store, cwd=folder)
    document = json.loads(f0("runs", "show", run_id, "--json", "--store", store, cwd=folder).stdout)

    assert "  status    interrupted (runner gone)" in shown.stdout.splitlines()
    assert f"on this machine) is gone; f0 resume {run_id} continues it" in shown.stdout
    assert (document["status"], document["finished_at"], document["duration_s"]) == ("running", None, None)
    assert document["steps"]["first"]["status"] == "succeeded"
    assert document["steps"]["nap"]["status"] == "running"
    assert document["context"] == {"a": 1}


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_runs_show_lists_the_sessions_of_a_resumed_run(killed: tuple[Path, str, str]) -> None:
    from framework0 import api
    from framework0.config import Config
    from framework0.engine.resume import load_resume
    from framework0.recipe.loader import load_recipe
    from framework0.store import open_store

    folder, store, run_id = killed
    recipe = load_recipe(folder / "slow.yaml")
    opened = open_store(store)
    try:
        state = load_resume(opened, run_id, recipe, params={"nap": 0})
    finally:
        opened.close()
    assert api.execute(recipe, Config(store=store), resume=state).status == "succeeded"

    shown = f0("runs", "show", run_id, "--store", store, cwd=folder)

    lines = shown.stdout.splitlines()
    sessions = lines[lines.index("sessions") + 1 :]
    assert [line.split()[:2] for line in sessions[:2]] == [["1", "run"], ["2", "resume"]]
    assert sessions[0].split()[-1] == "running"  # the first session never ended
    assert sessions[1].split()[-1] == "succeeded"
