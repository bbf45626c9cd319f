"""A run as the store remembers it: the run result of RECIPES.md section 5 rebuilt from its rows,
and whether a run the store calls "running" still has a runner.

``stored_result(store, run_id).to_dict()`` is the document ``f0 run --json`` printed for that run
(``f0 runs show RUN --json``): the same keys and values, times equal to the millisecond.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from framework0.engine.result import RunResult, StepResult
from framework0.events.types import ErrorInfo
from framework0.store.context_history import context_at

if TYPE_CHECKING:
    from framework0.store.database import Store

#: what ``runner_state`` says of a run: it ended; its runner runs; its runner is gone (it was
#: killed or its machine stopped); it runs on another machine, which cannot be checked from here
ENDED, ALIVE, GONE, ELSEWHERE = "ended", "alive", "gone", "elsewhere"


def stored_result(store: Store, run_id: str) -> RunResult:
    """The run result of run ``run_id`` (or the one run whose id starts with it), from the store
    (``framework0.history.History.result`` is the public way to it). Raises RunNotFound when no
    run has that id."""
    run = store.find_run(run_id)
    context = _loads(run["context"])
    if context is None:
        context = context_at(store, run)[1]
    return run_result(run, store.steps(run["run_id"]), context)


def run_result(run: Mapping[str, Any], rows: Sequence[Mapping[str, Any]], context: dict[str, Any]) -> RunResult:
    """The run result of ``run`` (its stored row) from its steps' rows and its ``context``.

    Steps come in the order the run showed them. A run that has not ended (status ``running``:
    it still runs, or its runner died) has the context given (the last recorded) and, as
    ``finished_at``, the last moment the store recorded anything of it; ``result_document`` shows
    it unfinished.
    """
    steps = {row["name"]: step_result(row) for row in rows}
    # a step gets its row when something happens to it: one without is pending (a killed run)
    planned = list(json.loads(run["fingerprint"]).get("steps", {}))
    if len(steps) < len(planned):
        position = {row["name"]: row["position"] for row in rows}
        order = sorted(enumerate(planned), key=lambda pair: position.get(pair[1], pair[0]))
        steps = {name: steps.get(name) or StepResult(name) for _, name in order}
    finished_at = run["finished_at"]
    if finished_at is None:
        moments = [run["started_at"]]
        moments += [s.finished_at or s.started_at for s in steps.values() if s.finished_at or s.started_at]
        finished_at = max(moments)
    return RunResult(
        run_id=run["run_id"],
        test_id=run["test_id"],
        recipe_path=run["recipe_path"],
        status=run["status"],
        started_at=run["started_at"],
        finished_at=finished_at,
        steps=steps,
        context=context,
        params=_loads(run["params"]) or {},
        error=ErrorInfo(run["error_type"], run["error_message"] or "") if run["error_type"] else None,
    )


def result_document(result: RunResult) -> dict[str, Any]:
    """``result.to_dict()``, with no end time or duration for a run that has not ended."""
    document = result.to_dict()
    if result.status == "running":
        document["finished_at"] = None
        document["duration_s"] = None
    return document


def step_result(row: Mapping[str, Any]) -> StepResult:
    """One ``steps`` row as the StepResult the run reported (the traceback is kept for --debug)."""
    error = None
    if row["error_type"]:
        error = ErrorInfo(row["error_type"], row["error_message"] or "", row.get("error_traceback"))
    return StepResult(
        name=row["name"],
        status=row["status"],
        attempts=row["attempts"] or 0,
        output=_loads(row["output"]),
        error=error,
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        cpu_s=row["cpu_s"] or 0.0,
        peak_rss_bytes=row["peak_rss_bytes"] or 0,
        items=row["items"],
        reason=row["reason"],
    )


def runner_state(run: Mapping[str, Any]) -> str:
    """ENDED, ALIVE, GONE or ELSEWHERE: whether a stored run still has a process running it.

    A run the store calls ``running`` whose runner was on this machine (the same node name) and
    whose process no longer exists was killed: it is GONE, and ``f0 resume`` continues it.
    """
    if run["status"] != "running":
        return ENDED
    from framework0.engine.attempt import NODE

    if run["node"] != NODE:
        return ELSEWHERE
    import psutil

    try:
        alive = bool(run["pid"]) and psutil.Process(run["pid"]).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        alive = False
    return ALIVE if alive else GONE


def _loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)
