"""``cache: true``: a step's cache key is a content hash of what decides its output: the scriptlet's
code, its rendered args and the outputs of the steps upstream of it.

What it does not see: files or services the step reads, and context values read with
``ctx.get`` at run time (a template that reads ``ctx`` is in the rendered args, so that is seen).
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from framework0.recipe.model import Step
from framework0.scriptlets.registry import import_ref


def _digest(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def code_digest(step: Step, search_path: tuple[str, ...], memo: dict[str, str]) -> str:
    """A hash of the source file that defines the step's scriptlet (memoised per run)."""
    spec = step.scriptlet
    key = spec.ref
    if key not in memo:
        try:
            cls = import_ref(spec.ref, spec.search_path or search_path)
            module = sys.modules.get(cls.__module__)
            path = getattr(module, "__file__", None)
            with open(path or "", "rb") as source:
                memo[key] = hashlib.sha256(source.read()).hexdigest()[:16]
        except Exception:  # no source to read (a built-in extension, a REPL class): the ref must do
            memo[key] = _digest(spec.ref)
    return memo[key]


def cache_inputs(
    step: Step,
    search_path: tuple[str, ...],
    args: Any,
    upstream: Mapping[str, Any],
    memo: dict[str, str],
) -> dict[str, Any]:
    """What the key is computed from, kept so that ``f0 explain`` can say which part changed."""
    return {
        "scriptlet": step.scriptlet.ref,
        "code": code_digest(step, search_path, memo),
        "args": {name: _digest(value) for name, value in args.items()}
        if isinstance(args, Mapping)
        else {"items": _digest(args)},
        "upstream": {name: _digest(output) for name, output in sorted(upstream.items())},
    }


def cache_key(inputs: Mapping[str, Any]) -> str:
    """The content hash of a step's inputs."""
    return hashlib.sha256(json.dumps(inputs, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def explain_difference(now: Mapping[str, Any], before: Mapping[str, Any]) -> list[str]:
    """What differs between two steps' cache inputs, as short phrases."""
    found: list[str] = []
    if now.get("scriptlet") != before.get("scriptlet"):
        found.append(f"its scriptlet changed ({before.get('scriptlet')} -> {now.get('scriptlet')})")
    elif now.get("code") != before.get("code"):
        found.append(f"the code of {now.get('scriptlet')} changed")
    args_now, args_before = now.get("args", {}), before.get("args", {})
    changed = sorted(name for name in {*args_now, *args_before} if args_now.get(name) != args_before.get(name))
    if changed:
        found.append(("arg " if len(changed) == 1 else "args ") + ", ".join(map(repr, changed)) + " changed")
    up_now, up_before = now.get("upstream", {}), before.get("upstream", {})
    outputs = sorted(name for name in {*up_now, *up_before} if up_now.get(name) != up_before.get(name))
    if outputs:
        found.append("the output of upstream " + ", ".join(f"step {name!r}" for name in outputs) + " changed")
    return found


@dataclass(frozen=True, slots=True)
class CacheHit:
    """An earlier run's output that fits: where it came from, and the context writes to replay."""

    run_id: str
    output: Any
    writes: list[tuple[int | None, list[list[Any]]]]


@dataclass(frozen=True, slots=True)
class CacheLookup:
    """A step's cache key, what it was computed from, and the hit (None: run the step)."""

    key: str
    inputs: dict[str, Any]
    hit: CacheHit | None


class StepCache(Protocol):
    """The runner's port to ``cache: true``: ``off_reason`` says why caching is off for this run
    (None: on); ``lookup`` finds an earlier output for a step's inputs."""

    off_reason: str | None

    def lookup(
        self, step: Step, search_path: tuple[str, ...], args: Any, upstream: Mapping[str, Any]
    ) -> CacheLookup: ...


class CacheSource(Protocol):
    """Where cached outputs are found: the store the run records to (its sink, once open)."""

    def cache_get(self, key: str) -> dict[str, Any] | None: ...

    def cache_writes(
        self, run_id: str, step: str, created_at: float
    ) -> list[tuple[int | None, list[list[Any]]]] | None: ...


class StoreCache:
    """Outputs of earlier runs in the store, found by content hash. ``source`` gives the store once
    the run has opened it."""

    off_reason: str | None = None

    def __init__(self, source: Callable[[], CacheSource | None]) -> None:
        self._source = source
        self._code_digests: dict[str, str] = {}

    def lookup(self, step: Step, search_path: tuple[str, ...], args: Any, upstream: Mapping[str, Any]) -> CacheLookup:
        inputs = cache_inputs(step, search_path, args, upstream, self._code_digests)
        key = cache_key(inputs)
        store = self._source()
        entry = store.cache_get(key) if store is not None else None
        if store is None or entry is None:
            return CacheLookup(key, inputs, None)
        writes = store.cache_writes(entry["run_id"], step.name, entry["created_at"])
        if writes is None:
            return CacheLookup(key, inputs, None)  # the run it came from was cleaned away, with what it wrote
        output = json.loads(entry["output"]) if entry["output"] is not None else None
        return CacheLookup(key, inputs, CacheHit(entry["run_id"], output, writes))


class CacheOff:
    """Caching switched off for a run (``--no-cache``): every step runs, and says why."""

    def __init__(self, reason: str = "caching was off for this run (--no-cache)") -> None:
        self.off_reason: str | None = reason

    def lookup(self, step: Step, search_path: tuple[str, ...], args: Any, upstream: Mapping[str, Any]) -> CacheLookup:
        raise AssertionError("a cache that is off is never looked up")
