"""The dask executor: attempts run on a Dask cluster; Framework0's runner still decides what runs.

Without a scheduler address (its ``scheduler`` argument) the executor starts a
``distributed.LocalCluster`` sized to this machine (Dask's own sizing: worker processes by CPU
count, each behind a nanny that restarts it if it dies), and closes it when the run ends.

Every ready attempt is handed to Dask at once (``client.submit``), so Dask's scheduler feeds its
workers without waiting for the runner; the runner caps how many run at once only when asked to
(``--max-parallel``), by handing over no more than that. An attempt carries the context as it
was when handed over; its atomic changes (increments, set additions, compare-and-set) come here as
events and are made on the run's state while the step waits for the answer (sent back with
``Client.run``); its plain writes come with the next atomic change or its outcome; all are
recorded with the worker's node. When the run's context lives on a context server, workers read and write
it there directly (so ``wait_for`` and ``barrier`` work across workers), and the runner waits to
see an attempt's writes before it goes on. What the worker reports (start, printed lines, outcome) comes as Dask
events on the run's own topic and is handled, in order, by one thread here.

Steps reach the workers by their import path when every worker can import it, and otherwise by
value, pickled with cloudpickle (the step's module included); a step that is neither importable
there nor picklable fails with both reasons. Stopping an attempt raises ``StepCancelled`` in its
worker thread (``Client.run``); one that does not stop is abandoned by killing its worker process
(its nanny starts a new one; the other attempts that were on it are lost and tried again). A
worker that dies fails its attempts with ``WorkerLost``; the runner tries them again elsewhere.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import importlib.util
import logging
import os
import pickle
import queue
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from framework0.context.relay import Answer, ContextView, answer, apply_batches
from framework0.context.state import SharedAt
from framework0.engine.attempt import AttemptOutcome, AttemptTask, close_shared
from framework0.engine.capture import show_lines
from framework0.engine.executors import dask_worker
from framework0.engine.executors.base import QueuedExecutor
from framework0.errors import ContextError, ExecutorError, UsageError, WorkerLost
from framework0.events.types import LogLines

MISSING = "the dask executor needs Dask's distributed scheduler: pip install 'framework0[dask]'"
CONNECT_TIMEOUT_S = 10.0
CATCH_UP_S = 10.0  # how long the runner waits to see a worker's writes to the context server itself


class _Handed:
    """An attempt handed to Dask: its future once submitted, the worker running it once started."""

    __slots__ = ("task", "future", "worker", "withdrawing")

    def __init__(self, task: AttemptTask) -> None:
        self.task = task
        self.future: Any = None
        self.worker: str | None = None  # the address of the worker running it
        self.withdrawing = False  # withdrawn, waiting for the workers to confirm


class DaskExecutor(QueuedExecutor[_Handed]):
    """Attempts as Dask tasks, on a cluster at ``scheduler`` (``tcp://HOST:8786``) or on a local one."""

    name = "dask"
    queue_depth = 1_000_000  # Dask's scheduler queues them; it feeds workers faster than we could

    def __init__(
        self,
        scheduler: str | None = None,
        *,
        n_workers: int | None = None,
        threads_per_worker: int | None = None,
        connect_timeout: float = CONNECT_TIMEOUT_S,
    ) -> None:
        if importlib.util.find_spec("distributed") is None:
            raise UsageError(MISSING)
        super().__init__()
        self.scheduler = scheduler or None
        self.n_workers = n_workers
        self.threads_per_worker = threads_per_worker
        self.connect_timeout = connect_timeout
        self.client: Any = None
        self._cluster: Any = None
        self._topic = ""
        self._limit: int | None = None
        self._shipping: dict[tuple[str, tuple[str, ...]], bytes | ExecutorError | None] = {}
        self._view: ContextView | None = None
        self._shared: SharedAt | None = None
        self._workdir: str | None = None
        self._pids: dict[str, int | None] = {}  # worker address -> its process id
        self._inbox: queue.SimpleQueue[tuple[Any, ...] | None] = queue.SimpleQueue()
        self._requests: queue.SimpleQueue[tuple[str, Any, Any] | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []

    # -- connecting --------------------------------------------------------------------------------

    def _start_workers(self, workers: int | None, log_here: Callable[[LogLines], None] | None) -> int:
        self._topic = f"framework0-{os.urandom(8).hex()}"
        self._workdir = os.getcwd()  # steps run there on workers that share this file system
        self._limit = workers
        self._shipping = {}
        self._inbox, self._requests = queue.SimpleQueue(), queue.SimpleQueue()  # nothing of an earlier run
        self._view = None
        self._shared = self._context.shared_at()  # on a context server: workers write to it directly
        self.client = self._connect()
        slots = sum(self.client.nthreads().values())
        if not slots:
            with contextlib.suppress(Exception):
                self.client.wait_for_workers(1, timeout=self.connect_timeout)
            slots = sum(self.client.nthreads().values())
        if not slots:
            raise ExecutorError(f"the Dask cluster at {self.scheduler} has no workers")
        self._threads = [
            threading.Thread(target=self._read, name="f0-dask-reader", daemon=True),
            threading.Thread(target=self._serve_requests, name="f0-dask-requests", daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        self.client.subscribe_topic(self._topic, self._on_event)
        if self._cluster is None:
            # Someone else's cluster may run a task again by itself when its worker dies (Dask's
            # allowed-failures): the scheduler's notice of the death tells the runner that the
            # attempt was lost, even when the attempt's own start notice died with the worker.
            self.client.subscribe_topic("all", self._on_scheduler_event)
        return workers or slots

    def _connect(self) -> Any:
        try:
            dask: Any = importlib.import_module("dask")
            distributed: Any = importlib.import_module("distributed")  # untyped: used through Any
        except ModuleNotFoundError as error:
            raise UsageError(f"{MISSING} ({error})") from None
        Client, LocalCluster = distributed.Client, distributed.LocalCluster
        if self.scheduler:
            try:
                return Client(self.scheduler, timeout=self.connect_timeout, set_as_default=False)
            except (OSError, TimeoutError, ValueError) as error:
                raise ExecutorError(
                    f"cannot reach the Dask scheduler at {self.scheduler}: {error or type(error).__name__}"
                ) from None
        # A lost worker fails its tasks at once (KilledWorker) rather than Dask running them again
        # behind our back: the runner tries the attempt again itself, counted.
        with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
            self._cluster = LocalCluster(
                n_workers=self.n_workers,
                threads_per_worker=self.threads_per_worker,
                processes=True,
                host="127.0.0.1",
                dashboard_address=None,
                # no dashboard, and its HTTP routes on a free port: 8787 may be another cluster's
                scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
                silence_logs=logging.CRITICAL,  # its shutdown races (a heartbeat to a closed scheduler) are noise
                preload=[dask_worker.__name__],
            )
        self.scheduler = self._cluster.scheduler_address
        return Client(self._cluster, set_as_default=False)

    # -- handing attempts over ---------------------------------------------------------------------

    def _claim(self, task: AttemptTask) -> _Handed | None:
        """Room under ``--max-parallel`` (without it, Dask's scheduler queues what its workers cannot take)."""
        return _Handed(task) if self._limit is None or len(self._launched) < self._limit else None

    def _launch(self, task: AttemptTask, handed: _Handed) -> None:
        try:
            shipped = self._ship(task)
            task.shared_at = self._shared
            task.workdir = self._workdir
            if self._shared is None:
                task.context_view = self._context_now()
            future = self.client.submit(
                dask_worker.run_attempt,
                self._topic,
                task,
                shipped,
                self._max_log,
                # One task group per run: Dask's scheduler walks every group on each submit, so a
                # group per step name (a key starting with it) makes a big run quadratic.
                key=(self._topic, task.step, task.key),
                pure=False,
            )
        except Exception as error:  # cannot be shipped, or Dask refused it
            if not isinstance(error, ExecutorError):
                error = ExecutorError(f"Dask refused step {task.step!r}: {type(error).__name__}: {error}")
            self._lost(task.key, error)
            return
        with self._lock:
            if self._launched.get(task.key) is handed:
                handed.future = future
                future.add_done_callback(functools.partial(self._on_done, task.key))
                return
        future.release()  # withdrawn meanwhile: the workers were told not to start it

    def _context_now(self) -> ContextView:
        """The context as it is now; one copy per version, shared by the attempts handed over then."""
        version = self._context.version
        if self._view is None or self._view.version != version:
            self._view = ContextView.of(self._context)
        return self._view

    def _ship(self, task: AttemptTask) -> bytes | None:
        """None: the workers import the step by its path; bytes: the step's class, pickled by value."""
        where = (task.scriptlet_ref, tuple(task.search_path))
        if where not in self._shipping:
            answers = self.client.run(dask_worker.can_import, *where, on_error="return")
            problems = [str(why) for why in answers.values() if why is not None]
            how: bytes | ExecutorError | None = None
            if problems:
                try:
                    how = _pickled(*where)
                except Exception as error:
                    how = ExecutorError(
                        f"cannot send step {task.step!r} to the Dask workers: they cannot import "
                        f"{task.scriptlet_ref} ({problems[0]}), and it cannot be pickled "
                        f"({type(error).__name__}: {error})"
                    )
            self._shipping[where] = how
        how = self._shipping[where]
        if isinstance(how, ExecutorError):
            raise how
        return how

    # -- what the workers report, handled in order by one thread -----------------------------------

    def _on_event(self, event: tuple[float, dict[str, Any]]) -> None:
        self._inbox.put(("event", event[1]))  # in the client's event loop: hand over, never block it

    def _on_scheduler_event(self, event: tuple[float, Any]) -> None:
        message = event[1]
        if isinstance(message, dict) and message.get("action") == "remove-worker":
            self._inbox.put(("removed", message))

    def _on_done(self, key: int, future: Any) -> None:
        self._inbox.put(("done", key, future))

    def _read(self) -> None:
        while True:
            item = self._inbox.get()
            if item is None:
                return
            try:
                if item[0] == "event":
                    self._handle_event(item[1])
                elif item[0] == "withdrawn":
                    self._withdrawn(item[1], item[2])
                elif item[0] == "removed":
                    self._worker_removed(item[1])
                else:
                    self._handle_done(item[1], item[2])
            except Exception as error:  # a bug here must not leave the run waiting forever
                self._fail_all(ExecutorError(f"the dask executor failed: {type(error).__name__}: {error}"))

    def _handle_event(self, message: dict[str, Any]) -> None:
        if "l" in message:
            for lines, echo in pickle.loads(message["l"]):
                if echo:
                    show_lines(lines)
                self._notify(lines)
        elif "s" in message:
            key, worker = message["s"], message["w"]
            self._pids[worker] = message.get("p")
            with self._lock:
                handed = self._launched.get(key)
                again = handed is not None and handed.worker is not None
                if handed is not None and not again:
                    handed.worker = worker
            if handed is None:  # withdrawn or given up on before it started: stop it
                self._requests.put(("cancel", worker, key))
            elif again:  # its worker died and Dask started it elsewhere: that is our retry to make
                self._requests.put(("cancel", worker, key))
                self._lose(key, WorkerLost("the Dask worker running it died"))
            else:
                self._notify((key, time.time()))  # this machine's clock: timeouts count from here
        elif "r" in message:  # an atomic context change: made here, on the run's state, and answered
            key, ticket, worker, relayed = pickle.loads(message["r"])
            with self._lock:
                known = key in self._launched
            if not known:  # withdrawn or given up on: what it writes now is not the run's
                reply = Answer(error=(ContextError, "the runner no longer waits for this attempt"))
            else:
                try:
                    reply = answer(self._context, relayed)
                except Exception as error:  # never leave the step waiting
                    reply = Answer(error=(ContextError, f"the runner could not apply the change: {error}"))
            self._requests.put(("answer", worker, (ticket, pickle.dumps(reply))))
        elif "o" in message:
            self._finish(pickle.loads(message["o"]))

    def _worker_removed(self, message: dict[str, Any]) -> None:
        """A worker left the cluster: the run's attempts it held are lost (if Dask starts one again
        elsewhere, that start is stopped as one the runner gave up on, and the runner retries)."""
        worker = message.get("worker", "a Dask worker")
        for dask_key in message.get("processing-tasks") or ():
            key = tuple(dask_key) if isinstance(dask_key, list) else dask_key
            if isinstance(key, tuple) and len(key) == 3 and key[0] == self._topic:
                self._lose(key[2], WorkerLost(f"the Dask worker running it ({worker}) left the cluster"))

    def _finish(self, outcome: AttemptOutcome) -> None:
        handed = self._ended(outcome)
        if handed is None:
            return  # withdrawn or abandoned: its outcome changes nothing
        if handed.future is not None:
            handed.future.release()
        if outcome.context_operations:
            apply_batches(self._context, outcome.context_operations)
        elif outcome.context_version is not None:
            self._context.catch_up(outcome.context_version, CATCH_UP_S)  # the next step must see its writes
        outcome.context_operations = None
        self._report(outcome)

    def _handle_done(self, key: int, future: Any) -> None:
        status = future.status
        if status == "finished":
            return  # its outcome comes as an event (sent before the task returned)
        with self._lock:
            handed = self._launched.get(key)
        if handed is None:
            return  # reported already
        if status == "error":
            error = future.exception()
            if type(error).__name__ == "KilledWorker":
                self._lose(key, WorkerLost(f"the Dask worker running it died ({error})"))
            else:
                step = handed.task.step
                self._lose(key, ExecutorError(f"Dask could not run step {step!r}: {type(error).__name__}: {error}"))
        else:  # the scheduler forgot it: restarted, or our connection to it broke
            self._lose(key, WorkerLost(f"Dask dropped the task ({status})"))

    def _lose(self, key: int, error: ExecutorError) -> None:
        """Report attempt ``key`` failed by ``error``, not by the step."""
        handed = self._lost(key, error)
        if handed is not None and handed.future is not None:
            handed.future.release()

    def _fail_all(self, error: ExecutorError) -> None:
        with self._lock:
            keys = list(self._launched)
        for key in keys:
            self._lose(key, error)

    # -- the runner's requests ---------------------------------------------------------------------

    def _withdraw_launched(self, key: int, handed: _Handed) -> None:
        """What Dask's scheduler has cannot be held back, but the workers can be told not to start it."""
        with self._lock:
            if handed.worker is not None or handed.withdrawing or self._launched.get(key) is not handed:
                return  # started (or over): it goes on
            handed.withdrawing = True
        self._requests.put(("withdraw", None, key))

    def _withdrawn(self, keys: list[int], started: set[int]) -> None:
        """The workers answered: attempts ``keys`` not in ``started`` will never start."""
        for key in keys:
            with self._lock:
                handed = self._launched.get(key)
                if handed is None:
                    continue
                handed.withdrawing = False
                if key in started or handed.worker is not None:
                    continue  # it started before the withdrawal arrived: its start notice says so
            outcome = AttemptOutcome(key, ok=False, started=False)
            if self._ended(outcome) is None:
                continue
            if handed.future is not None:
                handed.future.release()  # Dask forgets it; a worker that has it already will not run it
            self._notify(outcome)
        self._dispatch()

    def _cancel_running(self, key: int, handed: _Handed) -> None:
        if handed.worker is not None:
            self._requests.put(("cancel", handed.worker, key))

    def _abandon_running(self, key: int, handed: _Handed) -> None:
        if handed.future is not None:
            handed.future.release()
        if handed.worker is not None:
            self._requests.put(("abandon", handed.worker, key))

    def _serve_requests(self) -> None:
        """Send stop requests to workers from a thread of our own: each is a round trip to Dask's
        scheduler, which the runner's loop must not wait for. Cancels that pile up go together."""
        while True:
            request = self._requests.get()
            if request is None:
                return
            batch = [request]
            with contextlib.suppress(queue.Empty):
                while True:
                    more = self._requests.get_nowait()
                    if more is None:
                        self._requests.put(None)
                        break
                    batch.append(more)
            cancels: dict[str, list[int]] = {}
            withdrawals: list[int] = []
            replies: dict[str, list[tuple[int, bytes]]] = {}
            for kind, worker, key in batch:
                if kind == "answer":
                    replies.setdefault(worker, []).append(key)
                elif kind == "cancel":
                    cancels.setdefault(worker, []).append(key)
                elif kind == "withdraw":
                    withdrawals.append(key)
                else:
                    self._abandon(worker)
            for worker, answered in replies.items():  # first: the attempts wait for them
                with contextlib.suppress(Exception):  # the worker is gone: nobody waits
                    self.client.run(dask_worker.deliver, answered, workers=[worker])
            for worker, keys in cancels.items():
                with contextlib.suppress(Exception):  # the worker is gone: nothing runs there
                    self.client.run(dask_worker.cancel, self._topic, keys, workers=[worker])
            if withdrawals:
                started: set[int] = set()
                with contextlib.suppress(Exception):  # no workers answer: none of them runs it
                    answers = self.client.run(dask_worker.withdraw, self._topic, withdrawals, on_error="return")
                    for answer in answers.values():
                        if isinstance(answer, list):
                            started.update(answer)
                self._inbox.put(("withdrawn", withdrawals, started))  # in order with the workers' events

    def _abandon(self, worker: str) -> None:
        """Kill ``worker`` and what its steps started. A worker of our own cluster runs here, in a
        process group of its own: killed from outside, since a step holding the interpreter lock
        in C code keeps the worker from obeying a request. Elsewhere the worker kills itself."""
        pid = self._pids.get(worker)
        if self._cluster is not None and pid and hasattr(os, "killpg"):
            with contextlib.suppress(OSError):
                os.killpg(pid, signal.SIGKILL)
                return
        with contextlib.suppress(Exception):  # it dies while answering
            self.client.run(dask_worker.abandon, workers=[worker], wait=False)

    def _stop_workers(self) -> None:
        client = self.client
        if client is None:
            return
        self._requests.put(None)  # its last requests go first: nothing is sent to workers after
        for thread in self._threads[1:]:
            thread.join(timeout=10)
        with self._lock:  # what the workers still report changes nothing now
            futures = [handed.future for handed in self._launched.values() if handed.future is not None]
            self._launched.clear()
        if self._cluster is None:  # a cluster we leave running keeps nothing of ours
            with contextlib.suppress(Exception):
                client.run(dask_worker.cancel_all, self._topic, on_error="ignore")
                client.run(dask_worker.forget, self._topic, on_error="ignore")
            if self._shared is not None:  # nor its connections to the context server
                with contextlib.suppress(Exception):
                    client.run(close_shared, self._shared.run_id, on_error="ignore")
            with contextlib.suppress(Exception):  # nor the run's events (outputs, printed lines)
                client.run_on_scheduler(_truncate_topic, self._topic)
        for future in futures:
            with contextlib.suppress(Exception):
                future.release()
        with contextlib.suppress(Exception):
            client.unsubscribe_topic(self._topic)
        if self._cluster is None:
            with contextlib.suppress(Exception):
                client.unsubscribe_topic("all")
        self._inbox.put(None)
        for thread in self._threads[:1]:
            thread.join(timeout=5)
        self._threads = []
        with contextlib.suppress(Exception):
            client.close()
        if self._cluster is not None:
            with contextlib.suppress(Exception):
                self._cluster.close()
            self._cluster = None
            self.scheduler = None
        self.client = None


def _truncate_topic(topic: str, dask_scheduler: Any = None) -> None:
    """On the scheduler: forget the events of a finished run (Dask keeps every topic's events)."""
    broker = getattr(dask_scheduler, "_broker", None)  # Dask has no public call for this
    if broker is not None:
        broker.truncate(topic)


def _pickled(ref: str, search_path: tuple[str, ...]) -> bytes:
    """The scriptlet ``ref`` as cloudpickle bytes, its own module pickled by value with it."""
    import cloudpickle

    from framework0.scriptlets.registry import import_ref

    scriptlet = import_ref(ref, search_path)
    module = sys.modules.get(ref.partition(":")[0])
    by_value = module is not None and not module.__name__.startswith("framework0.")
    if by_value:
        cloudpickle.register_pickle_by_value(module)
    try:
        data: bytes = cloudpickle.dumps(scriptlet)
        return data
    finally:
        if by_value:
            cloudpickle.unregister_pickle_by_value(module)
