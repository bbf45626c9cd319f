"""The dashboard's live run page and runs list in a real browser, against a stand-in server: Playwright
answers the page, its static files, ``/view``, ``/logs`` and ``/runs`` (``page.route``) and plays the
WebSocket (``page.route_web_socket``), so each test decides what the server says and when; the
page's clock is Playwright's, so a minute of pings takes no minute.

Covered: every poll sends the view's revision as ``unless`` and a 204 changes nothing; "Show up to
5,000 lines" fetches a step's lines, which stay through live lines and later views; live lines are
capped at 5,000 per step; a ping every minute; the reconnect backoff starts over only after a socket
that lasted; a socket closed for a signed-out session is not reopened; the runs list parses only
the frames that can be a run's start or end."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import expect
from tests.viz.view_samples import T0, running_view

from framework0.server.security import CONTENT_SECURITY_POLICY
from framework0.viz.pages import STATIC_DIR, render_run_page, render_runs_page

ORIGIN = "http://f0.test"
RUN_ID = "r-live"
LOG_LIMIT = 5000


class StandIn:
    """The server as the page sees it: a run whose ``chatty`` step has printed ``total`` lines."""

    def __init__(self, page: Any, *, total: int, shown: int = 500) -> None:
        self.page = page
        self.revision = "rev-1"
        self.total = total
        self.shown = shown
        self.chatty = "running"
        self.view_queries: list[dict[str, list[str]]] = []
        self.view_answers: list[int] = []
        self.log_queries: list[dict[str, list[str]]] = []
        self.runs_requests = 0
        self.sockets: list[tuple[Any, list[str]]] = []
        self.close_new_sockets: int | None = None
        self.page_html: Callable[[], str] = lambda: render_run_page(self.view(), csrf="csrf-token")
        page.route(f"{ORIGIN}/**", self._http)
        page.route_web_socket(f"ws://{ORIGIN[7:]}/api/v1/ws", self._socket)

    def view(self) -> dict[str, Any]:
        return running_view(revision=self.revision, total=self.total, shown=self.shown, chatty=self.chatty)

    def change(self, **fields: Any) -> None:
        """The run moves on: a new revision."""
        for name, value in fields.items():
            setattr(self, name, value)
        self.revision = f"rev-{int(self.revision[4:]) + 1}"

    def _http(self, route: Any) -> None:
        url = urlsplit(route.request.url)
        query = parse_qs(url.query, keep_blank_values=True)
        if url.path.startswith("/static/"):
            route.fulfill(path=str(STATIC_DIR / url.path[len("/static/") :]))
        elif url.path in (f"/runs/{RUN_ID}", "/"):
            headers = {"content-security-policy": CONTENT_SECURITY_POLICY, "cache-control": "no-store"}
            route.fulfill(body=self.page_html(), content_type="text/html; charset=utf-8", headers=headers)
        elif url.path == f"/api/v1/runs/{RUN_ID}/view":
            self.view_queries.append(query)
            unchanged = query.get("unless") == [self.revision]
            self.view_answers.append(204 if unchanged else 200)
            if unchanged:
                route.fulfill(status=204)
            else:
                route.fulfill(json=self.view())
        elif url.path == f"/api/v1/runs/{RUN_ID}/logs":
            self.log_queries.append(query)
            limit = int(query["limit"][0])
            first = max(1, self.total - limit + 1)
            lines = [
                {
                    "id": k,
                    "item": None,
                    "attempt": 1,
                    "stream": "stdout",
                    "text": f"line {k}",
                    "at": T0 + 0.6 + k * 0.001,
                }
                for k in range(first, self.total + 1)
            ]
            route.fulfill(json={"step": query["step"][0], "lines": lines, "dropped": first - 1})
        elif url.path == "/api/v1/runs":
            self.runs_requests += 1
            route.fulfill(json={"runs": [RUN_ROW]})
        else:
            route.fulfill(status=404, json={"error": {"type": "NotFound", "message": url.path}})

    def _socket(self, socket: Any) -> None:
        messages: list[str] = []
        self.sockets.append((socket, messages))
        socket.on_message(lambda message: messages.append(str(message)))
        if self.close_new_sockets is not None:
            socket.close(code=self.close_new_sockets)

    def send(self, event: dict[str, Any]) -> None:
        self.sockets[-1][0].send(json.dumps({"type": "event", "event": {"run_id": RUN_ID, **event}}))

    def log_line(self, number: int, step: str = "chatty") -> None:
        self.send(
            {
                "type": "log_lines",
                "step": step,
                "attempt": 1,
                "item": None,
                "stream": "stdout",
                "text": f"line {number}",
                "at": T0 + 0.6 + number * 0.001,
            }
        )

    def open(self, fragment: str = "") -> None:
        self.page.goto(f"{ORIGIN}/runs/{RUN_ID}{fragment}")
        self.page.locator("body[data-rendered]").wait_for(state="attached")
        expect(self.page.locator("#f0-live")).to_have_text("● Live")


RUN_ROW = {
    "run_id": RUN_ID,
    "test_id": "LIVE-PAGE",
    "recipe_path": "recipes/live.yaml",
    "status": "running",
    "started_at": T0,
    "finished_at": None,
    "duration_s": None,
    "node": "build-07",
    "error_type": None,
    "error_message": None,
}


@pytest.fixture
def clocked(page: Any) -> Any:
    """The page with Playwright's clock: time runs as usual until a test moves it on."""
    page.clock.install()
    return page


def log_rows(page: Any) -> Any:
    return page.locator("#f0-detail .f0-log .f0-log-line")


def advance(page: Any, ms: int, step: int = 250) -> None:
    """Move the page's clock on by ``ms`` in steps, letting sockets open and close in between (a
    reconnection is timed from the close, which arrives after the timer that opened the socket)."""
    for _ in range(ms // step):
        page.clock.run_for(step)
        page.wait_for_timeout(10)


def eventually(page: Any, check: Callable[[], bool], timeout_ms: int = 30_000) -> None:
    """Wait for ``check()`` while Playwright runs the stand-in's handlers (a string predicate for
    wait_for_function would be eval, which the page's policy forbids)."""
    for _ in range(timeout_ms // 50):
        if check():
            return
        page.wait_for_timeout(50)
    assert check()


def test_every_poll_sends_the_revision_and_a_204_leaves_the_page_as_it_is(clocked: Any) -> None:
    page = clocked
    server = StandIn(page, total=3)
    server.open()
    chatty = page.locator('.f0-node[data-step="chatty"]')
    page.clock.run_for(4_100)  # two polls
    eventually(page, lambda: len(server.view_queries) >= 2)
    expect(chatty).to_have_attribute("data-status", "running")
    assert all(query == {"unless": ["rev-1"]} for query in server.view_queries)
    assert set(server.view_answers) == {204}

    server.change(chatty="succeeded", total=4)
    page.clock.run_for(2_100)
    expect(chatty).to_have_attribute("data-status", "succeeded")
    expect(page.locator('.f0-node[data-step="finish"]')).to_have_attribute("data-status", "running")
    assert server.view_answers[-1] == 200
    count = len(server.view_queries)
    page.clock.run_for(2_100)
    eventually(page, lambda: len(server.view_queries) > count)
    assert server.view_queries[-1] == {"unless": ["rev-2"]}
    assert server.view_answers[-1] == 204


def test_more_log_lines_on_request_stay_through_live_lines_and_later_views(clocked: Any) -> None:
    page = clocked
    server = StandIn(page, total=12_000)
    server.open("#step=chatty")
    note = page.locator("#f0-detail .f0-log-dropped")
    expect(note).to_contain_text(f"{11_500:,} older lines not shown")
    assert log_rows(page).count() == 500
    page.get_by_role("button", name=f"Show up to {LOG_LIMIT:,} lines").click()
    expect(log_rows(page)).to_have_count(LOG_LIMIT)
    assert server.log_queries == [{"step": ["chatty"], "limit": [str(LOG_LIMIT)]}]
    expect(note).to_have_text(f"{7_000:,} older lines not shown")  # and no button
    assert log_rows(page).last.locator(".f0-log-text").inner_text() == "line 12000"

    # a live line: the newest 5,000 stay
    server.total = 12_001
    server.log_line(12_001)
    expect(log_rows(page).last.locator(".f0-log-text")).to_have_text("line 12001")
    expect(note).to_have_text(f"{7_001:,} older lines not shown")
    assert log_rows(page).count() == LOG_LIMIT
    assert log_rows(page).first.locator(".f0-log-text").inner_text() == "line 7002"

    # a new view (the store has that line too) keeps the fetched lines: nothing fetched again
    server.change()
    page.clock.run_for(2_100)
    eventually(page, lambda: server.view_answers[-1] == 200)
    page.wait_for_timeout(100)
    assert log_rows(page).count() == LOG_LIMIT
    assert log_rows(page).last.locator(".f0-log-text").inner_text() == "line 12001"
    expect(note).to_have_text(f"{7_001:,} older lines not shown")
    assert len(server.log_queries) == 1

    # another step and back, with no new view in between: still there
    page.locator('#f0-steps-body tr[data-step="prepare"] .f0-step-link').click()
    expect(page.locator("#f0-detail h2")).to_have_text("Step prepare")
    page.locator('#f0-steps-body tr[data-step="chatty"] .f0-step-link').click()
    expect(log_rows(page)).to_have_count(LOG_LIMIT)

    # a view that leaves a gap after the lines the page has: they are fetched again
    server.change(total=20_500)
    page.clock.run_for(2_100)
    expect(log_rows(page).last.locator(".f0-log-text")).to_have_text("line 20500")
    assert len(server.log_queries) == 2
    assert log_rows(page).count() == LOG_LIMIT
    expect(note).to_have_text(f"{15_500:,} older lines not shown")


def test_live_log_lines_are_capped_at_5000_per_step(page: Any) -> None:
    server = StandIn(page, total=4_995, shown=4_995)
    server.open("#step=chatty")
    assert log_rows(page).count() == 4_995
    assert page.locator("#f0-detail .f0-log-dropped").count() == 0
    for number in range(4_996, 5_006):
        server.log_line(number)
    expect(log_rows(page).last.locator(".f0-log-text")).to_have_text("line 5005")
    assert log_rows(page).count() == LOG_LIMIT
    assert log_rows(page).first.locator(".f0-log-text").inner_text() == "line 6"
    note = page.locator("#f0-detail .f0-log-dropped")
    expect(note).to_contain_text("5 older lines not shown")
    expect(note.get_by_role("button", name=f"Show up to {LOG_LIMIT:,} lines")).to_be_visible()
    toggle = page.locator('#f0-detail .f0-stream-toggle[data-stream="stdout"]').inner_text()
    assert toggle.split() == ["stdout", "(5000)"]
    assert page.evaluate("document.querySelectorAll('.f0-log-line').length") == LOG_LIMIT


def test_the_socket_pings_every_minute_and_backs_off_when_the_server_closes_it_at_once(clocked: Any) -> None:
    page = clocked
    server = StandIn(page, total=3)
    server.open()
    first, messages = server.sockets[0]
    assert messages == [json.dumps({"op": "subscribe", "run": RUN_ID}, separators=(",", ":"))]
    page.clock.run_for(60_500)
    assert messages[1:] == ['{"op":"ping"}']
    page.clock.run_for(60_000)
    assert messages[1:] == ['{"op":"ping"}'] * 2

    # the first socket lasted: the next try comes after 1 s; then each socket closed at once waits longer
    server.close_new_sockets = 1011
    first.close(code=1011)
    expect(page.locator("#f0-live")).to_have_text("↻ Updating every 2 s")
    advance(page, 16_500)  # tries at +1, +3, +7 and +15 s
    assert len(server.sockets) - 1 == 4

    # a socket that stays open 10 s starts the backoff over
    server.close_new_sockets = None
    advance(page, 16_500)  # the next try, 16 s after the last
    assert len(server.sockets) == 6
    expect(page.locator("#f0-live")).to_have_text("● Live")
    advance(page, 10_500)
    server.sockets[-1][0].close(code=1011)
    expect(page.locator("#f0-live")).to_have_text("↻ Updating every 2 s")
    advance(page, 1_250)
    assert len(server.sockets) == 7


def test_a_socket_closed_for_a_signed_out_session_is_not_opened_again(clocked: Any) -> None:
    page = clocked
    server = StandIn(page, total=3)
    server.open()
    server.sockets[0][0].close(code=4401)
    expect(page.locator("#f0-live")).to_have_text("Signed out: reload to sign in")
    polls = len(server.view_queries)
    page.clock.run_for(120_000)
    assert len(server.sockets) == 1
    assert len(server.view_queries) == polls


PARSE_SPY = """(() => {
  const parse = JSON.parse;
  window.f0Parsed = [];
  JSON.parse = function (text, reviver) {
    if (typeof text === "string" && text.includes('"type": "event"')) window.f0Parsed.push(parse(text).event.type);
    return parse.call(this, text, reviver);
  };
})();"""


def test_the_runs_list_pings_and_parses_only_frames_of_a_run_starting_or_ending(clocked: Any) -> None:
    page = clocked
    page.add_init_script(PARSE_SPY)
    server = StandIn(page, total=3)
    server.page_html = lambda: render_runs_page(runs=[RUN_ROW], csrf="csrf-token")
    page.goto(f"{ORIGIN}/")
    page.locator("body[data-rendered]").wait_for(state="attached")
    expect(page.locator("#f0-live")).to_have_text("● Live")
    _, messages = server.sockets[0]
    assert messages == ['{"op":"subscribe","run":"*"}']
    page.clock.run_for(1_000)
    before = server.runs_requests
    for number in range(50):
        server.log_line(number)
    server.send({"type": "step_started", "step": "chatty", "at": T0})
    server.send({"type": "context_changed", "changes": []})
    server.send({"type": "run_finished", "status": "succeeded", "at": T0 + 40, "duration_s": 40, "error": None})
    eventually(page, lambda: bool(page.evaluate("window.f0Parsed.length")))
    page.clock.run_for(400)
    assert page.evaluate("window.f0Parsed") == ["run_finished"]
    eventually(page, lambda: server.runs_requests > before)  # the refetch it started reaches the stand-in
    page.clock.run_for(60_000)
    assert messages[1:] == ['{"op":"ping"}']
