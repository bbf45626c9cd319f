"""``f0 analyze`` in process (the real command line) over histories written into real stores (SQLite
and PostgreSQL), and over runs ``f0 run`` recorded; its exports read back by their readers."""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from openpyxl import load_workbook
from tests.analysis.synthetic_history import EVERY_S, History, Step, constant, make_history, slower_from, write_history
from tests.helpers import invoke, one_line_error
from tests.store.store_backends import backend_url

RUNS = 120


def planted(start: float) -> History:
    """A regression in ``load`` from run 100, and a ``fetch`` that passed on retry in runs 12 and 90."""
    return make_history(
        [
            Step("extract", constant(0.4)),
            Step("fetch", constant(0.2), retried=frozenset({12, 90})),
            Step("load", slower_from(100, 1.0, 1.6)),
        ],
        runs=RUNS,
        seed=11,
        start=start,
    )


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, History]]:
    """A store holding the planted history, its last run an hour ago."""
    history = planted(time.time() - RUNS * EVERY_S)
    with backend_url(request.param, tmp_path) as url:
        write_history(url, history)
        yield url, history


def test_the_text_report_names_the_regression_and_the_flaky_step_most_important_first(
    store: tuple[str, History],
) -> None:
    url, history = store

    done = invoke("analyze", "--store", url)

    assert done.returncode == 0, done.stderr
    findings = [line for line in done.stdout.splitlines() if line[:1].isdigit() and ". [" in line]
    assert findings[0].startswith("1. [regression] Step load of ETL-001 got")
    assert f"It changed at run {history.run_id(100)}" in findings[0]
    assert any(". [flaky] Step fetch of ETL-001 is flaky in 2 of its 120 runs" in line for line in findings), findings
    assert history.run_id(90) in done.stdout and history.run_id(12) in done.stdout
    assert "ETL-001  load" in done.stdout  # the step table


def test_the_json_export_holds_the_tables_and_each_finding_with_its_runs_and_test(store: tuple[str, History]) -> None:
    url, history = store

    document = json.loads(invoke("analyze", "ETL-001", "--format", "json", "--store", url).stdout)

    assert document["runs"] == RUNS
    assert [step["step"] for step in document["steps"]] == ["extract", "fetch", "load"]
    regression = next(f for f in document["findings"] if f["kind"] == "regression" and f["step"] == "load")
    assert regression["runs"][0] == history.run_id(RUNS - 1)
    assert regression["evidence"]["test"].startswith("Mann-Whitney U")
    flaky = next(f for f in document["findings"] if f["kind"] == "flaky")
    assert flaky["runs"] == [history.run_id(90), history.run_id(12)]


def test_the_csv_export_of_each_table_reads_back_with_the_csv_module(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    write_history(url, planted(time.time() - RUNS * EVERY_S))

    tables = {
        table: list(
            csv.DictReader(io.StringIO(invoke("analyze", "--format", "csv", "--table", table, "--store", url).stdout))
        )
        for table in ("recipes", "steps", "findings")
    }

    assert [row["recipe"] for row in tables["recipes"]] == ["ETL-001"]
    assert tables["recipes"][0]["runs"] == str(RUNS)
    assert {row["step"]: row["retries"] for row in tables["steps"]} == {"extract": "0", "fetch": "2", "load": "0"}
    assert tables["findings"][0]["kind"] == "regression"
    assert json.loads(tables["findings"][0]["evidence"])["p_adjusted"] < 0.01


def test_the_xlsx_export_opens_in_openpyxl_with_a_sheet_per_table(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    write_history(url, planted(time.time() - RUNS * EVERY_S))

    done = invoke("analyze", "--format", "xlsx", "-o", tmp_path / "history.xlsx", "--store", url)

    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"wrote {tmp_path / 'history.xlsx'} (")
    book = load_workbook(tmp_path / "history.xlsx", read_only=True)
    assert book.sheetnames == ["Recipes", "Steps", "Findings"]
    steps = list(book["Steps"].iter_rows(values_only=True))
    assert steps[0][:3] == ("recipe", "step", "runs")
    assert [row[1] for row in steps[1:]] == ["extract", "fetch", "load"]
    assert steps[1][2] == RUNS  # numbers stay numbers
    assert next(book["Findings"].iter_rows(min_row=2, values_only=True))[0] == "regression"


def test_analyze_reads_the_runs_f0_run_recorded(tmp_path: Path) -> None:
    recipe = tmp_path / "hello.yaml"
    recipe.write_text(
        "test_meta: {test_id: HELLO-9}\nsteps:\n  - {name: greet, uses: hello_world}\n"
        "  - {name: check, uses: assert, args: {that: 'true'}, depends_on: [greet]}\n",
        encoding="utf-8",
    )
    for _ in range(3):
        assert invoke("run", recipe, cwd=tmp_path).returncode == 0

    document = json.loads(invoke("analyze", "HELLO-9", "--format", "json", cwd=tmp_path).stdout)

    assert document["runs"] == 3
    assert [(s["step"], s["runs"], s["succeeded"]) for s in document["steps"]] == [("greet", 3, 3), ("check", 3, 3)]
    assert document["findings"] == []  # three runs are too few to claim anything


REAL = """\
test_meta: {test_id: REAL-1}
steps:
  - name: fetch
    uses: shell
    args: {cmd: "test -e fetched || { touch fetched; exit 1; }"}
    retry: {attempts: 2}
  - name: load
    uses: shell
    args: {cmd: "test -e ready"}
    depends_on: [fetch]
  - name: greet
    uses: hello_world
    cache: true
"""


def test_a_retried_step_is_flaky_and_a_step_that_passed_when_its_run_was_resumed_is_not(tmp_path: Path) -> None:
    recipe = tmp_path / "real.yaml"
    recipe.write_text(REAL, encoding="utf-8")
    first = json.loads(invoke("run", recipe, "--json", cwd=tmp_path).stdout)  # fetch: fails, then passes; load fails
    (tmp_path / "ready").touch()
    assert invoke("resume", first["run_id"], cwd=tmp_path).returncode == 0  # load passes in session 2
    assert invoke("run", recipe, cwd=tmp_path).returncode == 0  # greet comes from the cache

    document = json.loads(invoke("analyze", "REAL-1", "--format", "json", cwd=tmp_path).stdout)

    flaky = [f for f in document["findings"] if f["kind"] == "flaky"]
    assert [(f["step"], f["runs"]) for f in flaky] == [("fetch", [first["run_id"]])]
    steps = {step["step"]: step for step in document["steps"]}
    assert (steps["fetch"]["retries"], steps["load"]["retries"]) == (1, 0)
    assert (steps["greet"]["cache_hits"], steps["greet"]["succeeded"]) == (1, 1)


def test_only_runs_since_the_given_age_are_read(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    write_history(url, planted(time.time() - 60 * 86400))  # two months ago

    done = invoke("analyze", "--store", url)
    older = json.loads(invoke("analyze", "--since", "90d", "--format", "json", "--store", url).stdout)

    assert done.returncode == 0
    assert done.stderr.startswith("no runs started since 30d in the store")
    assert older["runs"] == RUNS


def test_one_step_can_be_analysed_alone(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    write_history(url, planted(time.time() - RUNS * EVERY_S))

    document = json.loads(invoke("analyze", "--step", "fetch", "--format", "json", "--store", url).stdout)

    assert [step["step"] for step in document["steps"]] == ["fetch"]
    assert {f["step"] for f in document["findings"]} <= {"fetch", None}


def test_a_step_no_run_has_is_refused_with_a_did_you_mean(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    write_history(url, planted(time.time() - RUNS * EVERY_S))

    line = one_line_error(invoke("analyze", "--step", "lod", "--store", url))

    assert line == "error: no step 'lod' in these runs (did you mean 'load'?); their steps: extract, fetch, load"


def test_an_xlsx_export_without_a_file_is_refused_before_reading_anything(tmp_path: Path) -> None:
    line = one_line_error(invoke("analyze", "--format", "xlsx", "--store", f"sqlite:///{tmp_path / 'none.db'}"))

    assert line == "error: --format xlsx writes a workbook: give its file with -o FILE, e.g. -o history.xlsx"


def test_a_since_that_is_neither_an_age_nor_a_date_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    write_history(url, planted(time.time() - RUNS * EVERY_S))

    line = one_line_error(invoke("analyze", "--since", "lately", "--store", url))

    assert "--since 'lately': expected an age like 30d" in line


def test_the_html_export_is_one_page_with_the_findings_and_a_chart_per_series(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    history = planted(time.time() - RUNS * EVERY_S)
    write_history(url, history)

    done = invoke("analyze", "--format", "html", "-o", tmp_path / "analysis.html", "--store", url)

    page = (tmp_path / "analysis.html").read_text(encoding="utf-8")
    assert done.returncode == 0, done.stderr
    assert page.startswith("<!doctype html>") and "<script" not in page
    assert page.count('<figure class="f0-an-chart"') == 7  # the whole run, and 3 steps' duration and memory
    assert f"It changed at run {history.run_id(100)}" in page
