"""One attempt of one step (or one foreach item), as every executor runs it, in any process.

``AttemptTask`` and ``AttemptOutcome`` are plain picklable values so that a task can be shipped to
another process or machine; ``execute_attempt`` is the lifecycle: params, validate, setup, run,
teardown, output check and resource figures.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from framework0.config import this_node
from framework0.context import CancelToken, ChangeSource, Context, ContextState
from framework0.context.relay import Answer, Batch, ContextView, Relay, Relayed, RelayedState
from framework0.context.state import SharedAt
from framework0.engine.capture import OutputCapture
from framework0.engine.interrupt import settle
from framework0.engine.monitor import ResourceMonitor
from framework0.errors import ExecutorError, OutputError, StepCancelled
from framework0.events.types import ErrorInfo
from framework0.scriptlets.base import BaseScriptlet
from framework0.scriptlets.registry import import_ref

NODE = this_node()
"""The name of this machine (or ``$F0_NODE``, read by ``framework0.config``), recorded with every
attempt and context change."""


@dataclass(slots=True)
class AttemptTask:
    """Everything needed to run one attempt, by value."""

    key: int
    step: str
    attempt: int
    item: int | None
    scriptlet_ref: str
    search_path: tuple[str, ...]
    args: Mapping[str, Any]
    raw_args: Mapping[str, Any]
    validate: bool
    #: the context as the attempt starts, for executors that run it outside this process
    context_view: ContextView | None = None
    #: the context server holding the run's context: a worker elsewhere writes to it directly
    shared_at: SharedAt | None = None
    #: the runner's working folder, where relative paths resolve, for workers that may be elsewhere
    workdir: str | None = None


@dataclass(slots=True)
class AttemptOutcome:
    """How an attempt ended: output or error, resource figures and (out of process) its writes."""

    key: int
    ok: bool
    output: Any = None
    error: ErrorInfo | None = None
    error_types: tuple[str, ...] = ()
    started_at: float = 0.0
    finished_at: float = 0.0
    wall_s: float = 0.0
    cpu_s: float = 0.0
    peak_rss_bytes: int = 0
    node: str = NODE
    #: False for a queued task withdrawn before it started (no attempt was made)
    started: bool = True
    #: Ctrl-C reached the step itself (it ran in the scheduler's thread); the caller re-raises it
    interrupted: bool = False
    #: (out of process) the plain writes not relayed during the attempt, in order
    context_operations: list[Batch] | None = None
    #: the version of the shared context the attempt's writes reached (written directly to a server)
    context_version: int | None = None


def error_info(error: BaseException) -> tuple[ErrorInfo, tuple[str, ...]]:
    """The error as shown to users, and its class names from most to least specific."""
    if isinstance(error, StepCancelled):  # CancelSignal and friends are StepCancelled to users
        names: tuple[str, ...] = ("StepCancelled",)
    else:
        names = tuple(cls.__name__ for cls in type(error).__mro__ if cls not in (object, BaseException))
    message = str(error) or repr(error)
    import traceback  # only on failure

    trace = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    return ErrorInfo(names[0], message, trace), names


def check_output(step: str, output: Any) -> Any:
    """Return ``output`` if it is JSON; otherwise raise OutputError naming the step and the value."""
    if output is None or isinstance(output, (str, bool)):
        return output
    try:
        return json.loads(json.dumps(output, allow_nan=False))
    except (TypeError, ValueError) as error:
        try:
            shown = repr(output)
        except ValueError:  # an int too long for Python to print
            shown = f"<an integer of {output.bit_length()} bits>" if isinstance(output, int) else "<unprintable>"
        shown = shown if len(shown) <= 80 else shown[:77] + "..."
        raise OutputError(
            f"step {step!r} returned {type(output).__name__} {shown}, which is not JSON ({error}); "
            "return strings, numbers, booleans, None, lists or dicts"
        ) from None


def execute_attempt(
    task: AttemptTask,
    context: Context,
    monitor: ResourceMonitor,
    scriptlet: type[BaseScriptlet] | None = None,
    capture: OutputCapture | None = None,
) -> AttemptOutcome:
    """Run one attempt to its end, catching everything (StepCancelled included) into the outcome.

    With ``capture``, what the attempt writes in this thread is captured as its log, and the last
    of it is sent before this returns (so before the outcome is reported)."""
    if capture is not None:
        capture.begin(task.step, task.attempt, task.item)
    outcome = AttemptOutcome(task.key, ok=False, started_at=time.time())
    probe = monitor.begin()
    try:
        try:
            cls = scriptlet or import_ref(task.scriptlet_ref, task.search_path)
            params = cls.parse_params(task.args)
            instance = cls()
            instance.step_name = task.step
            instance.raw_args = task.raw_args
            instance.search_path = task.search_path
            if task.validate:
                instance.validate(params)
        except BaseException as error:
            outcome.interrupted = isinstance(error, KeyboardInterrupt)
            outcome.error, outcome.error_types = error_info(_as_cancel(error))
            return outcome
        failure: BaseException | None = None
        try:
            try:
                instance.setup(context)
                output = instance.run(context, params)
                outcome.output = check_output(task.step, output)
            finally:
                # A cancel not raised yet (sent as run returned, or held back) lands here or is
                # withdrawn: it stops run, never teardown.
                settle(threading.get_ident())
        except BaseException as error:
            outcome.interrupted = isinstance(error, KeyboardInterrupt)
            failure = _as_cancel(error)
        try:
            instance.teardown(context, failure)
        except BaseException as error:
            outcome.interrupted = outcome.interrupted or isinstance(error, KeyboardInterrupt)
            failure = failure or _as_cancel(error)
        if failure is None:
            outcome.ok = True
        else:
            outcome.error, outcome.error_types = error_info(failure)
        return outcome
    finally:
        if capture is not None:
            capture.end()
        monitor.finish(probe)
        outcome.finished_at = time.time()
        outcome.wall_s = probe.wall_s
        outcome.cpu_s = probe.cpu_s
        outcome.peak_rss_bytes = probe.peak_rss


def _as_cancel(error: BaseException) -> BaseException:
    # Ctrl-C stops a step the way the runner stops any step, so teardown sees the same error; the
    # signal raised into a thread is a StepCancelled subclass, shown as StepCancelled itself.
    if isinstance(error, KeyboardInterrupt):
        return StepCancelled("interrupted")
    if isinstance(error, StepCancelled) and type(error) is not StepCancelled:
        return StepCancelled(error.reason)
    return error


def run_detached(
    task: AttemptTask,
    monitor: ResourceMonitor,
    cancelled: CancelToken,
    capture: OutputCapture | None = None,
    scriptlet: type[BaseScriptlet] | None = None,
    relay: Relay | None = None,
) -> AttemptOutcome:
    """Run a task away from the runner's context (another process): reads come from the view it
    carries, atomic changes go through ``relay`` to the run's state and plain writes come back with
    the outcome; or all go straight to the context server when the run's context lives on one
    (``shared_at``). ``scriptlet`` is the step's class when it came by value, not by import path."""
    source = ChangeSource(NODE, task.step, task.attempt, task.item)
    if task.shared_at is not None:
        try:
            shared = open_shared(task.shared_at)
        except Exception as error:  # the server is unreachable: the attempt fails, the worker lives
            info, types = error_info(ExecutorError(f"cannot open the run's context on its server: {error}"))
            now = time.time()
            return AttemptOutcome(task.key, ok=False, error=info, error_types=types, started_at=now, finished_at=now)
        outcome = execute_attempt(task, Context(shared, source, cancelled=cancelled), monitor, scriptlet, capture)
        outcome.context_version = shared.version
        return outcome
    from framework0.engine.interrupt import shield

    state = RelayedState(task.context_view, relay or _no_relay, shield=shield)
    context = Context(state, source, cancelled=cancelled)
    outcome = execute_attempt(task, context, monitor, scriptlet=scriptlet, capture=capture)
    outcome.context_operations = state.drain()
    return outcome


def _no_relay(relayed: Relayed) -> Callable[[], Answer]:
    raise ExecutorError("this executor cannot make atomic context changes from its workers")


_shared: dict[SharedAt, ContextState] = {}
_shared_lock = threading.Lock()


def open_shared(at: SharedAt) -> ContextState:
    """The run's context on its context server, opened once per worker process and run."""
    with _shared_lock:
        state = _shared.get(at)
        if state is None:
            from framework0.client.remote_state import RemoteContextState
            from framework0.engine.interrupt import shield

            state = _shared[at] = RemoteContextState.open(at, shield=shield)
        return state


def close_shared(run_id: str | None = None) -> None:
    """Close this process's connections to the contexts of run ``run_id`` (None: of every run)."""
    with _shared_lock:
        done = [at for at in _shared if run_id is None or at.run_id == run_id]
        states = [_shared.pop(at) for at in done]
    for state in states:
        for part in (state, getattr(state, "client", None)):  # its WebSocket, then its HTTP pool
            close = getattr(part, "close", None)
            if close is not None:
                close()


def run_in_this_thread(
    task: AttemptTask,
    state: ContextState,
    monitor: ResourceMonitor,
    notify: Callable[[Any], None],
    capture: OutputCapture | None = None,
) -> None:
    """Run a task in the calling thread, reporting its start and outcome; Ctrl-C that reached the
    step is raised again once its outcome is reported."""
    notify((task.key, time.time()))
    context = Context(state, ChangeSource(NODE, task.step, task.attempt, task.item))
    outcome = execute_attempt(task, context, monitor, capture=capture)
    notify(outcome)
    if outcome.interrupted:
        raise KeyboardInterrupt
