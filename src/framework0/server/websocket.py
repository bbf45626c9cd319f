"""The WebSocket endpoint ``/api/v1/ws``: live context changes and run events for subscribers, and
writes in batches.

The hub (``framework0.server.hub``) hands each connection the bus's events through a bounded
queue: a viewer that reads too slowly is disconnected with a reason instead of stalling the server.
Changes reach a subscriber in version order with no gaps and no repeats: a change that arrives
after a gap (a reconnect, another server's write seen late) first gets the missing versions from
the store.

Client messages (JSON objects, ``op``):
``auth`` {token} (when the handshake had no Authorization header), ``subscribe`` {context, since}
or {run} ("*": every run), ``unsubscribe`` {context} or {run}, ``write`` {id, context, changes:
[change, ...], source}, ``ping``. Server messages (``type``): ``authenticated``, ``subscribed``,
``changes`` {context, changes: [{version, at, source, changes: [{key, op, old, new}]}]},
``event`` {event}, ``ack`` {id, results: [{version} or {error, conflicts}]}, ``error``, ``pong``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from fastapi import WebSocket, WebSocketDisconnect
from starlette.concurrency import run_in_threadpool

from framework0.context.merge import ChangeRequest
from framework0.errors import BadRequestBody, ContextConflict, ContextError, HistoryGone, StoreError
from framework0.events.types import ContextChanged
from framework0.server.commit import loaded
from framework0.server.contexts import LoopDone
from framework0.server.hub import Connection
from framework0.server.jsontext import to_json
from framework0.server.security import SESSIONS, loads_bounded, session_of, ws_token_ok
from framework0.server.wire import NAME_PATTERN, Source
from framework0.store.shared import ChangeRow

if TYPE_CHECKING:
    from framework0.server.sessions import Session, SessionStore
    from framework0.server.settings import ServerState

# WebSocket close codes (4000-4999 are the application's)
CLOSE_UNAUTHENTICATED = 4401
CLOSE_SLOW = 4408
CLOSE_IDLE = 4000
CLOSE_TOO_BIG = 1009

_SOURCE_FIELDS = ("node", "run", "step", "attempt", "item")
_OP = {"create": "set", "set": "set", "delete": "delete"}
NAME = re.compile(NAME_PATTERN)
SESSION_CHECK_S = 1.0  # how soon a socket notices its session ended
_DRAIN = 1000  # queued items sent per wake-up (as few frames as possible)


async def serve_websocket(websocket: WebSocket) -> None:
    """The ``/api/v1/ws`` endpoint."""
    state: ServerState = websocket.app.state.f0
    settings = state.settings
    hub = state.hub
    await websocket.accept()
    connection = Connection(websocket, settings.queue_limit)
    hub.connections.add(connection)
    sender = asyncio.ensure_future(_send(state, connection))
    session, sessions = session_of(websocket.scope), websocket.scope.get(SESSIONS)
    watcher = asyncio.ensure_future(_watch_session(websocket, sessions, session)) if session and sessions else None
    try:
        await _receive(state, connection, bool(websocket.scope.get("f0.authenticated")))
    finally:
        hub.forget(connection)
        for task in (sender, watcher):
            if task is not None:
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task


async def _watch_session(websocket: WebSocket, sessions: SessionStore, session: Session) -> None:
    """Close a socket that a dashboard session opened once the session ends (sign-out, expiry)."""
    while sessions.alive(session):
        await asyncio.sleep(SESSION_CHECK_S)
    await _close(websocket, CLOSE_UNAUTHENTICATED, "signed out: the session ended")


async def _receive(state: ServerState, connection: Connection, authenticated: bool) -> None:
    settings = state.settings
    websocket = connection.websocket
    auth_deadline = time.monotonic() + settings.auth_deadline_s  # once: messages do not extend it
    while connection.dropped is None:
        timeout = settings.idle_s if authenticated else auth_deadline - time.monotonic()
        try:
            message = await asyncio.wait_for(websocket.receive(), max(0.0, timeout))
        except asyncio.TimeoutError:
            if authenticated:
                await _close(websocket, CLOSE_IDLE, f"idle for {settings.idle_s:g}s")
            else:
                await _close(
                    websocket, CLOSE_UNAUTHENTICATED, f"not authenticated within {settings.auth_deadline_s:g}s"
                )
            return
        if message["type"] == "websocket.disconnect":
            return
        raw = message.get("text")
        payload: bytes = raw.encode() if isinstance(raw, str) else (message.get("bytes") or b"")
        if len(payload) > settings.max_message:
            await _close(websocket, CLOSE_TOO_BIG, f"message larger than {settings.max_message} bytes")
            return
        try:
            data = loads_bounded(payload, max_depth=settings.max_depth)
        except BadRequestBody as error:
            data = error
        if not authenticated:  # nothing but a valid auth message is answered before it
            if isinstance(data, dict) and data.get("op") == "auth" and ws_token_ok(data.get("token"), settings.token):
                authenticated = True
                connection.offer(("reply", {"type": "authenticated"}))
                continue
            await _close(websocket, CLOSE_UNAUTHENTICATED, 'authenticate first: {"op": "auth", "token": ...}')
            return
        if isinstance(data, BadRequestBody):
            connection.offer(("reply", _error("BadMessage", str(data))))
            continue
        if not isinstance(data, dict):
            connection.offer(("reply", _error("BadMessage", "a message is a JSON object with an 'op'")))
            continue
        op = data.get("op")
        await _handle(state, connection, op, data)


async def _handle(state: ServerState, connection: Connection, op: Any, data: dict[str, Any]) -> None:
    hub = state.hub
    if op == "ping":
        connection.offer(("reply", {"type": "pong"}))
    elif op == "auth":
        connection.offer(("reply", {"type": "authenticated"}))
    elif op == "subscribe" and "context" in data:
        await _subscribe(state, connection, data)
    elif op == "subscribe" and isinstance(data.get("run"), str):
        hub.by_run.setdefault(data["run"], set()).add(connection)
        connection.runs.add(data["run"])
        connection.offer(("reply", {"type": "subscribed", "run": data["run"]}))
    elif op == "unsubscribe":
        name, run = data.get("context"), data.get("run")
        if isinstance(name, str):
            connection.contexts.pop(name, None)
            hub.by_context.get(name, set()).discard(connection)
        if isinstance(run, str):
            connection.runs.discard(run)
            hub.by_run.get(run, set()).discard(connection)
        connection.offer(("reply", {"type": "unsubscribed", "context": name, "run": run}))
    elif op == "write":
        _write(state, connection, data)
    else:
        connection.offer(
            ("reply", _error("BadMessage", f"unknown op {op!r}: use auth, subscribe, unsubscribe, write, ping"))
        )


async def _subscribe(state: ServerState, connection: Connection, data: dict[str, Any]) -> None:
    name, since = data.get("context"), data.get("since")
    if not isinstance(name, str) or not NAME.match(name):
        connection.offer(("reply", _error("BadMessage", f"subscribe: 'context' must be a context name, not {name!r}")))
        return
    if since is not None and (not isinstance(since, int) or isinstance(since, bool) or since < 0):
        connection.offer(("reply", _error("BadMessage", f"subscribe: 'since' must be a version >= 0, not {since!r}")))
        return
    try:
        await loaded(state.contexts, name)
    except StoreError as error:
        connection.offer(("reply", _error("StoreError", str(error))))
        return
    contexts = state.contexts
    subscribers = state.hub.by_context.setdefault(name, set())
    # follow the live changes before reading the version: a change committed in between is then
    # either in that version or delivered live (and one in both is sent once)
    subscribers.add(connection)
    current = contexts.current(name)
    version = current[0] if current is not None else 0
    oldest = contexts.oldest(name)
    if since is not None and since < oldest:
        subscribers.discard(connection)
        gone = HistoryGone.since(name, since, oldest)
        connection.offer(("reply", {**_error("HistoryGone", str(gone)), "context": name, "oldest": oldest}))
        return
    if since is not None and since > version:
        subscribers.discard(connection)
        message = f"subscribe: context {name!r} is at version {version}; 'since' {since} does not exist yet"
        connection.offer(("reply", _error("UnknownVersion", message)))
        return
    start = version if since is None else since
    connection.contexts[name] = start
    connection.offer(("reply", {"type": "subscribed", "context": name, "version": version, "since": start}))
    if start < version:
        connection.offer(("sync", (name, version)))


def _write(state: ServerState, connection: Connection, data: dict[str, Any]) -> None:
    """Queue every change of a ``write`` message; one ``ack`` answers them all, in order."""
    ident, name, changes = data.get("id"), data.get("context"), data.get("changes")
    if not isinstance(name, str) or not isinstance(changes, list) or not changes:
        connection.offer(
            ("reply", {**_error("BadMessage", "write: needs 'context' and a list of 'changes'"), "id": ident})
        )
        return
    try:
        source = Source.model_validate(data.get("source") or {}).model_dump(exclude_none=True)
        requests = [
            ChangeRequest.from_json(change) if isinstance(change, dict) else _not_object() for change in changes
        ]
    except (ContextError, ValueError) as error:
        connection.offer(("reply", {**_error("BadMessage", f"write: {str(error).splitlines()[0]}"), "id": ident}))
        return
    results: list[Any] = [None] * len(requests)
    remaining = [len(requests)]
    loop = state.loop

    def settle(index: int, answer: Any) -> None:
        results[index] = _result(answer)
        remaining[0] -= 1
        if remaining[0] == 0:
            connection.offer(("reply", {"type": "ack", "id": ident, "results": results}))

    def done_for(index: int) -> Callable[[Any], None]:
        return LoopDone(loop, functools.partial(settle, index))

    for index, request in enumerate(requests):
        write_id = None
        state.contexts.submit(name, request, source, write_id, done_for(index))


def _not_object() -> ChangeRequest:
    raise ContextError('each change is a JSON object like {"set": {...}}')


def _result(answer: Any) -> dict[str, Any]:
    if isinstance(answer, ContextConflict):
        return {
            **_error("ContextConflict", str(answer)),
            "conflicts": {key: {"expected": e, "current": c} for key, (e, c) in answer.conflicts.items()},
        }
    if isinstance(answer, BaseException):
        return _error(type(answer).__name__, str(answer))
    return {"version": answer}


async def _send(state: ServerState, connection: Connection) -> None:
    websocket = connection.websocket
    queue = connection.queue
    try:
        while True:
            items = [await queue.get()]
            while len(items) < _DRAIN and not queue.empty():
                items.append(queue.get_nowait())
            frames = await _frames(state, connection, items)
            for frame in frames:
                if frame is None:
                    await _close(websocket, CLOSE_SLOW, connection.dropped or "slow subscriber")
                    return
                await websocket.send_text(to_json(frame).decode())
    except (WebSocketDisconnect, RuntimeError, OSError):
        return


async def _frames(state: ServerState, connection: Connection, items: list[tuple[str, Any]]) -> list[Any]:
    """The frames to send for these queued items: runs of one context's changes become one frame."""
    frames: list[Any] = []
    run: dict[str, Any] | None = None

    def add_changes(name: str, entries: list[dict[str, Any]]) -> None:
        nonlocal run
        if not entries:
            return
        if run is not None and run["context"] == name:
            run["changes"].extend(entries)
        else:
            run = {"type": "changes", "context": name, "changes": list(entries)}
            frames.append(run)

    for kind, value in items:
        if kind == "drop":
            frames.append(None)
            break
        if kind == "changes":
            for event in value:
                name = event.context or ""
                last = connection.contexts.get(name)
                version = event.changes[0].version
                if last is None or version <= last:
                    continue
                if version > last + 1:  # a gap: send what is missing, this change included, from the store
                    add_changes(name, await _backlog(state, connection, name, last, version, frames))
                    continue
                add_changes(name, [_live(event)])
                connection.contexts[name] = version
        elif kind == "sync":
            name, upto = value
            last = connection.contexts.get(name)
            if last is not None and last < upto:
                add_changes(name, await _backlog(state, connection, name, last, upto, frames))
        elif kind == "event":
            run = None
            frames.append({"type": "event", "event": value})
        else:
            run = None
            frames.append(value)
    return frames


async def _backlog(
    state: ServerState, connection: Connection, name: str, after: int, upto: int, frames: list[Any]
) -> list[dict[str, Any]]:
    """The stored changes ``after < version <= upto`` (to fill a gap), as sent."""
    entries: list[dict[str, Any]] = []
    last = after
    while last < upto:
        try:
            rows: list[ChangeRow] = await run_in_threadpool(
                functools.partial(state.contexts.history, name, since=last, limit=min(10_000, upto - last))
            )
        except HistoryGone as gone:
            frames.append({**_error("HistoryGone", str(gone)), "context": name, "oldest": gone.oldest})
            connection.contexts.pop(name, None)
            state.hub.by_context.get(name, set()).discard(connection)
            return entries
        except StoreError as error:
            frames.append(_error("StoreError", str(error)))
            return entries
        if not rows:
            break
        for row in rows:
            entries.append(_stored(row))
            last = row.version
    connection.contexts[name] = last
    return entries


def _live(event: ContextChanged) -> dict[str, Any]:
    first = event.changes[0]
    source = first.source
    return {
        "version": first.version,
        "at": first.at,
        "source": {
            key: value
            for key, value in (
                ("node", source.node),
                ("run", event.run_id or None),
                ("step", source.step),
                ("attempt", source.attempt),
                ("item", source.item),
            )
            if value not in (None, "")
        },
        "changes": [{"key": c.key, "op": c.op, "old": c.old, "new": c.new} for c in event.changes],
    }


def _stored(row: ChangeRow) -> dict[str, Any]:
    return {
        "version": row.version,
        "at": row.at,
        "source": {key: row.source[key] for key in _SOURCE_FIELDS if row.source.get(key) not in (None, "")},
        "changes": [{"key": key, "op": _OP[op], "old": old, "new": new} for key, op, old, new in row.changes],
    }


def _error(kind: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": kind, "message": message}}


async def _close(websocket: WebSocket, code: int, reason: str) -> None:
    with contextlib.suppress(Exception):
        await websocket.close(code=code, reason=reason[:120])
