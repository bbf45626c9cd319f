"""Resuming a run: what the store says was done, turned into what the runner keeps and redoes.

A step that succeeded (or was cached) is kept, with its output and context changes, unless it is
``--from`` STEP or downstream of it, or downstream of a step that runs again. Everything else runs
again; of a ``foreach`` step that runs again, the items that succeeded are kept with their outputs
(and their context changes, which the restored context holds) as long as the step gets the same
number of items with the same params. An attempt that was running when the runner died runs again
under the same attempt number (at-least-once), and the context writes it had made are not recorded
twice.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from framework0.context.changes import Change
from framework0.context.deltas import apply_ops
from framework0.engine.history import step_result
from framework0.engine.recording import describe_changes, fingerprint
from framework0.engine.result import StepResult
from framework0.errors import ResumeRefused
from framework0.graph.dag import build_dag
from framework0.recipe.model import Recipe
from framework0.store.context_history import history as context_history
from framework0.store.database import Store
from framework0.store.schema_values import NO_ITEM

KEPT = ("succeeded", "cached")
Unit = tuple[str | None, int | None, int | None]


@dataclass(slots=True)
class ResumeState:
    """Everything a Runner needs to continue a stored run."""

    run_id: str
    session: int
    run_started_at: float
    params: dict[str, Any]
    from_step: str | None
    kept: list[str]  # in an order where each step's upstream steps come first
    results: dict[str, StepResult]
    attempt_base: dict[str, int]
    reasons: dict[str, str]
    context: dict[str, Any]
    context_version: int
    history: list[Change] = field(default_factory=list)
    replay: dict[Unit, list[list[tuple[str, str, Any]]]] = field(default_factory=dict)
    #: foreach steps that run again: how many items they had, and the outputs of those that succeeded
    kept_items: dict[str, tuple[int, dict[int, Any]]] = field(default_factory=dict)


def _loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def load_resume(
    store: Store,
    run_id: str,
    recipe: Recipe,
    *,
    from_step: str | None = None,
    params: Mapping[str, Any] | None = None,
) -> ResumeState:
    """Read run ``run_id`` back and decide what to keep; ResumeRefused when that cannot be done."""
    run = store.find_run(run_id)
    run_id = run["run_id"]
    before = json.loads(run["fingerprint"])
    changes = describe_changes(before, fingerprint(recipe))
    if changes:
        raise ResumeRefused(
            f"cannot resume run {run_id}: its recipe changed since it ran ({'; '.join(changes)}); "
            "start a new run with f0 run"
        )
    names = [step.name for step in recipe.steps]
    if from_step is not None and from_step not in names:
        from framework0.errors import did_you_mean

        raise ResumeRefused(f"--from: the recipe has no step {from_step!r}{did_you_mean(from_step, names)}")
    if run["status"] == "succeeded" and from_step is None:
        raise ResumeRefused(
            f"run {run_id} succeeded; there is nothing to resume (use --from STEP to run a step and "
            "everything downstream of it again)"
        )
    _refuse_if_alive(run)
    rows = {row["name"]: row for row in store.steps(run_id)}
    attempts = store.attempts(run_id)
    dag = build_dag((step.name, step.upstream) for step in recipe.steps)
    order = dag.topological_order()
    rerun_from: set[str] = set()
    if from_step is not None:
        rerun_from = {from_step, *dag.descendants(from_step)}
    kept: list[str] = []
    kept_set: set[str] = set()
    reasons: dict[str, str] = {}
    upstream = {step.name: step.upstream for step in recipe.steps}
    for name in order:
        row = rows.get(name)
        status = row["status"] if row else "pending"
        if name in rerun_from:
            where = "" if name == from_step else "downstream of "
            reasons[name] = f"run again: {where}--from {from_step}"
        elif status in KEPT and all(up in kept_set for up in upstream[name]):
            kept.append(name)
            kept_set.add(name)
        elif status in KEPT:
            reasons[name] = "run again: a step upstream of it runs again"
        elif status == "running":
            reasons[name] = "run again: it was running when the runner stopped"
        else:
            what = "failed" if status == "failed" else f"was {status}"
            reasons[name] = f"run again: it {what} in the earlier session"
    results = {name: step_result(rows[name]) for name in kept}
    base: dict[str, int] = {}
    unfinished: set[Unit] = set()
    for row in attempts:
        if row["step"] in kept_set:
            continue
        item = None if row["item"] == NO_ITEM else row["item"]
        if row["status"] == "running":
            unfinished.add((row["step"], row["attempt"], item))
        elif row["attempt"] > base.get(row["step"], 0):
            base[row["step"]] = row["attempt"]
    context, version, history, replay = _context(store, run, unfinished)
    stored = json.loads(run["params"])
    values = {**stored, **(params or {})}
    kept_items: dict[str, tuple[int, dict[int, Any]]] = {}
    if values == stored:  # other params may give other items: then every item runs again
        fresh = _fresh_since(store.sessions(run_id), dag, order)
        for name in order:
            row = rows.get(name)
            if name in kept_set or name in rerun_from or not row or not row["items"]:
                continue
            if not all(up in kept_set for up in upstream[name]):
                continue
            # an item's work counts only if done after its inputs last changed: the params, a --from
            # that ran the step or one upstream of it, an upstream step run again
            since = max([fresh[name], *(int(rows[up]["session"]) for up in upstream[name] if up in rows)])
            latest: dict[int, Any] = {}
            for attempt in attempts:
                if attempt["step"] == name and attempt["item"] != NO_ITEM:
                    last = latest.get(attempt["item"])
                    if last is None or attempt["attempt"] > last["attempt"]:
                        latest[attempt["item"]] = attempt
            done = {
                item: _loads(attempt["output"])
                for item, attempt in latest.items()
                if attempt["status"] == "succeeded" and int(attempt["session"]) >= since
            }
            if done:
                total = int(row["items"])
                kept_items[name] = (total, done)
                which = "the item" if len(done) == 1 else f"the {len(done)} items"
                reasons[name] += f"; kept {which} of its {total} that had succeeded"
    return ResumeState(
        run_id=run_id,
        session=int(run["sessions"]) + 1,
        run_started_at=run["started_at"],
        params=values,
        from_step=from_step,
        kept=kept,
        results=results,
        attempt_base=base,
        reasons=reasons,
        context=context,
        context_version=version,
        history=history,
        replay=replay,
        kept_items=kept_items,
    )


def _fresh_since(sessions: list[Any], dag: Any, order: list[str]) -> dict[str, int]:
    """By step: the latest session that changed its inputs (params given anew, or a ``--from`` that
    ran it again); work of earlier sessions cannot be kept for it."""
    fresh = dict.fromkeys(order, 1)
    values: dict[str, Any] | None = None
    for row in sorted(sessions, key=lambda row: row["session"]):
        number, given = int(row["session"]), json.loads(row["params"])
        if values is None:
            values = dict(given)
            continue
        if any(values.get(key, _MISSING) != value for key, value in given.items()):
            fresh = dict.fromkeys(order, number)
        values.update(given)
        if row["from_step"] and row["from_step"] in fresh:
            for name in (row["from_step"], *dag.descendants(row["from_step"])):
                fresh[name] = number
    return fresh


_MISSING = object()


def _refuse_if_alive(run: Mapping[str, Any]) -> None:
    if run["status"] != "running":
        return
    from framework0.engine.attempt import NODE

    if run["node"] != NODE:
        return  # another machine's runner: it cannot be checked from here, trust the user
    import psutil

    if run["pid"] and psutil.pid_exists(run["pid"]):
        try:
            alive = psutil.Process(run["pid"]).status() != psutil.STATUS_ZOMBIE
        except psutil.Error:
            alive = False
        if alive:
            raise ResumeRefused(
                f"run {run['run_id']} is still running (process {run['pid']} on this machine); "
                "stop it first (Ctrl-C), then resume"
            )


def _context(
    store: Store, run: Mapping[str, Any], unfinished: set[Unit]
) -> tuple[dict[str, Any], int, list[Change], dict[Unit, list[list[tuple[str, str, Any]]]]]:
    """The context as last recorded, its history, and the writes of attempts that never finished
    (by attempt, one list of operations per version)."""
    changes = context_history(store, run)
    data: dict[str, Any] = {}
    replay: dict[Unit, list[list[tuple[str, str, Any]]]] = {}
    last: tuple[Unit, int] | None = None
    for change in changes:
        apply_ops(data, ((change.op, change.key, change.new),), version=change.version)
        source = change.source
        unit = (source.step, source.attempt, source.item)
        if unit in unfinished:
            batches = replay.setdefault(unit, [])
            if last != (unit, change.version):
                batches.append([])
            batches[-1].append((change.op, change.key, change.new))
            last = (unit, change.version)
    return data, changes[-1].version if changes else 0, changes, replay


def prepare_resume(
    run_id: str,
    *,
    from_step: str | None = None,
    params: Mapping[str, Any] | None = None,
    params_from_text: bool = False,
    store: str | None = "",
    origin: str = "--store",
    max_recipe_bytes: int | None = None,
) -> tuple[Recipe, ResumeState]:
    """Load run ``run_id``'s recipe (from where it ran) and what to keep of it, from the store at
    ``store`` (``""``: the default one), which must exist: it is never created to look.

    ``params`` override the run's own, checked (and from the command line, typed) like ``-p``.
    """
    from pathlib import Path

    from framework0.recipe.loader import load_recipe
    from framework0.recipe.params import resolve_params
    from framework0.store import open_store

    history = open_store(store, create=False, origin=origin)
    try:
        run = history.find_run(run_id)
        path = run["recipe_path"]
        if not path or not Path(path).is_file():
            raise ResumeRefused(
                f"cannot resume run {run['run_id']}: its recipe {path or '(none)'} is not there any more"
            )
        recipe = load_recipe(path, max_bytes=max_recipe_bytes)
        overrides = dict(params or {})
        stored = json.loads(run["params"])
        typed = resolve_params(recipe.params, {**stored, **overrides}, from_text=params_from_text)
        values = {**stored, **{name: typed[name] for name in overrides}}
        return recipe, load_resume(history, run["run_id"], recipe, from_step=from_step, params=values)
    finally:
        history.close()
