"""Joining a run to the store: the rows written before it starts, and the writer that follows it."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from framework0.engine.attempt import NODE
from framework0.graph.document import graph_document
from framework0.store.codec import dumps
from framework0.store.schema_values import NO_ITEM, NO_STEP
from framework0.store.writer import Batch, StoreWriter, initial_batch, pack_snapshot, step_row

if TYPE_CHECKING:
    from framework0.errors import StoreError
    from framework0.recipe.model import Recipe
    from framework0.store import RunSink


def fingerprint(recipe: Recipe) -> dict[str, Any]:
    """What a resumed run compares to see whether the recipe changed: a hash per step and one for
    everything else (meta, params, options, defaults)."""
    return {
        "settings": recipe.settings_digest,
        "steps": {step.name: step.digest for step in recipe.steps},
    }


def describe_changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    """What changed between two fingerprints, as short phrases ("step 'b' changed")."""
    changes: list[str] = []
    old_steps, new_steps = before.get("steps", {}), after.get("steps", {})
    for name in new_steps:
        if name not in old_steps:
            changes.append(f"step {name!r} was added")
        elif old_steps[name] != new_steps[name]:
            changes.append(f"step {name!r} changed")
    changes.extend(f"step {name!r} was removed" for name in old_steps if name not in new_steps)
    if before.get("settings") != after.get("settings"):
        changes.append("the recipe's meta, params, options or defaults changed")
    return changes


def found_context(run_id: str, context: Mapping[str, Any], version: int, *, at: float) -> Batch:
    """The rows that record the context a new run found (a named context on a context server that
    others wrote before): at its version, a snapshot (what later versions are rebuilt from) and one
    change that sets every key (what the history shows, outside any step)."""
    ops = [["set", key, context[key]] for key in sorted(context)]
    change = {
        "run_id": run_id,
        "version": version,
        "at": at,
        "step": NO_STEP,
        "attempt": 0,
        "item": NO_ITEM,
        "seq": 0,  # a step's writes count from 1, a server's changes have their version: never 0
        "node": NODE,
        "changes": dumps(ops),
    }
    return {
        "context_versions": [change],
        "context_snapshots": [{"run_id": run_id, "version": version, "data": pack_snapshot(context)}],
    }


def start_writer(
    sink: RunSink,
    *,
    recipe: Recipe,
    run_id: str,
    params: Mapping[str, Any],
    started_at: float,
    run_started_at: float,
    session: int,
    kind: str,
    from_step: str | None,
    positions: Mapping[str, int],
    fresh_steps: list[str],
    context: Mapping[str, Any],
    context_version: int,
    snapshot_every: int,
    on_error: Callable[[StoreError], None],
    graph: Mapping[str, Any] | None = None,
    package: Mapping[str, str] | None = None,
) -> StoreWriter:
    """Write the run, its session and its steps-to-run now (so a store that cannot be written fails
    before anything runs), then start the writer that records the rest as it happens. ``graph``:
    the recipe's ``graph_document``, if the caller has it already; ``package``: the recipe package
    the run comes from (``Config.package``), recorded with the run.

    The run's row is written before the run's start is published: a context server that shares
    this store sees it there and leaves the run to this writer (one writer per run)."""
    run_row = {
        "run_id": run_id,
        "test_id": recipe.test_id,
        "recipe_path": str(recipe.path) if recipe.path else None,
        "status": "running",
        "started_at": run_started_at,
        "finished_at": None,
        "error_type": None,
        "error_message": None,
        "params": dumps(dict(params)),
        "fingerprint": dumps(fingerprint(recipe)),
        "context": None,
        "context_version": context_version,
        "node": NODE,
        "pid": os.getpid(),
        "sessions": session,
        "graph": dumps(graph_document(recipe) if graph is None else graph),
        "package": dumps(dict(package)) if package else None,
    }
    session_row = {
        "run_id": run_id,
        "session": session,
        "kind": kind,
        "params": run_row["params"],
        "from_step": from_step,
        "started_at": started_at,
        "finished_at": None,
        "status": "running",
        "node": NODE,
        "pid": run_row["pid"],
    }
    again = [step_row(run_id, name, positions[name], session) for name in fresh_steps] if kind == "resume" else []
    batch = initial_batch(run_row, session_row, again)
    if kind == "run" and context:
        batch.update(found_context(run_id, context, context_version, at=run_started_at))
    sink.write(batch)
    writer = StoreWriter(
        sink,
        run_row,
        positions,
        session=session,
        session_row=session_row,
        context=context,
        snapshot_every=snapshot_every,
        on_error=on_error,
    )
    return writer


class Recorder(Protocol):
    """The runner's port to the store: ``begin`` records the run (session ``session`` of it, a
    ``run`` or a ``resume``) before anything runs and returns the bus handler that records the
    rest (``graph``: the recipe's ``graph_document``, passed so that it is drawn up once);
    ``close`` waits for everything to be written (a StoreError if it could not be)."""

    def begin(
        self,
        *,
        recipe: Recipe,
        run_id: str,
        params: Mapping[str, Any],
        started_at: float,
        run_started_at: float,
        session: int,
        kind: str,
        from_step: str | None,
        positions: Mapping[str, int],
        fresh_steps: list[str],
        context: Mapping[str, Any],
        context_version: int,
        on_error: Callable[[StoreError], None],
        graph: Mapping[str, Any] | None = None,
    ) -> Callable[[Any], None]: ...

    def close(self) -> None: ...


class StoreRecorder:
    """Records a run in a store (``RunSink``), opened by ``opener`` only when the run starts: after
    its executor did, so that a run that cannot start creates no store. ``owned``: close the sink
    at the end (False for a sink the caller opened and closes). ``package``: the recipe package the
    run comes from, recorded in its row (``f0 run PKG``)."""

    def __init__(
        self,
        opener: Callable[[], RunSink],
        *,
        snapshot_every: int,
        owned: bool = True,
        package: Mapping[str, str] | None = None,
    ) -> None:
        self._opener = opener
        self.snapshot_every = snapshot_every
        self.owned = owned
        self.package = package
        self.sink: RunSink | None = None
        self._writer: StoreWriter | None = None

    def begin(
        self,
        *,
        recipe: Recipe,
        run_id: str,
        params: Mapping[str, Any],
        started_at: float,
        run_started_at: float,
        session: int,
        kind: str,
        from_step: str | None,
        positions: Mapping[str, int],
        fresh_steps: list[str],
        context: Mapping[str, Any],
        context_version: int,
        on_error: Callable[[StoreError], None],
        graph: Mapping[str, Any] | None = None,
    ) -> Callable[[Any], None]:
        self.sink = self._opener()
        self._writer = start_writer(
            self.sink,
            recipe=recipe,
            run_id=run_id,
            params=params,
            started_at=started_at,
            run_started_at=run_started_at,
            session=session,
            kind=kind,
            from_step=from_step,
            positions=positions,
            fresh_steps=fresh_steps,
            context=context,
            context_version=context_version,
            snapshot_every=self.snapshot_every,
            on_error=on_error,
            graph=graph,
            package=self.package,
        )
        return self._writer.handle

    def close(self) -> None:
        try:
            if self._writer is not None:
                self._writer.close()
        finally:
            if self.owned and self.sink is not None:
                self.sink.close()
