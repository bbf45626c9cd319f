"""What an analysis finds in seeded synthetic histories with known events, and that it finds
nothing in histories of pure noise."""

from __future__ import annotations

import dataclasses

import pytest
from tests.analysis.synthetic_history import Step, constant, make_history, slower_from, spike

from framework0.analysis.analyze import Analysis, analyze
from framework0.analysis.findings import Finding, Settings


def steady(*names: str) -> list[Step]:
    return [Step(name, constant(0.5 + index)) for index, name in enumerate(names)]


def findings_of(analysis: Analysis, kind: str, step: str | None = "any") -> list[Finding]:
    return [f for f in analysis.findings if f.kind == kind and (step == "any" or f.step == step)]


def test_a_step_that_got_slower_lately_is_a_regression_naming_its_recent_runs_and_where_it_changed() -> None:
    history = make_history([*steady("extract"), Step("load", slower_from(100, 1.0, 1.5))], runs=120, seed=1)

    [regression] = findings_of(analyze(history.runs, history.steps), "regression", "load")

    assert regression.runs == tuple(history.run_id(index) for index in range(119, 99, -1))
    assert regression.evidence["changed_at_run"] == history.run_id(100)
    assert regression.evidence["ratio"] == pytest.approx(1.5, rel=0.1)
    assert regression.evidence["p_adjusted"] < 0.01
    assert "Step load of ETL-001 got" in regression.summary and "slower" in regression.summary
    assert "Mann-Whitney U" in regression.summary and "Cliff's delta" in regression.summary


@pytest.mark.parametrize("seed", range(5))
def test_a_step_that_was_slow_for_a_while_has_change_points_at_the_runs_where_it_changed(seed: int) -> None:
    # (5% noise: at 10%, one run in a few hundred falls midway between the levels, and the best
    # split, Dynp's exact one too, may then put it on either side)
    history = make_history(
        [*steady("extract"), Step("load", lambda run: 1.8 if 40 <= run < 80 else 1.0)], runs=120, seed=seed, noise=0.05
    )

    changes = findings_of(analyze(history.runs, history.steps), "change_point", "load")

    assert sorted((f.runs, f.evidence["ratio"] > 1) for f in changes) == sorted(
        [((history.run_id(40),), True), ((history.run_id(80),), False)]
    )
    slower = next(f for f in changes if f.evidence["ratio"] > 1)
    assert f"slower from run {history.run_id(40)}" in slower.summary


def test_a_single_run_far_outside_the_usual_range_is_an_anomaly_naming_that_run() -> None:
    history = make_history([*steady("extract"), Step("load", spike(57, 1.0, 6.0))], runs=100, seed=2)

    [anomaly] = findings_of(analyze(history.runs, history.steps), "anomaly", "load")

    assert anomaly.runs == (history.run_id(57),)
    assert anomaly.evidence["z"] > 5
    assert anomaly.evidence["ratio"] == pytest.approx(6.0, rel=0.3)
    assert f"Run {history.run_id(57)}" in anomaly.summary


def test_a_step_that_passes_on_retry_is_flaky_with_the_rate_and_the_runs_that_show_it() -> None:
    history = make_history([*steady("extract"), Step("fetch", constant(0.3), retried=frozenset({12, 55, 90}))], seed=3)

    [flaky] = findings_of(analyze(history.runs, history.steps), "flaky", "fetch")

    assert flaky.runs == (history.run_id(90), history.run_id(55), history.run_id(12))
    assert flaky.evidence["rate"] == pytest.approx(3 / 120)
    assert "failed then passed on retry in 3 runs" in flaky.summary


def test_a_step_that_fails_on_a_cache_key_it_passed_with_is_flaky_naming_both_runs() -> None:
    history = make_history(
        [*steady("extract"), Step("score", constant(0.3), flips=frozenset({33}))], seed=4, cache_keys=True
    )

    [flaky] = findings_of(analyze(history.runs, history.steps), "flaky", "score")

    assert flaky.runs == (history.run_id(33),)
    assert flaky.evidence["failed_on_a_passing_key"] == [{"run": history.run_id(33), "passed_in": history.run_id(119)}]


def test_a_step_whose_memory_grew_is_a_regression_of_its_peak_memory() -> None:
    grows = Step("load", constant(1.0), memory_mib=lambda run: 400.0 if run >= 100 else 200.0)
    history = make_history([*steady("extract"), grows], runs=120, seed=5)

    [regression] = findings_of(analyze(history.runs, history.steps), "regression", "load")

    assert regression.metric == "peak_memory"
    assert "peak memory got" in regression.summary and "larger" in regression.summary


def test_a_step_that_got_faster_is_an_improvement_reported_after_the_regressions() -> None:
    history = make_history(
        [Step("parse", slower_from(100, 2.0, 1.0)), Step("load", slower_from(100, 1.0, 2.0))], runs=120, seed=6
    )

    kinds = [(f.kind, f.step) for f in analyze(history.runs, history.steps).findings if f.step is not None]

    assert kinds.index(("regression", "load")) < kinds.index(("improvement", "parse"))


def test_findings_come_most_important_first_regressions_then_flaky_steps_then_anomalies() -> None:
    history = make_history(
        [
            Step("extract", spike(30, 1.0, 8.0)),
            Step("fetch", constant(0.3), retried=frozenset({10})),
            Step("load", slower_from(100, 1.0, 2.0)),
        ],
        runs=120,
        seed=7,
    )

    kinds = [f.kind for f in analyze(history.runs, history.steps).findings]

    assert kinds.index("regression") < kinds.index("flaky") < kinds.index("anomaly")


def test_a_change_below_the_threshold_is_not_reported_and_a_lower_threshold_reports_it() -> None:
    history = make_history([*steady("extract"), Step("load", slower_from(90, 1.0, 1.12))], runs=120, seed=8, noise=0.02)

    assert findings_of(analyze(history.runs, history.steps), "regression") == []
    lower = analyze(history.runs, history.steps, Settings(threshold=0.05))
    assert {f.step for f in findings_of(lower, "regression")} == {"load", None}  # None: the whole run


def test_a_handful_of_runs_is_too_little_evidence_for_any_regression() -> None:
    history = make_history([Step("load", slower_from(6, 1.0, 2.0))], runs=9, seed=9)

    assert [f.kind for f in analyze(history.runs, history.steps).findings] == []


def test_the_tables_give_each_step_its_runs_success_rate_percentiles_retries_and_cache_hits() -> None:
    history = make_history(
        [Step("fetch", constant(1.0), retried=frozenset({1, 2})), Step("load", constant(2.0), flips=frozenset({5}))],
        runs=40,
        seed=10,
    )

    analysis = analyze(history.runs, history.steps)

    fetch, load = analysis.steps
    assert (fetch.step, fetch.runs, fetch.retries, fetch.flaky_runs, fetch.success_rate) == ("fetch", 40, 2, 2, 1.0)
    assert fetch.duration_p50_s == pytest.approx(1.0, rel=0.1)
    assert fetch.duration_p50_s is not None and fetch.duration_p95_s is not None
    assert fetch.duration_p95_s > fetch.duration_p50_s
    assert load.failed == 1
    assert load.success_rate == pytest.approx(39 / 40)
    [recipe] = analysis.recipes
    assert (recipe.recipe, recipe.runs, recipe.succeeded, recipe.failed) == ("ETL-001", 40, 39, 1)


#: how many noise-only histories the false-positive test analyses, and how many may show anything
NOISE_HISTORIES = 100
NOISE_FINDINGS_ALLOWED = 2


def test_histories_of_pure_noise_report_no_finding_in_nearly_every_seed() -> None:
    """Each history: 4 steady steps over 150 runs, lognormal noise of 5% to 30%. The tests are held to
    a 1% false discovery rate and an effect size, so a history of noise reports nothing but rarely."""
    noisy = []
    for seed in range(NOISE_HISTORIES):
        history = make_history(
            steady("extract", "transform", "load", "report"),
            runs=150,
            seed=1000 + seed,
            noise=(0.05, 0.1, 0.3)[seed % 3],
        )
        found = analyze(history.runs, history.steps).findings
        if found:
            noisy.append((seed, [f.summary for f in found]))
    assert len(noisy) <= NOISE_FINDINGS_ALLOWED, noisy


def test_a_change_among_the_recent_runs_is_told_once_in_the_regression() -> None:
    slowed = Step("load", slower_from(108, 1.0, 1.5))
    history = make_history([*steady("extract"), slowed], runs=120, seed=14, noise=0.05)

    found = [f for f in analyze(history.runs, history.steps).findings if f.step == "load"]

    assert [f.kind for f in found] == ["regression"]
    assert found[0].evidence["changed_at_run"] == history.run_id(108)


def warm_and_cold(run: int) -> float:
    """Before run 100, 2 runs in 5 hit a cold cache (3 s, else 1 s); after, the median rose to
    1.3 s while 9 runs in 20 take 0.5 s: most runs got faster."""
    if run < 100:
        return 3.0 if run % 5 < 2 else 1.0
    return 1.3 if run % 20 < 11 else 0.5


def test_a_median_that_rose_while_most_runs_got_faster_is_no_regression() -> None:
    history = make_history([Step("load", warm_and_cold)], runs=200, seed=15, noise=0.01)

    assert findings_of(analyze(history.runs, history.steps), "regression", "load") == []


def test_a_resumed_run_is_left_out_of_the_whole_run_durations() -> None:
    history = make_history(steady("extract"), runs=30, seed=16)
    resumed = history.runs[10]
    history.runs[10] = dataclasses.replace(resumed, finished_at=resumed.started_at + 7200, sessions=2)

    analysis = analyze(history.runs, history.steps)

    whole = next(one for one in analysis.series if one.step is None)
    assert resumed.run_id not in whole.runs and len(whole.runs) == 29
    assert findings_of(analysis, "anomaly", None) == []
