"""Findings: what the history shows, each as one plain sentence with the runs and numbers behind
it. Regressions and improvements (the recent runs against the earlier ones), change points (the
run where a step got slower or faster), anomalies (single runs far outside the usual range) and
flaky steps (passed on retry, or passed and failed on the same cache key)."""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any

from framework0.analysis.series import Series
from framework0.analysis.statistics import (
    MIN_SEGMENT,
    Comparison,
    adjusted,
    best_split,
    change_points,
    compare,
    robust_z,
)
from framework0.durations import format_duration

#: how a kind of finding ranks against the others (higher first)
KIND_RANK = {"regression": 5, "flaky": 4, "anomaly": 3, "change_point": 2, "improvement": 1}

#: the smallest absolute change worth a finding, per metric: timer jitter and allocator noise
ABSOLUTE_FLOOR = {"duration": 0.001, "peak_memory": 1024 * 1024}

#: the smallest effect size (Cliff's delta, either way) a regression or change point needs
MIN_DELTA = 0.33


@dataclass(frozen=True, slots=True)
class Settings:
    """What an analysis reports. ``threshold``: the smallest relative change reported (0.2: 20%
    slower or faster); ``recent``: how many of a series' newest runs are compared with the ones
    before (None: a fifth of them, 5 to 20); ``false_discovery``: the Benjamini-Hochberg rate the
    tests are held to; ``anomaly_z`` and ``anomaly_ratio``: how far (robust z-score, and times the
    median) a single run must be to be an anomaly."""

    threshold: float = 0.2
    recent: int | None = None
    false_discovery: float = 0.01
    anomaly_z: float = 5.0
    anomaly_ratio: float = 1.5
    min_baseline: int = 8
    min_recent: int = 5


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing the history shows. ``kind``: regression, improvement, change_point, anomaly or
    flaky; ``step`` None for the whole run; ``metric``: duration, peak_memory or status;
    ``summary``: the sentence; ``runs``: the runs that show it, newest first; ``evidence``: the
    numbers and the test behind it (JSON-ready)."""

    kind: str
    recipe: str
    step: str | None
    metric: str
    summary: str
    runs: tuple[str, ...]
    evidence: Mapping[str, Any] = field(default_factory=dict)
    importance: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "recipe": self.recipe,
            "step": self.step,
            "metric": self.metric,
            "summary": self.summary,
            "runs": list(self.runs),
            "evidence": dict(self.evidence),
        }


def ranked(findings: Sequence[Finding]) -> list[Finding]:
    """Most important first: by kind, then by how large the effect is."""
    return sorted(
        findings, key=lambda found: (-KIND_RANK[found.kind], -found.importance, found.recipe, found.step or "")
    )


# -- regressions and change points -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Candidate:
    """A comparison waiting for the p-value adjustment over every test of the analysis."""

    series: Series
    comparison: Comparison
    start: int  # index of the first value of the "after" side
    end: int  # one past its last
    before_start: int
    kind: str  # "recent" or "change"


@dataclass(frozen=True, slots=True)
class Segmented:
    """A series and where its level changes: ``bounds`` starts with 0 and ends with its length;
    each pair of neighbours is one segment at one level."""

    series: Series
    bounds: tuple[int, ...]

    def segments(self) -> list[tuple[int, int]]:
        return list(zip(self.bounds[:-1], self.bounds[1:], strict=True))


def segmented(series: Series, settings: Settings) -> Segmented:
    """``series`` cut where its level changes: the change points ruptures finds, less each one whose
    two sides do not differ (the weakest first, until all that are left hold), each then moved to
    the best split between its neighbours (a spurious split next to a real one can pull it off by a
    run)."""
    values, count = series.values, len(series.values)
    bounds = [0, *change_points(values), count]
    while len(bounds) > 2:
        weakest, weakest_p = 0, -1.0
        for i in range(1, len(bounds) - 1):
            comparison = _split_comparison(values, bounds[i - 1], bounds[i], bounds[i + 1])
            holds = comparison.p_value <= settings.false_discovery and _changes_enough(
                comparison, series.metric, settings
            )
            if not holds and comparison.p_value > weakest_p:
                weakest, weakest_p = i, comparison.p_value
        if not weakest:
            break
        del bounds[weakest]
    for i in range(1, len(bounds) - 1):
        bounds[i] = best_split(values, bounds[i - 1], bounds[i + 1], MIN_SEGMENT)
    return Segmented(series, tuple(bounds))


def _split_comparison(values: Sequence[float], start: int, split: int, end: int) -> Comparison:
    """The two sides of a change point compared. The split was chosen where they differ most, so its
    p-value is taken over every position it could have been at (Bonferroni), or noise would pass."""
    comparison = compare(values[start:split], values[split:end])
    positions = max(1, len(values) - 2 * MIN_SEGMENT + 1)
    return replace(comparison, p_value=min(1.0, comparison.p_value * positions))


def compared(cut: Sequence[Segmented], settings: Settings) -> list[_Candidate]:
    """Every test the analysis makes: each series' recent runs against the runs before, and each
    change point against the segment before it."""
    candidates: list[_Candidate] = []
    for one in cut:
        series = one.series
        count = len(series.values)
        recent = settings.recent or min(20, max(settings.min_recent, count // 5))
        if count - recent >= settings.min_baseline and recent >= settings.min_recent:
            comparison = compare(series.values[:-recent], series.values[-recent:])
            candidates.append(_Candidate(series, comparison, count - recent, count, 0, "recent"))
        bounds = one.bounds
        for i in range(1, len(bounds) - 1):
            comparison = _split_comparison(series.values, bounds[i - 1], bounds[i], bounds[i + 1])
            candidates.append(_Candidate(series, comparison, bounds[i], bounds[i + 1], bounds[i - 1], "change"))
    return candidates


def shifts(candidates: Sequence[_Candidate], settings: Settings) -> list[Finding]:
    """The candidates that hold after adjusting for the number of tests and that change enough:
    regressions, improvements and change points. A change point that explains a regression or an
    improvement (the last one of that series, the same way) is told in it rather than apart."""
    p_adjusted = adjusted([candidate.comparison.p_value for candidate in candidates])
    held = [
        (candidate, p)
        for candidate, p in zip(candidates, p_adjusted, strict=True)
        if p <= settings.false_discovery and _large_enough(candidate, settings)
    ]
    last_change: dict[tuple[str, str | None, str, bool], tuple[_Candidate, float]] = {}
    for candidate, p in held:
        if candidate.kind == "change":
            key = _series_key(candidate.series) + (candidate.comparison.ratio > 1,)
            if key not in last_change or candidate.start > last_change[key][0].start:
                last_change[key] = (candidate, p)
    findings: list[Finding] = []
    explained: set[int] = set()
    for candidate, p in held:
        if candidate.kind != "recent":
            continue
        change = last_change.get(_series_key(candidate.series) + (candidate.comparison.ratio > 1,))
        if change is not None:  # before the recent runs or among them: the regression tells it
            explained.add(id(change[0]))
        findings.append(_recent_finding(candidate, p, change[0] if change is not None else None))
    for candidate, p in held:
        if candidate.kind == "change" and id(candidate) not in explained:
            findings.append(_change_finding(candidate, p))
    return findings


def _series_key(series: Series) -> tuple[str, str | None, str]:
    return (series.recipe, series.step, series.metric)


def _large_enough(candidate: _Candidate, settings: Settings) -> bool:
    return _changes_enough(candidate.comparison, candidate.series.metric, settings)


def _changes_enough(comparison: Comparison, metric: str, settings: Settings) -> bool:
    """Whether a change is worth telling: by ``threshold`` or more either way, by more than the
    metric's jitter, and with a medium effect size or larger in the same direction."""
    ratio, delta = comparison.ratio, comparison.cliffs_delta
    slower, faster = ratio >= 1 + settings.threshold, ratio <= 1 / (1 + settings.threshold)
    absolute = abs(comparison.median_after - comparison.median_before) >= ABSOLUTE_FLOOR[metric]
    # the medians and the ranks must agree on the direction: two-level (warm and cold) durations
    # can move the median up while most values went down
    agrees = (slower and delta >= MIN_DELTA) or (faster and delta <= -MIN_DELTA)
    return absolute and agrees


def _recent_finding(candidate: _Candidate, p: float, change: _Candidate | None) -> Finding:
    series, comparison = candidate.series, candidate.comparison
    slower = comparison.ratio > 1
    kind = "regression" if slower else "improvement"
    what = _subject(series)
    amount = _relative(comparison.ratio, series.metric)
    since = ""
    if change is not None:
        since = f" It changed at run {series.runs[change.start]} ({_when(series.started[change.start])})."
    summary = (
        f"{what} {amount}: median {_value(comparison.median_after, series.metric)} over the last "
        f"{comparison.n_after} runs against {_value(comparison.median_before, series.metric)} over the "
        f"{comparison.n_before} before (Mann-Whitney U p = {_p(p)}, "
        f"Cliff's delta {comparison.cliffs_delta:+.2f}).{since}"
    )
    runs = tuple(reversed(series.runs[candidate.start : candidate.end]))
    evidence = _comparison_evidence(comparison, p, series.runs[: candidate.start], series.runs[candidate.start :])
    if change is not None:
        evidence["changed_at_run"] = series.runs[change.start]
    return Finding(
        kind, series.recipe, series.step, series.metric, summary, runs, evidence, abs(math.log(comparison.ratio))
    )


def _change_finding(candidate: _Candidate, p: float) -> Finding:
    series, comparison = candidate.series, candidate.comparison
    run = series.runs[candidate.start]
    what = _subject(series)
    became = "became " + _relative(comparison.ratio, series.metric).replace("got ", "")
    summary = (
        f"{what} {became} from run {run} ({_when(series.started[candidate.start])}): median "
        f"{_value(comparison.median_before, series.metric)} over the {comparison.n_before} runs before, "
        f"{_value(comparison.median_after, series.metric)} over the {comparison.n_after} from it "
        f"(Mann-Whitney U p = {_p(p)}, Cliff's delta {comparison.cliffs_delta:+.2f})."
    )
    evidence = _comparison_evidence(
        comparison,
        p,
        series.runs[candidate.before_start : candidate.start],
        series.runs[candidate.start : candidate.end],
    )
    evidence["changed_at_run"] = run
    importance = abs(math.log(comparison.ratio)) if comparison.ratio > 0 else 0.0
    return Finding("change_point", series.recipe, series.step, series.metric, summary, (run,), evidence, importance)


def _comparison_evidence(
    comparison: Comparison, p: float, before: Sequence[str], after: Sequence[str]
) -> dict[str, Any]:
    return {
        "test": "Mann-Whitney U (two-sided), Benjamini-Hochberg adjusted",
        "p_value": comparison.p_value,
        "p_adjusted": p,
        "effect_size": "Cliff's delta",
        "cliffs_delta": comparison.cliffs_delta,
        "ratio": comparison.ratio,
        "median_before": comparison.median_before,
        "median_after": comparison.median_after,
        "n_before": comparison.n_before,
        "n_after": comparison.n_after,
        "runs_before": [before[0], before[-1]] if before else [],
        "runs_after": [after[0], after[-1]] if after else [],
    }


# -- anomalies --------------------------------------------------------------------------------------


def anomalies(cut: Sequence[Segmented], settings: Settings) -> list[Finding]:
    """Single runs far outside the usual range of their series at that time (within the segment
    between its change points, so that the runs after a lasting change are not each an anomaly): a
    robust z-score (median and median absolute deviation, on a log scale) beyond ``anomaly_z``,
    and at least ``anomaly_ratio`` times (or at most 1/``anomaly_ratio`` of) the median."""
    findings: list[Finding] = []
    for one in cut:
        series = one.series
        for start, end in one.segments():
            values = series.values[start:end]
            if len(values) < settings.min_baseline + 1:
                continue
            scores = robust_z(values)
            median = statistics.median(values)
            for offset, score in enumerate(scores):
                value = values[offset]
                times = value / median if median else math.inf
                far = times >= settings.anomaly_ratio or times <= 1 / settings.anomaly_ratio
                if abs(score) < settings.anomaly_z or not far or abs(value - median) < ABSOLUTE_FLOOR[series.metric]:
                    continue
                findings.append(_anomaly(series, start + offset, float(score), median, times, len(values)))
    return findings


def _anomaly(series: Series, index: int, score: float, median: float, times: float, compared: int) -> Finding:
    run, value = series.runs[index], series.values[index]
    how = f"{times:.1f}x" if times >= 1 else f"{times:.2f}x"
    summary = (
        f"Run {run} ({_when(series.started[index])}): {_subject(series, lower=True)} "
        f"{'took' if series.metric == 'duration' else 'peaked at'} {_value(value, series.metric)}, "
        f"{how} its median of {_value(median, series.metric)} over {compared} runs "
        f"(robust z-score {score:+.1f})."
    )
    evidence = {
        "test": "robust z-score (median absolute deviation, log scale)",
        "z": score,
        "value": value,
        "median": median,
        "ratio": times,
        "runs_compared": compared,
    }
    return Finding("anomaly", series.recipe, series.step, series.metric, summary, (run,), evidence, abs(score))


# -- flaky steps ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Flakiness:
    """A step's flaky runs: ``retried``, runs where it passed after failed attempts; ``flipped``,
    runs where it failed on a cache key (same code, args and inputs) it passed on in another run,
    with that run (``passed_in``); ``rate`` over the ``finished`` runs (passed or failed)."""

    retried: tuple[str, ...]
    flipped: tuple[str, ...]
    passed_in: dict[str, str]
    finished: int

    @property
    def runs(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys((*self.retried, *self.flipped)))

    @property
    def rate(self) -> float:
        return len(self.runs) / self.finished if self.finished else 0.0


def flakiness(records: Sequence[Any]) -> Flakiness:
    """``records`` (``StepRun``s of one step, in run order): which runs show it flaky, newest first."""
    finished = [record for record in records if record.status in ("succeeded", "failed")]
    retried = [record.run_id for record in finished if record.status == "succeeded" and record.failed_attempts > 0]
    passed_on: dict[str, list[str]] = {}
    for record in finished:
        if record.cache_key and record.status == "succeeded":
            passed_on.setdefault(record.cache_key, []).append(record.run_id)
    passed_in: dict[str, str] = {}
    for record in finished:
        if record.status == "failed" and record.cache_key in passed_on:
            passed_in[record.run_id] = passed_on[record.cache_key][-1]  # the newest pass on that key
    return Flakiness(
        retried=tuple(reversed(retried)),
        flipped=tuple(reversed(passed_in)),
        passed_in=passed_in,
        finished=len(finished),
    )


def flaky_finding(recipe: str, step: str, found: Flakiness) -> Finding | None:
    """The finding for a step with any flaky run, None for one with none."""
    if not found.runs:
        return None
    parts = []
    if found.retried:
        parts.append(f"it failed then passed on retry in {_runs(found.retried)}")
    if found.flipped:
        pairs = [f"{run} (passed in {found.passed_in[run]})" for run in found.flipped[:3]]
        more = f" and {len(found.flipped) - 3} more" if len(found.flipped) > 3 else ""
        parts.append(
            f"it failed with the cache key (same code, args and inputs) it passed with elsewhere in "
            f"{len(found.flipped)} run{'s' if len(found.flipped) != 1 else ''}: {', '.join(pairs)}{more}"
        )
    summary = (
        f"Step {step} of {recipe} is flaky in {len(found.runs)} of its {found.finished} runs ({found.rate:.1%}): "
        f"{'; '.join(parts)}."
    )
    evidence = {
        "test": "failed attempts before a pass; a failure on a cache key that passed in another run",
        "rate": found.rate,
        "finished_runs": found.finished,
        "passed_on_retry": list(found.retried),
        "failed_on_a_passing_key": [{"run": run, "passed_in": found.passed_in[run]} for run in found.flipped],
    }
    return Finding("flaky", recipe, step, "status", summary, found.runs, evidence, found.rate)


def _runs(runs: Sequence[str]) -> str:
    shown = ", ".join(runs[:5]) + (f" and {len(runs) - 5} more" if len(runs) > 5 else "")
    return f"{len(runs)} run{'s' if len(runs) != 1 else ''} ({shown})"


# -- wording ----------------------------------------------------------------------------------------


def _subject(series: Series, *, lower: bool = False) -> str:
    metric = "" if series.metric == "duration" else "'s peak memory"
    if series.step is None:
        text = f"the whole run of {series.recipe}" if series.metric == "duration" else f"{series.recipe}{metric}"
    else:
        text = f"step {series.step} of {series.recipe}{metric}"
    return text if lower else text[0].upper() + text[1:]


def _relative(ratio: float, metric: str) -> str:
    if metric == "duration":
        return f"got {ratio - 1:.0%} slower" if ratio > 1 else f"got {1 - ratio:.0%} faster"
    return f"got {ratio - 1:.0%} larger" if ratio > 1 else f"got {1 - ratio:.0%} smaller"


def _value(value: float, metric: str) -> str:
    if metric == "duration":
        return format_duration(value)
    return f"{value / (1024 * 1024):.1f} MiB"


def _when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _p(value: float) -> str:
    return f"{value:.2g}"
