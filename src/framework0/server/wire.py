"""The server's request and response bodies, as pydantic models: they validate what callers send
and describe the API in its OpenAPI document."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$"
STRATEGY_PATTERN = r"^(reject|last-writer-wins|deep-merge|counter|set)$"

Scalar = str | int | float | bool | None

MAX_VERSION = 2**63 - 1  # versions are 64-bit integers in the store


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class Source(_Body):
    """Who writes: shown in the history of every change it makes."""

    node: str | None = Field(None, max_length=255)
    run: str | None = Field(None, max_length=64)
    step: str | None = Field(None, max_length=200)
    attempt: int | None = Field(None, ge=0, le=1_000_000)
    item: int | None = Field(None, ge=0, le=1_000_000_000)
    client: str | None = Field(None, max_length=200)


class KeyWrite(_Body):
    """``PUT .../keys/{key}``: the new value, and (optionally) the key version it was read at."""

    value: Any = Field(description="Any JSON value.")
    expected_version: int | None = Field(
        None, ge=0, le=MAX_VERSION, description="Compare-and-set: 0 means the key must not exist."
    )
    source: Source | None = None
    write_id: str | None = Field(None, min_length=1, max_length=200, description="Idempotency key of this write.")


class ChangeBody(_Body):
    """``POST .../changes``: one atomic change of several keys."""

    set: dict[str, Any] = Field(default_factory=dict, description="Keys to write, with their new values.")
    delete: list[str] = Field(default_factory=list, description="Keys to remove.")
    increment: dict[str, int | float] = Field(default_factory=dict, description="Numbers to add (counter keys).")
    add: dict[str, list[Any]] = Field(default_factory=dict, description="Items to add (set keys).")
    remove: dict[str, list[Any]] = Field(default_factory=dict, description="Items to remove (set keys).")
    expected: dict[str, Annotated[int, Field(ge=0, le=MAX_VERSION)]] = Field(
        default_factory=dict, description="Compare-and-set: key -> version read."
    )
    source: Source | None = None
    write_id: str | None = Field(None, min_length=1, max_length=200, description="Idempotency key of this write.")


class ContextCreate(_Body):
    """``POST /api/v1/contexts``: a new context and how concurrent writes to its keys merge."""

    name: str = Field(pattern=NAME_PATTERN)
    strategies: dict[str, str] = Field(
        default_factory=dict,
        description="Key or key prefix ('jobs.*', '*') -> reject, last-writer-wins, deep-merge, counter or set.",
    )


class StrategiesBody(_Body):
    strategies: dict[str, str]


class VersionOut(BaseModel):
    version: int


class ConflictOut(BaseModel):
    error: dict[str, str]
    current_version: int | None = None
    conflicts: dict[str, dict[str, int]] = Field(default_factory=dict)


class ErrorOut(BaseModel):
    error: dict[str, str]


class ContextOut(BaseModel):
    name: str
    version: int
    data: dict[str, Any]


class ContextInfo(BaseModel):
    name: str
    version: int
    oldest: int
    strategies: dict[str, str]
    created_at: float


class ContextList(BaseModel):
    contexts: list[ContextInfo]


class KeyOut(BaseModel):
    key: str
    value: Any
    version: int


class HistoryEntry(BaseModel):
    version: int
    key: str
    op: str
    old: Any
    new: Any
    at: float
    source: dict[str, Any]


class HistoryOut(BaseModel):
    changes: list[HistoryEntry]


class DiffOut(BaseModel):
    added: dict[str, Any]
    removed: dict[str, Any]
    changed: dict[str, dict[str, Any]]


class RunEvents(_Body):
    """``POST /api/v1/runs/{run}/events``: events a runner published, in order (their JSON form)."""

    events: list[dict[str, Any]] = Field(max_length=10_000)


class Health(BaseModel):
    status: str
    store: str
