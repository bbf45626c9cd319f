"""Scheduling overhead per no-op step: Framework0's local executor against a bare thread-pool scheduler.

Both run the same DAG shapes in this process: a 10,000-step fan-out and a 1,000-step chain. The bare
scheduler is the floor any thread-based DAG runner pays (submit ready tasks to a ThreadPoolExecutor,
count down dependents as futures finish). Prints medians and the ratio; nothing is asserted.

    python benchmarks/scheduler.py [--repeat 5]
"""

from __future__ import annotations

import argparse
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


def bare_scheduler(upstream: dict[str, list[str]]) -> float:
    """A minimal DAG scheduler on ThreadPoolExecutor: the baseline. Returns seconds taken."""
    downstream: dict[str, list[str]] = {name: [] for name in upstream}
    waiting = {name: len(ups) for name, ups in upstream.items()}
    for name, ups in upstream.items():
        for up in ups:
            downstream[up].append(name)
    done: queue.SimpleQueue[str] = queue.SimpleQueue()
    started = time.perf_counter()
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
    return time.perf_counter() - started


def framework0_run(recipe: framework0.Recipe, store: str | None = None) -> float:
    """Seconds for one run; with ``store``, recorded there (the writer's last commit included)."""
    started = time.perf_counter()
    result = framework0.run(recipe, max_parallel=WORKERS, store=store)
    elapsed = time.perf_counter() - started
    assert result.status == "succeeded", result.error
    return elapsed


def median_of(repeat: int, measure: Callable[[], float]) -> float:
    return statistics.median(measure() for _ in range(repeat))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="f0-bench-"))
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, {WORKERS} worker threads, median of {args.repeat}")
    print("µs per step; 'store' records the run in SQLite (WAL, synchronous=FULL), commits included")
    print(f"{'shape':<18}{'no store':>10}{'store':>10}{'bare pool':>11}{'no store/bare':>15}{'store/bare':>12}")
    for label, text, count in (
        ("fan-out 10,000", fan_out(10_000), 10_000),
        ("chain 1,000", chain(1_000), 1_000),
    ):
        recipe = framework0.load_recipe(write(folder, f"{label.split()[0]}.yaml", text))
        upstream = {step.name: list(step.upstream) for step in recipe.steps}
        store = f"sqlite:///{folder}/{label.split()[0]}.db"
        framework0_run(recipe)  # warm-up: imports, caches, and the store's tables
        framework0_run(recipe, store)
        ours = median_of(args.repeat, partial(framework0_run, recipe)) / count * 1e6
        stored = median_of(args.repeat, partial(framework0_run, recipe, store)) / count * 1e6
        bare = median_of(args.repeat, partial(bare_scheduler, upstream)) / count * 1e6
        print(f"{label:<18}{ours:>10.1f}{stored:>10.1f}{bare:>11.1f}{ours / bare:>15.2f}{stored / bare:>12.2f}")


if __name__ == "__main__":
    main()
