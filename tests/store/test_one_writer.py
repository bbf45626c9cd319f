"""A run has one writer: ``Store.add_run`` writes a new run's first rows only when the store does
not hold a run of that id (what a context server does with the runs its runners post, so that it
never writes over a run its runner records in the same store). SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from framework0.store import open_store
from framework0.store.database import Store
from framework0.store.writer import initial_batch

if TYPE_CHECKING:  # mypy names this folder's modules tests.store.*; pytest puts the folder on sys.path
    from tests.store.store_backends import backend_url
else:
    from store_backends import backend_url


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    with backend_url(request.param, tmp_path) as url:
        opened = open_store(url)
        try:
            yield opened
        finally:
            opened.close()


def first_rows(run_id: str, node: str) -> dict[str, list[object]]:
    run = {
        "run_id": run_id, "test_id": "T", "recipe_path": None, "status": "running", "started_at": 1.0,
        "finished_at": None, "error_type": None, "error_message": None, "params": "{}", "fingerprint": "{}",
        "context": None, "context_version": 0, "node": node, "pid": 0, "sessions": 1, "graph": None,
        "package": None,
    }  # fmt: skip
    session = {
        "run_id": run_id, "session": 1, "kind": "run", "params": "{}", "from_step": None, "started_at": 1.0,
        "finished_at": None, "status": "running", "node": node, "pid": 0,
    }  # fmt: skip
    return initial_batch(run, session, [])


def test_a_new_run_is_added_with_its_session(store: Store):
    assert store.add_run(first_rows("a1b2c3d4", "remote")) is True
    assert store.find_run("a1b2c3d4")["node"] == "remote"
    assert [row["node"] for row in store.sessions("a1b2c3d4")] == ["remote"]


def test_a_run_the_store_holds_is_not_written_over(store: Store):
    store.write(first_rows("a1b2c3d4", "runner-1"))
    assert store.add_run(first_rows("a1b2c3d4", "remote")) is False
    assert store.find_run("a1b2c3d4")["node"] == "runner-1"
    assert [row["node"] for row in store.sessions("a1b2c3d4")] == ["runner-1"]
