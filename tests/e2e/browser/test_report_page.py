"""The run report (``viz.pages.render_report``) in a real browser, opened from disk: offline, the graph
coloured and worded by status, a timeline bar per attempt, a step's output and logs on a click, the
context's diff between two versions, run values as text, a narrow screen, and step names and context
keys that are ``Object.prototype`` members."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.viz.view_samples import SCRIPT, prototype_view, small_view

from framework0.viz.pages import render_report

NARROW = {"width": 390, "height": 844}


class Report:
    """An opened report: its page, every URL it requested and every dialog it tried to open."""

    def __init__(self, page: Any, path: Path, viewport: dict[str, int] | None = None) -> None:
        self.page = page
        self.requested: list[str] = []
        self.dialogs: list[str] = []
        page.on("request", lambda request: self.requested.append(request.url))
        page.on("dialog", self._dialog)
        if viewport:
            page.set_viewport_size(viewport)
        page.goto(path.as_uri())
        page.wait_for_function("document.body.dataset.rendered")

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def detail_title(self) -> str:
        return str(self.page.locator("#f0-detail h2").text_content())

    def select_in_table(self, step: str) -> None:
        self.page.locator(f'#f0-steps-body tr[data-step="{step}"] .f0-step-link').click()


@pytest.fixture
def report_file(tmp_path: Path) -> Path:
    path = tmp_path / "report.html"
    path.write_text(render_report(small_view()), encoding="utf-8")
    return path


@pytest.fixture
def report(page: Any, report_file: Path) -> Report:
    return Report(page, report_file)


def test_the_report_opens_from_disk_and_requests_nothing_from_the_network(report: Report, artifacts: Path) -> None:
    assert report.requested[0].startswith("file://")
    assert [url for url in report.requested if not url.startswith(("file:", "data:"))] == []
    assert report.page.locator("#f0-title").inner_text() == "NIGHTLY-042"
    badge = report.page.locator("#f0-run-status .f0-status")
    assert badge.get_attribute("data-status") == "failed"
    assert badge.locator(".f0-status-icon").inner_text() == "✗"
    assert badge.locator(".f0-status-word").inner_text() == "failed"
    report.page.screenshot(path=str(artifacts / "report-1280.png"), full_page=True)


def test_the_graph_shows_every_step_with_its_status_word_and_icon(report: Report) -> None:
    for step in small_view()["steps"]:
        node = report.page.locator(f'.f0-node[data-step="{step["name"]}"]')
        assert node.get_attribute("data-status") == step["status"]
        assert node.locator(".f0-node-status").text_content() == step["status"]
    assert report.page.locator('.f0-node[data-step="report"] .f0-node-icon').text_content() == "✗"
    assert report.page.locator('.f0-node[data-step="publish"] .f0-node-icon').text_content() == "⤼"


def test_the_timeline_has_a_bar_per_attempt_with_retries_and_items_told_apart(report: Report) -> None:
    attempts = small_view()["attempts"]
    bars = report.page.locator(".f0-bar")
    assert bars.count() == len(attempts) == 10
    assert report.page.locator(".f0-bar.f0-retry").count() == sum(1 for a in attempts if a["attempt"] > 1) == 4
    assert report.page.locator('.f0-bar[data-status="failed"]').count() == 5
    assert report.page.locator(".f0-wait").count() == 4  # the waits before each retry
    items = report.page.locator('.f0-tl-row.f0-tl-item[data-step="process"]')
    assert items.locator(".f0-tl-label").all_inner_texts() == ["item 0", "item 1", "item 2"]
    retried = items.nth(1).locator(".f0-bar")
    assert retried.all_inner_texts() == ["✗ #1", "✓ #2"]
    label = report.page.locator('.f0-tl-row[data-step="fetch_metrics"] .f0-bar').nth(1).get_attribute("aria-label")
    assert label == "fetch_metrics, attempt 2, failed, 1.10 s, ConnectionError: connection reset by peer"


def test_a_focused_bar_shows_the_attempt_in_a_tooltip(report: Report) -> None:
    report.page.locator('.f0-tl-item[data-step="process"]').nth(1).locator(".f0-bar").first.focus()
    tip = report.page.locator("#f0-tip")
    assert tip.is_visible()
    text = tip.inner_text()
    for part in ["process · item 1", "attempt 1 · ✗ failed", "duration 1.60 s", "CPU 0.05 s", "peak memory 48.0 MiB"]:
        assert part in text
    assert "MemoryError: shard 1 is too big" in text
    assert "retried after 400 ms" in text


def test_clicking_a_step_in_the_graph_shows_its_output_and_logs(report: Report) -> None:
    page = report.page
    page.locator('.f0-node[data-step="fetch_metrics"]').click()
    assert report.detail_title() == "Step fetch_metrics"
    detail = page.locator("#f0-detail")
    assert '"rows": 5120' in detail.locator("pre.f0-code").first.inner_text()
    log = detail.locator(".f0-log")
    assert "connection reset by peer" in log.inner_text()
    assert log.locator(".f0-log-line").count() == 6
    detail.locator('input[data-stream="stderr"]').uncheck()
    assert "connection reset by peer" not in page.locator("#f0-detail .f0-log").inner_text()
    assert page.locator("#f0-detail .f0-log .f0-log-line").count() == 5
    attempts = detail.locator(".f0-attempts-table tbody tr:not(.f0-attempt-note)")
    assert attempts.count() == 3
    assert page.locator('#f0-steps-body tr[data-step="fetch_metrics"]').get_attribute("class") == "is-selected"


def test_a_step_chosen_in_the_table_shows_its_error_and_dropped_lines(report: Report) -> None:
    page = report.page
    report.select_in_table("checkout")
    assert report.detail_title() == "Step checkout"
    report.select_in_table("report")
    detail = page.locator("#f0-detail")
    assert report.detail_title() == "Step report"
    assert "ValueError: column 'latency_p99' is missing" in detail.locator(".f0-callout-error").inner_text()
    detail.locator(".f0-traceback summary").click()
    assert 'File "/srv/recipes/steps/report.py", line 41' in detail.locator(".f0-traceback pre").inner_text()
    assert detail.locator(".f0-log-dropped").inner_text() == "120 older lines not shown"


def test_a_step_node_is_chosen_with_the_keyboard(report: Report) -> None:
    report.page.locator('.f0-node[data-step="checkout"]').focus()
    report.page.keyboard.press("Enter")
    assert report.detail_title() == "Step checkout"
    report.page.keyboard.press("Escape")
    assert report.detail_title() == "Run log"


def test_the_context_diff_between_two_versions_shows_each_change(report: Report) -> None:
    page = report.page
    page.select_option("#f0-diff-a", "2")
    page.select_option("#f0-diff-b", "5")
    diff = page.locator("#f0-context-diff")
    assert diff.locator(".f0-diff-summary").inner_text() == "v2 → v5: 2 added · 0 removed · 1 changed"
    changed = diff.locator('.f0-diff-item[data-kind="changed"]')
    assert changed.locator(".f0-diff-key").inner_text() == "counters.rows"
    assert changed.locator(".f0-diff-values").inner_text() == "5120 → 5121"
    added = diff.locator('.f0-diff-item[data-kind="added"] .f0-diff-key').all_inner_texts()
    assert added == ["banner", "shards"]
    page.select_option("#f0-diff-a", "5")
    page.select_option("#f0-diff-b", "6")
    removed = diff.locator('.f0-diff-item[data-kind="removed"]')
    assert removed.locator(".f0-diff-key").inner_text() == "config.commit"
    assert removed.locator(".f0-diff-kind").text_content() == "removed"
    page.click("#f0-diff-swap")
    assert diff.locator('.f0-diff-item[data-kind="added"] .f0-diff-key').all_inner_texts() == ["config.commit"]


def test_run_values_with_markup_show_as_text_and_open_no_dialog(report: Report) -> None:
    page = report.page
    values = page.locator("#f0-context-values")
    assert f'"{SCRIPT}"' in values.inner_text()
    page.locator(".f0-node[data-step='fetch_metrics']").click()
    assert SCRIPT in page.locator("#f0-detail .f0-log").inner_text()
    page.locator("#f0-run-params summary").click()
    assert '"<b>nightly</b>"' in page.locator("#f0-run-params").inner_text()
    assert page.locator("main b, main script, main img").count() == 0
    assert page.evaluate("document.scripts.length") == 4  # the three inlined files and the data
    assert report.dialogs == []


def test_the_report_fits_a_narrow_screen(page: Any, report_file: Path, artifacts: Path) -> None:
    report = Report(page, report_file, viewport=NARROW)
    assert page.evaluate("document.documentElement.scrollWidth") <= NARROW["width"]
    timeline = page.locator("#f0-timeline")
    assert page.evaluate("el => el.scrollWidth > el.clientWidth", timeline.element_handle())  # scrolls inside
    report.select_in_table("fetch_metrics")
    assert report.detail_title() == "Step fetch_metrics"
    assert page.evaluate("document.documentElement.scrollWidth") <= NARROW["width"]
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(artifacts / "report-narrow.png"), full_page=True)


def test_the_step_table_filters_by_text_and_status_and_sorts(report: Report) -> None:
    page = report.page
    visible = page.locator("#f0-steps-body tr:visible")
    page.fill("#f0-step-filter", "fetch")
    assert visible.count() == 1
    assert page.locator("#f0-step-count").inner_text() == "1 of 7 steps"
    page.fill("#f0-step-filter", "")
    page.locator('.f0-chip[data-status="failed"]').click()
    assert [row.get_attribute("data-step") for row in visible.all()] == ["report"]
    assert page.locator('.f0-chip[data-status="failed"]').get_attribute("aria-pressed") == "true"
    page.locator('.f0-chip[data-status="failed"]').click()
    assert visible.count() == 7
    page.locator('.f0-sort[data-sort="duration"]').click()
    assert [row.get_attribute("data-step") for row in visible.all()][:3] == ["fetch_metrics", "process", "report"]
    assert page.locator('th:has(.f0-sort[data-sort="duration"])').get_attribute("aria-sort") == "descending"


@pytest.fixture
def prototype_file(tmp_path: Path) -> Path:
    path = tmp_path / "prototype.html"
    path.write_text(render_report(prototype_view()), encoding="utf-8")
    return path


def test_step_names_and_context_keys_that_are_object_prototype_members_are_plain_names(
    page: Any, prototype_file: Path
) -> None:
    report = Report(page, prototype_file)
    names = ["__proto__", "toString", "constructor", "hasOwnProperty"]
    # every section is drawn; the failed step, "constructor" (no log lines), is chosen at once
    for step in prototype_view()["steps"]:
        node = page.locator(f'.f0-node[data-step="{step["name"]}"]')
        assert node.get_attribute("data-status") == step["status"]
        assert node.locator(".f0-node-status").text_content() == step["status"]
    assert [row.get_attribute("data-step") for row in page.locator("#f0-steps-body tr").all()] == names
    assert page.locator(".f0-bar").count() == 4
    assert report.detail_title() == "Step constructor"
    detail = page.locator("#f0-detail")
    assert "RuntimeError: constructor failed" in detail.locator(".f0-callout-error").inner_text()
    assert detail.locator(".f0-log-empty").inner_text() == "No log lines."
    assert detail.locator(".f0-attempts-table tbody tr:not(.f0-attempt-note)").count() == 2
    assert page.locator("#f0-context-meta").inner_text().startswith("version 3 · 2 keys · 3 changes")
    keys = page.locator("#f0-context-values .f0-col-key").all_inner_texts()
    assert keys == ["__proto__", "constructor"]
    assert '"polluted": 2' in page.locator("#f0-context-values").inner_text()

    report.select_in_table("__proto__")
    assert report.detail_title() == "Step __proto__"
    assert detail.locator(".f0-log .f0-log-line").count() == 2
    assert '"polluted": true' in detail.locator("pre.f0-code").first.inner_text()
    page.locator('.f0-node[data-step="toString"]').click()
    assert report.detail_title() == "Step toString"
    assert "toString ran" in detail.locator(".f0-log").inner_text()
    page.locator('.f0-tl-row[data-step="hasOwnProperty"] .f0-tl-label').click()
    assert report.detail_title() == "Step hasOwnProperty"
    assert "upstream step constructor failed" in detail.inner_text()
    assert detail.locator(".f0-log-empty").inner_text() == "No log lines."
    report.select_in_table("constructor")
    assert report.detail_title() == "Step constructor"
    page.keyboard.press("Escape")
    assert report.detail_title() == "Run log"
    assert "run started" in detail.locator(".f0-log").inner_text()

    # the diff replays "__proto__" as a key, not as the prototype of the replayed object
    diff = page.locator("#f0-context-diff")
    assert diff.locator(".f0-diff-summary").inner_text() == "v0 → v3: 2 added · 0 removed · 0 changed"
    assert diff.locator('.f0-diff-item[data-kind="added"] .f0-diff-key').all_inner_texts() == [
        "__proto__",
        "constructor",
    ]
    page.select_option("#f0-diff-a", "1")
    assert diff.locator(".f0-diff-summary").inner_text() == "v1 → v3: 2 added · 0 removed · 1 changed"
    changed = diff.locator('.f0-diff-item[data-kind="changed"]')
    assert changed.locator(".f0-diff-key").inner_text() == "__proto__.polluted"
    assert changed.locator(".f0-diff-values").inner_text() == "1 → 2"
    added = diff.locator('.f0-diff-item[data-kind="added"] .f0-diff-key').all_inner_texts()
    assert added == ["__proto__.toString", "constructor"]
    page.select_option("#f0-diff-a", "0")
    page.select_option("#f0-diff-b", "1")
    assert diff.locator('.f0-diff-item[data-kind="added"] .f0-diff-key').all_inner_texts() == ["__proto__"]
    assert page.locator("#f0-context-history tbody tr").count() == 3
    assert page.evaluate("({}).polluted === undefined && typeof ({}).constructor === 'function'")


def test_a_step_named_like_an_object_prototype_member_opens_from_the_url(page: Any, prototype_file: Path) -> None:
    page.goto(prototype_file.as_uri() + "#step=hasOwnProperty")
    page.wait_for_function("document.body.dataset.rendered")
    assert page.locator("#f0-detail h2").text_content() == "Step hasOwnProperty"
    page.evaluate("location.hash = '#step=toString'")
    page.wait_for_function("document.querySelector('#f0-detail h2').textContent === 'Step toString'")
    page.evaluate("location.hash = '#step=valueOf'")  # not a step: the panel closes
    page.wait_for_function("document.querySelector('#f0-detail h2').textContent === 'Run log'")
