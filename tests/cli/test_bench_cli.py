"""``f0 bench`` in process (the real command line), running a real recipe of sleep steps: timings,
a baseline saved in the store (SQLite and PostgreSQL) and the gate against it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.helpers import invoke, one_line_error
from tests.store.store_backends import backend_url

RECIPE = """\
test_meta: {test_id: BENCH-1}
params:
  delay: {type: float, default: 0.1}
steps:
  - name: setup
    uses: sleep
    args: {seconds: 0.05}
  - name: work
    uses: sleep
    args: {seconds: "{{ params.delay }}"}
    depends_on: [setup]
"""

#: generous for a shared, busy machine: a sleep step's time grows with the load (a thread wakes
#: late), by milliseconds; the steps sleep 50 ms or more, so that is far below 50%
THRESHOLD = "0.5"


@pytest.fixture
def recipe(tmp_path: Path) -> Path:
    path = tmp_path / "bench.yaml"
    path.write_text(RECIPE, encoding="utf-8")
    return path


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with backend_url(request.param, tmp_path) as url:
        yield url


def bench(recipe: Path, *args: str) -> tuple[int, str, str]:
    done = invoke("bench", recipe, "-n", "5", "--threshold", THRESHOLD, *args, cwd=recipe.parent)
    return done.returncode, done.stdout, done.stderr


def test_a_step_slowed_fourfold_fails_the_gate_and_an_unchanged_one_passes(recipe: Path, store: str) -> None:
    saved = bench(recipe, "--save-baseline", "main", "--store", store)
    unchanged = bench(recipe, "--baseline", "main", "--store", store)
    slowed = bench(recipe, "--baseline", "main", "-p", "delay=0.4", "--store", store, "--json")

    assert saved[0] == 0 and "saved baseline 'main' of BENCH-1: 5 runs" in saved[1], saved
    assert unchanged[0] == 0, unchanged
    assert "no step slower than the baseline by 50% or more, significantly" in unchanged[1]
    assert slowed[0] == 1, slowed
    document = json.loads(slowed[1])
    assert "work" in document["regressions"] and "setup" not in document["regressions"]
    work = next(change for change in document["changes"] if change["step"] == "work")
    assert work["verdict"] == "slower" and work["ratio"] > 2.5 and work["ratio_low"] > 1.5


def test_the_timings_are_each_steps_median_and_spread_over_the_measured_runs(recipe: Path, tmp_path: Path) -> None:
    code, out, _ = bench(recipe, "--warmup", "2", "--json", "--store", f"sqlite:///{tmp_path / 'runs.db'}")

    document = json.loads(out)
    assert code == 0
    assert (document["runs"], document["warmup"]) == (5, 2)
    timings = {timing["step"]: timing for timing in document["timings"]}
    assert set(timings) == {None, "setup", "work"}
    assert timings["work"]["runs"] == 5
    assert 0.1 <= timings["work"]["min_s"] <= timings["work"]["median_s"] <= timings["work"]["max_s"]
    # every run, the warm-up ones too, is recorded like any run
    listed = json.loads(invoke("runs", "list", "--json", "--store", f"sqlite:///{tmp_path / 'runs.db'}").stdout)
    assert len(listed) == 7


def test_a_baseline_that_was_never_saved_is_refused_with_the_names_there_are(recipe: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    bench(recipe, "--save-baseline", "main", "--store", url)

    line = one_line_error(invoke("bench", recipe, "--baseline", "nightly", "--store", url))

    assert line == (
        "error: no baseline 'nightly' of BENCH-1 in the store; saved: main "
        "(f0 bench RECIPE --save-baseline NAME saves one)"
    )


def test_saving_and_comparing_at_once_is_refused(recipe: Path) -> None:
    line = one_line_error(invoke("bench", recipe, "--save-baseline", "a", "--baseline", "b"))

    assert line.startswith("error: give --save-baseline NAME or --baseline NAME, not both")


def test_a_baseline_needs_a_store(recipe: Path) -> None:
    line = one_line_error(invoke("bench", recipe, "--save-baseline", "main", "--store", "none"))

    assert line == "error: baselines are kept in the store: --store none (or F0_STORE=none) keeps none"


def test_a_run_that_fails_stops_the_bench_with_one_line_naming_the_step(tmp_path: Path) -> None:
    failing = tmp_path / "fails.yaml"
    failing.write_text(
        "steps:\n  - name: boom\n    uses: assert\n    args: {that: 'false', message: the widget is broken}\n",
        encoding="utf-8",
    )

    done = invoke("bench", failing, "-n", "3", "--store", f"sqlite:///{tmp_path / 'runs.db'}")

    assert done.returncode == 1
    [line] = done.stderr.splitlines()
    assert line.startswith("error: run 1 of 4 failed (step boom: AssertionError: assertion failed: false: the widget")
    assert "a benchmark needs runs whose steps succeed: f0 runs show " in line


def test_a_bench_on_worker_processes_times_the_same_steps(recipe: Path, tmp_path: Path) -> None:
    code, out, err = bench(
        recipe,
        "--executor",
        "process",
        "-n",
        "2",
        "--warmup",
        "0",
        "--json",
        "--store",
        f"sqlite:///{tmp_path / 'r.db'}",
    )

    assert code == 0, err
    timings = {timing["step"]: timing for timing in json.loads(out)["timings"]}
    assert timings["work"]["runs"] == 2 and timings["work"]["min_s"] >= 0.1


def test_a_run_with_a_tolerated_failure_stops_the_bench_before_any_baseline_is_saved(tmp_path: Path) -> None:
    tolerated = tmp_path / "tolerated.yaml"
    tolerated.write_text(
        "test_meta: {test_id: TOLERATED}\nsteps:\n"
        "  - {name: boom, uses: assert, args: {that: 'false'}, continue_on_error: true}\n"
        "  - {name: after, uses: hello_world}\n",
        encoding="utf-8",
    )
    url = f"sqlite:///{tmp_path / 'runs.db'}"

    done = invoke("bench", tolerated, "-n", "2", "--save-baseline", "main", "--store", url)

    assert done.returncode == 1
    assert done.stderr.startswith("error: run 1 of 3 failed (step boom: AssertionError")
    assert "saved: main" not in invoke("bench", tolerated, "--baseline", "x", "--store", url).stderr
