"""The runner: the one place that joins the plan, an executor, the context and the event bus.

The scheduling loop runs in the calling thread. It hands every ready unit of work (a step, or one
foreach item) to the executor, which runs at most ``max_parallel`` at once; it waits for starts and
outcomes, retries with backoff, enforces step and run timeouts, and on Ctrl-C cancels what runs,
lets teardowns finish and returns a cancelled result. Templates are rendered here, just before a
unit is handed over.

The runner only schedules. What it runs on and records to comes in as ports, assembled by
``framework0.api`` from a ``Config``: the executor, the context state (in memory or a context
server's), the recorder (the store) and the step cache. It reads no setting and prints nothing:
what a user should hear arrives on the bus as ``Notice`` events. (This module is long on purpose:
it is one state machine whose methods share its state; the pure parts live in plan, retry,
rendering and result.)
"""

from __future__ import annotations

import heapq
import itertools
import os
import queue
import signal
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from framework0.config import DEFAULT_MAX_LOG_BYTES
from framework0.context import ContextState
from framework0.context.changes import Change
from framework0.engine.attempt import AttemptOutcome, AttemptTask, error_info
from framework0.engine.executors import make_executor
from framework0.engine.executors.base import Executor
from framework0.engine.interrupt import shield
from framework0.engine.plan import Plan
from framework0.engine.rendering import evaluate_when, foreach_items, render_args
from framework0.engine.result import RunResult, StepResult, iso, run_status
from framework0.engine.retry import retry_delay, should_retry
from framework0.errors import StepCancelled, StepTimeout, StoreError, TemplateError
from framework0.events import (
    AttemptFinished,
    AttemptStarted,
    ContextChanged,
    ErrorInfo,
    EventBus,
    LogLines,
    Notice,
    RunFinished,
    RunStarted,
    StepFinished,
    StepStarted,
)
from framework0.graph.dag import build_dag
from framework0.graph.document import graph_document
from framework0.recipe.model import Recipe, Step
from framework0.recipe.params import resolve_params

if TYPE_CHECKING:
    from framework0.engine.caching import StepCache
    from framework0.engine.recording import Recorder
    from framework0.engine.resume import ResumeState

DEFAULT_GRACE_S = 2.0
StateFactory = Callable[[Callable[[list[Change]], None]], ContextState]
"""Makes the run's context state, given the runner's change listener (``framework0.api`` passes a
context server's state this way; by default the state lives in memory)."""
WORKER_LOSSES_ALLOWED = 3
"""How many times one unit of work is tried again after the worker running it was lost (as Dask's
``allowed-failures``); a step that kills every worker it runs on fails after that."""
TIMEOUT_TYPES = tuple(cls.__name__ for cls in StepTimeout.__mro__ if cls not in (object, BaseException))
_POLL_S = None if os.name == "posix" else 0.2  # Windows cannot interrupt a blocking wait on Ctrl-C
_INTERRUPT = object()  # Ctrl-C, as a message in the runner's queue


@dataclass(slots=True)
class _Deferred:
    """A failure found without running anything (a template that cannot be rendered), handled only
    after the scheduler has handed over every unit that was ready with it: the steps ready at the
    same moment all start, whatever their order in the recipe."""

    run: _StepRun
    attempt: _Attempt | None = None  # None: the step failed as it was prepared (when, foreach)
    outcome: AttemptOutcome | None = None


_NO_OUTPUTS: list[Any] = []  # never written: a foreach step gets a list of its own


class _StepRun:
    """A step in progress: its result so far and its foreach items."""

    __slots__ = (
        "step",
        "result",
        "items",
        "outputs",
        "left",
        "running",
        "failed",
        "dropped",
        "announced",
        "retry_errors",
        "base",
        "cache_key",
        "cache_inputs",
        "losses",
        "kept_items",
    )

    def __init__(self, step: Step) -> None:
        self.step = step
        self.result = StepResult(step.name)
        self.items: list[Any] | None = None
        self.outputs: list[Any] = _NO_OUTPUTS  # a list of its own once the step has foreach items
        self.left = 0  # units not yet finished for good
        self.running = 0
        self.failed = False
        self.dropped = False
        self.announced = False  # StepStarted published
        #: by item, while a retry waits (None until one does: most steps never retry, and a run of
        #: 10,000 steps makes fewer objects for the collector to count)
        self.retry_errors: dict[int | None, ErrorInfo | None] | None = None
        self.base = 0  # attempts made in earlier sessions of a resumed run
        self.cache_key: str | None = None
        self.cache_inputs: dict[str, Any] | None = None
        self.losses: dict[int | None, int] | None = None  # by item: attempts whose worker was lost
        #: a resumed foreach step: its item count then, and the outputs of the items that succeeded
        self.kept_items: tuple[int, dict[int, Any]] | None = None


@dataclass(slots=True)
class _Attempt:
    run: _StepRun
    item: int | None
    number: int
    started: bool = False  # the executor reported its start (it may wait in the executor's queue)
    #: handed over while a worker was free: it starts whatever fails meanwhile (never withdrawn by a
    #: failure, only by Ctrl-C or the run's timeout), so the steps ready together all start
    slotted: bool = False
    started_at: float = 0.0
    stop_reason: str | None = None  # "timeout" or "cancelled" once the runner asked it to stop


def _weak_listener(runner: Runner) -> Callable[[list[Change]], None]:
    """The runner's change listener, for its context state to hold: the state, and the executor
    that holds the state, must not hold the runner, or a finished run's steps and results would be
    freed only by the collector's next full scan (which then walks every object in the process)."""
    method = weakref.WeakMethod(runner._context_changed)

    def changed(changes: list[Change]) -> None:
        bound = method()
        if bound is not None:
            bound(changes)

    return changed


class Runner:
    """Runs one recipe once, on the ports it is given. Use ``framework0.run`` (``framework0.api``),
    which assembles them from a Config, rather than this class directly."""

    def __init__(
        self,
        recipe: Recipe,
        *,
        params: Mapping[str, Any] | None = None,
        params_from_text: bool = False,
        executor: Executor | str = "local",
        max_parallel: int | None = None,
        bus: EventBus | None = None,
        run_id: str | None = None,
        grace_s: float = DEFAULT_GRACE_S,
        timeout: float | None = None,
        recorder: Recorder | None = None,
        cache: StepCache | None = None,
        state: StateFactory | None = None,
        resume: ResumeState | None = None,
        max_log_bytes: int = DEFAULT_MAX_LOG_BYTES,
    ) -> None:
        self.recipe = recipe
        if resume is not None:
            run_id = resume.run_id
            params, params_from_text = resume.params, False
        self.values = resolve_params(recipe.params, params, from_text=params_from_text)
        self.executor = make_executor(executor) if isinstance(executor, str) else executor
        #: the cap asked for (None: the executor's room); how many attempts run at once once started
        self.max_parallel: int | None = max(1, max_parallel) if max_parallel else recipe.max_parallel
        self.bus = bus or EventBus()
        self.run_id = run_id or os.urandom(6).hex()
        self.grace_s = grace_s
        self.timeout = timeout if timeout is not None else recipe.timeout
        listener = _weak_listener(self)
        self.state = (
            state(listener)
            if state is not None
            else ContextState(on_change=listener, shield=shield, run_id=self.run_id)
        )
        # idx orders steps for display (the result, the summary, JUnit); recipe order otherwise
        shown = sorted(enumerate(recipe.steps), key=lambda p: (p[1].idx is None, p[1].idx or 0, p[0]))
        self._runs = {step.name: _StepRun(step) for _, step in shown}
        self._plan = Plan(
            build_dag((step.name, step.upstream) for step in recipe.steps),
            frozenset(step.name for step in recipe.steps if step.continue_on_error),
        )
        self._steps_ns: dict[str, dict[str, Any]] = {}
        self._ready: deque[tuple[_StepRun, int | None, int]] = deque()
        self._in_flight: dict[int, _Attempt] = {}
        self._timers: list[tuple[float, int, str, Any]] = []
        self._keys = itertools.count(1)
        # attempt starts and outcomes, and notices: log lines, a store failure
        self._outcomes: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._submit_limit = 0  # set when the executor has started: its room plus its queue
        self._stopping = False
        self._cancelling = False
        self._interrupted = False
        self._abandoned_all = False
        #: after Ctrl-C or the run's timeout: the cleanup steps' time has begun (a timer), or is over
        self._cleanup_started = False
        self._cleanup_over = False
        self._running_here = False  # a step runs on the scheduler's thread: Ctrl-C is raised in it
        self._run_error: ErrorInfo | None = None
        self._started_at = 0.0
        self._namespace: dict[str, Any] = {}
        self._publishing = False
        self._graph: dict[str, Any] | None = None
        self._to_prepare: deque[str] = deque()
        self._draining = False
        self._deferred: list[_Deferred] = []  # handled after the next hand-over of ready units
        self.recorder = recorder
        self.cache = cache
        self.max_log_bytes = max_log_bytes
        self._resume = resume
        self._recording = False
        self._store_error: StoreError | None = None

    # -- the loop ---------------------------------------------------------------------------------

    def run(self) -> RunResult:
        self._started_at = time.time()
        resume = self._resume
        run_started = resume.run_started_at if resume is not None else self._started_at
        initial = self._plan.initial()
        if resume is not None:
            initial = self._restore(resume, initial)
        self._start_executor()  # before the store: an executor that cannot start records nothing
        try:
            if self.recorder is not None:
                self._start_store(run_started)
            try:
                result = self._run(run_started, initial)
            finally:
                self._close_store()
        finally:
            self.executor.shutdown()
        if self._store_error is not None:
            result.status = "failed"
            result.error = ErrorInfo("StoreError", str(self._store_error))
        return result

    def _run(self, run_started: float, initial: list[str]) -> RunResult:
        self._publishing = self.bus.has_subscribers  # subscribe before the run starts
        recipe = self.recipe
        self._namespace = {
            "params": self.values,
            "steps": self._steps_ns,
            "run": {"id": self.run_id, "started_at": iso(run_started)},
            "recipe": {"test_id": recipe.test_id},
        }
        if self._publishing:  # (the graph of a big recipe takes milliseconds to draw up)
            self.bus.publish(
                RunStarted(
                    self.run_id,
                    recipe.test_id,
                    str(recipe.path) if recipe.path else None,
                    tuple(self._runs),
                    dict(self.values),
                    self._started_at,
                    self._graph_document(),
                )
            )
        if self.timeout is not None:
            self._timer(self._started_at + self.timeout, "run_timeout", None)
        self._to_prepare.extend(initial)
        self._drain()
        self._loop()
        return self._result()

    def _start_executor(self) -> None:
        try:
            slots = self.executor.start(
                workers=self.max_parallel,
                context=self.state,
                notify=self._outcomes.put,
                log_here=self._on_notice,
                max_log_bytes=self.max_log_bytes,
            )
        except BaseException:
            self.executor.shutdown()
            raise
        self.max_parallel = slots
        self._submit_limit = slots + max(0, self.executor.queue_depth)

    def _loop(self) -> None:
        # Ctrl-C becomes a message in the queue, so that it can never land between taking a report
        # off the queue and handling it (a lost start notice would leave a step running unwatched).
        # Only while a step runs on this thread does it raise KeyboardInterrupt there, as before.
        previous = None
        if threading.current_thread() is threading.main_thread():
            if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
                previous = signal.signal(signal.SIGINT, self._on_sigint)
        try:
            self._run_loop()
        finally:
            if previous is not None:
                signal.signal(signal.SIGINT, previous)

    def _on_sigint(self, _signum: int, _frame: Any) -> None:
        if self._running_here:
            raise KeyboardInterrupt
        self._outcomes.put(_INTERRUPT)

    def _run_loop(self) -> None:
        outcomes = self._outcomes
        while self._in_flight or self._ready or self._timers or self._deferred:
            try:
                self._pump()
                if self._deferred:
                    self._settle_deferred()  # now that the units ready with them have been handed over
                    continue
                if not self._in_flight and not self._ready and not self._pending_timers():
                    break
                wait = self._next_wait()
                try:
                    outcome = outcomes.get(timeout=wait) if wait is None or wait > 0 else outcomes.get_nowait()
                except queue.Empty:
                    outcome = None
                while outcome is not None:
                    if type(outcome) is tuple:
                        self._on_start(*outcome)
                    elif outcome is _INTERRUPT:
                        self._on_ctrl_c()
                    else:
                        self._on_outcome(outcome)
                    try:
                        outcome = outcomes.get_nowait()
                    except queue.Empty:
                        outcome = None
                if self._timers:
                    self._fire_timers()
            except KeyboardInterrupt:
                self._on_ctrl_c()
            if self._abandoned_all:
                while self._deferred:
                    self._settle_deferred()
                break

    def _defer(self, failure: _Deferred) -> None:
        self._deferred.append(failure)

    def _settle_deferred(self) -> None:
        """Handle the failures found so far; those their handling finds wait for the next hand-over."""
        failures, self._deferred = self._deferred, []
        for failure in failures:
            if failure.attempt is None:
                self._finish(failure.run, "failed")
            else:
                assert failure.outcome is not None
                self._in_flight[failure.outcome.key] = failure.attempt
                self._handle_outcome(failure.outcome)

    def _on_ctrl_c(self) -> None:
        if self._interrupted:
            self._abandon_all("interrupted twice")
            self._abandoned_all = True
        else:
            self._interrupt()

    # -- the store --------------------------------------------------------------------------------

    def _restore(self, resume: ResumeState, initial: list[str]) -> list[str]:
        """Take the steps a resumed run keeps as they were; return the steps ready to start."""
        self.state.restore(resume.context, resume.context_version, resume.history)
        self.state.replay = {unit: list(batches) for unit, batches in resume.replay.items()}
        ready = list(initial)
        for name in resume.kept:
            run = self._runs[name]
            run.result = resume.results[name]
            self._steps_ns[name] = {"output": run.result.output, "status": run.result.status}
            ready.extend(self._plan.complete(name, run.result.status))
        for name, base in resume.attempt_base.items():
            self._runs[name].base = base
        for name, reason in resume.reasons.items():
            self._runs[name].result.reason = reason
        for name, kept_items in resume.kept_items.items():
            self._runs[name].kept_items = kept_items
        kept = set(resume.kept)
        return [name for name in ready if name not in kept]

    def _start_store(self, run_started: float) -> None:
        """Record the run before anything runs (a store that cannot be written stops the run here,
        with nothing done), then follow it on the bus."""
        assert self.recorder is not None
        resume = self._resume
        kept = set(resume.kept) if resume is not None else set()
        with self.state.held():  # no change falls between the snapshot below and the writer listening
            handle = self.recorder.begin(
                recipe=self.recipe,
                run_id=self.run_id,
                params=self.values,
                started_at=self._started_at,
                run_started_at=run_started,
                session=resume.session if resume is not None else 1,
                kind="resume" if resume is not None else "run",
                from_step=resume.from_step if resume is not None else None,
                positions={name: position for position, name in enumerate(self._runs)},
                fresh_steps=[name for name in self._runs if name not in kept],
                context=self.state.snapshot(),
                context_version=self.state.version,
                on_error=self._outcomes.put,
                graph=self._graph_document(),
            )
            self._recording = True
            self.bus.subscribe(handle)
            self._publishing = True

    def _graph_document(self) -> dict[str, Any]:
        """The recipe's graph, drawn up once for the run's row and its RunStarted event."""
        if self._graph is None:
            self._graph = graph_document(self.recipe)
        return self._graph

    def _close_store(self) -> None:
        if self.recorder is None:
            return
        try:
            self.recorder.close()
        except StoreError as error:
            if self._recording and self._store_error is None:
                self._store_error = error
                self._notice("error", str(error))

    def _notice(self, level: str, text: str) -> None:
        if self._publishing:
            self.bus.publish(Notice(self.run_id, level, text, time.time()))

    def _cached(self, run: _StepRun) -> bool:
        """For a ``cache: true`` step: finish it as cached when an earlier run's output fits its
        inputs (the cache port compares a hash of its code, rendered args and upstream outputs)."""
        cache = self.cache
        if cache is None or not self._recording:
            return False
        if cache.off_reason is not None:
            run.result.reason = cache.off_reason
            return False
        step = run.step
        try:
            if run.items is None:
                args: Any = render_args(step, self._render_namespace(step, run, None))
            else:
                args = [render_args(step, self._render_namespace(step, run, i)) for i in range(len(run.items))]
        except TemplateError:
            return False  # the attempt reports it
        upstream = {name: self._steps_ns[name]["output"] for name in step.upstream}
        found = cache.lookup(step, self.recipe.search_path, args, upstream)
        run.cache_key, run.cache_inputs = found.key, found.inputs
        hit = found.hit
        if hit is None:
            return False
        now = time.time()
        result = run.result
        result.output = hit.output
        result.started_at = result.finished_at = now
        result.reason = f"reused the output of run {hit.run_id}: same code, args and upstream outputs"
        if hit.writes:
            self._replay_writes(step.name, hit.writes)
            changed = sorted({operation[1] for _, batch in hit.writes for operation in batch})
            shown = ", ".join(changed[:5]) + (f" and {len(changed) - 5} more" if len(changed) > 5 else "")
            result.reason += f"; replayed its context writes ({shown})"
        run.cache_inputs = {**found.inputs, "from_run": hit.run_id}
        self._finish(run, "cached")
        return True

    def _replay_writes(self, name: str, writes: list[tuple[int | None, list[list[Any]]]]) -> None:
        """Write again what a cached step wrote to the context in the run its output comes from,
        batch by batch, as the step's own writes (so later steps and templates read them)."""
        from framework0.context.changes import ChangeSource, Operation
        from framework0.engine.attempt import NODE

        for item, batch in writes:
            operations = [Operation(op, key, value) for op, key, value in batch]
            self.state.apply(operations, ChangeSource(NODE, name, None, item))

    def _on_notice(self, notice: Any) -> None:
        """Something other than an attempt's outcome arrived: log lines, or the store failed."""
        if type(notice) is LogLines:
            if self._publishing:
                self.bus.publish(notice._replace(run_id=self.run_id))
        elif isinstance(notice, StoreError):
            if self._store_error is None:
                self._store_error = notice
                self._run_error = ErrorInfo("StoreError", str(notice))
                self._notice("error", f"{notice}; the run stops here")
                self._stop(cancel_running=False)

    def _pending_timers(self) -> bool:
        """Whether a timer still matters: a retry, or a deadline of an attempt still running."""
        running = self._in_flight
        return any(
            kind == "retry" or (kind != "run_timeout" and payload in running) for _, _, kind, payload in self._timers
        )

    def _live_timers(self) -> bool:
        return self.timeout is not None or self._pending_timers()

    def _next_wait(self) -> float | None:
        if not self._timers:
            return _POLL_S
        wait = max(0.0, self._timers[0][0] - time.time())
        return wait if _POLL_S is None else min(wait, _POLL_S)

    def _timer(self, due: float, kind: str, payload: Any) -> None:
        heapq.heappush(self._timers, (due, next(self._keys), kind, payload))

    def _fire_timers(self) -> None:
        now = time.time()
        timers = self._timers
        while timers and timers[0][0] <= now:
            _, _, kind, payload = heapq.heappop(timers)
            if kind == "retry":
                run, item, number = payload
                if (self._stopping and run.step.trigger != "always") or self._cleanup_over:
                    self._drop_unit(run, item)
                else:
                    self._ready.append(payload)
            elif kind == "deadline":
                attempt = self._in_flight.get(payload)
                if attempt is not None and attempt.stop_reason is None:
                    attempt.stop_reason = "timeout"
                    self.executor.cancel(payload)
                    self._timer(now + self.grace_s, "grace", payload)
            elif kind == "grace":
                attempt = self._in_flight.get(payload)
                if attempt is not None:
                    self.executor.abandon(payload)
                    self._handle_outcome(self._abandoned(payload, attempt, now))
            elif kind == "run_timeout":
                assert self.timeout is not None
                self._run_error = ErrorInfo("RunTimeout", f"the run timed out after {self.timeout:g}s")
                self._stop(cancel_running=True)
            elif kind == "cleanup":
                self._end_cleanup()

    def _pump(self) -> None:
        ready, running, limit = self._ready, self._in_flight, self._submit_limit
        if self._cancelling and not self._cleanup_may_start():
            return
        if (
            len(ready) == 1
            and not running
            and self.executor.can_run_here
            and not self._live_timers()
            and not self._cancelling
            and ready[0][0].step.trigger != "always"  # Ctrl-C is raised in what runs here: not in cleanup
        ):
            # A serial section (a chain, sequential: true): nothing else can start or fire until
            # this attempt ends, so run it here and save two thread handoffs.
            unit = ready[0]
            if unit[0].step.timeout is None:
                ready.popleft()
                self._submit(*unit, here=True)
                return
        # While a failure found in preparing a step waits to be handled, only what can start at once
        # is handed over: a unit the executor would queue stays here, where the failure's stop drops
        # it, rather than in the executor's queue, where a worker freed meanwhile would start it.
        while ready and len(running) < ((self.max_parallel or 1) if self._deferred else limit):
            self._submit(*ready.popleft())

    # -- starting work ----------------------------------------------------------------------------

    def _prepare(self, run: _StepRun) -> None:
        """A step's upstream steps are all final: skip it, or queue its unit(s) of work."""
        step = run.step
        if step.trigger != "always" and not self._cancelling:
            blocker = self._plan.blocker(step.name)
            if blocker is not None:
                run.result.reason = f"upstream step {blocker!r} {self._plan.status[blocker]}"
                self._finish(run, "skipped")
                return
        if self._cleanup_over or (self._stopping and step.trigger != "always"):
            over = self._cleanup_over
            run.result.reason = f"the {'cleanup time ran out' if over else 'run stopped'} before it started"
            self._finish(run, "pending")
            return
        try:
            if step.when is not None and not evaluate_when(step, self._render_namespace(step, None, None)):
                run.result.reason = "'when' was false"
                self._finish(run, "skipped")
                return
            if step.foreach is not None:
                items = foreach_items(step, self._render_namespace(step, None, None))
                run.items = items
                run.outputs = [None] * len(items)
                run.result.items = len(items)
                run.left = len(items)
                if not items:
                    run.result.output = []
                    self._finish(run, "succeeded")
                    return
                todo = list(range(len(items)))
                kept = run.kept_items
                if kept is not None and kept[0] == len(items):
                    for index, output in kept[1].items():
                        run.outputs[index] = output
                    todo = [index for index in todo if index not in kept[1]]
                    run.left = len(todo)
                    if not todo:
                        self._finish_units(run)
                        return
                else:
                    if kept is not None:
                        now = f"{len(items)} item{'' if len(items) == 1 else 's'}"
                        run.result.reason = f"run again: it now has {now}, not {kept[0]}"
                    if step.cache and self._cached(run):
                        return
                self._ready.extend((run, index, run.base + 1) for index in todo)
                return
        except TemplateError as error:
            run.result.error, _ = error_info(error)
            run.failed = True
            self._defer(_Deferred(run))
            return
        if step.cache and self._cached(run):
            return
        run.left = 1
        self._ready.append((run, None, run.base + 1))

    def _render_namespace(self, step: Step, run: _StepRun | None, item: int | None) -> dict[str, Any]:
        namespace = self._namespace
        if step.reads_context or item is not None:
            namespace = dict(namespace)
            if step.reads_context:
                namespace["ctx"] = self.state.snapshot()
            if item is not None and run is not None and run.items is not None:
                namespace["item"] = run.items[item]
                namespace["index"] = item
        return namespace

    def _submit(self, run: _StepRun, item: int | None, number: int, *, here: bool = False) -> None:
        step = run.step
        key = next(self._keys)
        try:
            args = render_args(step, self._render_namespace(step, run, item))
        except TemplateError as error:
            now = time.time()
            info, types = error_info(error)
            outcome = AttemptOutcome(key, False, None, info, types, now, now)
            self._defer(_Deferred(run, _Attempt(run, item, number), outcome))
            return
        spec = step.scriptlet
        task = AttemptTask(
            key,
            step.name,
            number,
            item,
            spec.ref,
            spec.search_path or self.recipe.search_path,
            args,
            step.args,
            bool(step.templated_args),
        )
        self._in_flight[key] = _Attempt(run, item, number, slotted=len(self._in_flight) < (self.max_parallel or 1))
        run.running += 1
        if here:
            # Announce the start now: this thread is busy running it until it ends (and its own
            # start notice, queued meanwhile, is then ignored).
            self._on_start(key, time.time())
            self._running_here = True
            try:
                self.executor.run_here(task)
            finally:
                self._running_here = False
        elif self.executor.runs_in_caller:
            self._running_here = True
            try:
                self.executor.submit(task)
            finally:
                self._running_here = False
        else:
            self.executor.submit(task)

    # -- outcomes ---------------------------------------------------------------------------------

    def _on_start(self, key: int, at: float) -> None:
        """The executor started attempt ``key``: its timeout starts counting now."""
        attempt = self._in_flight.get(key)
        if attempt is None or attempt.started:
            return
        attempt.started = True
        attempt.started_at = at
        if attempt.stop_reason == "withdrawn":
            # It started before the withdrawal reached the executor.
            if self._cancelling:
                self._cancel(key, attempt)
                return
            attempt.stop_reason = None
        run = attempt.run
        step = run.step
        if step.timeout is not None:
            self._timer(at + step.timeout, "deadline", key)
        if self._publishing:
            if not run.announced:
                run.announced = True
                self.bus.publish(StepStarted(self.run_id, step.name, at))
            self.bus.publish(AttemptStarted(self.run_id, step.name, attempt.number, attempt.item, at))

    def _on_outcome(self, outcome: AttemptOutcome) -> None:
        if type(outcome) is not AttemptOutcome:
            self._on_notice(outcome)
            return
        if outcome.ok or not outcome.started:
            self._handle_outcome(outcome)
            return
        try:
            self._handle_outcome(outcome)
        finally:
            self.executor.resume()  # the executor held its queue until this failure was handled

    def _handle_outcome(self, outcome: AttemptOutcome) -> None:
        attempt = self._in_flight.pop(outcome.key, None)
        if attempt is None:
            return  # abandoned earlier; its late outcome changes nothing
        run, step = attempt.run, attempt.run.step
        if run.running:
            run.running -= 1
        if not outcome.started:
            self._drop_unit(run, attempt.item)  # withdrawn from the executor's queue before it started
            return
        if not outcome.finished_at:  # made up by an executor (a worker died): it ran until now
            outcome.finished_at = time.time()
            outcome.started_at = attempt.started_at or outcome.finished_at
            outcome.wall_s = outcome.finished_at - outcome.started_at
        if step.timeout is not None and attempt.stop_reason is None and outcome.wall_s > step.timeout:
            attempt.stop_reason = "timeout"  # an executor that cannot stop it (inline) reports it late
        if attempt.stop_reason == "withdrawn":
            attempt.stop_reason = None  # it started before the withdrawal reached the executor
        ok = outcome.ok
        if attempt.stop_reason == "timeout":
            ok = False
            assert step.timeout is not None
            outcome.error = ErrorInfo("StepTimeout", f"timed out after {step.timeout:g}s")
            outcome.error_types = TIMEOUT_TYPES
        elif attempt.stop_reason is not None and not ok:
            outcome.error, outcome.error_types = error_info(StepCancelled(attempt.stop_reason))
        result = run.result
        if attempt.number > result.attempts:
            result.attempts = attempt.number  # the most tries any item needed
        result.cpu_s += outcome.cpu_s
        if outcome.peak_rss_bytes > result.peak_rss_bytes:
            result.peak_rss_bytes = outcome.peak_rss_bytes
        if result.started_at is None or outcome.started_at < result.started_at:
            result.started_at = outcome.started_at
        if result.finished_at is None or outcome.finished_at > result.finished_at:
            result.finished_at = outcome.finished_at
        retry_in: float | None = None
        if (
            not ok
            and attempt.stop_reason != "cancelled"
            and not self._cleanup_over
            and not (self._cancelling and step.trigger != "always")
        ):
            losses = run.losses.get(attempt.item, 0) if run.losses else 0
            tries = attempt.number - run.base - losses  # attempts the step's retry policy counts
            if self._stopping and step.trigger != "always":
                pass
            elif outcome.error_types[:1] == ("WorkerLost",) and losses < WORKER_LOSSES_ALLOWED:
                if run.losses is None:
                    run.losses = {}
                run.losses[attempt.item] = losses + 1  # not the step's fault: again, at once, elsewhere
                retry_in = 0.0
            elif should_retry(step.retry, tries, outcome.error_types):
                import random

                retry_in = retry_delay(step.retry, tries, random.random())
        if self._publishing:
            status = "succeeded" if ok else "failed"
            self.bus.publish(
                AttemptFinished(
                    self.run_id,
                    step.name,
                    attempt.number,
                    attempt.item,
                    status,
                    outcome.finished_at,
                    outcome.wall_s,
                    outcome.cpu_s,
                    outcome.peak_rss_bytes,
                    outcome.error,
                    retry_in,
                    outcome.output,
                )
            )
        if retry_in is not None:
            if run.retry_errors is None:
                run.retry_errors = {}
            run.retry_errors[attempt.item] = outcome.error  # the unit's error if its retry never runs
            payload = (run, attempt.item, attempt.number + 1)
            if retry_in <= 0:
                self._ready.append(payload)
            else:
                self._timer(time.time() + retry_in, "retry", payload)
            return
        if run.retry_errors:
            run.retry_errors.pop(attempt.item, None)
        if ok:
            if attempt.item is None:
                result.output = outcome.output
            else:
                run.outputs[attempt.item] = outcome.output
        elif attempt.stop_reason == "cancelled":
            self._record_error(result, outcome.error)
            run.dropped = True
        else:
            self._record_error(result, outcome.error)
            run.failed = True
        run.left -= 1
        if run.left <= 0 and run.running == 0:
            self._finish_units(run)
        elif run.failed and not step.continue_on_error and attempt.item is not None:
            self._stop(cancel_running=False)

    @staticmethod
    def _record_error(result: StepResult, error: ErrorInfo | None) -> None:
        """Keep the latest error, but never let a cancellation hide a real failure."""
        if error is None:
            return
        if result.error is None or error.type != "StepCancelled" or result.error.type == "StepCancelled":
            result.error = error

    def _finish_units(self, run: _StepRun) -> None:
        if run.items is not None:
            run.result.output = run.outputs
        if run.failed:
            status = "failed"  # a real failure, even if later units were dropped or cancelled
        elif run.dropped and run.result.attempts == 0:
            status = "pending"  # never started
            run.result.reason = run.result.reason or "the run stopped before it started"
        elif run.dropped:
            status = "cancelled"
        else:
            status = "succeeded"
        self._finish(run, status)

    def _drop_unit(self, run: _StepRun, item: int | None) -> None:
        """A unit that will not run (again): failed if its last attempt failed, else dropped."""
        error = run.retry_errors.pop(item, None) if run.retry_errors else None
        if error is not None:
            run.failed = True
            self._record_error(run.result, error)
        else:
            run.dropped = True
        run.left -= 1
        if run.left <= 0 and run.running == 0:
            self._finish_units(run)

    def _finish(self, run: _StepRun, status: str) -> None:
        step, result = run.step, run.result
        result.status = status
        self._steps_ns[step.name] = {"output": result.output, "status": status}
        if self._publishing:
            self.bus.publish(
                StepFinished(
                    self.run_id,
                    step.name,
                    status,
                    time.time(),
                    result.duration_s or 0.0,
                    result.attempts,
                    result.error,
                    result.output,
                    result.started_at,
                    result.finished_at,
                    result.cpu_s,
                    result.peak_rss_bytes,
                    result.items,
                    result.reason,
                    run.cache_key,
                    run.cache_inputs,
                )
            )
        if status == "failed" and not step.continue_on_error:
            self._stop(cancel_running=False)
        self._to_prepare.extend(self._plan.complete(step.name, status))
        self._drain()

    def _drain(self) -> None:
        # Iterative, not recursive: a failure at the head of a long chain skips thousands of steps.
        if self._draining:
            return
        self._draining = True
        try:
            while self._to_prepare:
                self._prepare(self._runs[self._to_prepare.popleft()])
        finally:
            self._draining = False

    # -- stopping ---------------------------------------------------------------------------------

    def _stop(self, *, cancel_running: bool) -> None:
        """Start no new work but cleanup steps; with ``cancel_running`` (Ctrl-C, the run's timeout)
        also stop the running steps, after which the cleanup steps run within the grace period."""
        first = not self._stopping
        self._stopping = True
        if cancel_running:
            self._cancelling = True  # before anything below finishes a step and prepares the next
        if first or cancel_running:
            keep: deque[tuple[_StepRun, int | None, int]] = deque()
            dropped: list[tuple[_StepRun, int | None]] = []
            for unit in self._ready:
                if unit[0].step.trigger == "always" and not self._cleanup_over:
                    keep.append(unit)
                else:
                    dropped.append((unit[0], unit[1]))
            self._ready.clear()  # in place: _pump may be iterating this very deque
            self._ready.extend(keep)
            waiting = [
                t for t in self._timers if t[2] == "retry" and (t[3][0].step.trigger != "always" or self._cleanup_over)
            ]
            if waiting:
                self._timers = [t for t in self._timers if t not in waiting]
                heapq.heapify(self._timers)
                dropped.extend((t[3][0], t[3][1]) for t in waiting)
            for run, item in dropped:
                self._drop_unit(run, item)
            for key, attempt in list(self._in_flight.items()):
                if (
                    not attempt.started
                    and attempt.stop_reason is None
                    and attempt.run.step.trigger != "always"
                    and (cancel_running or not attempt.slotted)
                ):
                    attempt.stop_reason = "withdrawn"
                    self.executor.withdraw(key)
        if cancel_running:
            for key, attempt in list(self._in_flight.items()):
                if attempt.started and attempt.stop_reason is None and attempt.run.step.trigger != "always":
                    self._cancel(key, attempt)
            running = self._in_flight
            self._timers = [
                t
                for t in self._timers
                if t[2] in ("grace", "retry", "cleanup") or (t[2] == "deadline" and t[3] in running)
            ]
            heapq.heapify(self._timers)

    def _cleanup_may_start(self) -> bool:
        """After Ctrl-C or the run's timeout: whether every other running step has stopped, so that
        the cleanup steps may start (their time starts counting then)."""
        if any(attempt.run.step.trigger != "always" for attempt in self._in_flight.values()):
            return False
        if not self._cleanup_started:
            self._cleanup_started = True
            self._timer(time.time() + self.grace_s, "cleanup", None)
        return True

    def _end_cleanup(self) -> None:
        """The cleanup steps' grace period is over: stop them as a timeout does, start no more."""
        self._cleanup_over = True
        self._stop(cancel_running=True)
        for key, attempt in list(self._in_flight.items()):
            if attempt.stop_reason is None:
                if attempt.started:
                    self._cancel(key, attempt)
                else:
                    attempt.stop_reason = "withdrawn"
                    self.executor.withdraw(key)

    def _cancel(self, key: int, attempt: _Attempt) -> None:
        attempt.stop_reason = "cancelled"
        self.executor.cancel(key)
        self._timer(time.time() + self.grace_s, "grace", key)

    def _interrupt(self) -> None:
        self._interrupted = True
        self._run_error = ErrorInfo("RunInterrupted", "interrupted (Ctrl-C)")
        self._notice("interrupted", "stopping running steps (Ctrl-C again to abandon them)")
        self._stop(cancel_running=True)

    def _abandon_all(self, reason: str) -> None:
        """Give up on everything (a second Ctrl-C): cleanup steps waiting to start or to retry are
        finished as they stand, running attempts are abandoned, nothing starts any more."""
        self._stopping = self._cancelling = self._cleanup_over = True
        waiting = [(unit[0], unit[1]) for unit in self._ready]
        waiting += [(t[3][0], t[3][1]) for t in self._timers if t[2] == "retry"]
        self._ready.clear()
        self._timers = [t for t in self._timers if t[2] != "retry"]
        heapq.heapify(self._timers)
        for run, item in waiting:
            self._drop_unit(run, item)
        now = time.time()
        for key, attempt in list(self._in_flight.items()):
            if not attempt.started:
                self.executor.withdraw(key)
                del self._in_flight[key]
                attempt.run.running -= 1
                self._drop_unit(attempt.run, attempt.item)
                continue
            if attempt.stop_reason is None:
                attempt.stop_reason = "cancelled"  # a cleanup step still running: given up on too
            self.executor.abandon(key)
            self._handle_outcome(self._abandoned(key, attempt, now))

    @staticmethod
    def _abandoned(key: int, attempt: _Attempt, now: float) -> AttemptOutcome:
        """The outcome of an attempt given up on: it ran from its start until now."""
        started = attempt.started_at or now
        return AttemptOutcome(key, ok=False, started_at=started, finished_at=now, wall_s=now - started)

    # -- the result -------------------------------------------------------------------------------

    def _context_changed(self, changes: list[Change]) -> None:
        if self._publishing:
            self.bus.publish(ContextChanged(self.run_id, tuple(changes)))

    def _result(self) -> RunResult:
        finished = time.time()
        steps = {name: run.result for name, run in self._runs.items()}
        tolerated = {name for name, run in self._runs.items() if run.step.continue_on_error}
        status, error = run_status(steps, tolerated, interrupted=self._interrupted, run_error=self._run_error)
        result = RunResult(
            run_id=self.run_id,
            test_id=self.recipe.test_id,
            recipe_path=str(self.recipe.path) if self.recipe.path else None,
            status=status,
            started_at=self._resume.run_started_at if self._resume is not None else self._started_at,
            finished_at=finished,
            steps=steps,
            context=self.state.snapshot(),
            params=dict(self.values),
            error=error,
            session_started_at=self._started_at,
        )
        self.bus.publish(RunFinished(self.run_id, status, finished, result.duration_s, error))
        return result
