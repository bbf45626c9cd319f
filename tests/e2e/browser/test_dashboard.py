"""The dashboard in a real browser against a real ``f0 serve`` on loopback: log in with the token, the
runs list, a recorded run's page (graph by status, timeline, context shown as text), a live run whose
step turns from running to succeeded without a reload, logging out, a narrow screen, and a report
written by ``f0 report`` opened from disk."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect
from tests.helpers import eventually, f0, start_f0
from tests.server.servers import Server, server_process

SCRIPT = "<script>alert(1)</script>"
NARROW = {"width": 390, "height": 844}
RECORDED = f"""\
test_meta:
  test_id: DASH-001
steps:
  - name: fetch
    uses: hello_world
  - name: flaky
    uses: shell
    args: {{cmd: "test -f marker || {{ touch marker; echo first try >&2; exit 1; }}"}}
    retry: {{attempts: 2, delay: 0}}
  - name: each
    uses: shell
    foreach: "{{{{ [1, 2, 3] }}}}"
    args: {{cmd: "echo item {{{{ item }}}}"}}
    depends_on: [fetch]
  - name: boom
    uses: shell
    args: {{cmd: "echo broken >&2; exit 3"}}
    continue_on_error: true
    depends_on: [flaky]
  - name: never
    uses: hello_world
    when: "{{{{ steps.boom.status == 'succeeded' }}}}"
  - name: mark
    uses: set_context
    args: {{values: {{banner: "{SCRIPT}"}}}}
    depends_on: [each]
"""
LIVE = """\
test_meta:
  test_id: LIVE-001
steps:
  - name: prepare
    uses: hello_world
  - name: hold
    uses: shell
    args: {cmd: "while [ ! -f go ]; do sleep 0.05; done; echo released"}
    depends_on: [prepare]
  - name: finish
    uses: hello_world
    depends_on: [hold]
"""


@dataclass
class Dashboard:
    server: Server
    folder: Path
    store: str
    run_id: str

    def log_in(self, page: Any) -> None:
        page.goto(self.server.url + "/")
        page.wait_for_url("**/login?checked=1**")  # the form looks once more for a session cookie
        page.fill("#token", self.server.token)
        page.click("button[type=submit]")
        page.wait_for_url(self.server.url + "/")
        rendered(page)

    def open_run(self, page: Any, run_id: str) -> None:
        page.goto(f"{self.server.url}/runs/{run_id}")
        rendered(page)


def rendered(page: Any) -> None:
    """Wait until the page's script has drawn it (a string predicate would be eval, which the CSP forbids)."""
    page.locator("body[data-rendered]").wait_for(state="attached")


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboard]:
    folder = tmp_path_factory.mktemp("dashboard")
    store = f"sqlite:///{folder}/runs.db"
    (folder / "recorded.yaml").write_text(RECORDED, encoding="utf-8")
    ran = f0("run", "recorded.yaml", "--json", "--store", store, cwd=folder)
    assert ran.returncode == 0, ran.stderr
    run_id = json.loads(ran.stdout)["run_id"]
    with server_process(store, cwd=folder) as server:
        yield Dashboard(server, folder, store, run_id)


@pytest.fixture
def signed_in(page: Any, dashboard: Dashboard) -> Any:
    dashboard.log_in(page)
    return page


def test_a_page_without_a_session_asks_for_the_token_and_keeps_it_out_of_the_url(
    page: Any, dashboard: Dashboard
) -> None:
    page.goto(f"{dashboard.server.url}/runs/{dashboard.run_id}")
    page.wait_for_url("**/login?checked=1**")
    dashboard.log_in(page)
    assert dashboard.server.token not in page.url
    cookie = next(c for c in page.context.cookies() if c["name"] == "f0_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert page.evaluate("document.cookie").find("f0_session") == -1  # scripts cannot read it


def test_a_link_from_another_site_reaches_the_run_page_of_a_signed_in_browser(
    signed_in: Any, dashboard: Dashboard, tmp_path: Path
) -> None:
    target = f"{dashboard.server.url}/runs/{dashboard.run_id}"
    chat = tmp_path / "chat.html"
    chat.write_text(f'<!doctype html><a id="run" href="{target}">the nightly run</a>', encoding="utf-8")
    signed_in.goto(chat.as_uri())

    signed_in.click("#run")  # cross-site: the SameSite=Strict cookie does not come with it

    signed_in.wait_for_url(target)
    rendered(signed_in)
    assert signed_in.locator('.f0-node[data-step="boom"]').count() == 1


def test_a_wrong_token_is_refused_with_a_one_line_message(page: Any, dashboard: Dashboard) -> None:
    page.goto(dashboard.server.url + "/login?checked=1")
    page.fill("#token", "not-the-token")
    page.click("button[type=submit]")
    assert "wrong token" in page.locator("main").inner_text()
    assert [c for c in page.context.cookies() if c["name"] == "f0_session"] == []
    page.f0_errors.clear()  # the 401 answer is logged as a failed load


def test_the_runs_list_shows_each_run_with_its_status_word(signed_in: Any, dashboard: Dashboard) -> None:
    row = signed_in.locator(f'#f0-runs-body tr[data-run-id="{dashboard.run_id}"]')
    assert row.get_attribute("data-status") == "succeeded"
    text = row.inner_text()
    assert "DASH-001" in text and "succeeded" in text


def test_the_runs_list_filters_by_status(signed_in: Any) -> None:
    signed_in.select_option("#f0-filter-status", "failed")
    expect(signed_in.locator("#f0-runs-empty")).to_be_visible()
    expect(signed_in.locator("#f0-runs-body tr")).to_have_count(0)
    signed_in.select_option("#f0-filter-status", "succeeded")
    expect(signed_in.locator("#f0-runs-body tr")).to_have_count(1)


def test_a_run_page_shows_the_graph_by_status_and_a_timeline_bar_per_attempt(
    signed_in: Any, dashboard: Dashboard, artifacts: Path
) -> None:
    dashboard.open_run(signed_in, dashboard.run_id)
    expected = {"fetch": "succeeded", "flaky": "succeeded", "each": "succeeded", "boom": "failed", "never": "skipped"}
    for step, status in expected.items():
        node = signed_in.locator(f'.f0-node[data-step="{step}"]')
        assert node.get_attribute("data-status") == status
        assert node.locator(".f0-node-status").text_content() == status
    flaky = signed_in.locator('.f0-tl-row[data-step="flaky"] .f0-bar')
    assert flaky.all_inner_texts() == ["✗ #1", "✓ #2"]
    items = signed_in.locator('.f0-tl-row.f0-tl-item[data-step="each"]')
    assert items.count() == 3
    signed_in.screenshot(path=str(artifacts / "run-page.png"))


def test_a_step_shows_its_logs_and_output(signed_in: Any, dashboard: Dashboard) -> None:
    dashboard.open_run(signed_in, dashboard.run_id)
    signed_in.locator('.f0-node[data-step="boom"]').click()
    detail = signed_in.locator("#f0-detail")
    assert "broken" in detail.locator(".f0-log").inner_text()
    signed_in.locator('.f0-node[data-step="fetch"]').click()
    assert "Hello, world!" in detail.inner_text()


def test_a_context_value_with_a_script_tag_shows_as_text(signed_in: Any, dashboard: Dashboard) -> None:
    dialogs: list[str] = []

    def dismiss(dialog: Any) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    signed_in.on("dialog", dismiss)
    dashboard.open_run(signed_in, dashboard.run_id)
    assert SCRIPT in signed_in.locator("#f0-context-values").inner_text()
    assert signed_in.locator("main script").count() == 0
    assert dialogs == []


def test_a_live_run_step_turns_from_running_to_succeeded_without_a_reload(
    signed_in: Any, dashboard: Dashboard, artifacts: Path
) -> None:
    server = dashboard.server
    folder = dashboard.folder / "live"
    folder.mkdir()
    (folder / "live.yaml").write_text(LIVE, encoding="utf-8")
    runner = start_f0(
        "run",
        "live.yaml",
        "--context-server",
        server.url,
        cwd=folder,
        env={"F0_TOKEN": server.token, "F0_STORE": f"sqlite:///{folder}/runner.db"},
        stdout=subprocess.DEVNULL,
    )
    try:
        run_id = _wait_for_run(server, "LIVE-001")
        dashboard.open_run(signed_in, run_id)
        hold = signed_in.locator('.f0-node[data-step="hold"]')
        expect(hold).to_have_attribute("data-status", "running", timeout=15_000)
        assert hold.locator(".f0-node-status").text_content() == "running"
        signed_in.evaluate("window.f0SamePage = true")
        signed_in.screenshot(path=str(artifacts / "run-page-live.png"))

        (folder / "go").touch()

        finish = signed_in.locator('.f0-node[data-step="finish"]')
        expect(finish).to_have_attribute("data-status", "succeeded", timeout=20_000)
        assert hold.get_attribute("data-status") == "succeeded"
        assert hold.locator(".f0-node-status").text_content() == "succeeded"
        badge = signed_in.locator("#f0-run-status .f0-status")
        expect(badge).to_have_attribute("data-status", "succeeded", timeout=20_000)
        assert signed_in.evaluate("window.f0SamePage") is True  # the same page: no reload
        assert signed_in.locator('.f0-tl-row[data-step="finish"] .f0-bar').count() == 1
    finally:
        (folder / "go").touch()
        _, stderr = runner.communicate(timeout=60)
    assert runner.returncode == 0, stderr


def test_a_run_that_only_writes_the_store_shows_up_and_updates_without_a_reload(
    signed_in: Any, dashboard: Dashboard
) -> None:
    folder = dashboard.folder / "store-only"
    folder.mkdir()
    (folder / "live.yaml").write_text(LIVE.replace("LIVE-001", "STORE-ONLY"), encoding="utf-8")
    signed_in.evaluate("window.f0SamePage = true")
    runner = start_f0("run", "live.yaml", "--store", dashboard.store, cwd=folder, stdout=subprocess.DEVNULL)
    try:
        row = signed_in.locator("#f0-runs-body tr", has_text="STORE-ONLY")
        expect(row).to_have_attribute("data-status", "running", timeout=15_000)
        assert signed_in.evaluate("window.f0SamePage") is True
        run_id = str(row.get_attribute("data-run-id"))
        dashboard.open_run(signed_in, run_id)
        hold = signed_in.locator('.f0-node[data-step="hold"]')
        expect(hold).to_have_attribute("data-status", "running", timeout=15_000)
        signed_in.evaluate("window.f0SamePage = true")

        (folder / "go").touch()

        expect(signed_in.locator('.f0-node[data-step="finish"]')).to_have_attribute(
            "data-status", "succeeded", timeout=20_000
        )
        assert signed_in.evaluate("window.f0SamePage") is True
    finally:
        (folder / "go").touch()
        _, stderr = runner.communicate(timeout=60)
    assert runner.returncode == 0, stderr


def test_logging_out_ends_the_session(signed_in: Any, dashboard: Dashboard) -> None:
    signed_in.locator("form[action='/logout'] button").click()
    signed_in.wait_for_url("**/login?checked=1")
    signed_in.goto(f"{dashboard.server.url}/runs/{dashboard.run_id}")
    signed_in.wait_for_url("**/login?checked=1&next=%2Fruns%2F*")


def test_the_run_page_fits_a_narrow_screen(signed_in: Any, dashboard: Dashboard, artifacts: Path) -> None:
    signed_in.set_viewport_size(NARROW)
    dashboard.open_run(signed_in, dashboard.run_id)
    assert signed_in.evaluate("document.documentElement.scrollWidth") <= NARROW["width"]
    assert signed_in.locator('.f0-node[data-step="boom"]').count() == 1
    signed_in.screenshot(path=str(artifacts / "run-page-narrow.png"))


def test_the_runs_list_fits_a_narrow_screen(signed_in: Any, artifacts: Path) -> None:
    signed_in.set_viewport_size(NARROW)
    signed_in.reload()
    rendered(signed_in)
    assert signed_in.evaluate("document.documentElement.scrollWidth") <= NARROW["width"]
    assert signed_in.locator("#f0-runs-body tr").first.is_visible()
    signed_in.screenshot(path=str(artifacts / "runs-narrow.png"))


def test_f0_report_writes_one_file_that_opens_from_disk_offline(
    page: Any, dashboard: Dashboard, artifacts: Path
) -> None:
    target = dashboard.folder / "report.html"
    made = f0("report", dashboard.run_id[:8], "-o", str(target), "--store", dashboard.store, cwd=dashboard.folder)
    assert made.returncode == 0, made.stderr
    assert "wrote" in made.stdout
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(target.as_uri())
    rendered(page)
    assert [url for url in requested if not url.startswith(("file:", "data:"))] == []
    assert page.locator('.f0-node[data-step="boom"]').get_attribute("data-status") == "failed"
    assert page.locator(".f0-bar").count() == 8  # fetch, flaky x2, each x3, boom, mark
    assert SCRIPT in page.locator("#f0-context-values").inner_text()
    page.screenshot(path=str(artifacts / "report.png"))
    shutil.copy(target, artifacts / "report.html")


def _wait_for_run(server: Server, test_id: str) -> str:
    with httpx.Client(base_url=server.url, headers=server.headers, timeout=10) as client:

        def first_run() -> str | None:
            runs = client.get("/api/v1/runs", params={"recipe": test_id}).json()["runs"]
            return str(runs[0]["run_id"]) if runs else None

        return eventually(first_run, f"the server to see a run of {test_id}")


def test_a_run_links_to_its_recipes_run_history_whose_strip_links_back_to_each_run(
    signed_in: Any, dashboard: Dashboard, artifacts: Path
) -> None:
    dashboard.open_run(signed_in, dashboard.run_id)
    signed_in.click("#f0-recipe-link")
    signed_in.wait_for_url("**/recipes/DASH-001")

    expect(signed_in.locator("#f0-title")).to_have_text("DASH-001")
    cell = signed_in.locator(f'.f0-an-strip a.f0-an-cell[data-run="{dashboard.run_id}"]')
    expect(cell).to_have_attribute("data-status", "succeeded")
    assert (cell.get_attribute("aria-label") or "").startswith(f"run {dashboard.run_id}: succeeded, ")
    expect(signed_in.locator('.f0-an-flaky tr[data-step="flaky"]')).to_contain_text(dashboard.run_id)
    expect(signed_in.locator('figure.f0-an-chart[data-step="each"][data-metric="duration"] svg')).to_be_visible()
    signed_in.screenshot(path=str(artifacts / "dashboard-recipe-1280.png"), full_page=True)
    cell.click()
    signed_in.wait_for_url(f"**/runs/{dashboard.run_id}")
    rendered(signed_in)
