"""``f0 analyze --format html`` in a real browser, opened from disk: offline and script-free, the
findings in order, a chart per series with axes, units and a hover value on each point, the
findings marked on their charts, and a narrow screen."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.analysis.synthetic_history import History, Step, constant, make_history, slower_from, spike

from framework0.analysis.analyze import analyze
from framework0.viz.analysis_page import render_analysis

NARROW = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def history() -> History:
    return make_history(
        [
            Step("extract", constant(2.0)),
            Step("transform", slower_from(100, 1.0, 1.6)),
            Step("load", spike(50, 0.5, 3.0), retried=frozenset({30, 70})),
        ],
        runs=120,
        seed=21,
    )


@pytest.fixture
def opened(page: Any, history: History, tmp_path: Path) -> Any:
    path = tmp_path / "analysis.html"
    path.write_text(render_analysis(analyze(history.runs, history.steps)), encoding="utf-8")
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(path.as_uri())
    page.f0_requested = requested
    return page


def test_the_page_opens_from_disk_requests_nothing_and_runs_no_script(opened: Any, artifacts: Path) -> None:
    assert [url for url in opened.f0_requested if not url.startswith(("file:", "data:"))] == []
    assert opened.locator("script").count() == 0
    policy = opened.locator('meta[http-equiv="Content-Security-Policy"]').get_attribute("content")
    assert "default-src 'none'" in policy and "script-src 'none'" in policy
    assert opened.locator("#f0-title").inner_text() == "Run history analysis"
    opened.screenshot(path=str(artifacts / "analysis-1440.png"), full_page=True)


def test_the_findings_are_listed_most_important_first(opened: Any, history: History) -> None:
    kinds = opened.locator("#f0-findings li").evaluate_all("items => items.map(item => item.dataset.kind)")

    assert kinds[0] == "regression"
    assert kinds.index("regression") < kinds.index("flaky") < kinds.index("anomaly")
    first = opened.locator("#f0-findings li").first.inner_text()
    assert "Step transform of ETL-001 got" in first and history.run_id(100) in first


def test_every_series_has_a_chart_with_axes_units_and_a_hover_value_on_its_points(
    opened: Any, history: History
) -> None:
    charts = opened.locator("figure.f0-an-chart")
    # the whole run, and each of the 3 steps' duration and peak memory
    assert charts.count() == 7
    transform = opened.locator('figure[data-step="transform"][data-metric="duration"]')
    assert transform.locator(".f0-chart-axis").all_text_contents() == ["duration (s)", "run start (UTC)"]
    assert transform.locator(".f0-chart-tick").count() >= 10
    point = transform.locator(f'circle[data-run="{history.run_id(7)}"]')
    tip = point.locator("title").text_content()
    assert tip.startswith(f"run {history.run_id(7)} · 2026-") and tip.endswith("s")
    box = point.bounding_box()
    assert box is not None and box["width"] > 0


def test_the_findings_are_marked_on_their_charts(opened: Any, history: History) -> None:
    transform = opened.locator('figure[data-step="transform"][data-metric="duration"]')
    assert transform.locator(".f0-chart-change").count() == 1
    assert transform.locator(".f0-chart-recent.f0-chart-regression").count() == 1
    load = opened.locator('figure[data-step="load"][data-metric="duration"]')
    anomalies = load.locator("circle.f0-chart-anomaly")
    assert anomalies.count() == 1
    assert anomalies.get_attribute("data-run") == history.run_id(50)
    assert anomalies.locator("title").text_content().endswith("· anomaly")


def test_the_page_fits_a_narrow_screen(opened: Any, artifacts: Path) -> None:
    opened.set_viewport_size(NARROW)

    overflow = opened.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    chart = opened.locator("svg.f0-chart").first.bounding_box()

    assert overflow <= 0
    assert chart is not None and chart["width"] <= NARROW["width"]
    opened.screenshot(path=str(artifacts / "analysis-390.png"), full_page=False)
