"""``f0 analyze`` over a long history: 10,000 runs of a 20-step recipe in a SQLite store.

The history is synthetic and seeded (the tests' generator, ``tests/analysis/synthetic_history.py``):
steady steps with 10% noise, one step that got 50% slower for the last 200 runs, one that passes on
retry now and then. It is written once into ``benchmarks/.analyze/runs.db`` (kept between calls;
``--fresh`` writes it again). Then ``f0 analyze`` runs as a user starts it, for the text report and
for JSON; farm-bench (or any outside timer) gives the whole process's time and peak memory:

    python benchmarks/analyze.py [--runs 10000] [--steps 20] [--fresh]
    farm-bench -n 5 -- .venv/bin/f0 analyze --since 3650d --store sqlite:///benchmarks/.analyze/runs.db

Run alone, this script prints the median of 5 in-process timings of the read and of the analysis
apart, and the peak of Python's own allocations (tracemalloc) during the analysis.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the tests' history generator

from tests.analysis.synthetic_history import Step, constant, make_history, slower_from, write_history  # noqa: E402

import framework0.history  # noqa: E402
from framework0.analysis.analyze import analyze  # noqa: E402

FOLDER = Path(__file__).resolve().parent / ".analyze"


def history_steps(count: int, runs: int) -> list[Step]:
    steps = [Step(f"step{index:02d}", constant(0.1 + index * 0.05)) for index in range(count - 2)]
    steps.append(Step("flaky", constant(0.2), retried=frozenset(range(7, runs, 97))))
    steps.append(Step("slower", slower_from(runs - 200, 1.0, 1.5)))
    return steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--fresh", action="store_true", help="write the history again")
    args = parser.parse_args()
    store = FOLDER / "runs.db"
    url = f"sqlite:///{store}"
    if args.fresh or not store.exists():
        FOLDER.mkdir(exist_ok=True)
        store.unlink(missing_ok=True)
        started = time.perf_counter()
        made = make_history(
            history_steps(args.steps, args.runs), runs=args.runs, seed=1, start=time.time() - 86400 * 400
        )
        write_history(url, made, runs_per_batch=500)
        print(f"wrote {args.runs:,} runs of {args.steps} steps to {store} in {time.perf_counter() - started:.0f} s")
    reads, analyses = [], []
    for _ in range(5):
        started = time.perf_counter()
        with framework0.history.open(url) as history:
            runs = history.list_runs(since=0, step_counts=False)
            steps = history.step_runs(since=0)
        reads.append(time.perf_counter() - started)
        started = time.perf_counter()
        result = analyze(runs, steps)
        analyses.append(time.perf_counter() - started)
    tracemalloc.start()  # once more, apart: tracing slows what it traces
    analyze(runs, steps)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(f"python {sys.version.split()[0]}; {len(runs):,} runs, {len(steps):,} step records, median of 5")
    print(f"read (History.list_runs + step_runs)  {statistics.median(reads):6.2f} s")
    print(f"analysis                              {statistics.median(analyses):6.2f} s")
    print(f"analysis's Python allocations at peak {peak / 2**20:6.0f} MiB (tracemalloc)")
    print(f"findings: {len(result.findings)}; the first: {result.findings[0].summary if result.findings else '-'}")


if __name__ == "__main__":
    main()
