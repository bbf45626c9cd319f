"""The store writer: an event-bus subscriber that keeps the database up to date, off the hot path.

The handler only puts the event on a queue (well under a microsecond in the publishing thread). A
writer thread takes whatever has queued up, folds it into the rows it changes (a step that starts
and finishes within one batch is written once) and writes them as one transaction, so a busy run
makes few, large transactions and a quiet one is recorded within a millisecond or two. A batch
that is committed is durable (WAL with synchronous=FULL; synchronous_commit=on on PostgreSQL).
"""

from __future__ import annotations

import json
import queue
import threading
import zlib
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from framework0.config import DEFAULT_SNAPSHOT_EVERY
from framework0.errors import StoreError
from framework0.events.types import (
    AttemptFinished,
    AttemptStarted,
    ContextChanged,
    ErrorInfo,
    LogLines,
    RunFinished,
    StepFinished,
    StepStarted,
)
from framework0.store.codec import dumps
from framework0.store.schema_values import NO_ITEM, NO_STEP

Batch = dict[str, list[Any]]  # per table: rows as dicts, or as tuples in column order
Row = dict[str, Any]

_BATCH_MAX = 20_000
_DRAIN = range(_BATCH_MAX - 1)
_STOP = object()


class Sink(Protocol):
    """Where batches go: ``SqliteSink`` (sqlite3) or ``Store`` (SQLAlchemy)."""

    def write(self, batch: Batch) -> None: ...


def pack_snapshot(data: Mapping[str, Any]) -> bytes:
    """A whole context as stored in a snapshot: compact JSON, zlib-compressed."""
    return zlib.compress(json.dumps(data, separators=(",", ":"), sort_keys=True).encode(), 1)


def unpack_snapshot(blob: bytes) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(zlib.decompress(blob))
    return data


def _error_columns(row: Row, error: ErrorInfo | None) -> None:
    row["error_type"] = error.type if error else None
    row["error_message"] = error.message if error else None
    if "error_traceback" in row or error is not None:
        row["error_traceback"] = error.traceback if error else None


class StoreWriter:
    """Records one run (one session of it) from its events. ``close()`` waits for the last write."""

    def __init__(
        self,
        sink: Sink,
        run_row: Row,
        positions: Mapping[str, int],
        *,
        session: int,
        session_row: Row | None = None,
        context: Mapping[str, Any] | None = None,
        snapshot_every: int = DEFAULT_SNAPSHOT_EVERY,
        on_error: Callable[[StoreError], None] | None = None,
    ) -> None:
        self.sink = sink
        self.run_id: str = run_row["run_id"]
        self._run = run_row
        self._positions = positions
        self._steps: dict[str, Row] = {}  # a step's row from its first event on
        self._session = session
        self._session_row = session_row
        self._attempt_started: dict[tuple[str, int, int], float] = {}  # attempts running, by key
        self._data: dict[str, Any] = dict(context or {})
        self._version: int = run_row.get("context_version") or 0
        self.snapshot_every = max(1, snapshot_every)
        self.on_error = on_error
        self.error: StoreError | None = None
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._closing = False  # set before _STOP is queued: only then is a batch searched for it
        self.handle = self._queue.put  # the bus handler: only a queue put in the publishing thread
        self._thread = threading.Thread(target=self._work, name="framework0-store-writer", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Write what is queued and stop; raises the StoreError that stopped the writer, if any."""
        self._closing = True
        self._queue.put(_STOP)
        self._thread.join()
        if self.error is not None:
            try:  # best effort, so that the run does not stay "running" in the history for ever
                failed = dict(self._run, status="failed", error_type="StoreError", error_message=str(self.error))
                self.sink.write({"runs": [failed]})
            except Exception:
                pass  # the store is still unusable; the run stays "running" there
            raise self.error

    # -- the writer thread ------------------------------------------------------------------------

    def _work(self) -> None:
        get, get_nowait = self._queue.get, self._queue.get_nowait
        stopping = False
        while not stopping:
            events = [get()]
            append = events.append
            try:
                for _ in _DRAIN:
                    append(get_nowait())
            except queue.Empty:
                pass
            if self._closing and _STOP in events:  # (events published after close() are written too)
                stopping = True
            if self.error is not None:
                continue  # the store failed: drain the queue, write nothing more
            try:
                batch = self._fold(events)
                if batch:
                    self.sink.write(batch)
            except StoreError as error:
                self._fail(error)
            except Exception as error:  # a bug or an unexpected driver error: report, never hang the run
                self._fail(StoreError(f"the store writer failed: {type(error).__name__}: {error}"))

    def _fail(self, error: StoreError) -> None:
        self.error = error
        if self.on_error is not None:
            self.on_error(error)

    def _fold(self, events: list[Any]) -> Batch:
        # Step and attempt rows are tuples in column order (columns.COLUMNS): this loop is the
        # writer's hot path, and the sinks write tuples as they are. The four events of every step
        # are unpacked (they are tuples) rather than read field by field, and a start is kept as its
        # time until the end of the batch: most steps finish in the batch they started in, and only
        # the finished row is written.
        steps: dict[str, tuple[Any, ...] | float] = {}
        attempts: dict[tuple[str, int, int], tuple[Any, ...] | float] = {}
        versions: list[Row] = []
        snapshots: list[Row] = []
        logs: list[Row] = []
        cache: list[Row] = []
        run_changed = False
        run_id, session, positions = self.run_id, self._session, self._positions
        attempt_started = self._attempt_started
        for event in events:
            kind = type(event)
            if kind is AttemptFinished:
                _, step, number, item, status, at, wall_s, cpu_s, peak_rss_bytes, error, retry_in_s, output = event
                if item is None:
                    item = NO_ITEM
                key = (step, item, number)
                started = attempt_started.pop(key, None)
                # a step's own output is on its row; an item's is kept here (the step's is the list)
                kept = dumps(output) if item != NO_ITEM and status == "succeeded" else None
                if error is None:
                    attempts[key] = (
                        run_id, step, item, number, status, at - wall_s if started is None else started, at,
                        wall_s, cpu_s, peak_rss_bytes, kept, None, None, None, retry_in_s, session,
                    )  # fmt: skip
                    continue
                attempts[key] = (
                    run_id, step, item, number, status, at - wall_s if started is None else started, at,
                    wall_s, cpu_s, peak_rss_bytes, kept, error.type, error.message, error.traceback, retry_in_s,
                    session,
                )  # fmt: skip
                then = f"; retrying in {retry_in_s:.3g}s" if retry_in_s is not None else ""
                logs.append(
                    {
                        "run_id": run_id,
                        "step": step,
                        "item": item,
                        "attempt": number,
                        "stream": "framework",
                        "at": at,
                        "text": f"attempt {number} {status}: {error.type}: {error.message}{then}",
                    }
                )
            elif kind is StepFinished:
                (
                    _, step, status, at, _, attempts_made, error, output, started_at, finished_at, cpu_s,
                    peak_rss_bytes, items, reason, cache_key, cache_inputs,
                ) = event  # fmt: skip
                text = dumps(output)
                steps[step] = (
                    run_id, step, positions[step], status, attempts_made, started_at, finished_at, cpu_s,
                    peak_rss_bytes, items, text,
                    error.type if error else None, error.message if error else None,
                    error.traceback if error else None, reason, cache_key,
                    dumps(cache_inputs) if cache_inputs is not None else None, session,
                )  # fmt: skip
                if reason and status in ("skipped", "cached", "pending"):
                    logs.append(
                        {
                            "run_id": run_id,
                            "step": step,
                            "item": NO_ITEM,
                            "attempt": attempts_made,
                            "stream": "framework",
                            "at": at,
                            "text": f"{status}: {reason}",
                        }
                    )
                if cache_key and status == "succeeded":
                    cache.append(
                        {
                            "key": cache_key,
                            "run_id": run_id,
                            "step": step,
                            "output": text,
                            "created_at": at,
                            "inputs": dumps(cache_inputs),
                        }
                    )
            elif kind is AttemptStarted:
                _, step, number, item, at = event
                key = (step, NO_ITEM if item is None else item, number)
                attempt_started[key] = attempts[key] = at
            elif kind is StepStarted:
                steps[event[1]] = event[2]  # (step, at)
            elif kind is ContextChanged and event.context is None and self._run["finished_at"] is None:
                # (a named context's own change is the server's to store; once the run has ended, a
                # change another writer makes to the context it ran on is no longer the run's)
                first = event.changes[0]
                source = first.source
                versions.append(
                    {
                        "run_id": run_id,
                        "version": first.version,
                        "at": first.at,
                        "step": source.step if source.step is not None else NO_STEP,
                        "attempt": source.attempt or 0,
                        "item": NO_ITEM if source.item is None else source.item,
                        "seq": first.seq,
                        "node": source.node,
                        "changes": dumps([[change.op, change.key, change.new] for change in event.changes]),
                    }
                )
                data = self._data
                for change in event.changes:
                    if change.op == "delete":
                        data.pop(change.key, None)
                    else:
                        data[change.key] = change.new
                if first.version > self._version:
                    self._version = first.version
                if first.version % self.snapshot_every == 0:
                    # per version, not per batch: under load one batch holds hundreds of versions
                    snapshots.append({"run_id": run_id, "version": first.version, "data": pack_snapshot(data)})
            elif kind is LogLines:
                logs.append(
                    {
                        "run_id": run_id,
                        "step": event.step,
                        "item": NO_ITEM if event.item is None else event.item,
                        "attempt": event.attempt,
                        "stream": event.stream,
                        "at": event.at,
                        "text": event.text,
                    }
                )
            elif kind is RunFinished:
                run_changed = True
                self._run.update(status=event.status, finished_at=event.at, context=dumps(self._data))
                _error_columns(self._run, event.error)
                if self._session_row is not None:
                    self._session_row.update(status=event.status, finished_at=event.at)
        if versions:
            self._run["context_version"] = self._version
            run_changed = True
        batch: Batch = {}
        if run_changed:
            batch["runs"] = [dict(self._run)]
            if self._session_row is not None and self._session_row["finished_at"] is not None:
                batch["sessions"] = [dict(self._session_row)]
        if steps:
            batch["steps"] = [
                row if type(row) is tuple else (
                    run_id, name, positions[name], "running", 0, row,
                    None, 0.0, 0, None, None, None, None, None, None, None, None, session,
                )
                for name, row in steps.items()
            ]  # fmt: skip
        if attempts:
            batch["attempts"] = [
                row if type(row) is tuple else (
                    run_id, key[0], key[1], key[2], "running", row,
                    None, None, None, None, None, None, None, None, None, session,
                )
                for key, row in attempts.items()
            ]  # fmt: skip
        if versions:
            batch["context_versions"] = versions
        if snapshots:
            batch["context_snapshots"] = snapshots
        if logs:
            batch["logs"] = logs
        if cache:
            batch["cache"] = cache
        return batch


def step_row(run_id: str, name: str, position: int, session: int) -> Row:
    """A step's row before anything happened to it. (A new run writes none up front: a step with no
    row is pending. A resumed run writes these for the steps it runs again.)"""
    return {
        "run_id": run_id,
        "name": name,
        "position": position,
        "status": "pending",
        "attempts": 0,
        "started_at": None,
        "finished_at": None,
        "cpu_s": 0.0,
        "peak_rss_bytes": 0,
        "items": None,
        "output": None,
        "error_type": None,
        "error_message": None,
        "error_traceback": None,
        "reason": None,
        "cache_key": None,
        "cache_inputs": None,
        "session": session,
    }


def initial_batch(run_row: Row, session_row: Row, step_rows: list[Row]) -> Batch:
    """What is written, synchronously, before a run starts: the run, its session, and (resuming)
    the steps that run again, reset to pending."""
    batch: Batch = {"runs": [dict(run_row)], "sessions": [dict(session_row)]}
    if step_rows:
        batch["steps"] = step_rows
    return batch


__all__ = [
    "NO_ITEM",
    "NO_STEP",
    "StoreWriter",
    "dumps",
    "initial_batch",
    "pack_snapshot",
    "step_row",
    "unpack_snapshot",
]
