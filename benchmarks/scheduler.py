"""Scheduling overhead per no-op step: Framework0's local executor against a bare thread-pool scheduler.

Both run the same DAG shapes in this process: a 10,000-step fan-out and a 1,000-step chain. The bare
scheduler is the floor any thread-based DAG runner pays (submit ready tasks to a ThreadPoolExecutor,
count down dependents as futures finish). Each repetition runs the three one after the other, each
after a full garbage collection, so that a change in the machine's load falls on all three alike
and none pays for another's garbage. Prints the medians of wall time and of the process's CPU time
(every thread, the store writer's included) and their ratios to the floor; nothing is asserted.

    python benchmarks/scheduler.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import gc
import os
import queue
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from recipes import chain, fan_out, write

import framework0

WORKERS = os.cpu_count() or 2


def noop() -> None:
    return None


def _put(done: queue.SimpleQueue[str], name: str, _future: object) -> None:
    done.put(name)


def bare_scheduler(upstream: dict[str, list[str]]) -> None:
    """A minimal DAG scheduler on ThreadPoolExecutor: the baseline."""
    downstream: dict[str, list[str]] = {name: [] for name in upstream}
    waiting = {name: len(ups) for name, ups in upstream.items()}
    for name, ups in upstream.items():
        for up in ups:
            downstream[up].append(name)
    done: queue.SimpleQueue[str] = queue.SimpleQueue()
    with ThreadPoolExecutor(WORKERS) as pool:
        running = 0
        for name, count in waiting.items():
            if count == 0:
                pool.submit(noop).add_done_callback(partial(_put, done, name))
                running += 1
        while running:
            name = done.get()
            running -= 1
            for child in downstream[name]:
                waiting[child] -= 1
                if waiting[child] == 0:
                    pool.submit(noop).add_done_callback(partial(_put, done, child))
                    running += 1


def framework0_run(recipe: framework0.Recipe, store: str | None = None) -> None:
    """One run; with ``store``, recorded there (the writer's last commit included)."""
    result = framework0.run(recipe, max_parallel=WORKERS, store=store)
    assert result.status == "succeeded", result.error


def timed(work: Callable[[], None]) -> tuple[float, float]:
    """Wall and CPU seconds (the process's, every thread) that ``work`` takes, starting from a
    collected heap: no measurement pays for the garbage an earlier one left."""
    gc.collect()
    wall, cpu = time.perf_counter(), time.process_time()
    work()
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="f0-bench-"))
    load = " ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, {WORKERS} worker threads, median of {args.repeat}")
    print(f"load average {load}; µs per step; 'store' records the run in SQLite (WAL, synchronous=FULL),")
    print("commits included; wall time, and in brackets the process's CPU time")
    print(f"{'shape':<16}{'no store':>16}{'store':>16}{'bare pool':>16}{'no store/bare':>16}{'store/bare':>16}")
    for label, text, count in (
        ("fan-out 10,000", fan_out(10_000), 10_000),
        ("chain 1,000", chain(1_000), 1_000),
    ):
        recipe = framework0.load_recipe(write(folder, f"{label.split()[0]}.yaml", text))
        upstream = {step.name: list(step.upstream) for step in recipe.steps}
        store = f"sqlite:///{folder}/{label.split()[0]}.db"
        framework0_run(recipe)  # warm-up: imports, caches, and the store's tables
        framework0_run(recipe, store)
        works = (
            partial(framework0_run, recipe),
            partial(framework0_run, recipe, store),
            partial(bare_scheduler, upstream),
        )
        samples: list[list[tuple[float, float]]] = [[], [], []]
        for _ in range(args.repeat):
            for work, taken in zip(works, samples, strict=True):
                taken.append(timed(work))
        wall = [statistics.median(w for w, _ in taken) / count * 1e6 for taken in samples]
        cpu = [statistics.median(c for _, c in taken) / count * 1e6 for taken in samples]
        cells = [f"{w:.1f} ({c:.1f})" for w, c in zip(wall, cpu, strict=True)]
        ratios = [f"{wall[i] / wall[2]:.2f} ({cpu[i] / cpu[2]:.2f})" for i in (0, 1)]
        print(f"{label:<16}" + "".join(f"{cell:>16}" for cell in cells + ratios))


if __name__ == "__main__":
    main()
