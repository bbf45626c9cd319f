"""The statistics an analysis rests on, each from a library that is known to be right: SciPy's
Mann-Whitney U, Kendall's tau and Benjamini-Hochberg, ruptures' binary segmentation, NumPy's
percentiles. Values in, values out; nothing here reads a store or a clock.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import ruptures
from scipy import stats

#: a robust z-score's scale: the median absolute deviation of a normal sample is 0.6745 sigma
MAD_TO_SIGMA = 1.4826

#: the shortest segment a change point may leave on either side of it
MIN_SEGMENT = 5

#: binary segmentation of a long series tries splits on a grid of at most this many points (every
#: sample of 10,000 takes a second); ``best_split`` then finds the exact sample
_SPLITS_TRIED = 1_000


@dataclass(frozen=True, slots=True)
class Comparison:
    """Two samples compared: their sizes and medians, ``ratio`` (the second's median over the
    first's), the two-sided Mann-Whitney U ``p_value``, and Cliff's delta (from -1: every value of
    the second is below every value of the first, to 1: every one above)."""

    n_before: int
    n_after: int
    median_before: float
    median_after: float
    ratio: float
    p_value: float
    cliffs_delta: float


def compare(before: Sequence[float], after: Sequence[float]) -> Comparison:
    """Whether ``after`` differs from ``before``: Mann-Whitney U (two-sided; no assumption about the
    distributions, which run times never follow) and its effect size, Cliff's delta."""
    first, second = np.asarray(before, dtype=float), np.asarray(after, dtype=float)
    median_before, median_after = float(np.median(first)), float(np.median(second))
    if np.ptp(np.concatenate([first, second])) == 0:  # every value the same: nothing differs
        return Comparison(len(first), len(second), median_before, median_after, 1.0, 1.0, 0.0)
    test = stats.mannwhitneyu(second, first, alternative="two-sided")
    delta = 2 * float(test.statistic) / (len(first) * len(second)) - 1
    return Comparison(
        n_before=len(first),
        n_after=len(second),
        median_before=median_before,
        median_after=median_after,
        ratio=ratio(median_after, median_before),
        p_value=float(test.pvalue),
        cliffs_delta=delta,
    )


def ratio(value: float, reference: float) -> float:
    """``value / reference``, with 0 over 0 as 1 and anything over 0 as infinite."""
    if reference == 0:
        return 1.0 if value == 0 else math.inf
    return value / reference


def adjusted(p_values: Sequence[float]) -> list[float]:
    """Benjamini-Hochberg adjusted p-values: among the findings whose adjusted p is below q, at
    most a fraction q are expected to be noise, however many tests an analysis makes (and when
    every test is noise, the chance of any finding at all is at most q)."""
    if not p_values:
        return []
    return [float(p) for p in stats.false_discovery_control(np.asarray(p_values, dtype=float), method="bh")]


def change_points(values: Sequence[float], *, min_segment: int = MIN_SEGMENT) -> list[int]:
    """Where the level of ``values`` (positive, e.g. durations) shifts: the index of the first value
    of each new segment. Binary segmentation (ruptures) of the logarithms, so a change is relative
    (2x slower is the same change for a 10 ms and a 10 s step), with a BIC-like penalty from the
    noise of the series itself (its first differences' median absolute deviation). Candidates: a
    caller confirms each with ``compare`` and places it with ``best_split``."""
    logs = np.log(np.maximum(np.asarray(values, dtype=float), 1e-9))
    count = len(logs)
    if count < 2 * min_segment:
        return []
    steps = np.diff(logs)
    sigma = MAD_TO_SIGMA * float(np.median(np.abs(steps - np.median(steps)))) / math.sqrt(2)
    if sigma == 0:
        sigma = float(np.std(steps)) / math.sqrt(2)
    if sigma == 0:
        return []
    jump = max(1, count // _SPLITS_TRIED)
    search = ruptures.Binseg(custom_cost=_SummedL2(), min_size=max(min_segment, jump), jump=jump)
    ends = search.fit(logs.reshape(-1, 1)).predict(pen=3 * sigma**2 * math.log(count))
    return [end for end in ends[:-1] if min_segment <= end <= count - min_segment]


class _SummedL2(ruptures.base.BaseCost):  # type: ignore[misc]
    """ruptures' least squared deviation ("l2") from running sums: each segment's cost in constant
    time, where ruptures' own computes a variance over the segment (a series of 10,000 runs: 50 ms
    a series instead of 2 s)."""

    model = "l2_summed"
    min_size = 2

    def fit(self, signal: np.ndarray) -> _SummedL2:
        self.signal = np.asarray(signal, dtype=float).reshape(-1, 1)  # (ruptures reads its length)
        values = self.signal.reshape(-1)
        self.sums = np.concatenate([[0.0], np.cumsum(values)])
        self.squares = np.concatenate([[0.0], np.cumsum(values**2)])
        return self

    def error(self, start: int, end: int) -> float:
        total = self.sums[end] - self.sums[start]
        return float(self.squares[end] - self.squares[start] - total * total / (end - start))


def best_split(values: Sequence[float], start: int, end: int, min_segment: int = MIN_SEGMENT) -> int:
    """Where splitting ``values[start:end]`` in two (each side at least ``min_segment`` long) leaves
    the least squared error of the logarithms: the exact run a change belongs at between its
    neighbouring change points."""
    logs = np.log(np.maximum(np.asarray(values[start:end], dtype=float), 1e-9))
    count = len(logs)
    if count < 2 * min_segment:
        return start + count // 2
    sums, squares = np.cumsum(logs), np.cumsum(logs**2)
    left = np.arange(min_segment, count - min_segment + 1)
    left_sum, right_sum = sums[left - 1], sums[-1] - sums[left - 1]
    left_sq, right_sq = squares[left - 1], squares[-1] - squares[left - 1]
    error = left_sq - left_sum**2 / left + right_sq - right_sum**2 / (count - left)
    return start + int(left[int(np.argmin(error))])


def robust_z(values: Sequence[float]) -> np.ndarray:
    """Each value's distance from the median of ``values`` (on a log scale: durations and memory are
    skewed), in robust standard deviations (the median absolute deviation, scaled). Zeros when the
    values do not vary."""
    logs = np.log(np.maximum(np.asarray(values, dtype=float), 1e-9))
    center = np.median(logs)
    spread = MAD_TO_SIGMA * float(np.median(np.abs(logs - center)))
    if spread == 0:  # more than half the values equal: the mean absolute deviation instead
        spread = 1.2533 * float(np.mean(np.abs(logs - center)))
    if spread == 0:
        return np.zeros(len(logs))
    return np.asarray((logs - center) / spread)


@dataclass(frozen=True, slots=True)
class Trend:
    """How a series moved over its runs: ``change`` is the median of its last third over the median
    of its first third, minus 1 (0.12: 12% higher); ``p_value`` is Kendall's tau test of a monotonic
    trend against run order."""

    change: float
    p_value: float
    tau: float


def trend(values: Sequence[float]) -> Trend | None:
    """The series' trend, or None with fewer than 9 values (a third of them is too few)."""
    series = np.asarray(values, dtype=float)
    if len(series) < 9:
        return None
    third = len(series) // 3
    change = ratio(float(np.median(series[-third:])), float(np.median(series[:third]))) - 1
    if np.ptp(series) == 0:
        return Trend(change, 1.0, 0.0)
    test = stats.kendalltau(np.arange(len(series)), series)
    return Trend(change, float(test.pvalue), float(test.statistic))


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0-100) of ``values``, None when there are none."""
    if len(values) == 0:
        return None
    return float(np.percentile(np.asarray(values, dtype=float), q))
