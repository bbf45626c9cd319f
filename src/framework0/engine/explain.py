"""``f0 explain RUN STEP``: why a step ran, was skipped, was cached or ran again, from the store."""

from __future__ import annotations

import json
from typing import Any

from framework0.engine.caching import explain_difference
from framework0.errors import UsageError, did_you_mean
from framework0.store.database import Store


def explain_step(store: Store, run_id: str, step: str) -> list[str]:
    """Lines that say what became of ``step`` in run ``run_id`` and why."""
    run = store.find_run(run_id)
    run_id = run["run_id"]
    rows = {row["name"]: row for row in store.steps(run_id)}
    if step not in rows:
        raise UsageError(f"run {run_id} has no step {step!r}{did_you_mean(step, rows)}")
    row = rows[step]
    status, reason = row["status"], row["reason"]
    lines = [
        f"step {step!r} of run {run_id}: {status}" + (f" after {row['attempts']} attempt(s)" if row["attempts"] else "")
    ]
    if status == "cached":
        lines.append(f"cached: {reason}")
        lines.extend(_inputs(row))
        return lines
    if status in ("skipped", "pending", "running"):
        lines.append(f"{status}: {reason or 'it never started'}")
        return lines
    if reason and reason.startswith("run again"):
        lines.append(f"{reason} (session {row['session']})")
    if row["cache_inputs"] is None:
        if reason and "--no-cache" in reason:
            lines.append(f"ran: {reason}")
        elif not (reason and reason.startswith("run again")):
            lines.append("ran: it does not set cache: true, so it runs whenever its upstream steps succeed")
        return lines
    now = json.loads(row["cache_inputs"])
    earlier = store.earlier_step(run, step)
    if earlier is None:
        lines.append("ran: cache: true, but no earlier run of this recipe has recorded this step")
        return lines
    before = json.loads(earlier["cache_inputs"])
    changes = explain_difference(now, before)
    if changes:
        lines.append(f"ran: cache: true, but since run {earlier['run_id']}: " + "; ".join(changes))
    elif earlier["status"] not in ("succeeded", "cached"):
        lines.append(f"ran: same inputs as in run {earlier['run_id']}, but the step {earlier['status']} there")
    else:
        lines.append(f"ran: same inputs as in run {earlier['run_id']}, but its cache entry was gone (cleaned?)")
    return lines


def _inputs(row: dict[str, Any]) -> list[str]:
    if row["cache_inputs"] is None:
        return []
    inputs = json.loads(row["cache_inputs"])
    upstream = ", ".join(inputs.get("upstream", {})) or "none"
    return [
        f"  key {row['cache_key'][:16]}: code of {inputs.get('scriptlet')}, its args, upstream outputs ({upstream})"
    ]
