"""``/api/v1/contexts``: named contexts, their keys, atomic changes, history and diffs."""

from __future__ import annotations

from typing import Any, TypeVar

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool

from framework0.context.deltas import diff
from framework0.context.merge import ChangeRequest, Strategies
from framework0.errors import BadRequestBody, ContextConflict, ContextError, ContextExists, HistoryGone, UnknownVersion
from framework0.server.commit import committed, loaded
from framework0.server.jsontext import to_json
from framework0.server.security import loads_bounded
from framework0.server.settings import ServerState
from framework0.server.wire import (
    MAX_VERSION,
    NAME_PATTERN,
    ChangeBody,
    ConflictOut,
    ContextCreate,
    ContextInfo,
    ContextList,
    ContextOut,
    DiffOut,
    ErrorOut,
    HistoryOut,
    KeyOut,
    KeyWrite,
    StrategiesBody,
    VersionOut,
)

router = APIRouter(prefix="/api/v1/contexts", tags=["contexts"])

Model = TypeVar("Model", bound=BaseModel)

NamePath = Path(pattern=NAME_PATTERN, description="The context's name.")
KeyPath = Path(min_length=1, max_length=500, description="A key (dotted string).")

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "No or wrong bearer token."},
    413: {"model": ErrorOut, "description": "The body is larger than the limit."},
    422: {"model": ErrorOut, "description": "The body or a parameter is not valid."},
    503: {"model": ErrorOut, "description": "The store cannot be written or read."},
    507: {"model": ErrorOut, "description": "The store's disk is full: nothing was written."},
}
_CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"model": ConflictOut, "description": "A compare-and-set write read a stale version: nothing written."}
}


def reply(data: Any, status: int = 200) -> Response:
    return Response(to_json(data), status_code=status, media_type="application/json")


def state_of(request: Request) -> ServerState:
    state: ServerState = request.app.state.f0
    return state


async def parse(request: Request, model: type[Model]) -> Model:
    """The body as ``model``: orjson, bounded depth, then pydantic (a 4xx with one line when wrong)."""
    body = await request.body()
    data = loads_bounded(body, max_depth=state_of(request).settings.max_depth)
    try:
        return model.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        raise BadRequestBody(f"{where}: {first['msg']}", status=422) from None


def body_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The OpenAPI request body of a route that parses its body itself (for speed and limits)."""
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": model.model_json_schema(ref_template="#/components/schemas/{model}")}
            },
        }
    }


def source_of(body: Any, request: Request) -> dict[str, Any]:
    given = body.source.model_dump(exclude_none=True) if body.source is not None else {}
    if "client" not in given and request.client is not None:
        given["client"] = f"{request.client.host}:{request.client.port}"
    return given


@router.get("", response_model=ContextList, responses=_ERRORS)
async def list_contexts(request: Request) -> Response:
    """Every named context: its version, the oldest version its history holds, and its merge rules."""
    rows = await run_in_threadpool(state_of(request).contexts.tables.list_contexts)
    return reply({"contexts": [_row(row) for row in rows]})


def _row(row: Any) -> dict[str, Any]:
    return {
        "name": row.name,
        "version": row.version,
        "oldest": row.oldest,
        "strategies": row.strategies,
        "created_at": row.created_at,
    }


@router.post(
    "",
    status_code=201,
    response_model=ContextInfo,
    responses={**_ERRORS, 409: {"model": ErrorOut, "description": "It exists with other rules."}},
    openapi_extra=body_schema(ContextCreate),
)
async def create_context(request: Request) -> Response:
    """Create a context with its merge rules (the same rules again is not an error)."""
    body = await parse(request, ContextCreate)
    strategies = Strategies(body.strategies)
    state = state_of(request)
    row = await committed(lambda done: state.contexts.submit_create(body.name, strategies, done))
    return reply(_row(row), 201)


@router.put(
    "/{name}/strategies", response_model=ContextInfo, responses=_ERRORS, openapi_extra=body_schema(StrategiesBody)
)
async def set_strategies(request: Request, name: str = NamePath) -> Response:
    """Replace a context's merge rules (creating it if needed); later writes merge by the new rules."""
    body = await parse(request, StrategiesBody)
    strategies = Strategies(body.strategies)
    state = state_of(request)
    row = await committed(lambda done: state.contexts.submit_create(name, strategies, done, replace=True))
    return reply(_row(row))


@router.get("/{name}", response_model=ContextOut, responses=_ERRORS)
async def read_context(
    request: Request,
    name: str = NamePath,
    at: int | None = Query(None, ge=0, le=MAX_VERSION, description="An earlier version to read the context at."),
) -> Response:
    """The whole context (``?at=V``: as it was at version V). A context never written is empty, version 0."""
    state = state_of(request)
    contexts = state.contexts  # reads are linearizable (see ContextService.read); from memory at once when held
    current = contexts.read(name) if contexts.held(name) else await run_in_threadpool(contexts.read, name)
    version, data = current if current is not None else (0, {})
    if at is not None and at != version:
        data = await run_in_threadpool(state.contexts.at, name, at)
        version = at
    return reply({"name": name, "version": version, "data": data})


@router.get(
    "/{name}/keys/{key:path}",
    response_model=KeyOut,
    responses={**_ERRORS, 404: {"model": ErrorOut, "description": "No such key."}},
)
async def read_key(request: Request, name: str = NamePath, key: str = KeyPath) -> Response:
    """One key's value and the version that last wrote it."""
    state = state_of(request)
    contexts = state.contexts
    found = (
        contexts.read_key(name, key) if contexts.held(name) else await run_in_threadpool(contexts.read_key, name, key)
    )
    if found is None:
        return reply({"error": {"type": "KeyNotFound", "message": f"context {name!r} has no key {key!r}"}}, 404)
    return reply({"key": key, "value": found[0], "version": found[1]})


@router.put(
    "/{name}/keys/{key:path}",
    response_model=VersionOut,
    responses={**_ERRORS, **_CONFLICT},
    openapi_extra=body_schema(KeyWrite),
)
async def write_key(request: Request, name: str = NamePath, key: str = KeyPath) -> Response:
    """Write one key; with ``expected_version``, only if the key is still at that version (else 409)."""
    body = await parse(request, KeyWrite)
    change = ChangeRequest.from_json(
        {
            "set": {key: body.value},
            **({"expected": {key: body.expected_version}} if body.expected_version is not None else {}),
        }
    )
    return await _write(request, name, change, source_of(body, request), body.write_id, single=key)


@router.delete("/{name}/keys/{key:path}", response_model=VersionOut, responses={**_ERRORS, **_CONFLICT})
async def delete_key(
    request: Request,
    name: str = NamePath,
    key: str = KeyPath,
    expected_version: int | None = Query(None, ge=0, le=MAX_VERSION),
) -> Response:
    """Remove one key (removing an absent key changes nothing and answers the current version)."""
    change = ChangeRequest(delete=(key,), expected={key: expected_version} if expected_version is not None else {})
    source = {"client": f"{request.client.host}:{request.client.port}"} if request.client else {}
    return await _write(request, name, change, source, None, single=key)


@router.post(
    "/{name}/changes",
    response_model=VersionOut,
    responses={**_ERRORS, **_CONFLICT},
    openapi_extra=body_schema(ChangeBody),
)
async def change_context(request: Request, name: str = NamePath) -> Response:
    """One atomic change: sets, deletes, increments, set additions and removals, all or nothing."""
    body = await parse(request, ChangeBody)
    change = ChangeRequest.from_json(body.model_dump(exclude={"source", "write_id"}))
    return await _write(request, name, change, source_of(body, request), body.write_id)


async def _write(
    request: Request,
    name: str,
    change: ChangeRequest,
    source: dict[str, Any],
    write_id: str | None,
    single: str | None = None,
) -> Response:
    state = state_of(request)
    try:
        version = await committed(lambda done: state.contexts.submit(name, change, source, write_id, done))
    except ContextConflict as conflict:
        body: dict[str, Any] = {
            "error": {"type": "ContextConflict", "message": str(conflict)},
            "conflicts": {key: {"expected": exp, "current": cur} for key, (exp, cur) in conflict.conflicts.items()},
        }
        if single is not None and single in conflict.conflicts:
            body["current_version"] = conflict.conflicts[single][1]
        elif conflict.conflicts:
            body["current_version"] = next(iter(conflict.conflicts.values()))[1]
        return reply(body, 409)
    return reply({"version": version})


@router.get("/{name}/history", response_model=HistoryOut, responses={**_ERRORS, 410: {"model": ErrorOut}})
async def context_history(
    request: Request,
    name: str = NamePath,
    since: int = Query(0, ge=0, le=MAX_VERSION, description="Only changes after this version."),
    key: str | None = Query(None, min_length=1, max_length=500, description="Only this key's changes."),
    limit: int = Query(10_000, ge=1, le=100_000, description="At most this many changes."),
) -> Response:
    """Each key's change after version ``since``: version, key, old and new value, when, and who."""
    state = state_of(request)
    await loaded(state.contexts, name)
    rows = await run_in_threadpool(lambda: state.contexts.history(name, since=since, key=key, limit=limit))
    changes = [
        {"version": row.version, "key": k, "op": op, "old": old, "new": new, "at": row.at, "source": row.source}
        for row in rows
        for k, op, old, new in row.changes
    ]
    return reply({"changes": changes})


@router.get("/{name}/diff", response_model=DiffOut, responses={**_ERRORS, 410: {"model": ErrorOut}})
async def context_diff(
    request: Request,
    name: str = NamePath,
    start: int = Query(alias="from", ge=0, le=MAX_VERSION, description="The earlier version."),
    end: int | None = Query(
        None, alias="to", ge=0, le=MAX_VERSION, description="The later version (default: the current one)."
    ),
) -> Response:
    """What changed between two versions: keys added, removed and changed (with old and new values)."""
    state = state_of(request)
    if end is None:
        current = await run_in_threadpool(state.contexts.read, name)
        end = current[0] if current is not None else 0
    a = await run_in_threadpool(state.contexts.at, name, start)
    b = await run_in_threadpool(state.contexts.at, name, end)
    return reply(diff(a, b).to_dict())


def context_error_status(error: ContextError) -> int:
    if isinstance(error, HistoryGone):
        return 410
    if isinstance(error, UnknownVersion):
        return 404
    if isinstance(error, ContextExists):
        return 409
    return 422
