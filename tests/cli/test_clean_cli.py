"""``f0 clean --older-than AGE``: old runs go with everything recorded of them; nothing else does."""

from __future__ import annotations

import json
import re
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import pytest
from tests.helpers import eventually, invoke, start_f0

TABLES = ("runs", "sessions", "steps", "attempts", "logs", "context_versions", "context_snapshots", "cache")

# a step that fails once and is retried (attempts and log lines), context writes, a cached step,
# and a big output, so that a run leaves rows in every table and bytes worth freeing
BUSY = """\
test_meta:
  test_id: BUSY-1
params:
  tag: a
steps:
  - name: flaky
    uses: shell
    args: {cmd: "test -f marker-{{ params.tag }} || { touch marker-{{ params.tag }}; exit 1; }"}
    retry: {attempts: 2, delay: 0}
  - name: remember
    uses: set_context
    args: {values: {tag: "{{ params.tag }}"}}
  - name: big
    uses: python
    args: {call: "tasks:big", args: ["{{ params.tag }}"]}
    cache: true
"""

TASKS = """\
import random

def big(tag):
    rng = random.Random(tag)
    return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(200_000))
"""

FAILING = """\
steps:
  - name: boom
    uses: shell
    args: {cmd: "exit 3"}
"""

SLOW = """\
steps:
  - name: nap
    uses: sleep
    args: {seconds: 60}
"""

DAY = 86400.0


def f0(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``f0 ARGS`` in ``cwd`` (in this process), with no F0_* setting from the test session."""
    return invoke(*args, cwd=cwd)


class Store:
    """A folder with the recipes and a SQLite store, and ways to look into it."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.db = folder / "s.db"
        self.url = f"sqlite:///{self.db}"
        (folder / "busy.yaml").write_text(BUSY, encoding="utf-8")
        (folder / "tasks.py").write_text(TASKS, encoding="utf-8")
        (folder / "failing.yaml").write_text(FAILING, encoding="utf-8")
        (folder / "slow.yaml").write_text(SLOW, encoding="utf-8")

    def f0(self, *args: str) -> subprocess.CompletedProcess[str]:
        return f0(*args, "--store", self.url, cwd=self.folder)

    def run(self, recipe: str, *params: str, days_ago: float = 0) -> str:
        """Run ``recipe`` and make it look as if it started ``days_ago`` days ago; its run id."""
        ran = self.f0("run", recipe, *params, "--json")
        assert ran.returncode in (0, 1), ran.stderr
        run_id: str = json.loads(ran.stdout)["run_id"]
        if days_ago:
            self.age(run_id, days_ago)
        return run_id

    def age(self, run_id: str, days: float) -> None:
        with closing(sqlite3.connect(self.db)) as connection, connection:
            connection.execute(
                "UPDATE runs SET started_at = started_at - ?, finished_at = finished_at - ? WHERE run_id = ?",
                (days * DAY, days * DAY, run_id),
            )

    def run_ids(self) -> set[str]:
        with closing(sqlite3.connect(self.db)) as connection, connection:
            return {row[0] for row in connection.execute("SELECT run_id FROM runs")}

    def rows_of(self, run_id: str) -> dict[str, int]:
        with closing(sqlite3.connect(self.db)) as connection, connection:
            return {
                table: connection.execute(f"SELECT count(*) FROM {table} WHERE run_id = ?", (run_id,)).fetchone()[0]
                for table in TABLES
            }

    def size(self) -> int:
        return sum(path.stat().st_size for path in (self.db, self.db.with_name("s.db-wal")) if path.exists())


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path)


def test_clean_removes_the_runs_started_before_the_age_and_keeps_the_others(store: Store) -> None:
    old = store.run("busy.yaml", "-p", "tag=old", days_ago=40)
    older = store.run("failing.yaml", days_ago=31)
    recent = store.run("busy.yaml", "-p", "tag=recent", days_ago=29)
    new = store.run("failing.yaml")

    cleaned = store.f0("clean", "--older-than", "30d", "--yes")

    assert cleaned.returncode == 0, cleaned.stderr
    assert store.run_ids() == {recent, new}
    assert cleaned.stdout.startswith("removed 2 runs started before ")
    assert old not in cleaned.stdout and older not in cleaned.stdout  # the ids are listed by --dry-run only


def test_clean_removes_every_row_recorded_of_a_run(store: Store) -> None:
    old = store.run("busy.yaml", "-p", "tag=old", days_ago=40)
    before = store.rows_of(old)
    assert all(before[table] > 0 for table in TABLES if table != "context_snapshots"), before

    cleaned = store.f0("clean", "--older-than", "30d", "--yes")

    assert cleaned.returncode == 0, cleaned.stderr
    assert store.rows_of(old) == dict.fromkeys(TABLES, 0)
    detail = ", ".join(f"{table} {before[table]}" for table in TABLES if before[table])
    assert f": {sum(before.values())} rows ({detail})\n" in cleaned.stdout


def test_clean_gives_the_freed_space_back_to_the_file_system(store: Store) -> None:
    for tag in ("a", "b", "c"):
        store.run("busy.yaml", "-p", f"tag={tag}", days_ago=40)
    store.run("busy.yaml", "-p", "tag=kept")
    before = store.size()

    cleaned = store.f0("clean", "--older-than", "30d", "--yes")

    after = store.size()
    assert cleaned.returncode == 0, cleaned.stderr
    assert before - after > 3 * 200_000  # three big outputs in the steps and three in the cache
    freed = re.search(r"^freed (\S+) (\S+) on disk: the store's file went from ", cleaned.stdout, re.MULTILINE)
    assert freed is not None, cleaned.stdout
    assert float(freed.group(1)) * {"KiB": 1024, "MiB": 1024**2}[freed.group(2)] > 3 * 200_000
    assert re.search(r"\((\S+) (KiB|MiB) of recorded data\)$", cleaned.stdout.splitlines()[1])


def test_clean_dry_run_lists_the_runs_and_deletes_nothing(store: Store) -> None:
    old = store.run("failing.yaml", days_ago=40)
    new = store.run("failing.yaml")
    before = store.rows_of(old)

    cleaned = store.f0("clean", "--older-than", "30d", "--dry-run")

    assert cleaned.returncode == 0, cleaned.stderr
    lines = cleaned.stdout.splitlines()
    assert lines[0].startswith("would remove 1 run started before ")
    assert lines[1].split()[:3] == [old, "failing.yaml", "failed"]
    assert len(lines) == 2
    assert store.run_ids() == {old, new}
    assert store.rows_of(old) == before


def test_clean_status_removes_only_old_runs_with_that_status(store: Store) -> None:
    failed = store.run("failing.yaml", days_ago=40)
    succeeded = store.run("busy.yaml", days_ago=40)

    cleaned = store.f0("clean", "--older-than", "30d", "--status", "failed", "--yes")

    assert cleaned.returncode == 0, cleaned.stderr
    assert store.run_ids() == {succeeded}
    assert failed not in store.run_ids()


def test_clean_older_than_a_date_removes_the_runs_started_before_it(store: Store) -> None:
    old = store.run("failing.yaml", days_ago=3)
    new = store.run("failing.yaml")
    yesterday = time.strftime("%Y-%m-%d", time.localtime(time.time() - DAY))

    cleaned = store.f0("clean", "--older-than", yesterday, "--yes")

    assert cleaned.returncode == 0, cleaned.stderr
    assert store.run_ids() == {new}
    assert old not in store.run_ids()


def test_clean_with_nothing_old_enough_says_so(store: Store) -> None:
    new = store.run("failing.yaml")

    cleaned = store.f0("clean", "--older-than", "30d", "--yes")

    assert cleaned.returncode == 0, cleaned.stderr
    assert cleaned.stdout.startswith("nothing to remove: no run started before ")
    assert store.run_ids() == {new}


def test_clean_needs_older_than(store: Store) -> None:
    store.run("failing.yaml", days_ago=40)

    cleaned = store.f0("clean", "--yes")

    assert cleaned.returncode == 2
    assert "Error: Missing option '--older-than'." in cleaned.stderr
    assert len(store.run_ids()) == 1


def test_clean_off_a_terminal_without_yes_deletes_nothing_and_says_why(store: Store) -> None:
    old = store.run("failing.yaml", days_ago=40)

    cleaned = store.f0("clean", "--older-than", "30d")

    assert cleaned.returncode == 2
    assert re.fullmatch(
        r"error: f0 clean would delete 1 run started before [\d: -]+; add --yes to confirm, or --dry-run to list "
        r"them\n",
        cleaned.stderr,
    )
    assert store.run_ids() == {old}


def test_clean_rejects_an_age_it_cannot_read(store: Store) -> None:
    cleaned = store.f0("clean", "--older-than", "a month", "--yes")

    assert cleaned.returncode == 2
    assert cleaned.stderr == (
        "error: --older-than 'a month': expected an age like 30d, 12h or 2w, or an ISO date like 2026-01-31\n"
    )


def test_clean_help_has_an_example(tmp_path: Path) -> None:
    helped = f0("clean", "--help", cwd=tmp_path)

    assert helped.returncode == 0, helped.stderr
    assert re.search(r"Examples?:\n\s+f0 clean --older-than 30d", helped.stdout)


def start_slow_run(store: Store) -> tuple[subprocess.Popen[str], str]:
    """``f0 run slow.yaml`` in the background, once its step runs: the process and the run id."""
    process = start_f0(
        "run", "slow.yaml", "--store", store.url, cwd=store.folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )

    def running_run() -> str | None:
        with closing(sqlite3.connect(store.db)) as connection, connection:
            row = connection.execute("SELECT run_id FROM steps WHERE status = 'running'").fetchone()
        return str(row[0]) if row else None

    try:  # no store yet: OperationalError
        return process, eventually(running_run, "the slow run's step running", ignoring=(sqlite3.OperationalError,))
    except AssertionError:
        process.kill()
        process.wait()
        raise


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_clean_never_removes_a_run_that_is_still_running(store: Store) -> None:
    process, run_id = start_slow_run(store)
    try:
        store.age(run_id, 40)

        cleaned = store.f0("clean", "--older-than", "30d", "--yes")

        assert process.poll() is None
        assert store.run_ids() == {run_id}
        assert cleaned.returncode == 0, cleaned.stderr
        assert cleaned.stdout.splitlines()[-1] == (
            f"kept run {run_id}: it is still running (process {process.pid} on this machine)"
        )
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_clean_removes_an_old_run_whose_runner_was_killed(store: Store) -> None:
    process, run_id = start_slow_run(store)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    store.age(run_id, 40)

    cleaned = store.f0("clean", "--older-than", "30d", "--yes")

    assert cleaned.returncode == 0, cleaned.stderr
    assert store.run_ids() == set()
    assert cleaned.stdout.startswith("removed 1 run started before ")
