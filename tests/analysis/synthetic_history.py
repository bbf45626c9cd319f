"""Seeded synthetic run histories with known events in them (a step that got slower from a given
run, a single slow run, a step that passes on retry or flips on one cache key), as the public
history records, and written into a real store for the command-line tests."""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from framework0.history import RunSummary, StepRun
from framework0.store import open_store
from framework0.store.schema_values import NO_ITEM

START = 1_790_000_000.0  # 2026-09-21: the first run's start
EVERY_S = 3600.0  # one run an hour


@dataclass(frozen=True)
class Step:
    """A step's behaviour over runs: ``seconds(run)`` its usual duration (noise added), ``retried``
    the runs where it failed once and passed on retry, ``flips`` runs that fail outright while
    sharing their cache key with the runs before and after them."""

    name: str
    seconds: Callable[[int], float]
    retried: frozenset[int] = frozenset()
    flips: frozenset[int] = frozenset()
    memory_mib: Callable[[int], float] = lambda run: 50.0


@dataclass
class History:
    runs: list[RunSummary] = field(default_factory=list)
    steps: list[StepRun] = field(default_factory=list)

    def run_id(self, index: int) -> str:
        return self.runs[index].run_id


def constant(seconds: float) -> Callable[[int], float]:
    return lambda run: seconds


def slower_from(first: int, before: float, after: float) -> Callable[[int], float]:
    return lambda run: after if run >= first else before


def spike(at: int, usual: float, seconds: float) -> Callable[[int], float]:
    return lambda run: seconds if run == at else usual


def make_history(
    steps: Sequence[Step],
    *,
    runs: int = 120,
    seed: int = 0,
    noise: float = 0.1,
    test_id: str = "ETL-001",
    cache_keys: bool = False,
    start: float = START,
) -> History:
    """``runs`` runs of a recipe with ``steps`` in a chain, one an hour from ``start``, each
    duration drawn around its step's ``seconds(run)`` with lognormal noise of ``noise`` (0.1: about
    10%)."""
    rng = random.Random(seed)
    history = History()
    for index in range(runs):
        run_id = f"{seed:04x}{index:08x}"
        started = start + index * EVERY_S
        at = started
        status = "failed" if any(index in step.flips for step in steps) else "succeeded"
        for position, step in enumerate(steps):
            seconds = step.seconds(index) * math.exp(rng.gauss(0.0, noise))
            failed_first = index in step.retried
            failed = index in step.flips
            step_status = "failed" if failed else "succeeded"
            history.steps.append(
                StepRun(
                    run_id=run_id,
                    run_started_at=started,
                    run_status=status,
                    test_id=test_id,
                    recipe_path=f"/work/{test_id.lower()}.yaml",
                    name=step.name,
                    position=position,
                    status=step_status,
                    attempts=2 if failed_first else 1,
                    failed_attempts=1 if failed_first or failed else 0,
                    retries=1 if failed_first else 0,
                    started_at=at,
                    finished_at=at + seconds,
                    cpu_s=seconds * 0.5,
                    peak_rss_bytes=int(step.memory_mib(index) * math.exp(rng.gauss(0.0, noise / 4)) * 1024 * 1024),
                    items=None,
                    reason=None,
                    cache_key=f"{step.name}-inputs" if cache_keys else None,
                )
            )
            at += seconds
            if failed:
                break
        history.runs.append(
            RunSummary(
                run_id=run_id,
                test_id=test_id,
                recipe_path=f"/work/{test_id.lower()}.yaml",
                status=status,
                started_at=started,
                finished_at=at + 0.01,
                error=None,
                params={},
                node="bench",
                pid=1,
                sessions=1,
                context_version=0,
            )
        )
    return history


def write_history(url: str, history: History, *, runs_per_batch: int = 200) -> None:
    """Write ``history`` into the store at ``url`` (created if needed) with the rows a runner
    records, ``runs_per_batch`` runs to a transaction."""
    store = open_store(url)
    try:
        by_run: dict[str, list[StepRun]] = {}
        for record in history.steps:
            by_run.setdefault(record.run_id, []).append(record)
        batch: dict[str, list[object]] = {"runs": [], "sessions": [], "steps": [], "attempts": []}
        for count, run in enumerate(history.runs, 1):
            records = by_run.get(run.run_id, [])
            run_row = {
                "run_id": run.run_id,
                "test_id": run.test_id,
                "recipe_path": run.recipe_path,
                "status": run.status,
                "started_at": run.started_at,
                "finished_at": run.finished_at,
                "error_type": None,
                "error_message": None,
                "params": "{}",
                "fingerprint": json.dumps({"steps": {record.name: "x" for record in records}}),
                "context": "{}",
                "context_version": 0,
                "node": run.node,
                "pid": run.pid,
                "sessions": 1,
                "graph": None,
                "package": None,
            }
            session = {
                "run_id": run.run_id,
                "session": 1,
                "kind": "run",
                "params": "{}",
                "from_step": None,
                "started_at": run.started_at,
                "finished_at": run.finished_at,
                "status": run.status,
                "node": run.node,
                "pid": run.pid,
            }
            steps = [
                {
                    "run_id": run.run_id,
                    "name": record.name,
                    "position": record.position,
                    "status": record.status,
                    "attempts": record.attempts,
                    "started_at": record.started_at,
                    "finished_at": record.finished_at,
                    "cpu_s": record.cpu_s,
                    "peak_rss_bytes": record.peak_rss_bytes,
                    "items": None,
                    "output": "null",
                    "error_type": "RuntimeError" if record.status == "failed" else None,
                    "error_message": "flipped" if record.status == "failed" else None,
                    "error_traceback": None,
                    "reason": None,
                    "cache_key": record.cache_key,
                    "cache_inputs": None,
                    "session": 1,
                }
                for record in records
            ]
            attempts = []
            for record in records:
                assert record.started_at is not None and record.finished_at is not None
                for number in range(1, record.attempts + 1):
                    failed = number <= record.failed_attempts
                    attempts.append(
                        {
                            "run_id": run.run_id,
                            "step": record.name,
                            "item": NO_ITEM,
                            "attempt": number,
                            "status": "failed" if failed else "succeeded",
                            "started_at": record.started_at,
                            "finished_at": record.finished_at,
                            "wall_s": record.finished_at - record.started_at,
                            "cpu_s": record.cpu_s,
                            "peak_rss_bytes": record.peak_rss_bytes,
                            "output": None,
                            "error_type": "RuntimeError" if failed else None,
                            "error_message": "transient" if failed else None,
                            "error_traceback": None,
                            "retry_in_s": 0.1 if failed and number < record.attempts else None,
                            "session": 1,
                        }
                    )
            batch["runs"].append(run_row)
            batch["sessions"].append(session)
            batch["steps"].extend(steps)
            batch["attempts"].extend(attempts)
            if count % runs_per_batch == 0 or count == len(history.runs):
                store.write(batch)
                batch = {table: [] for table in batch}
    finally:
        store.close()
