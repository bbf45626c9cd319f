"""``f0 explain RUN STEP``: why a step ran, was skipped, was cached or ran again, from its records.

The records come through ``StepRecords`` (the store answers it); ``framework0.history.History.explain``
is the public way in.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from framework0.engine.caching import explain_difference
from framework0.errors import UsageError, did_you_mean

PASSED = ("succeeded", "cached")
RUN_AGAIN = "run again: "


class GraphStep(Protocol):
    """A step of the graph recorded with a run (``framework0.history.GraphStep``)."""

    @property
    def upstream(self) -> Sequence[str]: ...

    @property
    def trigger(self) -> str: ...

    @property
    def continue_on_error(self) -> bool: ...


class StepRecords(Protocol):
    """What an explanation reads of a run's records (as stored rows)."""

    def steps(self, run_id: str) -> Sequence[Mapping[str, Any]]: ...

    def attempts(self, run_id: str, step: str | None = None) -> Sequence[Mapping[str, Any]]: ...

    def earlier_step(self, run: dict[str, Any], step: str) -> Mapping[str, Any] | None: ...


def explain_step(records: StepRecords, run: dict[str, Any], step: str, graph: Mapping[str, GraphStep]) -> list[str]:
    """Lines that say what became of ``step`` in ``run`` (its stored row) and why; ``graph`` is the
    run's recorded graph by step name (empty for a run recorded before graphs were kept)."""
    run_id = run["run_id"]
    rows = {row["name"]: row for row in records.steps(run_id)}
    if step not in rows:
        if step in graph:  # planned, but nothing happened to it before the runner stopped
            return [f"step {step!r} of run {run_id}: pending", "pending: it never started"]
        raise UsageError(f"run {run_id} has no step {step!r}{did_you_mean(step, rows or graph)}")
    row = rows[step]
    status, reason, attempts = row["status"], row["reason"], row["attempts"]
    lines = [
        f"step {step!r} of run {run_id}: {status}"
        + (f" after {attempts} attempt{'s' if attempts != 1 else ''}" if attempts else "")
    ]
    if status == "cached":
        lines.append(f"cached: {reason}")
        lines.extend(_inputs(row))
        lines.extend(_kept(run, row))
        return lines
    if status in ("skipped", "pending", "running"):
        lines.append(f"{status}: {reason or 'it never started'}")
        return lines
    again = bool(reason and reason.startswith(RUN_AGAIN))
    if again:
        lines.append(_run_again(records, run_id, row))
    if row["cache_inputs"] is None:
        if reason and "--no-cache" in reason:
            lines.append(f"ran: {reason}")
        elif not again:
            lines.append(_why_it_ran(step, graph, rows))
            lines.extend(_kept(run, row))
        return lines
    now = json.loads(row["cache_inputs"])
    earlier = records.earlier_step(run, step)
    if earlier is None:
        lines.append("ran: cache: true, but no earlier run of this recipe has recorded this step")
    else:
        before = json.loads(earlier["cache_inputs"])
        changes = explain_difference(now, before)
        if changes:
            lines.append(f"ran: cache: true, but since run {earlier['run_id']}: " + "; ".join(changes))
        elif earlier["status"] not in PASSED:
            lines.append(f"ran: same inputs as in run {earlier['run_id']}, but the step {earlier['status']} there")
        else:
            lines.append(f"ran: same inputs as in run {earlier['run_id']}, but its cache entry was gone (cleaned?)")
    if not again:
        lines.extend(_kept(run, row))
    return lines


def _why_it_ran(step: str, graph: Mapping[str, GraphStep], rows: Mapping[str, Any]) -> str:
    """Why a step that is not cache: true ran: its trigger, a tolerated failure, or its upstream steps."""
    entry = graph.get(step)
    if entry is None:
        return "ran: it does not set cache: true, so it runs when its upstream steps let it"
    upstream = list(entry.upstream)
    status = {name: rows[name]["status"] if name in rows else "pending" for name in upstream}
    not_passed = [name for name in upstream if status[name] not in PASSED]
    tolerated = [
        name for name in not_passed if status[name] == "failed" and name in graph and graph[name].continue_on_error
    ]
    # A step without trigger: always runs only after every upstream step passed or failed tolerated,
    # so one that ran after any other outcome is a cleanup step (also in a run recorded before the
    # graph said so).
    if entry.trigger == "always" or len(tolerated) < len(not_passed):
        if not upstream:
            return "ran: trigger: always (a cleanup step); it has no upstream steps, so it runs in every run"
        outcomes = ", ".join(f"{name} {status[name]}" for name in upstream)
        return (
            "ran: trigger: always (a cleanup step): it runs once its upstream steps are settled, "
            f"whatever their outcome; here {outcomes}"
        )
    if tolerated:
        names = ", ".join(tolerated)
        step_s = "step" if len(tolerated) == 1 else "steps"
        verb = "sets" if len(tolerated) == 1 else "set"
        return (
            f"ran: upstream {step_s} {names} failed, but {'it' if len(tolerated) == 1 else 'they'} {verb} "
            "continue_on_error: true, so the run went on as if it had passed"
        )
    if not upstream:
        return "ran: it has no upstream steps and does not set cache: true, so it runs in every run"
    step_s = "step" if len(upstream) == 1 else "steps"
    return (
        f"ran: its upstream {step_s} {', '.join(upstream)} succeeded, and it does not set cache: true, "
        "so it runs whenever they succeed"
    )


def _run_again(records: StepRecords, run_id: str, row: Mapping[str, Any]) -> str:
    """``ran again in session N (f0 resume): WHY``, naming the session the step last ran in before."""
    session = int(row["session"])
    attempts = records.attempts(run_id, row["name"])
    earlier = [int(attempt["session"]) for attempt in attempts if int(attempt["session"]) < session]
    before = max(earlier, default=session - 1)
    why = str(row["reason"])[len(RUN_AGAIN) :]
    why = why.replace("in the earlier session", f"in session {before}")
    why = why.replace("when the runner stopped", f"when the runner of session {before} stopped")
    return f"ran again in session {session} (f0 resume): {why}"


def _kept(run: Mapping[str, Any], row: Mapping[str, Any]) -> list[str]:
    """For a step a resume kept: which session it ran in, and that it was not run again."""
    sessions, session = int(run["sessions"] or 1), int(row["session"])
    if session >= sessions or row["status"] not in PASSED:
        return []
    kept_in = f"session {sessions}" if sessions == session + 1 else f"sessions {session + 1} to {sessions}"
    return [
        f"kept in {kept_in} (f0 resume): it {row['status']} in session {session}, so its output and "
        "context changes were restored, not made again"
    ]


def _inputs(row: Mapping[str, Any]) -> list[str]:
    if row["cache_inputs"] is None:
        return []
    inputs = json.loads(row["cache_inputs"])
    upstream = ", ".join(inputs.get("upstream", {})) or "none"
    return [
        f"  key {row['cache_key'][:16]}: code of {inputs.get('scriptlet')}, its args, upstream outputs ({upstream})"
    ]
