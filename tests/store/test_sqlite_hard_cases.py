"""The default store under stress, through the real ``f0 run``: several runs writing one SQLite file
at once, a database that cannot be written, and a disk that fills up mid-run."""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import sqlite3
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from framework0.store import open_store
from framework0.store.sqlite_sink import SqliteSink

if TYPE_CHECKING:  # mypy names this folder's modules tests.store.*; pytest puts the folder on sys.path
    from tests.store.store_backends import sqlite_integrity, sqlite_url
else:
    from store_backends import sqlite_integrity, sqlite_url


TASKS = """\
import time

def echo(n):
    return {"n": n}

def big(n, pause):
    time.sleep(pause)
    return {"n": n, "blob": "x" * 50_000}
"""


def f0_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("F0_STORE_DURABILITY", None)
    env.pop("F0_DEBUG", None)
    return env


def f0_run(
    folder: Path, recipe: str, url: str, *extra: str, prefix: tuple[str, ...] = (), measured: bool = True, **popen
):
    """Start ``f0 run RECIPE --store URL --json`` in ``folder`` (``measured=False``: without the test
    session's coverage, for a process whose own files cannot be written)."""
    env = f0_env() if measured else {k: v for k, v in f0_env().items() if not k.startswith("COVERAGE_")}
    return subprocess.Popen(
        [*prefix, sys.executable, "-m", "framework0", "run", recipe, "--store", url, "--json", *extra],
        cwd=folder,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        **popen,
    )


def write_recipe(folder: Path, name: str, steps: list[str]) -> None:
    (folder / "tasks.py").write_text(TASKS)
    (folder / name).write_text("steps:\n" + "".join(f"  - {step}\n" for step in steps))


def assert_one_line_store_error(stderr: str, path: Path, hint: str) -> None:
    """The user sees what failed, where, and what to do: one line per report, no traceback."""
    assert "Traceback" not in stderr, stderr
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert errors, stderr
    for line in errors:
        assert line.startswith(f"error: cannot write the run store {path}: "), stderr
        assert hint in line, stderr


# -- runs at once ---------------------------------------------------------------------------------


def test_three_runs_at_once_on_one_new_file_all_succeed_and_are_recorded(tmp_path: Path):
    write_recipe(
        tmp_path,
        "many.yaml",
        [f'{{name: s{i}, uses: python, args: {{call: "tasks:echo", args: [{i}]}}}}' for i in range(300)],
    )
    path = tmp_path / "store" / "shared.db"  # created by whichever run gets there first
    processes = [f0_run(tmp_path, "many.yaml", sqlite_url(path), "--max-parallel", "16") for _ in range(3)]
    results = []
    for process in processes:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
        assert "locked" not in err, err
        results.append(json.loads(out))
    store = open_store(sqlite_url(path))
    try:
        assert sorted(run["run_id"] for run in store.list_runs()) == sorted(r["run_id"] for r in results)
        for result in results:
            assert store.find_run(result["run_id"])["status"] == "succeeded"
            steps = store.steps(result["run_id"])
            assert len(steps) == 300
            assert all(step["status"] == "succeeded" for step in steps)
            assert {step["name"]: json.loads(step["output"])["n"] for step in steps} == {f"s{i}": i for i in range(300)}
            assert len(store.attempts(result["run_id"])) == 300
    finally:
        store.close()
    assert sqlite_integrity(path) == "ok"


# -- a database that cannot be written ------------------------------------------------------------

_STRIP_CAPABILITIES = ("setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner", "--")


@pytest.fixture(scope="module")
def unprivileged() -> tuple[str, ...]:
    """A command prefix under which file permissions apply. As root they do not; root without the
    capabilities that override them (setpriv) is held to the file's mode like anyone else."""
    if os.geteuid() != 0:
        return ()
    if shutil.which("setpriv") is None:
        pytest.skip("running as root, where chmod does not stop writes, and setpriv is not installed")
    probe = subprocess.run(
        [*_STRIP_CAPABILITIES, sys.executable, "-c", "import os; os.open('/proc/1/environ', os.O_RDONLY)"],
        capture_output=True,
    )
    if probe.returncode == 0:
        pytest.skip("running as root, and setpriv could not drop the capabilities that override file modes")
    return _STRIP_CAPABILITIES


@pytest.fixture
def earlier_run(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A store holding one finished run (its file, the run id); the folder is made writable again
    afterwards so that it can be removed."""
    write_recipe(tmp_path, "one.yaml", ['{name: a, uses: python, args: {call: "tasks:echo", args: [7]}}'])
    folder = tmp_path / "db"
    path = folder / "runs.db"
    process = f0_run(tmp_path, "one.yaml", sqlite_url(path))
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    try:
        yield path, json.loads(out)["run_id"]
    finally:
        folder.chmod(0o755)
        for file in folder.iterdir():
            file.chmod(0o644)


def assert_intact(path: Path, run_id: str) -> None:
    assert sqlite_integrity(path) == "ok"
    store = open_store(sqlite_url(path))
    try:
        assert [run["run_id"] for run in store.list_runs()] == [run_id]
        assert [(s["name"], s["status"], s["output"]) for s in store.steps(run_id)] == [("a", "succeeded", '{"n":7}')]
    finally:
        store.close()


READ_ONLY_HINT = "the file or its folder is read-only; point --store or F0_STORE at a writable place"


@pytest.mark.parametrize("what", ["file", "folder"])
def test_a_read_only_database_stops_the_run_with_a_clear_error(what, earlier_run, unprivileged, tmp_path: Path):
    path, run_id = earlier_run
    target = path if what == "file" else path.parent
    target.chmod(stat.S_IMODE(target.stat().st_mode) & ~0o222)
    process = f0_run(tmp_path, "one.yaml", sqlite_url(path), prefix=unprivileged)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 1, (out, err)
    assert out == ""  # nothing ran: the store is checked before the first step
    assert_one_line_store_error(err, path, READ_ONLY_HINT)
    assert len(err.strip().splitlines()) == 1, err
    path.parent.chmod(0o755)
    path.chmod(0o644)
    assert_intact(path, run_id)


def test_a_new_database_in_a_read_only_folder_is_a_clear_error(unprivileged, tmp_path: Path):
    write_recipe(tmp_path, "one.yaml", ['{name: a, uses: python, args: {call: "tasks:echo", args: [7]}}'])
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        for path in (folder / "runs.db", folder / "sub" / "runs.db"):
            process = f0_run(tmp_path, "one.yaml", sqlite_url(path), prefix=unprivileged)
            out, err = process.communicate(timeout=60)
            assert process.returncode == 1, (out, err)
            assert_one_line_store_error(err, path, READ_ONLY_HINT)
            assert len(err.strip().splitlines()) == 1, err
            assert not path.exists()
    finally:
        folder.chmod(0o755)


# -- a full disk ----------------------------------------------------------------------------------


def test_a_full_disk_stops_the_run_with_a_clear_error_and_a_sound_database(earlier_run, tmp_path: Path):
    path, run_id = earlier_run
    steps = ['{name: s0, uses: python, args: {call: "tasks:big", args: [0, 0.02]}}']
    steps += [
        f'{{name: s{i}, uses: python, args: {{call: "tasks:big", args: [{i}, 0.02]}}, depends_on: [s{i - 1}]}}'
        for i in range(1, 40)
    ]
    write_recipe(tmp_path, "big.yaml", steps)
    limit = path.stat().st_size + 64 * 1024  # room for the run's first rows, not for 40 outputs of 50 KB

    def small_disk() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    # not measured: under that limit coverage could not write its data file either
    process = f0_run(tmp_path, "big.yaml", sqlite_url(path), measured=False, preexec_fn=small_disk)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 1, (out, err)
    assert_one_line_store_error(err, path, "the disk may be full; free space")
    result = json.loads(out)
    assert result["status"] == "failed"
    assert result["error"]["type"] == "StoreError"
    statuses = [step["status"] for step in result["steps"].values()]
    assert statuses.count("succeeded") < 40, "the run went on after the store failed"
    assert sqlite_integrity(path) == "ok"
    store = open_store(sqlite_url(path))
    try:
        earlier = store.find_run(run_id)
        assert earlier["status"] == "succeeded"
        assert [(s["name"], s["output"]) for s in store.steps(run_id)] == [("a", '{"n":7}')]
        failed = store.find_run(result["run_id"])  # recorded up to the write that did not fit
        assert failed["status"] in ("running", "failed")
    finally:
        store.close()


@pytest.mark.parametrize("opener", ["store", "sink"])
def test_a_store_switches_to_wal_while_another_process_writes_it(tmp_path: Path, opener: str) -> None:
    # A run migrating its new store (in rollback-journal mode, a write transaction) while `f0 logs
    # --follow` or the dashboard opens it: the switch to WAL needs the lock the writer holds, and
    # SQLite reports the database locked at once instead of waiting for it.
    path = tmp_path / "runs.db"
    open_store(sqlite_url(path)).close()
    with sqlite3.connect(path) as back:  # as a store is before its first switch to WAL
        back.execute("PRAGMA journal_mode = DELETE")
    writer = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    writer.execute("BEGIN IMMEDIATE")
    releaser = threading.Timer(0.5, writer.execute, ["COMMIT"])
    releaser.start()
    try:
        if opener == "store":
            store = open_store(sqlite_url(path))
            store.close()
        else:
            SqliteSink(path).close()
    finally:
        releaser.join()
        writer.close()
    with sqlite3.connect(path) as check:
        assert check.execute("PRAGMA journal_mode").fetchone() == ("wal",)
