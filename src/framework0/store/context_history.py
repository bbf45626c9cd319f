"""A stored run's context at any version, and its history, rebuilt from snapshots and deltas.

The store keeps one row per context version (its operations, without old values) and, every
``snapshot_every`` versions, a compressed snapshot of the whole context. Version V is the newest
snapshot at or before V plus the deltas after it: two queries, and fewer than ``snapshot_every``
deltas to replay when the writer took a snapshot at every multiple. The replaying itself is
``framework0.context.deltas``.

    >>> store = open_store("sqlite:///runs.db")
    >>> version, data = context_at(store, "3fa2c1", 7)
    >>> [change.key for change in history(store, "3fa2c1", "db.host")]
"""

from __future__ import annotations

import gc
import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from framework0.context.changes import Change, ChangeSource
from framework0.context.deltas import Delta, rebuild, replay
from framework0.errors import UsageError
from framework0.store.schema_values import NO_ITEM, NO_STEP
from framework0.store.writer import unpack_snapshot

if TYPE_CHECKING:
    from framework0.store.database import Store

__all__ = ["context_at", "delta_from_row", "history", "latest_version"]


def latest_version(run: Mapping[str, Any]) -> int:
    """The newest context version recorded for a run (a row of ``Store.find_run``)."""
    return int(run["context_version"] or 0)


def _check_version(run: Mapping[str, Any], version: int) -> int:
    last = latest_version(run)
    if not 0 <= version <= last:
        raise UsageError(f"run {run['run_id']} has context versions 0..{last}; there is no version {version}")
    return version


def _resolve(store: Store, run: str | Mapping[str, Any]) -> Mapping[str, Any]:
    return store.find_run(run) if isinstance(run, str) else run


def context_at(store: Store, run: str | Mapping[str, Any], version: int | None = None) -> tuple[int, dict[str, Any]]:
    """The context of ``run`` (an id, a unique start of one, or a ``find_run`` row) at ``version``
    (default: the newest), as ``(version, data)``.

    Raises RunNotFound for an unknown run and UsageError for a version the run does not have
    ("run X has context versions 0..N").
    """
    row = _resolve(store, run)
    run_id = row["run_id"]
    target = latest_version(row) if version is None else _check_version(row, version)
    found = store.snapshot_before(run_id, target)
    rows = store.context_versions(run_id, after=found[0] if found else 0, upto=target)
    with _collection_paused():
        base_version, base = (found[0], unpack_snapshot(found[1])) if found else (0, {})
        deltas = [Delta(r["version"], json.loads(r["changes"])) for r in rows]
        return target, rebuild(base, deltas, base_version=base_version, version=target)


def history(store: Store, run: str | Mapping[str, Any], key: str | None = None, since: int = 0) -> list[Change]:
    """The changes of ``run``'s context after version ``since``, oldest first, each with its old
    value, version, time and source; only ``key``'s changes when given.

    Raises RunNotFound for an unknown run and UsageError when ``since`` is not one of its versions.
    """
    row = _resolve(store, run)
    run_id = row["run_id"]
    _check_version(row, since)
    base_version, base = _snapshot(store, run_id, since) if since > 0 else (0, {})
    rows = store.context_versions(run_id, after=base_version)
    if key is not None:
        # the key as it appears in the stored JSON: rows that cannot mention it are not parsed
        needles = {json.dumps(key), json.dumps(key, ensure_ascii=False)}
        rows = [r for r in rows if r["version"] <= since or any(n in r["changes"] for n in needles)]
    deltas = [delta_from_row(r) for r in rows]
    if since > base_version:
        base = rebuild(base, deltas, base_version=base_version, version=since)
    return replay(base, (delta for delta in deltas if delta.version > since), key=key)


@contextmanager
def _collection_paused() -> Iterator[None]:
    # Decoding a snapshot and ~100 deltas allocates thousands of small lists; a garbage collection
    # they trigger midway scans the whole heap (many ms in a big process, such as a server) and
    # would blow the 10 ms budget of a rebuild. None of them can form a cycle: collect afterwards.
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _snapshot(store: Store, run_id: str, version: int) -> tuple[int, dict[str, Any]]:
    found = store.snapshot_before(run_id, version)
    if found is None:
        return 0, {}  # version 0 is the empty context a run starts with
    return found[0], unpack_snapshot(found[1])


def delta_from_row(row: Mapping[str, Any]) -> Delta:
    """A stored ``context_versions`` row as a ``Delta``."""
    step = None if row["step"] == NO_STEP else row["step"]
    item = None if row["item"] == NO_ITEM else row["item"]
    source = ChangeSource(node=row["node"], step=step, attempt=row["attempt"] or None, item=item)
    return Delta(row["version"], json.loads(row["changes"]), at=row["at"], source=source, seq=row["seq"])
