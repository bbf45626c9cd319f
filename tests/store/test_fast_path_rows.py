"""The SQLite fast path writes many rows to a statement and leaves usually empty columns out when
they are: whatever the mix, the table ends as if each row had been written alone, in order (a later
row with an earlier row's key updates it)."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from framework0.store.columns import COLUMNS
from framework0.store.sqlite_sink import SqliteSink

RUN = {name: None for name in COLUMNS["runs"]} | {
    "run_id": "r1",
    "status": "running",
    "started_at": 1.0,
    "params": "{}",
    "fingerprint": "{}",
    "node": "n",
    "pid": 1,
    "context_version": 0,
    "sessions": 1,
}
KEYS = {"steps": 2, "attempts": 4}  # the primary key is the first columns of each


def step_row(name: int, status: str, error: str | None) -> tuple[Any, ...]:
    return (
        "r1", f"s{name}", name, status, 1, 1.0, 2.0, 0.1, 1024,
        None, "1", error and "ValueError", error, error and "Traceback ...", None, None, None, 1,
    )  # fmt: skip


def attempt_row(name: int, status: str, error: str | None) -> tuple[Any, ...]:
    return (
        "r1", f"s{name % 7}", -1, name, status, 1.0, 2.0, 1.0, 0.1, 1024,
        None, error and "ValueError", error, error and "Traceback ...", None, 1,
    )  # fmt: skip


rows = st.lists(
    st.tuples(
        st.integers(0, 40),  # few names: the same key comes back within a batch
        st.sampled_from(["running", "succeeded", "failed"]),
        st.none() | st.text(max_size=5),  # None: a lean row; text: an error's columns filled in
    ),
    min_size=1,
    max_size=400,  # more than one statement's worth of rows
)


def written_alone(table: str, batch: list[tuple[Any, ...]]) -> dict[tuple[Any, ...], tuple[Any, ...]]:
    expected: dict[tuple[Any, ...], tuple[Any, ...]] = {}
    for row in batch:
        expected[row[: KEYS[table]]] = row
    return expected


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=rows, attempts=rows)
@example(  # several statements' worth, each key written again and again with other values
    steps=[(n % 40, ("running", "succeeded", "failed")[(n // 40) % 3], None) for n in range(240)],
    attempts=[(n % 35, ("running", "failed")[(n // 35) % 2], "boom") for n in range(210)],
)
def test_any_mix_of_rows_ends_as_if_written_one_by_one(tmp_path: Path, steps: Any, attempts: Any) -> None:
    path = tmp_path / f"fast-{len(list(tmp_path.iterdir()))}.db"
    batch: dict[str, list[Any]] = {
        "runs": [RUN],
        "steps": [step_row(*row) for row in steps],
        "attempts": [attempt_row(*row) for row in attempts],
    }
    sink = SqliteSink(path)
    try:
        sink.write(batch)
    finally:
        sink.close()
    with closing(sqlite3.connect(path)) as db:
        for table in ("steps", "attempts"):
            stored = {row[: KEYS[table]]: row for row in db.execute(f"SELECT {', '.join(COLUMNS[table])} FROM {table}")}
            assert stored == written_alone(table, batch[table])
