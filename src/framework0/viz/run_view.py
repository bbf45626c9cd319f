"""A stored run as the run page and the report draw it: the view model (one JSON document).

``run_view(store, run_id)`` reads the run's rows once and returns plain JSON values: the run, every
step in recipe order (pending ones too), every attempt for the timeline, the newest log lines of
each step, the context with its history, and the graph as SVG coloured by step status. The
dashboard embeds it in the run page and serves it at ``/api/v1/runs/{id}/view``; ``f0 report``
writes it into one HTML file. Large values are bounded so that a page stays quick to open.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from framework0.engine.history import GONE, runner_state
from framework0.graph.dag import build_dag, find_cycle
from framework0.store.context_history import context_at, history
from framework0.store.schema_values import NO_ITEM
from framework0.viz.graph_svg import GraphNode, graph_svg

if TYPE_CHECKING:
    from framework0.store.database import Store

SCHEMA = 1
LOG_LINES_PER_STEP = 500
LOG_LINES_IN_ALL = 20_000  # a page of 500 chatty steps stays a few MB: the newest lines of each share it
LOG_LINES_ON_REQUEST = 5_000  # what a viewer may ask for one step at a time
HISTORY_LIMIT = 5_000
VALUE_LIMIT = 64 * 1024  # characters of JSON: a bigger value is shown as the start of its text


def run_view(
    store: Store,
    run_id: str,
    *,
    log_lines: int = LOG_LINES_PER_STEP,
    log_lines_in_all: int = LOG_LINES_IN_ALL,
    history_limit: int = HISTORY_LIMIT,
) -> dict[str, Any]:
    """The view model of run ``run_id`` (or the one run whose id starts with it); RunNotFound otherwise.

    ``revision`` is read first: whatever is recorded while the view is built makes the next
    ``store.revision`` differ, so a viewer polling with it never misses a change."""
    run = store.find_run(run_id)
    rid = run["run_id"]
    revision = store.revision(rid)
    rows = {row["name"]: row for row in store.steps(rid)}
    graph = _graph(run, rows)
    steps = [_step(position, node, rows.get(node.name)) for position, node in enumerate(graph)]
    status = run["status"]
    if status == "running" and runner_state(run) == GONE:
        status = "killed"
    finished = run["finished_at"]
    version, values = context_at(store, run)
    return {
        "schema": SCHEMA,
        "generated_at": time.time(),
        "revision": revision,
        "run": {
            "run_id": rid,
            "test_id": run["test_id"],
            "recipe_path": run["recipe_path"],
            "status": status,
            "started_at": run["started_at"],
            "finished_at": finished,
            "duration_s": None if finished is None else round(finished - run["started_at"], 6),
            "error": {"type": run["error_type"], "message": run["error_message"] or ""} if run["error_type"] else None,
            "params": json.loads(run["params"]),
            "node": run["node"],
            "sessions": run["sessions"],
        },
        "steps": steps,
        "attempts": [_attempt(row) for row in store.attempts(rid)],
        "logs": _logs(store, rid, log_lines, log_lines_in_all),
        "context": _context(store, run, version, values, history_limit),
        "graph_svg": graph_svg(graph, statuses={step["name"]: step["status"] for step in steps}, standalone=False),
    }


def _graph(run: Mapping[str, Any], rows: Mapping[str, Mapping[str, Any]]) -> list[GraphNode]:
    """The run's steps as graph nodes: from the graph kept with the run (checked: a runner on
    another machine sent it), else, for runs recorded before graphs were kept, from the
    fingerprint's step names, without edges. Steps with rows but not in the graph come last."""
    nodes: dict[str, GraphNode] = {}
    document = _loads(run.get("graph"))
    entries = document.get("steps") if isinstance(document, dict) else None
    if isinstance(entries, list):
        for entry in entries:
            name = entry.get("name") if isinstance(entry, dict) else None
            if not isinstance(name, str) or not name or name in nodes:
                continue
            caption = entry.get("scriptlet")
            upstream = entry.get("upstream")
            ups = (
                tuple(dict.fromkeys(up for up in upstream if isinstance(up, str))) if isinstance(upstream, list) else ()
            )
            nodes[name] = GraphNode(name, caption if isinstance(caption, str) else "", ups)
    else:
        fingerprint = _loads(run.get("fingerprint"))
        for name in fingerprint.get("steps", {}) if isinstance(fingerprint, dict) else ():
            nodes.setdefault(name, GraphNode(name, "", ()))
    for name in sorted(rows, key=lambda name: rows[name]["position"]):
        nodes.setdefault(name, GraphNode(name, "", ()))
    known = set(nodes)
    dag = build_dag(
        (node.name, (up for up in node.upstream if up in known and up != node.name)) for node in nodes.values()
    )
    if find_cycle(dag) is not None:  # not from a recipe we loaded: draw the steps, not the edges
        return [GraphNode(node.name, node.caption, ()) for node in nodes.values()]
    return [GraphNode(node.name, node.caption, dag.upstream[node.name]) for node in nodes.values()]


def _loads(text: str | None) -> Any:
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def _step(position: int, node: GraphNode, row: Mapping[str, Any] | None) -> dict[str, Any]:
    if row is None:  # nothing has happened to it yet
        row = {"status": "pending", "attempts": 0, "cpu_s": 0.0, "peak_rss_bytes": 0}
    started, finished = row.get("started_at"), row.get("finished_at")
    return {
        "name": node.name,
        "position": position,
        "status": row["status"],
        "scriptlet": node.caption or None,
        "upstream": list(node.upstream),
        "attempts": row.get("attempts") or 0,
        "started_at": started,
        "finished_at": finished,
        "duration_s": round(finished - started, 6) if started is not None and finished is not None else None,
        "cpu_s": row.get("cpu_s") or 0.0,
        "peak_rss_bytes": row.get("peak_rss_bytes") or 0,
        "items": row.get("items"),
        "output": _value(row.get("output")),
        "error": _error(row, traceback=True),
        "reason": row.get("reason"),
    }


def _attempt(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "step": row["step"],
        "item": None if row["item"] == NO_ITEM else row["item"],
        "attempt": row["attempt"],
        "status": row["status"],
        "started_at": row["started_at"],
        "finished_at": row["finished_at"],
        "wall_s": row["wall_s"],
        "cpu_s": row["cpu_s"],
        "peak_rss_bytes": row["peak_rss_bytes"],
        "error": _error(row, traceback=False),
        "retry_in_s": row["retry_in_s"],
    }


def _error(row: Mapping[str, Any], *, traceback: bool) -> dict[str, Any] | None:
    if not row.get("error_type"):
        return None
    error = {"type": row["error_type"], "message": row.get("error_message") or ""}
    if traceback:
        error["traceback"] = row.get("error_traceback")
    return error


def _logs(store: Store, run_id: str, per_step: int, in_all: int) -> dict[str, dict[str, Any]]:
    """The newest lines of each step: up to ``per_step`` each and ``in_all`` together (the chattiest
    steps give way first; quiet ones keep every line)."""
    counts = store.log_counts(run_id)
    cap = _share(list(counts.values()), per_step, in_all)
    return {step: log_lines(store, run_id, step, cap, count=count) for step, count in counts.items()}


def log_lines(store: Store, run_id: str, step: str, limit: int, *, count: int | None = None) -> dict[str, Any]:
    """A step's newest ``limit`` log lines (oldest first) and how many older ones were left out."""
    rows = store.last_logs(run_id, step, limit) if limit > 0 else []
    total = store.log_counts(run_id).get(step, 0) if count is None else count
    return {
        "lines": [
            {
                "id": row["id"],
                "item": None if row["item"] == NO_ITEM else row["item"],
                "attempt": row["attempt"],
                "stream": row["stream"],
                "text": row["text"],
                "at": row["at"],
            }
            for row in rows
        ],
        "dropped": max(0, total - len(rows)),
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


def _context(store: Store, run: Mapping[str, Any], version: int, values: dict[str, Any], limit: int) -> dict[str, Any]:
    """The context now, and its newest ``limit`` changes with the context just before the first of
    them (``base``), so that a page can rebuild any version it lists by replaying from the base."""
    changes = history(store, run)
    dropped = max(0, len(changes) - limit)
    kept = changes[dropped:]
    base_version = kept[0].version - 1 if dropped and kept else 0
    base = context_at(store, run, base_version)[1] if base_version else {}
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
