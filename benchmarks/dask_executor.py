"""Per-step overhead on a Dask cluster: Framework0's dask executor against the same DAG given to Dask directly.

One ``distributed.LocalCluster`` (2 worker processes, 1 thread each, 127.0.0.1, no dashboard, the
executor's worker preload) is started once; then, alternating, ``--repeat`` times each:

- raw Dask: the ``--steps`` fan-out (default 1,000) as that many independent ``client.submit`` calls
  of a no-op function (``pure=False``: each its own key; results never fetched) from a client
  connected once, timed from the first submit until ``distributed.wait`` sees all of them finished;
- Framework0: ``framework0.run(recipe, executor=DaskExecutor(address), store=None)`` of the same
  fan-out recipe (``recipes.fan_out``), its steps ``noop_steps:noop`` imported by the workers from
  the recipe's folder. Three times are taken: the whole ``run`` call; the run's own duration
  (``result.finished_at - result.started_at``, which also counts connecting to the scheduler and
  closing the client, since the runner takes ``started_at`` before its executor connects); and the
  executor's window, from the moment its ``start`` (the connect) returned until the runner asks it to
  shut down, when the last outcome has been handled. The window is what is compared with raw Dask.

Both sides get one warm-up run first. Prints medians, µs per step and the ratios; nothing is
asserted (beyond every task and run succeeding). The machine may be shared, so the load average
is printed before and after.

    python benchmarks/dask_executor.py [--repeat 5] [--steps 1000]
"""

from __future__ import annotations

import argparse
import importlib
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

# The workers are spawned with this process's sys.path, so they import noop_steps by reference too.
from noop_steps import noop
from recipes import fan_out, write

import framework0

N_WORKERS = 2
THREADS_PER_WORKER = 1


class TimedDaskExecutor(framework0.DaskExecutor):
    """The dask executor, noting when it is ready (connected) and when the runner is done with it."""

    ready = 0.0
    done = 0.0

    def start(self, *args: Any, **kwargs: Any) -> int:
        slots = super().start(*args, **kwargs)
        self.ready = time.perf_counter()
        return slots

    def shutdown(self) -> None:
        if self.ready and not self.done:
            self.done = time.perf_counter()
        super().shutdown()


def raw_dask(client: Any, steps: int) -> float:
    """Seconds from the first submit until all ``steps`` no-op tasks have finished."""
    wait = importlib.import_module("distributed").wait
    started = time.perf_counter()
    futures = [client.submit(noop, pure=False) for _ in range(steps)]
    wait(futures)
    elapsed = time.perf_counter() - started
    errors = [future for future in futures if future.status != "finished"]
    assert not errors, errors[0].exception()
    del futures
    return elapsed


def framework0_dask(recipe: framework0.Recipe, address: str) -> tuple[float, float, float]:
    """Seconds of one run: the whole ``run`` call, the result's own duration, the executor's window."""
    executor = TimedDaskExecutor(address)
    started = time.perf_counter()
    result = framework0.run(recipe, executor=executor, store=None)
    call = time.perf_counter() - started
    assert result.status == "succeeded", result.error
    return call, result.finished_at - result.started_at, executor.done - executor.ready


def load() -> str:
    return ", ".join(f"{value:.2f}" for value in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--steps", type=int, default=1000)
    args = parser.parse_args()
    dask: Any = importlib.import_module("dask")  # untyped: used through Any, as in executors/dask
    distributed: Any = importlib.import_module("distributed")
    steps = args.steps
    folder = Path(tempfile.mkdtemp(prefix="f0-bench-dask-"))
    recipe = framework0.load_recipe(write(folder, "fanout.yaml", fan_out(steps)))
    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, dask {dask.__version__}, "
        f"distributed {distributed.__version__}; load average {load()}"
    )
    with (
        distributed.LocalCluster(
            n_workers=N_WORKERS,
            threads_per_worker=THREADS_PER_WORKER,
            processes=True,
            dashboard_address=None,
            host="127.0.0.1",
            preload=["framework0.engine.executors.dask_worker"],
        ) as cluster,
        distributed.Client(cluster) as client,  # the default client: distributed.wait uses it
    ):
        shape = sorted(client.nthreads().values())
        print(
            f"cluster: LocalCluster at {cluster.scheduler_address}, {len(shape)} worker processes "
            f"x {shape[0] if shape else 0} thread(s); {steps}-step fan-out of no-ops, median of {args.repeat}"
        )
        raw_dask(client, steps)  # warm-up: the workers import what the tasks need, both sides
        framework0_dask(recipe, cluster.scheduler_address)
        raw: list[float] = []
        ours: list[tuple[float, float, float]] = []
        for _ in range(args.repeat):
            raw.append(raw_dask(client, steps))
            ours.append(framework0_dask(recipe, cluster.scheduler_address))
    call, duration, window = (statistics.median(times) for times in zip(*ours, strict=True))
    bare = statistics.median(raw)
    print(f"{'':<52}{'s':>8}{'µs/step':>10}{'/ raw':>8}")
    rows = (
        ("raw Dask: first submit to all finished", bare),
        ("Framework0, executor window (compared with raw)", window),
        ("Framework0, run's duration (with connect, close)", duration),
        ("Framework0, whole framework0.run call", call),
    )
    for label, seconds in rows:
        print(f"{label:<52}{seconds:>8.3f}{seconds / steps * 1e6:>10.1f}{seconds / bare:>8.2f}")
    print(f"ratio Framework0 / raw Dask, per step: {window / bare:.2f} (aim: within 1.5); load average {load()}")


if __name__ == "__main__":
    main()
