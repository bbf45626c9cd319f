"""Scriptlets the dask executor tests run on the workers, and the one LocalCluster those tests share.

The steps keep what must survive a worker's death (attempt counters, pids) in files. The cluster
(``shared_cluster``) is started once per test session, by whichever test needs it first, and closed
when the session ends; Dask and pytest are imported only there, so that the workers importing
this module for its steps do not pay for pytest.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path
from typing import Any, NamedTuple

from framework0 import BaseScriptlet, Context

WORKER_NODE = "dask-test-worker"
"""The node name the test cluster's workers record (``F0_NODE`` in their environment)."""
N_WORKERS = 2


# -- steps ----------------------------------------------------------------------------------------


def pid() -> int:
    return os.getpid()


def echo(value: Any) -> Any:
    return value


def count_attempt(counter: str) -> int:
    """Add one to the number in the file ``counter`` and return it: which attempt this is."""
    path = Path(counter)
    count = int(path.read_text()) + 1 if path.exists() else 1
    path.write_text(str(count))
    return count


def hang_on_first_attempt(counter: str, pid_file: str) -> int:
    """First attempt: publish this process's pid in ``pid_file`` and wait to be killed. Later
    attempts return their attempt number at once."""
    count = count_attempt(counter)
    if count == 1:
        partial = Path(f"{pid_file}.partial")
        partial.write_text(str(os.getpid()))
        partial.replace(pid_file)
        time.sleep(60)
        raise RuntimeError("the worker was not killed")
    return count


def die_then_fail_then_succeed(counter: str) -> int:
    """Attempt 1 kills its own worker process; attempt 2 fails; attempt 3 returns 3."""
    count = count_attempt(counter)
    if count == 1:
        os.kill(os.getpid(), signal.SIGKILL)  # started or not as far as the runner knows: WorkerLost either way
        time.sleep(60)
    if count == 2:
        raise ConnectionError("failure 2")
    return count


def flaky(counter: str, failures: int) -> int:
    """Fail with ConnectionError ``failures`` times, then return the attempt number."""
    count = count_attempt(counter)
    if count <= failures:
        raise ConnectionError(f"failure {count}")
    return count


def fail(message: str = "boom") -> None:
    raise ValueError(message)


def square(value: int) -> int:
    return value * value


def block(seconds: float) -> str:
    """Wait inside one C call, which no exception can interrupt."""
    time.sleep(seconds)
    return "blocked"


def allocate(megabytes: int, seconds: float) -> int:
    memory = bytearray(megabytes * 1024 * 1024)
    for index in range(0, len(memory), 4096):
        memory[index] = 1
    time.sleep(seconds)
    return len(memory)


def burn_cpu(seconds: float) -> int:
    deadline = time.thread_time() + seconds
    total = 0
    while time.thread_time() < deadline:
        total += 1
    return total


def interval(seconds: float) -> list[float]:
    """Sleep ``seconds``; return when it started and ended (epoch seconds)."""
    started = time.time()
    time.sleep(seconds)
    return [started, time.time()]


def interval_too(seconds: float) -> list[float]:
    """``interval`` under another name: a second scriptlet."""
    return interval(seconds)


def shout(text: str) -> str:
    print(f"{text} on stdout", flush=True)
    print(f"{text} on stderr", file=sys.stderr, flush=True)
    return text


def write_context(key: str, value: Any, ctx: Context) -> None:
    ctx.set(key, value)


def read_context(key: str, ctx: Context) -> Any:
    return ctx.get(key)


class Patient(BaseScriptlet):
    """Waits, checking ``ctx.cancelled``, until it is asked to stop; records its teardown in ``log``."""

    class Params(BaseScriptlet.Params):
        log: str

    def run(self, ctx: Context, params: Params) -> str:
        deadline = time.monotonic() + 60
        while not ctx.cancelled and time.monotonic() < deadline:
            ctx.wait(0.05)
        return "stopped" if ctx.cancelled else "never asked to stop"

    def teardown(self, ctx: Context, error: BaseException | None) -> None:
        with open(self.raw_args["log"], "a", encoding="utf-8") as handle:
            handle.write(f"teardown:{type(error).__name__ if error else None}\n")


# -- the shared cluster ---------------------------------------------------------------------------


class Cluster(NamedTuple):
    cluster: Any  # distributed.LocalCluster
    client: Any  # distributed.Client, to look at the cluster

    @property
    def address(self) -> str:
        return str(self.cluster.scheduler_address)

    def worker_pids(self) -> set[int]:
        return set(self.client.run(os.getpid).values())

    def busy_threads(self) -> int | None:
        """How many tasks the workers' threads are running (None: a worker did not answer). A task
        Dask has forgotten may still run in a thread; the scheduler no longer lists it."""
        answers = self.client.run(_executing, on_error="return")
        if not all(isinstance(count, int) for count in answers.values()):
            return None
        return sum(int(count) for count in answers.values())

    def wait_until_whole(self, timeout: float = 30.0) -> None:
        """Wait until the cluster has its workers again (a test may have killed one) and each answers."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                if len(self.client.nthreads()) == N_WORKERS and len(self.worker_pids()) == N_WORKERS:
                    return
            except Exception:  # a worker went away while answering
                if time.monotonic() > deadline:
                    raise
            if time.monotonic() > deadline:
                raise TimeoutError(f"the test cluster did not get back to {N_WORKERS} workers in {timeout:g}s")
            time.sleep(0.05)

    def make_ready(self) -> None:
        """Both workers up and idle: a test that failed may have left a step running; restart them then."""
        self.wait_until_whole()
        deadline = time.monotonic() + 2
        while self.busy_threads() != 0:
            if time.monotonic() > deadline:
                self.client.restart(wait_for_workers=True)
                self.wait_until_whole()
                return
            time.sleep(0.05)


def _executing(dask_worker: Any) -> int:
    count: int = dask_worker.state.executing_count
    return count


_KEY = "_framework0_dask_test_cluster"


def require_distributed() -> None:
    """Skip the calling test when distributed is not installed; fail it instead under ``F0_STRICT=1``."""
    import pytest

    try:
        import distributed  # noqa: F401
    except ImportError as error:
        if os.environ.get("F0_STRICT", "") not in ("", "0"):
            pytest.fail(f"F0_STRICT=1 and the dask executor tests cannot run: {error}", pytrace=False)
        pytest.skip(f"distributed is not installed (pip install -e '.[dev]'): {error}")


def shared_cluster(config: Any) -> Cluster:
    """The session's cluster (pytest ``config``), started on first use; skips the calling test when
    distributed is not installed, or fails it under ``F0_STRICT=1``."""
    cluster: Cluster | None = getattr(config, _KEY, None)
    if cluster is not None:
        return cluster
    require_distributed()
    import importlib

    dask: Any = importlib.import_module("dask")
    distributed: Any = importlib.import_module("distributed")  # untyped: used through Any

    # As the executor's own cluster: a killed worker fails its task at once (KilledWorker).
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        local = distributed.LocalCluster(
            n_workers=N_WORKERS,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            # no dashboard, and its HTTP server (which it keeps) on a free port, not 8787
            scheduler_kwargs={"dashboard": False, "dashboard_address": "127.0.0.1:0"},
            env={"F0_NODE": WORKER_NODE},
            preload=["framework0.engine.executors.dask_worker"],
        )
    client = distributed.Client(local, set_as_default=False)
    cluster = Cluster(local, client)

    def close() -> None:
        client.close()
        local.close()

    config.add_cleanup(close)
    setattr(config, _KEY, cluster)
    cluster.make_ready()
    return cluster


def touch(folder: str, name: str, seconds: float = 0.0) -> str:
    """Leave a mark that this step ran, after ``seconds``."""
    time.sleep(seconds)
    Path(folder, name).write_text("ran", encoding="utf-8")
    return name


def read_file(path: str) -> str:
    return Path(path).read_text(encoding="utf-8")


def working_folder() -> str:
    return os.getcwd()


def rename(source: str, destination: str) -> None:
    os.rename(source, destination)


def die_on_first_attempt(counter: str) -> int:
    """Attempt 1 kills its own worker process at once (its start notice may die with it); later
    attempts return their number."""
    count = count_attempt(counter)
    if count == 1:
        os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(60)
    return count
