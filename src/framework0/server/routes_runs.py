"""``/api/v1/runs``: the runs in the server's store, their results and events; runners post their
events here so that viewers see a run live and the server records it (unless its runner does, in
the same store)."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Path, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from framework0.config import DEFAULT_SNAPSHOT_EVERY
from framework0.errors import RunNotFound, StoreError
from framework0.events import EventBus
from framework0.events.types import ContextChanged, RunFinished, RunStarted
from framework0.events.wire import from_wire
from framework0.history import History
from framework0.server.routes_contexts import _ERRORS, body_schema, parse, reply, state_of
from framework0.server.wire import ErrorOut, RunEvents
from framework0.store.writer import StoreWriter, dumps, initial_batch

if TYPE_CHECKING:
    from framework0.events.types import ErrorInfo
    from framework0.store.database import Store

router = APIRouter(prefix="/api/v1/runs", tags=["runs"])

RunPath = Path(min_length=4, max_length=64, pattern=r"^[A-Za-z0-9_-]+$", description="A run id (or its start).")
_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ErrorOut, "description": "No such run."}}


@router.get("", responses=_ERRORS)
async def list_runs(
    request: Request,
    recipe: str | None = Query(None, max_length=500, description="A test id or the end of a recipe path."),
    status: str | None = Query(None, pattern=r"^(running|succeeded|failed|cancelled)$"),
    limit: int = Query(100, ge=1, le=10_000),
) -> Response:
    """Runs, newest first."""
    store = state_of(request).store
    return reply({"runs": await run_in_threadpool(listed_runs, store, recipe, status, limit)})


_LISTED = ("run_id", "test_id", "recipe_path", "status", "started_at", "finished_at", "error_type", "error_message")


def listed_runs(store: History | Store, recipe: str | None, status: str | None, limit: int) -> list[dict[str, Any]]:
    """Runs, newest first, as the list route and the dashboard's runs page show them."""
    runs = _history(store).list_runs(recipe=recipe, status=status, limit=limit, step_counts=False)
    return [
        {
            "run_id": run.run_id,
            "test_id": run.test_id,
            "recipe_path": run.recipe_path,
            "status": run.status,
            "started_at": run.started_at,
            "finished_at": run.finished_at,
            "error_type": run.error.type if run.error else None,
            "error_message": run.error.message if run.error else None,
            "node": run.node,
        }
        for run in runs
    ]


def _history(store: History | Store) -> History:
    """The server's store read through the history API (the store stays open: the server closes it)."""
    return store if isinstance(store, History) else History(store)


@router.get("/{run_id}", responses={**_ERRORS, **_NOT_FOUND})
async def show_run(request: Request, run_id: str = RunPath) -> Response:
    """The run result (the same document as ``f0 runs show RUN --json``)."""
    history = _history(state_of(request).store)
    try:
        document = await run_in_threadpool(history.result_document, run_id)
    except RunNotFound as error:
        return reply({"error": {"type": "RunNotFound", "message": str(error)}}, 404)
    return reply(document)


@router.get("/{run_id}/view", responses={**_ERRORS, **_NOT_FOUND, 204: {"description": "Unchanged since `unless`."}})
async def run_view_document(
    request: Request,
    run_id: str = RunPath,
    unless: str | None = Query(
        None, max_length=64, description="A view's `revision`: answer 204 when the run has not changed since."
    ),
) -> Response:
    """The run as the dashboard shows it: run, steps, attempts, logs, context with its history, and
    the graph (``framework0.viz.run_view``); the run page polls it with ``unless`` while the run goes on."""
    from framework0.viz.run_view import run_view

    history = _history(state_of(request).store)

    def build() -> dict[str, Any] | None:
        if unless is not None and history.revision(run_id) == unless:
            return None
        return run_view(history, run_id)

    try:
        view = await run_in_threadpool(build)
    except RunNotFound as error:
        return reply({"error": {"type": "RunNotFound", "message": str(error)}}, 404)
    response = Response(status_code=204) if view is None else reply(view)
    response.headers["cache-control"] = "no-store"
    return response


@router.get("/{run_id}/logs", responses={**_ERRORS, **_NOT_FOUND})
async def run_logs(
    request: Request,
    run_id: str = RunPath,
    step: str = Query("", max_length=200, description="The step (empty: the run's own lines)."),
    limit: int = Query(1_000, ge=1, le=5_000),
) -> Response:
    """A step's newest ``limit`` log lines, oldest first, and how many older ones were left out."""
    from framework0.viz.run_view import log_lines

    history = _history(state_of(request).store)

    def read() -> dict[str, Any]:
        rid = history.run(run_id).run_id
        return {"step": step, **log_lines(history, rid, step, limit)}

    try:
        document = await run_in_threadpool(read)
    except RunNotFound as error:
        return reply({"error": {"type": "RunNotFound", "message": str(error)}}, 404)
    response = reply(document)
    response.headers["cache-control"] = "no-store"
    return response


@router.get("/{run_id}/events", responses={**_ERRORS, **_NOT_FOUND})
async def run_events(request: Request, run_id: str = RunPath) -> Response:
    """What happened in the run, oldest first, as recorded: the run's start and end, each step's
    attempts and end, its context changes and log lines (the JSON form of the bus's events)."""
    history = _history(state_of(request).store)
    try:
        events = await run_in_threadpool(recorded_events, history, run_id)
    except RunNotFound as error:
        return reply({"error": {"type": "RunNotFound", "message": str(error)}}, 404)
    return reply({"events": events})


@router.post("/{run_id}/events", responses=_ERRORS, openapi_extra=body_schema(RunEvents))
async def post_events(request: Request, run_id: str = RunPath) -> Response:
    """A runner's events, in order: published on the server's bus (so viewers see them live) and
    recorded in the server's store, unless the runner records the run in that store itself."""
    body = await parse(request, RunEvents)
    events = []
    for index, data in enumerate(body.events):
        try:
            event = from_wire(data)
        except ValueError as error:
            message = f"events[{index}]: {str(error).splitlines()[0]}"
            return reply({"error": {"type": "BadEvent", "message": message}}, 422)
        wrong = _bad_time(event)
        if wrong is not None:
            return reply({"error": {"type": "BadEvent", "message": f"events[{index}].{wrong}"}}, 422)
        if getattr(event, "run_id", run_id) != run_id:
            message = f"events[{index}] is of run {event.run_id!r}, not {run_id!r}"
            return reply({"error": {"type": "BadEvent", "message": message}}, 422)
        events.append(event)
    bus = state_of(request).bus

    def publish() -> None:  # subscribers may write to the store: not in the event loop
        for event in events:
            bus.publish(event)

    await run_in_threadpool(publish)
    return reply({"received": len(events)})


#: times an event may carry: from 1970 to the year 3000
_EARLIEST, _LATEST = 0.0, 32_503_680_000.0


def _bad_time(event: Any) -> str | None:
    """The first time field of ``event`` that is not a plausible time, described; None if all are."""
    for field in ("at", "started_at", "finished_at"):
        value = getattr(event, field, None)
        if value is not None and not (_EARLIEST <= value <= _LATEST):
            return f"{field}: {value!r} is not a time between 1970 and 3000 (seconds since the epoch)"
    return None


class RunRecorder:
    """Records the runs whose events runners post (a subscriber of the server's bus), unless their
    runner records them in the server's own store.

    A run has one writer of its rows. A runner that records its run writes the run's row before it
    publishes the run's start, so when the start arrives here the row is there already if the
    runner's store is this one (``f0 serve`` and ``f0 run --context-server`` on one store): the
    server leaves that run to its runner and only passes its events on to viewers. A runner that
    records nowhere (``--store none``) or in another store is recorded here.

    The run's context changes come with its events (the runner sends the changes it sees of a
    context on this server as the run's). They are recorded when they start at version 1, a context
    the run began; a run that joined a context others had written cannot be rebuilt from its events
    alone, so its context is not recorded here (its runner's store has it).
    """

    def __init__(self, store: Store, bus: EventBus) -> None:
        self.store = store
        self.bus = bus
        self._writers: dict[str, StoreWriter] = {}
        #: per run recorded: the context version its next change must have (None: not recorded)
        self._next_version: dict[str, int | None] = {}
        self._lock = threading.Lock()

    def handle(self, event: Any) -> None:
        if type(event) is ContextChanged and event.context is not None:
            return  # a named context's change: the context service stored it
        if type(event) is RunStarted:
            self._start(event)
            return
        writer = self._writers.get(getattr(event, "run_id", ""))
        if writer is None:
            return
        if type(event) is ContextChanged and not self._follows(event):
            return
        writer.handle(event)
        if type(event) is RunFinished:  # recorded before the runner is answered
            with self._lock:
                self._writers.pop(event.run_id, None)
                self._next_version.pop(event.run_id, None)
            _close(writer)

    def _follows(self, event: ContextChanged) -> bool:
        """Whether ``event`` is the next change of its run's context, from version 1 on."""
        version = event.changes[0].version
        with self._lock:
            expected = self._next_version.get(event.run_id)
            if expected is None or version < expected:
                return False  # a context the run joined, or a change sent again
            if version > expected:
                self._next_version[event.run_id] = None  # not from version 1: leave the context out
                return False
            self._next_version[event.run_id] = version + 1
        return True

    def _start(self, event: RunStarted) -> None:
        run_row = {
            "run_id": event.run_id,
            "test_id": event.test_id,
            "recipe_path": event.recipe_path,
            "status": "running",
            "started_at": event.at,
            "finished_at": None,
            "error_type": None,
            "error_message": None,
            "params": dumps(dict(event.params)),
            "fingerprint": "{}",  # recorded from events: resumable only where it ran
            "context": None,
            "context_version": 0,
            "node": "remote",
            "pid": 0,
            "sessions": 1,
            "graph": dumps(event.graph) if event.graph else None,
        }
        session_row = {
            "run_id": event.run_id,
            "session": 1,
            "kind": "run",
            "params": run_row["params"],
            "from_step": None,
            "started_at": event.at,
            "finished_at": None,
            "status": "running",
            "node": "remote",
            "pid": 0,
        }
        with self._lock:
            if event.run_id in self._writers:
                return  # a start sent again: the run is being recorded
        try:
            if not self.store.add_run(initial_batch(run_row, session_row, [])):
                return  # its runner records it in this store (see the class docstring)
        except StoreError:
            return  # not recorded; viewers still see it live
        positions = {name: position for position, name in enumerate(event.steps)}
        writer = StoreWriter(
            self.store, run_row, positions, session=1, session_row=session_row, snapshot_every=DEFAULT_SNAPSHOT_EVERY
        )
        with self._lock:
            self._writers[event.run_id] = writer
            self._next_version[event.run_id] = 1

    def close(self) -> None:
        with self._lock:
            writers, self._writers = list(self._writers.values()), {}
        for writer in writers:
            _close(writer)


def _close(writer: StoreWriter) -> None:
    try:
        writer.close()
    except StoreError:
        pass


def recorded_events(store: History | Store, run_id: str) -> list[dict[str, Any]]:
    """A stored run's events in the order they happened, rebuilt from its records."""
    history = _history(store)
    run = history.run(run_id)
    rid = run.run_id
    timed: list[tuple[float, int, dict[str, Any]]] = []
    order = 0

    def add(at: float | None, event: dict[str, Any]) -> None:
        nonlocal order
        order += 1
        timed.append((at or 0.0, order, event))

    steps = history.steps(rid)
    names = [step.name for step in sorted(steps, key=lambda step: step.position)]
    add(
        run.started_at,
        {
            "type": "run_started",
            "run_id": rid,
            "test_id": run.test_id,
            "recipe_path": run.recipe_path,
            "steps": names,
            "params": run.params,
            "at": run.started_at,
        },
    )
    for attempt in history.attempts(rid):
        add(
            attempt.started_at,
            {
                "type": "attempt_started",
                "run_id": rid,
                "step": attempt.step,
                "attempt": attempt.attempt,
                "item": attempt.item,
                "at": attempt.started_at,
            },
        )
        if attempt.finished_at is not None:
            add(
                attempt.finished_at,
                {
                    "type": "attempt_finished",
                    "run_id": rid,
                    "step": attempt.step,
                    "attempt": attempt.attempt,
                    "item": attempt.item,
                    "status": attempt.status,
                    "at": attempt.finished_at,
                    "wall_s": attempt.wall_s,
                    "cpu_s": attempt.cpu_s,
                    "peak_rss_bytes": attempt.peak_rss_bytes,
                    "error": _error(attempt.error),
                },
            )
    for step in steps:
        if step.finished_at is not None and step.status not in ("running", "pending"):
            add(
                step.finished_at,
                {
                    "type": "step_finished",
                    "run_id": rid,
                    "step": step.name,
                    "status": step.status,
                    "at": step.finished_at,
                    "attempts": step.attempts,
                    "output": step.output if step.output_json else None,
                    "started_at": step.started_at,
                    "finished_at": step.finished_at,
                    "cpu_s": step.cpu_s,
                    "peak_rss_bytes": step.peak_rss_bytes,
                    "items": step.items,
                    "reason": step.reason,
                    "error": _error(step.error),
                },
            )
    for delta in history.context_deltas(rid):
        add(
            delta.at,
            {
                "type": "context_changed",
                "run_id": rid,
                "version": delta.version,
                "step": delta.source.step,
                "changes": delta.ops,
                "at": delta.at,
            },
        )
    for line in history.logs(rid):
        add(
            line.at,
            {
                "type": "log_lines",
                "run_id": rid,
                "step": line.step or "",
                "attempt": line.attempt,
                "item": line.item,
                "stream": line.stream,
                "text": line.text,
                "at": line.at,
            },
        )
    if run.finished_at is not None:
        add(
            run.finished_at,
            {
                "type": "run_finished",
                "run_id": rid,
                "status": run.status,
                "at": run.finished_at,
                "duration_s": run.finished_at - run.started_at,
                "error": _error(run.error),
            },
        )
    timed.sort(key=lambda entry: (entry[0], entry[1]))
    return [event for _, _, event in timed]


def _error(error: ErrorInfo | None) -> dict[str, str] | None:
    return None if error is None else error.to_dict()
