"""The run history cut into series: per recipe, its runs in order; per step of a recipe, its
records in run order; and the values each finding compares (durations, peak memory)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from operator import attrgetter
from pathlib import PurePath
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from framework0.history import RunSummary, StepRun

_IN_RUN_ORDER = attrgetter("run_started_at", "run_id")

#: durations below this (the clock's resolution on some systems) count as this, so that a no-op
#: step's 0 s is not infinitely far below its usual 2 µs on the log scale anomalies use
SHORTEST_S = 1e-6


@dataclass(frozen=True, slots=True)
class Series:
    """One metric of one step (``step`` None: of the whole run) of one recipe, in run order: the
    values and the run each came from."""

    recipe: str
    step: str | None
    metric: str  # "duration" (seconds) or "peak_memory" (bytes)
    values: tuple[float, ...]
    runs: tuple[str, ...]
    started: tuple[float, ...]  # each run's start (epoch seconds)


def recipe_key(test_id: str | None, recipe_path: str | None) -> str:
    """What tells one recipe's runs from another's: the test id, else the recipe's path."""
    return test_id or recipe_path or ""


def display_names(keys: Iterable[tuple[str, str | None, str | None]]) -> dict[str, str]:
    """Per recipe key, the name people see: the test id, else the recipe file's name, or its whole
    path where two recipes share a file name."""
    paths: dict[str, str] = {}
    names: dict[str, str] = {}
    for key, test_id, recipe_path in keys:
        if test_id:
            names[key] = test_id
        elif recipe_path:
            paths[key] = recipe_path
        else:
            names[key] = "recipe"
    by_name: defaultdict[str, list[str]] = defaultdict(list)
    for key, path in paths.items():
        by_name[PurePath(path).name].append(key)
    for name, keys_with_it in by_name.items():
        for key in keys_with_it:
            names[key] = name if len(keys_with_it) == 1 else paths[key]
    return names


def runs_by_recipe(runs: Sequence[RunSummary]) -> dict[str, list[RunSummary]]:
    """Runs grouped by recipe key, each group oldest first."""
    grouped: defaultdict[str, list[RunSummary]] = defaultdict(list)
    for run in runs:
        grouped[recipe_key(run.test_id, run.recipe_path)].append(run)
    return {key: sorted(group, key=lambda run: (run.started_at, run.run_id)) for key, group in grouped.items()}


def steps_by_recipe(records: Sequence[StepRun]) -> dict[tuple[str, str], list[StepRun]]:
    """Step records grouped by (recipe key, step name), each group in run order."""
    grouped: defaultdict[tuple[str, str], list[StepRun]] = defaultdict(list)
    for record in records:
        grouped[(record.test_id or record.recipe_path or "", record.name)].append(record)
    return {key: sorted(group, key=_IN_RUN_ORDER) for key, group in grouped.items()}


def run_durations(recipe: str, runs: Sequence[RunSummary]) -> Series:
    """The whole run's duration over the recipe's runs that succeeded in one go (a resumed run's
    time from its first start to its end includes the time it was stopped)."""
    kept = [run for run in runs if run.status == "succeeded" and run.duration_s is not None and run.sessions == 1]
    return Series(
        recipe,
        None,
        "duration",
        tuple(max(run.duration_s or 0.0, SHORTEST_S) for run in kept),
        tuple(run.run_id for run in kept),
        tuple(run.started_at for run in kept),
    )


def step_durations(recipe: str, step: str, records: Sequence[StepRun]) -> Series:
    """A step's duration over the runs where it succeeded (a failure's time says when it failed,
    not how long the work takes; a cached or skipped step did no work)."""
    kept = [
        record
        for record in records
        if record.status == "succeeded" and record.started_at is not None and record.finished_at is not None
    ]
    return Series(
        recipe,
        step,
        "duration",
        tuple(max((record.finished_at or 0.0) - (record.started_at or 0.0), SHORTEST_S) for record in kept),
        tuple(record.run_id for record in kept),
        tuple(record.run_started_at for record in kept),
    )


def step_memory(recipe: str, step: str, records: Sequence[StepRun]) -> Series:
    """A step's peak memory over the runs where it succeeded and had a figure."""
    kept = [record for record in records if record.status == "succeeded" and record.peak_rss_bytes > 0]
    return Series(
        recipe,
        step,
        "peak_memory",
        tuple(float(record.peak_rss_bytes) for record in kept),
        tuple(record.run_id for record in kept),
        tuple(record.run_started_at for record in kept),
    )
