"""View models (the ``viz.run_view`` document) built by hand for the page tests and the benchmark.

``small_view()`` is a failed run with a bit of everything: a retried step, a foreach step with an
item that needed a retry, a failed step with a traceback, a skipped and a cached step, logs on
every stream (one step with dropped lines), run-level lines, and a context whose history holds
sets, a delete and the value ``<script>alert(1)</script>``. ``generated_view(n)`` is an n-step
run for the first-render benchmark.
"""

from __future__ import annotations

import random
from typing import Any

from framework0.viz.graph_svg import GraphNode, graph_svg

T0 = 1_764_000_000.0
SCRIPT = "<script>alert(1)</script>"


def _step(name: str, position: int, status: str, scriptlet: str, upstream: list[str], **fields: Any) -> dict[str, Any]:
    step: dict[str, Any] = {
        "name": name,
        "position": position,
        "status": status,
        "scriptlet": scriptlet,
        "upstream": upstream,
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
    step.update(fields)
    if step["started_at"] is not None and step["finished_at"] is not None:
        step["duration_s"] = round(step["finished_at"] - step["started_at"], 6)
    return step


def _attempt(
    step: str,
    attempt: int,
    status: str,
    start: float,
    wall: float | None,
    *,
    item: int | None = None,
    error: tuple[str, str] | None = None,
    retry_in_s: float | None = None,
    cpu_s: float = 0.05,
    peak_rss_bytes: int = 48 * 1024 * 1024,
) -> dict[str, Any]:
    return {
        "step": step,
        "item": item,
        "attempt": attempt,
        "status": status,
        "started_at": T0 + start,
        "finished_at": None if wall is None else T0 + start + wall,
        "wall_s": wall,
        "cpu_s": cpu_s,
        "peak_rss_bytes": peak_rss_bytes,
        "error": None if error is None else {"type": error[0], "message": error[1]},
        "retry_in_s": retry_in_s,
    }


def _line(at: float, text: str, *, stream: str = "stdout", attempt: int = 1, item: int | None = None) -> dict[str, Any]:
    return {"item": item, "attempt": attempt, "stream": stream, "text": text, "at": T0 + at}


def _change(version: int, key: str, op: str, old: Any, new: Any, step: str | None, at: float) -> dict[str, Any]:
    return {
        "version": version,
        "at": T0 + at,
        "key": key,
        "op": op,
        "old": old,
        "new": new,
        "step": step,
        "attempt": 1 if step else None,
        "item": None,
        "node": "build-07",
    }


def _graph(steps: list[dict[str, Any]]) -> str:
    nodes = [
        GraphNode(
            step["name"], (step["scriptlet"] or "") + (" (foreach)" if step["items"] else ""), tuple(step["upstream"])
        )
        for step in steps
    ]
    return graph_svg(nodes, statuses={step["name"]: step["status"] for step in steps}, standalone=False)


TRACEBACK = """Traceback (most recent call last):
  File "/srv/recipes/steps/report.py", line 41, in run
    table = render(rows)
  File "/srv/recipes/steps/report.py", line 18, in render
    raise ValueError(f"column {name!r} is missing")
ValueError: column 'latency_p99' is missing
"""


def small_view() -> dict[str, Any]:
    """A failed nightly run: 7 steps, retries, foreach items, logs, and a context with history."""
    steps = [
        _step(
            "checkout",
            0,
            "succeeded",
            "shell",
            [],
            attempts=1,
            started_at=T0 + 0.1,
            finished_at=T0 + 1.3,
            cpu_s=0.21,
            peak_rss_bytes=12 * 1024 * 1024,
            output={"commit": "9f2c1e7", "branch": "main"},
        ),
        _step(
            "warm_cache",
            1,
            "cached",
            "python",
            [],
            reason="inputs unchanged since run r-2025-11-23",
            output={"entries": 1204},
        ),
        _step(
            "fetch_metrics",
            2,
            "succeeded",
            "http",
            ["checkout"],
            attempts=3,
            started_at=T0 + 1.4,
            finished_at=T0 + 6.9,
            cpu_s=0.33,
            peak_rss_bytes=61 * 1024 * 1024,
            output={"status": 200, "rows": 5120, "note": SCRIPT},
        ),
        _step(
            "process",
            3,
            "succeeded",
            "python",
            ["fetch_metrics", "warm_cache"],
            attempts=4,
            items=3,
            started_at=T0 + 7.0,
            finished_at=T0 + 12.2,
            cpu_s=3.9,
            peak_rss_bytes=310 * 1024 * 1024,
            output=[{"shard": 0, "ok": True}, {"shard": 1, "ok": True}, {"shard": 2, "ok": True}],
        ),
        _step(
            "report",
            4,
            "failed",
            "python",
            ["process"],
            attempts=2,
            started_at=T0 + 12.3,
            finished_at=T0 + 15.8,
            cpu_s=0.8,
            peak_rss_bytes=96 * 1024 * 1024,
            error={"type": "ValueError", "message": "column 'latency_p99' is missing", "traceback": TRACEBACK},
        ),
        _step("publish", 5, "skipped", "http", ["report"], reason="upstream step report failed"),
        _step("notify", 6, "pending", "shell", ["publish"]),
    ]
    attempts = [
        _attempt("checkout", 1, "succeeded", 0.1, 1.2, cpu_s=0.21, peak_rss_bytes=12 * 1024 * 1024),
        _attempt(
            "fetch_metrics",
            1,
            "failed",
            1.4,
            0.9,
            error=("TimeoutError", "GET /metrics took longer than 0.8 s"),
            retry_in_s=0.5,
        ),
        _attempt(
            "fetch_metrics",
            2,
            "failed",
            2.8,
            1.1,
            error=("ConnectionError", "connection reset by peer"),
            retry_in_s=1.0,
        ),
        _attempt("fetch_metrics", 3, "succeeded", 4.9, 2.0, cpu_s=0.33, peak_rss_bytes=61 * 1024 * 1024),
        _attempt("process", 1, "succeeded", 7.0, 3.1, item=0, cpu_s=1.2, peak_rss_bytes=300 * 1024 * 1024),
        _attempt("process", 1, "failed", 7.0, 1.6, item=1, error=("MemoryError", "shard 1 is too big"), retry_in_s=0.4),
        _attempt("process", 2, "succeeded", 9.0, 3.2, item=1, cpu_s=1.5, peak_rss_bytes=310 * 1024 * 1024),
        _attempt("process", 1, "succeeded", 7.1, 2.6, item=2, cpu_s=1.1, peak_rss_bytes=280 * 1024 * 1024),
        _attempt(
            "report", 1, "failed", 12.3, 1.4, error=("ValueError", "column 'latency_p99' is missing"), retry_in_s=0.6
        ),
        _attempt("report", 2, "failed", 14.3, 1.5, error=("ValueError", "column 'latency_p99' is missing")),
    ]
    attempts.sort(key=lambda attempt: attempt["started_at"])
    logs = {
        "": {
            "lines": [
                _line(0.0, "run r-small started on build-07 with 7 steps", stream="framework"),
                _line(15.9, "run failed: step report failed", stream="framework"),
            ],
            "dropped": 0,
        },
        "checkout": {
            "lines": [_line(0.2, "Cloning into 'nightly'..."), _line(1.2, "HEAD is now at 9f2c1e7")],
            "dropped": 0,
        },
        "fetch_metrics": {
            "lines": [
                _line(1.4, "GET https://metrics.internal/api/v2/export", stream="log"),
                _line(2.3, "attempt 1 failed: TimeoutError; retrying in 0.5 s", stream="framework"),
                _line(2.9, "GET https://metrics.internal/api/v2/export", stream="log", attempt=2),
                _line(3.9, "connection reset by peer", stream="stderr", attempt=2),
                _line(5.0, "GET https://metrics.internal/api/v2/export", stream="log", attempt=3),
                _line(6.8, "received 5120 rows " + SCRIPT, attempt=3),
            ],
            "dropped": 0,
        },
        "process": {
            "lines": [
                _line(7.1, "processing shard 0", item=0),
                _line(7.1, "processing shard 1", item=1),
                _line(8.6, "MemoryError: shard 1 is too big", stream="stderr", item=1),
                _line(9.1, "processing shard 1 (retry)", item=1, attempt=2),
                _line(9.6, "shard 2 done", item=2),
            ],
            "dropped": 0,
        },
        "report": {
            "lines": [_line(12.3 + index * 0.01, f"rendering table row {index}", stream="log") for index in range(20)]
            + [
                _line(13.6, "ValueError: column 'latency_p99' is missing", stream="stderr"),
                _line(13.7, "attempt 1 failed; retrying in 0.6 s", stream="framework"),
                _line(15.7, "ValueError: column 'latency_p99' is missing", stream="stderr", attempt=2),
            ],
            "dropped": 120,
        },
    }
    history = [
        _change(1, "config.env", "set", None, "staging", "checkout", 1.0),
        _change(1, "config.commit", "set", None, "9f2c1e7", "checkout", 1.0),
        _change(2, "counters.rows", "set", None, 5120, "fetch_metrics", 6.8),
        _change(3, "banner", "set", None, SCRIPT, "fetch_metrics", 6.9),
        _change(4, "shards", "set", None, {"done": [0, 2], "failed": [1]}, "process", 9.7),
        _change(
            5, "shards", "set", {"done": [0, 2], "failed": [1]}, {"done": [0, 1, 2], "failed": []}, "process", 12.1
        ),
        _change(5, "counters.rows", "set", 5120, 5121, "process", 12.1),
        _change(6, "config.commit", "delete", "9f2c1e7", None, "report", 13.0),
    ]
    values = {
        "config.env": "staging",
        "counters.rows": 5121,
        "banner": SCRIPT,
        "shards": {"done": [0, 1, 2], "failed": []},
    }
    view = {
        "schema": 1,
        "generated_at": T0 + 20.0,
        "run": {
            "run_id": "r-20251124-7f3a9c",
            "test_id": "NIGHTLY-042",
            "recipe_path": "recipes/nightly_metrics.yaml",
            "status": "failed",
            "started_at": T0,
            "finished_at": T0 + 15.9,
            "duration_s": 15.9,
            "error": {
                "type": "StepFailed",
                "message": "step 'report' failed: ValueError: column 'latency_p99' is missing",
            },
            "params": {"env": "staging", "shards": 3, "label": "<b>nightly</b>"},
            "node": "build-07",
            "sessions": 1,
        },
        "steps": steps,
        "attempts": attempts,
        "logs": logs,
        "context": {
            "version": 6,
            "values": values,
            "base_version": 0,
            "base": {},
            "history": history,
            "history_dropped": 0,
        },
        "graph_svg": "",
    }
    view["graph_svg"] = _graph(steps)
    return view


def generated_view(count: int, *, seed: int = 6) -> dict[str, Any]:
    """An n-step finished run: a layered DAG with a few retries, failures and foreach steps, logs on
    every step and a context change every ten steps."""
    rng = random.Random(seed)
    steps: list[dict[str, Any]] = []
    attempts: list[dict[str, Any]] = []
    logs: dict[str, Any] = {}
    history: list[dict[str, Any]] = []
    values: dict[str, Any] = {}
    clock = 0.0
    for index in range(count):
        name = f"step_{index:04d}"
        upstream = (
            sorted({f"step_{rng.randrange(max(0, index - 12), index):04d}" for _ in range(rng.randint(1, 2))})
            if index
            else []
        )
        start = clock + rng.random() * 0.3
        failed = index % 97 == 50
        retries = 1 if index % 13 == 5 else 0
        items = 4 if index % 41 == 7 else None
        at = start
        step_attempts = 0
        for item in range(items or 1):
            for number in range(1, retries + 2):
                wall = 0.2 + rng.random() * 1.5
                last = number == retries + 1
                status = "failed" if (failed and last) or not last else "succeeded"
                error = ("RuntimeError", f"{name} attempt {number} failed") if status == "failed" else None
                attempts.append(
                    _attempt(
                        name,
                        number,
                        status,
                        at,
                        wall,
                        item=None if items is None else item,
                        error=error,
                        retry_in_s=0.3 if not last else None,
                        cpu_s=wall * 0.6,
                        peak_rss_bytes=rng.randint(20, 400) * 1024 * 1024,
                    )
                )
                at += wall + (0.3 if not last else 0)
                step_attempts += 1
        status = "failed" if failed else "succeeded"
        steps.append(
            _step(
                name,
                index,
                status,
                rng.choice(["shell", "python", "http", "sql"]),
                upstream,
                attempts=step_attempts,
                items=items,
                started_at=T0 + start,
                finished_at=T0 + at,
                cpu_s=round((at - start) * 0.6, 3),
                peak_rss_bytes=rng.randint(20, 400) * 1024 * 1024,
                output={"rows": rng.randint(0, 10_000), "index": index},
                error={"type": "RuntimeError", "message": f"{name} failed", "traceback": "Traceback ..."}
                if failed
                else None,
            )
        )
        logs[name] = {
            "lines": [
                _line(start + k * 0.01, f"{name}: line {k}", stream=("stdout", "stderr", "log")[k % 3])
                for k in range(5)
            ],
            "dropped": 0,
        }
        if index % 10 == 0:
            key = f"progress.{index // 100}"
            old = values.get(key)
            values[key] = index
            history.append(_change(len(history) + 1, key, "set", old, index, name, at))
        clock += 0.05 + rng.random() * 0.2
    attempts.sort(key=lambda attempt: attempt["started_at"])
    finished = max(attempt["finished_at"] for attempt in attempts)
    view = {
        "schema": 1,
        "generated_at": finished + 1,
        "run": {
            "run_id": f"r-generated-{count}",
            "test_id": f"GENERATED-{count}",
            "recipe_path": f"recipes/generated_{count}.yaml",
            "status": "failed" if any(step["status"] == "failed" for step in steps) else "succeeded",
            "started_at": T0,
            "finished_at": finished,
            "duration_s": finished - T0,
            "error": None,
            "params": {"count": count},
            "node": "bench",
            "sessions": 1,
        },
        "steps": steps,
        "attempts": attempts,
        "logs": logs,
        "context": {
            "version": len(history),
            "values": values,
            "base_version": 0,
            "base": {},
            "history": history,
            "history_dropped": 0,
        },
        "graph_svg": _graph(steps),
    }
    return view


def prototype_view() -> dict[str, Any]:
    """A failed run whose step names and context keys are ``Object.prototype`` members: the failed
    step ``constructor`` has no log lines, ``__proto__`` has some, and the context key ``__proto__``
    is set and then changed (the page must treat them all as plain names)."""
    steps = [
        _step(
            "__proto__",
            0,
            "succeeded",
            "python",
            [],
            attempts=1,
            started_at=T0 + 0.1,
            finished_at=T0 + 1.1,
            output={"__proto__": {"polluted": True}, "constructor": "plain"},
        ),
        _step(
            "toString", 1, "succeeded", "shell", ["__proto__"], attempts=1, started_at=T0 + 1.2, finished_at=T0 + 2.0
        ),
        _step(
            "constructor",
            2,
            "failed",
            "python",
            ["toString"],
            attempts=2,
            started_at=T0 + 2.1,
            finished_at=T0 + 4.0,
            error={"type": "RuntimeError", "message": "constructor failed", "traceback": "Traceback ..."},
        ),
        _step("hasOwnProperty", 3, "skipped", "shell", ["constructor"], reason="upstream step constructor failed"),
    ]
    attempts = [
        _attempt("__proto__", 1, "succeeded", 0.1, 1.0),
        _attempt("toString", 1, "succeeded", 1.2, 0.8),
        _attempt("constructor", 1, "failed", 2.1, 0.7, error=("RuntimeError", "constructor failed"), retry_in_s=0.3),
        _attempt("constructor", 2, "failed", 3.1, 0.9, error=("RuntimeError", "constructor failed")),
    ]
    logs = {
        "": {"lines": [_line(0.0, "run started", stream="framework")], "dropped": 0},
        "__proto__": {"lines": [_line(0.2, "proto says hello"), _line(0.9, "proto done", stream="log")], "dropped": 0},
        "toString": {"lines": [_line(1.5, "toString ran")], "dropped": 0},
    }
    history = [
        _change(1, "__proto__", "set", None, {"polluted": 1}, "__proto__", 1.0),
        _change(2, "constructor", "set", None, "c", "toString", 1.9),
        _change(3, "__proto__", "set", {"polluted": 1}, {"polluted": 2, "toString": "x"}, "constructor", 2.5),
    ]
    view = {
        "schema": 1,
        "generated_at": T0 + 5.0,
        "revision": "proto-1",
        "run": {
            "run_id": "r-prototype",
            "test_id": "PROTO-001",
            "recipe_path": "recipes/proto.yaml",
            "status": "failed",
            "started_at": T0,
            "finished_at": T0 + 4.1,
            "duration_s": 4.1,
            "error": {"type": "StepFailed", "message": "step 'constructor' failed"},
            "params": {"__proto__": {"polluted": True}},
            "node": "build-07",
            "sessions": 1,
        },
        "steps": steps,
        "attempts": attempts,
        "logs": logs,
        "context": {
            "version": 3,
            "values": {"__proto__": {"polluted": 2, "toString": "x"}, "constructor": "c"},
            "base_version": 0,
            "base": {},
            "history": history,
            "history_dropped": 0,
        },
        "graph_svg": _graph(steps),
    }
    return view


def running_view(*, revision: str, total: int, shown: int = 500, chatty: str = "running") -> dict[str, Any]:
    """A running run of three steps as the server's ``/view`` would answer it: ``prepare`` succeeded,
    ``chatty`` has printed ``total`` lines (``line 1`` …, store ids 1 …) of which the view keeps the
    newest ``shown``, and ``finish`` waits for it."""
    done = chatty != "running"
    steps = [
        _step("prepare", 0, "succeeded", "python", [], attempts=1, started_at=T0 + 0.1, finished_at=T0 + 0.5),
        _step(
            "chatty",
            1,
            chatty,
            "shell",
            ["prepare"],
            attempts=1,
            started_at=T0 + 0.6,
            finished_at=T0 + 30.0 if done else None,
        ),
        _step("finish", 2, "running" if done else "pending", "python", ["chatty"]),
    ]
    attempts = [
        _attempt("prepare", 1, "succeeded", 0.1, 0.4),
        _attempt("chatty", 1, chatty, 0.6, 29.4 if done else None),
    ]
    kept = range(max(1, total - shown + 1), total + 1)
    lines = [{"id": k, **_line(0.6 + k * 0.001, f"line {k}")} for k in kept]
    return {
        "schema": 1,
        "generated_at": T0 + 31.0,
        "revision": revision,
        "run": {
            "run_id": "r-live",
            "test_id": "LIVE-PAGE",
            "recipe_path": "recipes/live.yaml",
            "status": "running",
            "started_at": T0,
            "finished_at": None,
            "duration_s": None,
            "error": None,
            "params": {},
            "node": "build-07",
            "sessions": 1,
        },
        "steps": steps,
        "attempts": attempts,
        "logs": {"chatty": {"lines": lines, "dropped": total - len(lines)}},
        "context": {"version": 0, "values": {}, "base_version": 0, "base": {}, "history": [], "history_dropped": 0},
        "graph_svg": _graph(steps),
    }
