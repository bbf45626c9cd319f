"""Where and how durably a run is recorded: --store / F0_STORE, F0_STORE=none, F0_STORE_DURABILITY."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest
from tests.helpers import f0

import framework0
from framework0.store import open_sink

HELLO = "steps:\n  - {name: hello, uses: hello_world}\n"


def environment(**values: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("F0_STORE")}
    return {**env, **values}


def test_without_store_settings_a_run_is_recorded_under_the_working_directory(tmp_path: Path) -> None:
    (tmp_path / "hello.yaml").write_text(HELLO)
    process = f0("run", "hello.yaml", cwd=tmp_path, env=environment())
    assert process.returncode == 0, process.stderr
    with sqlite3.connect(tmp_path / ".framework0" / "framework0.db") as connection:
        assert connection.execute("SELECT status FROM runs").fetchall() == [("succeeded",)]


def test_f0_store_none_keeps_the_run_in_memory_only(tmp_path: Path) -> None:
    (tmp_path / "hello.yaml").write_text(HELLO)
    process = f0("run", "hello.yaml", cwd=tmp_path, env=environment(F0_STORE="none"))
    assert process.returncode == 0, process.stderr
    assert not (tmp_path / ".framework0").exists()


def test_the_store_option_wins_over_the_environment(tmp_path: Path) -> None:
    (tmp_path / "hello.yaml").write_text(HELLO)
    env = environment(F0_STORE=f"sqlite:///{tmp_path}/env.db")
    process = f0("run", "hello.yaml", "--store", f"sqlite:///{tmp_path}/option.db", cwd=tmp_path, env=env)
    assert process.returncode == 0, process.stderr
    assert (tmp_path / "option.db").exists()
    assert not (tmp_path / "env.db").exists()


def test_a_store_that_is_not_a_url_is_a_one_line_usage_error(tmp_path: Path) -> None:
    (tmp_path / "hello.yaml").write_text(HELLO)
    process = f0("run", "hello.yaml", "--store", "runs.db", cwd=tmp_path, env=environment())
    assert process.returncode == 2
    assert process.stderr.strip().splitlines() == [
        "error: store 'runs.db' is not a URL; use e.g. sqlite:///runs.db or postgresql://user@host/db"
    ]


def test_full_durability_is_the_default_and_fast_is_opt_in_and_says_so(tmp_path: Path) -> None:
    (tmp_path / "hello.yaml").write_text(HELLO)
    quiet = f0("run", "hello.yaml", cwd=tmp_path, env=environment())
    fast = f0("run", "hello.yaml", cwd=tmp_path, env=environment(F0_STORE_DURABILITY="fast"))
    assert "F0_STORE_DURABILITY" not in quiet.stderr
    assert "note: F0_STORE_DURABILITY=fast: a crash of this machine may lose the last steps recorded" in fast.stderr


def test_the_sqlite_writer_uses_wal_and_synchronous_full(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("F0_STORE_DURABILITY", raising=False)
    sink = open_sink(f"sqlite:///{tmp_path}/s.db")
    try:
        connection = sink._connection  # type: ignore[attr-defined]
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert connection.execute("PRAGMA synchronous").fetchone() == (2,)  # FULL
    finally:
        sink.close()


def test_fast_durability_lowers_sqlite_to_synchronous_normal(tmp_path: Path) -> None:
    sink = open_sink(f"sqlite:///{tmp_path}/s.db", durability="fast")
    try:
        assert sink._connection.execute("PRAGMA synchronous").fetchone() == (1,)  # type: ignore[attr-defined]
    finally:
        sink.close()


def test_a_run_from_python_with_store_none_records_nothing(tmp_path: Path) -> None:
    (tmp_path / "hello.yaml").write_text(HELLO)
    result = framework0.run(tmp_path / "hello.yaml", store=None)
    assert result.ok
    assert not (tmp_path / ".framework0").exists()


def test_the_snapshot_interval_is_configurable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    steps = "".join(f"  - {{name: s{i}, uses: set_context, args: {{values: {{k{i}: {i}}}}}}}\n" for i in range(7))
    (tmp_path / "many.yaml").write_text("sequential: true\nsteps:\n" + steps)
    url = f"sqlite:///{tmp_path}/s.db"
    monkeypatch.setenv("F0_SNAPSHOT_EVERY", "3")
    by_env = framework0.run(tmp_path / "many.yaml", store=url)
    by_argument = framework0.run(tmp_path / "many.yaml", store=url, snapshot_every=2)
    with sqlite3.connect(tmp_path / "s.db") as connection:
        versions = {
            run_id: [
                v for (v,) in connection.execute("SELECT version FROM context_snapshots WHERE run_id = ?", (run_id,))
            ]
            for run_id in (by_env.run_id, by_argument.run_id)
        }
    assert versions == {by_env.run_id: [3, 6], by_argument.run_id: [2, 4, 6]}


def test_a_bad_snapshot_interval_is_a_one_line_error(tmp_path: Path) -> None:
    (tmp_path / "hello.yaml").write_text(HELLO)
    process = f0("run", "hello.yaml", cwd=tmp_path, env=environment(F0_SNAPSHOT_EVERY="often"))
    assert process.returncode == 2  # a setting to fix, like a bad flag
    assert process.stderr.strip().splitlines() == [
        "error: F0_SNAPSHOT_EVERY='often': give a whole number of versions, 1 or more (default 100)"
    ]
