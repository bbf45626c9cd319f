"""A stored run as the run page and the report draw it: the view model (one JSON document).

``run_view(history, run_id)`` reads the run through ``framework0.history`` and returns plain JSON values: the run, every
step in recipe order (pending ones too), every attempt for the timeline, the newest log lines of
each step, the context with its history, and the graph as SVG coloured by step status. The
dashboard embeds it in the run page and serves it at ``/api/v1/runs/{id}/view``; ``f0 report``
writes it into one HTML file. Large values are bounded so that a page stays quick to open.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from framework0.graph.dag import build_dag, find_cycle
from framework0.history import History
from framework0.viz.graph_svg import GraphNode, graph_svg

if TYPE_CHECKING:
    from framework0.events.types import ErrorInfo
    from framework0.history import AttemptRecord, RunGraph, StepRecord
    from framework0.store.database import Store

SCHEMA = 1
LOG_LINES_PER_STEP = 500
LOG_LINES_IN_ALL = 20_000  # a page of 500 chatty steps stays a few MB: the newest lines of each share it
LOG_LINES_ON_REQUEST = 5_000  # what a viewer may ask for one step at a time
HISTORY_LIMIT = 5_000
VALUE_LIMIT = 64 * 1024  # characters of JSON: a bigger value is shown as the start of its text


def run_view(
    history: History | Store,
    run_id: str,
    *,
    log_lines: int = LOG_LINES_PER_STEP,
    log_lines_in_all: int = LOG_LINES_IN_ALL,
    history_limit: int = HISTORY_LIMIT,
) -> dict[str, Any]:
    """The view model of run ``run_id`` (or the one run whose id starts with it); RunNotFound otherwise.
    ``history`` may also be an open store (it is read through a History).

    ``revision`` is read first: whatever is recorded while the view is built makes the next
    ``revision`` differ, so a viewer polling with it never misses a change."""
    history = history if isinstance(history, History) else History(history)
    run = history.run(run_id)
    rid = run.run_id
    revision = history.revision(rid)
    records = history.steps(rid)
    rows = {row.name: row for row in records}
    graph = _graph(history.graph(rid, steps=records))
    steps = [_step(position, node, rows.get(node.name)) for position, node in enumerate(graph)]
    status = run.status
    if status == "running" and run.runner_state() == "gone":
        status = "killed"
    finished = run.finished_at
    context = history.context(rid)
    return {
        "schema": SCHEMA,
        "generated_at": time.time(),
        "revision": revision,
        "run": {
            "run_id": rid,
            "test_id": run.test_id,
            "recipe_path": run.recipe_path,
            "status": status,
            "started_at": run.started_at,
            "finished_at": finished,
            "duration_s": run.duration_s,
            "error": run.error.to_dict() if run.error else None,
            "params": run.params,
            "node": run.node,
            "sessions": run.sessions,
        },
        "steps": steps,
        "attempts": [_attempt(row) for row in history.attempts(rid)],
        "logs": _logs(history, rid, log_lines, log_lines_in_all),
        "context": _context(history, rid, context.version, context.data, history_limit),
        "graph_svg": graph_svg(graph, statuses={step["name"]: step["status"] for step in steps}, standalone=False),
    }


def _graph(recorded: RunGraph) -> list[GraphNode]:
    """The run's steps as graph nodes (``History.graph``: for runs recorded before graphs were
    kept, without edges); a graph with a cycle (not from a recipe we loaded) is drawn without edges."""
    nodes = [GraphNode(step.name, step.scriptlet or "", step.upstream) for step in recorded.steps]
    known = {node.name for node in nodes}
    dag = build_dag((node.name, (up for up in node.upstream if up in known and up != node.name)) for node in nodes)
    if find_cycle(dag) is not None:
        return [GraphNode(node.name, node.caption, ()) for node in nodes]
    return [GraphNode(node.name, node.caption, dag.upstream[node.name]) for node in nodes]


def _step(position: int, node: GraphNode, row: StepRecord | None) -> dict[str, Any]:
    base = {"name": node.name, "position": position}
    if row is None:  # nothing has happened to it yet
        return base | {
            "status": "pending",
            "scriptlet": node.caption or None,
            "upstream": list(node.upstream),
            "attempts": 0,
            "started_at": None,
            "finished_at": None,
            "duration_s": None,
            "cpu_s": 0.0,
            "peak_rss_bytes": 0,
            "items": None,
            "output": None,
            "error": None,
            "reason": None,
        }
    return base | {
        "status": row.status,
        "scriptlet": node.caption or None,
        "upstream": list(node.upstream),
        "attempts": row.attempts,
        "started_at": row.started_at,
        "finished_at": row.finished_at,
        "duration_s": row.duration_s,
        "cpu_s": row.cpu_s,
        "peak_rss_bytes": row.peak_rss_bytes,
        "items": row.items,
        "output": _value(row.output_json),
        "error": _error(row.error, traceback=True),
        "reason": row.reason,
    }


def _attempt(row: AttemptRecord) -> dict[str, Any]:
    return {
        "step": row.step,
        "item": row.item,
        "attempt": row.attempt,
        "status": row.status,
        "started_at": row.started_at,
        "finished_at": row.finished_at,
        "wall_s": row.wall_s,
        "cpu_s": row.cpu_s,
        "peak_rss_bytes": row.peak_rss_bytes,
        "error": _error(row.error, traceback=False),
        "retry_in_s": row.retry_in_s,
    }


def _error(error: ErrorInfo | None, *, traceback: bool) -> dict[str, Any] | None:
    if error is None:
        return None
    shown: dict[str, Any] = error.to_dict()
    if traceback:
        shown["traceback"] = error.traceback
    return shown


def _logs(history: History, run_id: str, per_step: int, in_all: int) -> dict[str, dict[str, Any]]:
    """The newest lines of each step: up to ``per_step`` each and ``in_all`` together (the chattiest
    steps give way first; quiet ones keep every line). The run's own lines are under ``""``."""
    counts = history.log_counts(run_id)
    cap = _share(list(counts.values()), per_step, in_all)
    return {step or "": log_lines(history, run_id, step or "", cap, count=count) for step, count in counts.items()}


def log_lines(history: History, run_id: str, step: str, limit: int, *, count: int | None = None) -> dict[str, Any]:
    """A step's newest ``limit`` log lines (oldest first) and how many older ones were left out
    (``step`` ``""``: the run's own lines)."""
    tail = history.log_tail(run_id, step, limit, count=count)
    return {
        "lines": [
            {
                "id": line.id,
                "item": line.item,
                "attempt": line.attempt,
                "stream": line.stream,
                "text": line.text,
                "at": line.at,
            }
            for line in tail.lines
        ],
        "dropped": tail.dropped,
    }


def _share(counts: list[int], per_step: int, in_all: int) -> int:
    """The largest cap (≤ ``per_step``) with ``sum(min(count, cap)) ≤ in_all``: water-filling."""
    if sum(min(count, per_step) for count in counts) <= in_all:
        return per_step
    low, high = 0, per_step
    while low < high:
        middle = (low + high + 1) // 2
        if sum(min(count, middle) for count in counts) <= in_all:
            low = middle
        else:
            high = middle - 1
    return low


def _context(history: History, run_id: str, version: int, values: dict[str, Any], limit: int) -> dict[str, Any]:
    """The context now, and its newest ``limit`` changes with the context just before the first of
    them (``base``), so that a page can rebuild any version it lists by replaying from the base."""
    changes = history.context_history(run_id)
    dropped = max(0, len(changes) - limit)
    kept = changes[dropped:]
    base_version = kept[0].version - 1 if dropped and kept else 0
    base = history.context(run_id, base_version).data if base_version else {}
    base = {key: _value(value, encoded=False) for key, value in base.items()}
    return {
        "version": version,
        "values": {key: _value(value, encoded=False) for key, value in values.items()},
        "base_version": base_version,
        "base": base,
        "history": [
            {
                "version": change.version,
                "at": change.at,
                "key": change.key,
                "op": change.op,
                "old": _value(change.old, encoded=False),
                "new": _value(change.new, encoded=False),
                "step": change.source.step,
                "attempt": change.source.attempt,
                "item": change.source.item,
                "node": change.source.node,
            }
            for change in kept
        ],
        "history_dropped": dropped,
    }


def _value(value: Any, *, encoded: bool = True) -> Any:
    """A JSON value as stored (``encoded``: still JSON text), bounded to ``VALUE_LIMIT`` characters."""
    text = value if encoded else None
    if encoded:
        if value is None:
            return None
        if len(value) <= VALUE_LIMIT:
            return json.loads(value)
    else:
        if not isinstance(value, (dict, list, str)):
            return value
        text = json.dumps(value, ensure_ascii=False)
        if len(text) <= VALUE_LIMIT:
            return value
    assert text is not None
    return f"{text[:VALUE_LIMIT]}… ({len(text):,} characters; the rest is not shown)"
