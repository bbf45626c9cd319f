"""``f0 bench``'s arithmetic: the timings of a recipe run N times, and how they compare with a saved
baseline: per step and for the whole run, the ratio of medians with a bootstrap confidence
interval, Mann-Whitney U adjusted over the steps (Benjamini-Hochberg), and a verdict."""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import stats as scipy_stats

from framework0.analysis.series import SHORTEST_S
from framework0.analysis.statistics import adjusted, compare

#: the false discovery rate a slower or faster verdict is held to
ALPHA = 0.05

#: the resamples of the bootstrap confidence interval of a ratio of medians
RESAMPLES = 2_000


@dataclass(frozen=True, slots=True)
class Samples:
    """What one bench measured: the whole run's seconds, run by run, and each step's."""

    run: tuple[float, ...]
    steps: Mapping[str, tuple[float, ...]]

    def to_dict(self) -> dict[str, Any]:
        return {"run": list(self.run), "steps": {name: list(values) for name, values in self.steps.items()}}

    @classmethod
    def from_dict(cls, document: Mapping[str, Any]) -> Samples:
        return cls(
            run=tuple(float(value) for value in document["run"]),
            steps={str(name): tuple(float(value) for value in values) for name, values in document["steps"].items()},
        )


@dataclass(frozen=True, slots=True)
class Timing:
    """One step's (``step`` None: the whole run's) seconds over the runs of a bench: median, the
    spread (interquartile range, min and max)."""

    step: str | None
    runs: int
    median_s: float
    iqr_s: float
    min_s: float
    max_s: float


@dataclass(frozen=True, slots=True)
class Change:
    """A step (``step`` None: the whole run) now against the baseline: the medians, ``ratio`` (now
    over baseline) with its 95% bootstrap interval, Mann-Whitney U's p-value before and after the
    adjustment over every step, and the ``verdict``: slower or faster (significant, and past the
    threshold), same, new (not in the baseline) or gone (not run now)."""

    step: str | None
    verdict: str
    baseline_median_s: float | None
    median_s: float | None
    ratio: float | None
    ratio_low: float | None
    ratio_high: float | None
    p_value: float | None
    p_adjusted: float | None


@dataclass(frozen=True, slots=True)
class BenchReport:
    """A bench: the timings, and the changes against a baseline when one was given."""

    timings: tuple[Timing, ...]
    changes: tuple[Change, ...]
    threshold: float

    @property
    def regressions(self) -> list[Change]:
        return [change for change in self.changes if change.verdict == "slower"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "threshold": self.threshold,
            "timings": [asdict(timing) for timing in self.timings],
            "changes": [asdict(change) for change in self.changes],
            "regressions": [change.step for change in self.regressions],
        }


def timings(samples: Samples) -> list[Timing]:
    """The whole run's timing, then each step's."""
    named: list[tuple[str | None, Sequence[float]]] = [(None, samples.run), *samples.steps.items()]
    return [_timing(step, values) for step, values in named if values]


def _timing(step: str | None, values: Sequence[float]) -> Timing:
    quartiles = np.percentile(np.asarray(values, dtype=float), [25, 75])
    return Timing(
        step=step,
        runs=len(values),
        median_s=statistics.median(values),
        iqr_s=float(quartiles[1] - quartiles[0]),
        min_s=min(values),
        max_s=max(values),
    )


def report(samples: Samples, baseline: Samples | None = None, *, threshold: float = 0.1) -> BenchReport:
    """The bench's timings, and with ``baseline`` what changed: slower or faster when the adjusted
    p-value is at most ``ALPHA`` and the medians differ by ``threshold`` or more (0.1: 10%)."""
    changes = compare_samples(baseline, samples, threshold=threshold) if baseline is not None else []
    return BenchReport(tuple(timings(samples)), tuple(changes), threshold)


def compare_samples(baseline: Samples, samples: Samples, *, threshold: float) -> list[Change]:
    """Each step of either bench (the whole run first), compared."""
    names: list[str | None] = [None, *samples.steps, *(name for name in baseline.steps if name not in samples.steps)]
    before: dict[str | None, Sequence[float]] = {None: _floored(baseline.run)}
    before.update((name, _floored(values)) for name, values in baseline.steps.items())
    after: dict[str | None, Sequence[float]] = {None: _floored(samples.run)}
    after.update((name, _floored(values)) for name, values in samples.steps.items())
    tested = [name for name in names if len(before.get(name) or ()) >= 2 and len(after.get(name) or ()) >= 2]
    comparisons = {name: compare(before[name], after[name]) for name in tested}
    p_adjusted = dict(zip(tested, adjusted([comparisons[name].p_value for name in tested]), strict=True))
    changes: list[Change] = []
    for name in names:
        old, new = before.get(name), after.get(name)
        if name not in comparisons:
            # not in one of the benches, or in only one of its runs (a step its condition skipped)
            verdict = "new" if not old else "gone" if not new else "too few runs"
            changes.append(
                Change(
                    name,
                    verdict,
                    statistics.median(old) if old else None,
                    statistics.median(new) if new else None,
                    None,
                    None,
                    None,
                    None,
                    None,
                )
            )
            continue
        comparison, p = comparisons[name], p_adjusted[name]
        low, high = _ratio_interval(before[name], after[name])
        slower = comparison.ratio >= 1 + threshold
        faster = comparison.ratio <= 1 / (1 + threshold)
        verdict = "slower" if p <= ALPHA and slower else "faster" if p <= ALPHA and faster else "same"
        changes.append(
            Change(
                name,
                verdict,
                comparison.median_before,
                comparison.median_after,
                comparison.ratio,
                low,
                high,
                comparison.p_value,
                p,
            )
        )
    return changes


def _floored(values: Sequence[float]) -> tuple[float, ...]:
    """Seconds of at least a microsecond: a no-op step's 0 s would make its ratio infinite."""
    return tuple(max(value, SHORTEST_S) for value in values)


def _ratio_interval(old: Sequence[float], new: Sequence[float]) -> tuple[float, float]:
    """The 95% percentile bootstrap interval of median(new) / median(old) (seeded: the same samples
    give the same interval)."""
    first, second = np.asarray(old, dtype=float), np.asarray(new, dtype=float)
    point = float(np.median(second) / np.median(first)) if np.median(first) else float("inf")
    if np.ptp(first) == 0 and np.ptp(second) == 0:
        return point, point

    def ratio_of_medians(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
        return np.asarray(np.median(b, axis=axis) / np.median(a, axis=axis))

    result = scipy_stats.bootstrap(
        (first, second),
        ratio_of_medians,
        n_resamples=RESAMPLES,
        vectorized=True,
        method="percentile",
        rng=np.random.default_rng(0),
    )
    return float(result.confidence_interval.low), float(result.confidence_interval.high)
