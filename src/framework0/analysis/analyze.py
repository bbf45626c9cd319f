"""``analyze``: run records in, an ``Analysis`` out: a table of figures per recipe and per step,
and the findings, most important first."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from framework0.analysis.findings import (
    Finding,
    Settings,
    anomalies,
    compared,
    flakiness,
    flaky_finding,
    ranked,
    segmented,
    shifts,
)
from framework0.analysis.series import (
    Series,
    display_names,
    recipe_key,
    run_durations,
    runs_by_recipe,
    step_durations,
    step_memory,
    steps_by_recipe,
)
from framework0.analysis.statistics import percentile, trend

if TYPE_CHECKING:
    from framework0.history import RunSummary, StepRun

#: a trend is named (slower, faster) only past this change and below this p-value
TREND_CHANGE = 0.05
TREND_P = 0.01


@dataclass(frozen=True, slots=True)
class RecipeStats:
    """One recipe over the runs analysed. Durations (seconds) are of the runs that succeeded;
    ``trend`` is the median of their last third against their first (0.1: 10% slower) when
    Kendall's test finds a trend (p below 0.01) of 5% or more, else 0."""

    recipe: str
    runs: int
    succeeded: int
    failed: int
    other: int  # cancelled, or still running
    success_rate: float | None
    duration_p50_s: float | None
    duration_p95_s: float | None
    trend: float
    first_run_at: float
    last_run_at: float


@dataclass(frozen=True, slots=True)
class StepStats:
    """One step of a recipe over the runs it has a record in: how often each outcome, its duration
    (runs that succeeded), CPU seconds and peak memory (bytes; process-wide for a step on a thread),
    ``retries`` (attempts beyond the first, within a run's session: a resume is no retry),
    ``cache_hits`` and flaky runs."""

    recipe: str
    step: str
    runs: int
    succeeded: int
    failed: int
    skipped: int
    cached: int
    success_rate: float | None
    duration_p50_s: float | None
    duration_p95_s: float | None
    trend: float
    cpu_p50_s: float | None
    peak_memory_p50_bytes: float | None
    peak_memory_max_bytes: int | None
    retries: int
    cache_hits: int
    flaky_runs: int
    flaky_rate: float


@dataclass(frozen=True, slots=True)
class Analysis:
    """What ``f0 analyze`` reports: per recipe and per step figures, and the findings, most
    important first. ``runs`` is how many runs were read; ``series``, the values each finding
    was looked for in (what the HTML export charts; not in ``to_dict``)."""

    runs: int
    recipes: tuple[RecipeStats, ...]
    steps: tuple[StepStats, ...]
    findings: tuple[Finding, ...]
    settings: Settings = field(default_factory=Settings)
    series: tuple[Series, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The JSON document (``f0 analyze --format json``)."""
        return {
            "runs": self.runs,
            "settings": asdict(self.settings),
            "recipes": [asdict(recipe) for recipe in self.recipes],
            "steps": [asdict(step) for step in self.steps],
            "findings": [finding.to_dict() for finding in self.findings],
        }


def analyze(
    runs: Sequence[RunSummary],
    steps: Sequence[StepRun],
    settings: Settings | None = None,
) -> Analysis:
    """The figures and findings of ``runs`` and their ``steps`` (``History.list_runs`` and
    ``History.step_runs`` over the same filters)."""
    settings = settings or Settings()
    keys = {recipe_key(run.test_id, run.recipe_path): (run.test_id, run.recipe_path) for run in runs}
    for record in steps:
        keys.setdefault(record.recipe_key, (record.test_id, record.recipe_path))
    names = display_names((key, test_id, path) for key, (test_id, path) in keys.items())

    recipes: list[RecipeStats] = []
    series: list[Series] = []
    for key, group in runs_by_recipe(runs).items():
        durations = run_durations(names[key], group)
        series.append(durations)
        recipes.append(_recipe_stats(names[key], group, durations))

    table: list[StepStats] = []
    findings: list[Finding] = []
    for (key, name), records in steps_by_recipe(steps).items():
        recipe = names[key]
        durations, memory = step_durations(recipe, name, records), step_memory(recipe, name, records)
        series.extend((durations, memory))
        flaky = flakiness(records)
        found = flaky_finding(recipe, name, flaky)
        if found is not None:
            findings.append(found)
        table.append(_step_stats(recipe, name, records, durations, memory, len(flaky.runs), flaky.rate))

    cut = [segmented(one, settings) for one in series]
    findings.extend(shifts(compared(cut, settings), settings))
    findings.extend(anomalies([one for one in cut if one.series.metric == "duration"], settings))
    positions = {(names[record.recipe_key], record.name): record.position for record in steps}  # the newest run's
    order = {name: index for index, name in enumerate(sorted(names.values()))}
    table.sort(key=lambda stats: (order[stats.recipe], positions[(stats.recipe, stats.step)], stats.step))
    recipes.sort(key=lambda stats: order[stats.recipe])
    return Analysis(
        runs=len(runs),
        recipes=tuple(recipes),
        steps=tuple(table),
        findings=tuple(ranked(findings)),
        settings=settings,
        series=tuple(series),
    )


def _named_trend(values: Sequence[float]) -> float:
    found = trend(values)
    if found is None or found.p_value >= TREND_P or abs(found.change) < TREND_CHANGE:
        return 0.0
    return found.change


def _recipe_stats(recipe: str, runs: Sequence[RunSummary], durations: Series) -> RecipeStats:
    succeeded = sum(run.status == "succeeded" for run in runs)
    failed = sum(run.status == "failed" for run in runs)
    finished = succeeded + failed
    return RecipeStats(
        recipe=recipe,
        runs=len(runs),
        succeeded=succeeded,
        failed=failed,
        other=len(runs) - finished,
        success_rate=succeeded / finished if finished else None,
        duration_p50_s=percentile(durations.values, 50),
        duration_p95_s=percentile(durations.values, 95),
        trend=_named_trend(durations.values),
        first_run_at=runs[0].started_at,
        last_run_at=runs[-1].started_at,
    )


def _step_stats(
    recipe: str,
    step: str,
    records: Sequence[StepRun],
    durations: Series,
    memory: Series,
    flaky_runs: int,
    flaky_rate: float,
) -> StepStats:
    counts = {status: 0 for status in ("succeeded", "failed", "skipped", "cached")}
    for record in records:
        if record.status in counts:
            counts[record.status] += 1
    finished = counts["succeeded"] + counts["failed"]
    cpu = [record.cpu_s for record in records if record.status == "succeeded"]
    return StepStats(
        recipe=recipe,
        step=step,
        runs=len(records),
        succeeded=counts["succeeded"],
        failed=counts["failed"],
        skipped=counts["skipped"],
        cached=counts["cached"],
        success_rate=counts["succeeded"] / finished if finished else None,
        duration_p50_s=percentile(durations.values, 50),
        duration_p95_s=percentile(durations.values, 95),
        trend=_named_trend(durations.values),
        cpu_p50_s=percentile(cpu, 50),
        peak_memory_p50_bytes=percentile(memory.values, 50),
        peak_memory_max_bytes=int(max(memory.values)) if memory.values else None,
        retries=sum(record.retries for record in records),
        cache_hits=counts["cached"],
        flaky_runs=flaky_runs,
        flaky_rate=flaky_rate,
    )
