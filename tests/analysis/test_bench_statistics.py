"""``f0 bench``'s arithmetic on seeded samples: a step slowed by a known factor is slower, with an
interval around that factor; an unchanged one is the same, nearly always."""

from __future__ import annotations

import random

import pytest

from framework0.analysis.bench import Samples, report


def samples(seed: int, *, work: float = 1.0, noise: float = 0.05, runs: int = 10) -> Samples:
    rng = random.Random(seed)

    def draw(seconds: float) -> tuple[float, ...]:
        return tuple(seconds * rng.lognormvariate(0.0, noise) for _ in range(runs))

    setup, steady = draw(0.5), draw(0.3)
    working = draw(work)
    return Samples(
        tuple(a + b + c for a, b, c in zip(setup, steady, working, strict=True)),
        {
            "setup": setup,
            "steady": steady,
            "work": working,
        },
    )


def test_a_step_slowed_by_a_known_factor_is_slower_with_an_interval_around_that_factor() -> None:
    result = report(samples(2, work=2.0), samples(1), threshold=0.1)

    work = next(change for change in result.changes if change.step == "work")
    assert work.verdict == "slower"
    assert work.ratio == pytest.approx(2.0, rel=0.1)
    assert work.ratio is not None and work.ratio_low is not None and work.ratio_high is not None
    assert work.ratio_low < work.ratio < work.ratio_high
    assert 1.8 < work.ratio_low and work.ratio_high < 2.2
    assert [change.step for change in result.regressions] == [None, "work"]  # None: the whole run


def test_unchanged_steps_are_the_same() -> None:
    result = report(samples(4), samples(3), threshold=0.1)

    assert {change.step: change.verdict for change in result.changes} == {
        None: "same",
        "setup": "same",
        "steady": "same",
        "work": "same",
    }
    assert result.regressions == []


def test_a_significant_change_smaller_than_the_threshold_is_not_a_regression() -> None:
    before, after = samples(5, noise=0.01, runs=20), samples(6, work=1.06, noise=0.01, runs=20)

    assert report(after, before, threshold=0.1).regressions == []
    assert [change.step for change in report(after, before, threshold=0.05).regressions] == ["work"]


def test_a_step_that_got_faster_is_faster_and_fails_nothing() -> None:
    result = report(samples(8, work=0.5), samples(7), threshold=0.1)

    assert next(change for change in result.changes if change.step == "work").verdict == "faster"
    assert result.regressions == []


def test_steps_only_in_one_of_the_benches_are_new_or_gone() -> None:
    before, after = samples(9), samples(10)
    renamed = Samples(
        after.run, {"setup": after.steps["setup"], "steady": after.steps["steady"], "load": after.steps["work"]}
    )

    verdicts = {change.step: change.verdict for change in report(renamed, before).changes}

    assert (verdicts["load"], verdicts["work"]) == ("new", "gone")


def test_samples_survive_the_json_they_are_stored_as() -> None:
    original = samples(11)

    assert Samples.from_dict(original.to_dict()) == original


def test_benches_of_the_same_recipe_are_nearly_never_called_slower() -> None:
    """200 pairs of benches drawn from the same distribution (10 runs each, 5% noise)."""
    slower = [seed for seed in range(200) if report(samples(2 * seed + 1000), samples(2 * seed + 1001)).regressions]

    assert len(slower) <= 5, slower


def test_a_step_in_only_one_run_of_a_bench_is_not_compared() -> None:
    before, after = samples(12), samples(13)
    once = Samples(after.run, {**after.steps, "work": after.steps["work"][:1]})

    verdicts = {change.step: change.verdict for change in report(once, before).changes}

    assert verdicts["work"] == "too few runs"


def test_steps_that_take_no_measurable_time_compare_as_the_same_and_stay_json() -> None:
    import json

    zeros = Samples((0.01,) * 5, {"noop": (0.0,) * 5})
    mixed = Samples((0.01,) * 5, {"noop": (0.0, 1e-6, 0.0, 0.0, 2e-6)})

    result = report(mixed, zeros)

    assert {change.step: change.verdict for change in result.changes} == {None: "same", "noop": "same"}
    json.dumps(result.to_dict(), allow_nan=False)
