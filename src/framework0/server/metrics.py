"""Prometheus metrics of ``f0 serve``, served at ``/metrics`` in the text exposition format.

Two sources, both counted since the server started: the server's event bus (a subscriber, like the
hub and the run recorder), which carries the events of every run whose runner reports to this server
(``f0 run --context-server``) and every change of its named contexts; and the HTTP requests the
server answers (an ASGI middleware, by route template, so that ``/runs/3f2a...`` and ``/runs/9b1c...``
are one series). ``prometheus_client`` keeps the counters and writes the format.
"""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from framework0.events.types import AttemptFinished, ContextChanged, RunFinished, RunStarted, StepFinished

__all__ = ["CONTENT_TYPE", "Metrics", "MetricsMiddleware"]

CONTENT_TYPE = CONTENT_TYPE_LATEST

#: step durations, in seconds: from a no-op to an hour
STEP_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600)
#: the request methods counted by name
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
#: request latencies, in seconds
REQUEST_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class Metrics:
    """The server's counters, in a registry of their own (two servers in one process, as tests run
    them, do not share one). ``handle`` is the bus subscriber; ``exposition`` the page."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._running: set[str] = set()  # the runs started and not ended
        registry = self.registry
        self.runs_started = Counter("framework0_runs_started", "Runs started.", registry=registry)
        self.runs = Counter("framework0_runs_finished", "Runs ended, by status.", ["status"], registry=registry)
        self.running = Gauge(
            "framework0_runs_running",
            "Runs started and not ended yet (a runner killed with kill -9 stays counted).",
            registry=registry,
        )
        self.steps = Counter("framework0_steps_finished", "Steps ended, by status.", ["status"], registry=registry)
        self.step_seconds = Histogram(
            "framework0_step_duration_seconds",
            "Time from a step's first start to its end, of steps that ran, by status.",
            ["status"],
            buckets=STEP_BUCKETS,
            registry=registry,
        )
        self.retries = Counter("framework0_step_retries", "Failed attempts that were retried.", registry=registry)
        self.context_writes = Counter(
            "framework0_context_writes",
            "Context versions written: of named contexts (kind=named) and of runs (kind=run).",
            ["kind"],
            registry=registry,
        )
        self.requests = Counter(
            "framework0_http_requests",
            "HTTP requests answered, by method, route and status code.",
            ["method", "route", "status"],
            registry=registry,
        )
        self.request_seconds = Histogram(
            "framework0_http_request_duration_seconds",
            "Time to answer an HTTP request, by method and route.",
            ["method", "route"],
            buckets=REQUEST_BUCKETS,
            registry=registry,
        )

    def handle(self, event: Any) -> None:
        """Count one event of the server's bus."""
        kind = type(event)
        if kind is StepFinished:
            self.steps.labels(event.status).inc()
            if event.started_at is not None and event.finished_at is not None:
                self.step_seconds.labels(event.status).observe(max(0.0, event.finished_at - event.started_at))
        elif kind is AttemptFinished:
            if event.will_retry_in_s is not None:
                self.retries.inc()
        elif kind is ContextChanged:
            self.context_writes.labels("named" if event.context is not None else "run").inc(
                len({change.version for change in event.changes})
            )
        elif kind is RunStarted:
            self.runs_started.inc()
            self._running.add(event.run_id)
            self.running.set(len(self._running))
        elif kind is RunFinished:
            self.runs.labels(event.status).inc()
            self._running.discard(event.run_id)  # (one started before this server was, too)
            self.running.set(len(self._running))

    def exposition(self) -> bytes:
        """The metrics in Prometheus' text format."""
        return generate_latest(self.registry)


class MetricsMiddleware:
    """Counts every HTTP request ``app`` answers, and times it, by its route's template."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        method = scope.get("method", "")
        if method not in METHODS:  # any client may send any method: one label for the rest
            method = "other"
        counted = False

        # Counted as the answer goes out, before the client can read it: a client that asks for
        # /metrics right after an answer finds that answer counted.
        async def sending(message: Message) -> None:
            nonlocal counted
            if message["type"] == "http.response.start":
                self.metrics.requests.labels(method, self._route(scope), str(message["status"])).inc()
                counted = True
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                self.metrics.request_seconds.labels(method, self._route(scope)).observe(time.perf_counter() - started)
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            if not counted:  # the app failed before it answered (the server answers 500)
                self.metrics.requests.labels(method, self._route(scope), "500").inc()

    @staticmethod
    def _route(scope: Scope) -> str:
        """The template of the route that answered (``/api/v1/runs/{run_id}``, as the router left it
        in the scope), else ``other``: a label per distinct path would let any client grow the
        metrics without bound."""
        route = scope.get("route")
        path = getattr(route, "path_format", None) or getattr(route, "path", None)
        return str(scope.get("root_path", "")) + str(path) if path else "other"
