"""The dashboard over HTTP on a real server: token login, session cookie, CSRF, pages, static files.

The server runs in a thread (``servers.server_thread``) on a SQLite store where a real run was
recorded by ``framework0.run``; browsers are played by ``httpx`` clients with a cookie jar, and the
WebSocket by the ``websockets`` client. Paths no client would send as they are go on a raw socket.
"""

from __future__ import annotations

import re
import socket
import textwrap
import time
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import httpx
import orjson
import pytest
from tests.server.servers import Server, server_process, server_thread
from tests.store.store_backends import sqlite_url
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect as websocket_connect

import framework0
from framework0.server.dashboard import WRONG_TOKEN_DELAY_S, local_path
from framework0.server.security import CONTENT_SECURITY_POLICY
from framework0.server.sessions import LOGIN_FORM_LIFETIME_S, SessionStore, csrf_matches

CONTEXT_SCRIPT = "<script>alert(1)</script>"
OUTPUT_SCRIPT = "</script><script>alert(2)</script>"
RECIPE = textwrap.dedent(
    """\
    meta: {test_id: DASHBOARD-001}
    steps:
      - {name: remember, uses: set_context, args: {values: {note: "<script>alert(1)</script>"}}}
      - name: shout
        uses: python
        args: {call: "builtins:str", args: ["</script><script>alert(2)</script>"]}
        depends_on: [remember]
    """
)


@pytest.fixture(scope="module")
def store_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return sqlite_url(tmp_path_factory.mktemp("dashboard") / "server.db")


@pytest.fixture(scope="module")
def server(store_url: str) -> Iterator[Server]:
    with server_thread(store_url) as running:
        yield running


def record(store_url: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """Run ``RECIPE`` into the server's store; its run id."""
    recipe = tmp_path_factory.mktemp("recipe") / "dashboard.yaml"
    recipe.write_text(RECIPE)
    result = framework0.run(recipe, store=store_url)
    assert result.status == "succeeded"
    return result.run_id


@pytest.fixture(scope="module")
def run_id(server: Server, store_url: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A run recorded in the server's store, whose context and output hold markup."""
    return record(store_url, tmp_path_factory)


class Fields(HTMLParser):
    """The named ``<input>`` values of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.values: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "input" and found.get("name"):
            self.values[str(found["name"])] = found.get("value") or ""


def form_fields(page: str) -> dict[str, str]:
    parser = Fields()
    parser.feed(page)
    return parser.values


def browser(server: Server) -> httpx.Client:
    """A client with a cookie jar and no token, like a browser."""
    return httpx.Client(base_url=server.url, timeout=30)


def post_login(client: httpx.Client, token: str, next_path: str = "/") -> httpx.Response:
    """Fetch the login form, then post it with ``token``."""
    form = client.get("/login")
    assert form.status_code == 200
    fields = form_fields(form.text)
    return client.post("/login", data={"token": token, "csrf": fields["csrf"], "next": next_path})


@pytest.fixture
def logged_in(server: Server) -> Iterator[httpx.Client]:
    with browser(server) as client:
        assert post_login(client, server.token).status_code == 303
        yield client


def csrf_of(client: httpx.Client) -> str:
    """The session's CSRF token, as the runs page carries it for its scripts."""
    page = client.get("/")
    assert page.status_code == 200
    found = re.search(r'<meta name="f0-csrf" content="([^"]+)"', page.text)
    assert found is not None, page.text
    return found.group(1)


def set_cookies(response: httpx.Response, name: str) -> list[str]:
    return [value for value in response.headers.get_list("set-cookie") if value.startswith(f"{name}=")]


def get_with_session(server: Server, path: str, session: str) -> httpx.Response:
    """GET ``path`` with this ``f0_session`` cookie and nothing else."""
    return httpx.get(server.url + path, headers={"Cookie": f"f0_session={session}"}, timeout=30)


def raw_get(server: Server, target: bytes) -> tuple[int, bytes]:
    """GET ``target`` exactly as written; the status and body of the answer."""
    host, port = server.url.removeprefix("http://").rsplit(":", 1)
    head = b"GET " + target + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(head)
        received = b""
        while data := sock.recv(1 << 16):
            received += data
    status_line, _, rest = received.partition(b"\r\n")
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2]


# --- login -------------------------------------------------------------------------------------


def test_the_login_form_is_served_without_a_session(server: Server) -> None:
    with browser(server) as client:
        response = client.get("/login", params={"next": "/runs/abcd"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    fields = form_fields(response.text)
    assert {"token", "csrf", "next"} <= fields.keys()
    assert fields["next"] == "/runs/abcd"
    (cookie,) = set_cookies(response, "f0_login")
    assert {"HttpOnly", "SameSite=Strict", "Path=/login"} <= {part.strip() for part in cookie.split(";")}


def test_the_login_form_looks_once_more_for_a_cookie_a_link_from_another_site_left_behind(server: Server) -> None:
    with browser(server) as client:
        first = client.get("/login", params={"next": "/runs/abcd"})
        checked = client.get("/login", params={"checked": "1", "next": "/runs/abcd"})
    refresh = '<meta http-equiv="refresh" content="0; url=/login?checked=1&amp;next=%2Fruns%2Fabcd">'
    assert refresh in first.text
    assert 'http-equiv="refresh"' not in checked.text


def test_the_right_token_sets_a_strict_httponly_session_cookie_and_redirects_to_next(server: Server) -> None:
    with browser(server) as client:
        response = post_login(client, server.token, "/runs/abcd?tab=logs")
    assert response.status_code == 303
    assert response.headers["location"] == "/runs/abcd?tab=logs"
    (cookie,) = set_cookies(response, "f0_session")
    attributes = [part.strip() for part in cookie.split(";")]
    assert re.fullmatch(r"f0_session=[A-Za-z0-9_-]{43}", attributes[0])
    assert {"HttpOnly", "SameSite=Strict", "Path=/"} <= set(attributes)
    assert "Secure" not in attributes  # plain http here
    assert server.token not in response.headers["location"] + cookie


def test_a_wrong_token_gets_a_401_login_page_and_no_cookie(server: Server) -> None:
    with browser(server) as client:
        started = time.monotonic()
        response = post_login(client, server.token + "x")
        waited = time.monotonic() - started
        assert client.get("/").status_code == 303
    assert response.status_code == 401
    assert "wrong token" in response.text
    assert set_cookies(response, "f0_session") == []
    assert waited >= WRONG_TOKEN_DELAY_S


def test_a_login_without_the_form_token_is_refused(server: Server) -> None:
    with browser(server) as client:
        response = client.post("/login", data={"token": server.token, "csrf": "forged", "next": "/"})
    assert response.status_code == 403
    assert set_cookies(response, "f0_session") == []


def test_a_login_form_token_from_another_form_cookie_is_refused(server: Server) -> None:
    with browser(server) as first, browser(server) as second:
        csrf = form_fields(first.get("/login").text)["csrf"]
        second.get("/login")  # a form cookie of its own
        response = second.post("/login", data={"token": server.token, "csrf": csrf})
    assert response.status_code == 403


@pytest.mark.parametrize(
    "next_path",
    [
        "//evil.com",
        "https://evil.com",
        "/\\evil.com",
        "\\\\evil.com",
        "javascript:alert(1)",
        "evil.com",
        "/\t/evil.com",
    ],
)
def test_login_never_redirects_off_the_server(server: Server, next_path: str) -> None:
    with browser(server) as client:
        response = post_login(client, server.token, next_path)
    assert response.status_code == 303
    assert response.headers["location"] == "/"


def test_a_login_ends_the_session_the_browser_had_and_starts_a_new_one(server: Server) -> None:
    with browser(server) as client:
        post_login(client, server.token)
        old = client.cookies["f0_session"]
    with browser(server) as client:
        csrf = form_fields(client.get("/login").text)["csrf"]
        client.cookies.set("f0_session", old)  # e.g. planted by someone who knows it
        response = client.post("/login", data={"token": server.token, "csrf": csrf})
        assert response.status_code == 303
        (cookie,) = set_cookies(response, "f0_session")
        new = cookie.split(";")[0].removeprefix("f0_session=")
    assert new != old
    assert get_with_session(server, "/", old).status_code == 303
    assert get_with_session(server, "/", new).status_code == 200


def test_the_login_form_sends_a_browser_with_a_session_on_to_next(logged_in: httpx.Client) -> None:
    response = logged_in.get("/login", params={"next": "/runs/abcd"})
    assert (response.status_code, response.headers["location"]) == (303, "/runs/abcd")


# --- pages -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "location"),
    [
        ("/", "/login?next=%2F"),
        ("/runs/abcd?tab=logs", "/login?next=%2Fruns%2Fabcd%3Ftab%3Dlogs"),
        ("/recipes/DASHBOARD-001", "/login?next=%2Frecipes%2FDASHBOARD-001"),
    ],
)
def test_pages_without_a_session_redirect_to_the_login_form(server: Server, path: str, location: str) -> None:
    with browser(server) as client:
        response = client.get(path)
    assert response.status_code == 303
    assert response.headers["location"] == location


def test_a_bogus_session_cookie_is_sent_to_the_login_form(server: Server) -> None:
    assert get_with_session(server, "/", "bogus").status_code == 303
    assert get_with_session(server, "/api/v1/runs", "bogus").status_code == 401


def test_the_runs_page_lists_the_recorded_run(logged_in: httpx.Client, run_id: str) -> None:
    response = logged_in.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert run_id in response.text


def test_a_run_page_is_served_with_a_session(logged_in: httpx.Client, run_id: str) -> None:
    response = logged_in.get(f"/runs/{run_id}")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert run_id in response.text


def test_an_unknown_run_gets_a_404_page(logged_in: httpx.Client) -> None:
    response = logged_in.get("/runs/nosuchrun")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "Run not found" in response.text


def test_a_run_page_shows_markup_in_run_values_only_escaped(logged_in: httpx.Client, run_id: str) -> None:
    view = logged_in.get(f"/api/v1/runs/{run_id}/view").json()
    assert view["context"]["values"]["note"] == CONTEXT_SCRIPT  # the values really hold the markup
    assert [step["output"] for step in view["steps"] if step["name"] == "shout"] == [OUTPUT_SCRIPT]
    page = logged_in.get(f"/runs/{run_id}").text
    assert CONTEXT_SCRIPT not in page
    assert OUTPUT_SCRIPT not in page
    assert "alert(1)" in page and "alert(2)" in page  # there, escaped


@pytest.fixture(scope="module")
def later_run_id(run_id: str, store_url: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A second run of the same recipe, after ``run_id``."""
    return record(store_url, tmp_path_factory)


def test_a_run_page_links_its_recipes_run_history_and_the_run_before_it(
    logged_in: httpx.Client, run_id: str, later_run_id: str
) -> None:
    page = logged_in.get(f"/runs/{later_run_id}").text
    first = logged_in.get(f"/runs/{run_id}").text

    assert '<a id="f0-recipe-link" href="/recipes/DASHBOARD-001">' in page
    assert f'<a id="f0-previous-run" href="/runs/{run_id}">' in page
    assert 'id="f0-previous-run"' not in first  # the first run of the recipe has none


def test_a_recipes_page_shows_a_strip_of_its_runs_linking_each_and_a_chart_per_series(
    logged_in: httpx.Client, run_id: str, later_run_id: str
) -> None:
    response = logged_in.get("/recipes/DASHBOARD-001")

    assert response.status_code == 200
    assert f'href="/runs/{run_id}"' in response.text and f'href="/runs/{later_run_id}"' in response.text
    assert response.text.count('<figure class="f0-an-chart"') == 5  # the whole run; 2 steps' duration and memory
    assert "<script" not in response.text  # the page has no script: its CSP allows none inline anyway


def test_a_recipe_with_no_runs_gets_a_404_page(logged_in: httpx.Client) -> None:
    response = logged_in.get("/recipes/NO-SUCH-RECIPE")

    assert response.status_code == 404
    assert "Recipe not found" in response.text and "no runs of recipe &#x27;NO-SUCH-RECIPE&#x27;" in response.text


@pytest.mark.parametrize("path", ["/", "/runs/{run_id}", "/runs/nosuchrun", "/login", "/recipes/DASHBOARD-001"])
def test_pages_carry_the_security_headers(logged_in: httpx.Client, run_id: str, path: str) -> None:
    response = logged_in.get(path.format(run_id=run_id))
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["cache-control"] == "no-store"


def test_the_content_security_policy_allows_no_inline_code() -> None:
    assert CONTENT_SECURITY_POLICY == (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    )


def test_the_view_document_is_served_with_the_session_and_not_cached(logged_in: httpx.Client, run_id: str) -> None:
    response = logged_in.get(f"/api/v1/runs/{run_id[:8]}/view")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    assert response.json()["run"]["run_id"] == run_id


# --- logout --------------------------------------------------------------------------------------


@pytest.mark.parametrize("data", [{}, {"csrf": "wrong"}], ids=["no-csrf", "wrong-csrf"])
def test_logout_without_the_right_csrf_token_is_refused(logged_in: httpx.Client, data: dict[str, str]) -> None:
    response = logged_in.post("/logout", data=data)
    assert response.status_code == 403
    assert "CSRF" in response.json()["error"]["message"]
    assert logged_in.get("/").status_code == 200  # still logged in


def test_logout_with_the_csrf_token_ends_the_session(server: Server, logged_in: httpx.Client) -> None:
    session = logged_in.cookies["f0_session"]
    response = logged_in.post("/logout", data={"csrf": csrf_of(logged_in)})
    assert response.status_code == 303
    assert response.headers["location"] == "/login?checked=1"
    (cookie,) = set_cookies(response, "f0_session")
    assert "Max-Age=0" in cookie
    again = get_with_session(server, "/", session)  # a browser that kept the cookie: it is dead
    assert again.status_code == 303
    assert again.headers["location"].startswith("/login")


def test_logout_without_a_session_goes_to_the_login_form(server: Server) -> None:
    with browser(server) as client:
        response = client.post("/logout", data={"csrf": "anything"})
    assert (response.status_code, response.headers["location"]) == (303, "/login")


def test_get_logout_is_not_allowed(logged_in: httpx.Client) -> None:
    assert logged_in.get("/logout").status_code == 405
    assert logged_in.get("/").status_code == 200  # and changed nothing


# --- the API with the session cookie -----------------------------------------------------------


@pytest.fixture(scope="module")
def context_name(server: Server) -> str:
    with server.client() as api:
        response = api.post("/api/v1/contexts", json={"name": "dashboard", "strategies": {}})
    assert response.status_code in (200, 201), response.text
    return "dashboard"


def test_a_write_with_only_the_session_cookie_and_no_csrf_token_is_refused(
    logged_in: httpx.Client, context_name: str
) -> None:
    response = logged_in.put(f"/api/v1/contexts/{context_name}/keys/k", json={"value": 1})
    assert response.status_code == 403
    assert response.json() == {
        "error": {
            "type": "Forbidden",
            "message": "missing or wrong CSRF token: a request the session cookie authenticates must send "
            "the session's token in the X-CSRF-Token header or the csrf form field",
        }
    }


def test_a_write_with_the_session_cookie_and_the_csrf_header_works(logged_in: httpx.Client, context_name: str) -> None:
    headers = {"X-CSRF-Token": csrf_of(logged_in)}
    response = logged_in.put(f"/api/v1/contexts/{context_name}/keys/k", json={"value": 2}, headers=headers)
    assert response.status_code == 200, response.text
    assert logged_in.get(f"/api/v1/contexts/{context_name}/keys/k").json()["value"] == 2


def test_a_write_with_a_wrong_csrf_header_is_refused(logged_in: httpx.Client, context_name: str) -> None:
    headers = {"X-CSRF-Token": "wrong"}
    response = logged_in.put(f"/api/v1/contexts/{context_name}/keys/k", json={"value": 3}, headers=headers)
    assert response.status_code == 403


def test_bearer_token_calls_need_no_csrf_token(server: Server, context_name: str) -> None:
    with server.client() as api:
        response = api.put(f"/api/v1/contexts/{context_name}/keys/bearer", json={"value": 1})
    assert response.status_code == 200, response.text
    assert "set-cookie" not in response.headers


def test_a_wrong_bearer_token_is_refused_even_with_a_session_cookie(logged_in: httpx.Client) -> None:
    response = logged_in.get("/api/v1/runs", headers={"Authorization": "Bearer wrong-token-0123456789"})
    assert response.status_code == 401


# --- the WebSocket -----------------------------------------------------------------------------


def test_a_websocket_with_the_session_cookie_is_authenticated(server: Server, logged_in: httpx.Client) -> None:
    cookie = {"Cookie": f"f0_session={logged_in.cookies['f0_session']}"}
    with websocket_connect(server.ws_url, additional_headers=cookie, open_timeout=30) as websocket:
        websocket.send(orjson.dumps({"op": "subscribe", "run": "*"}).decode())
        assert orjson.loads(websocket.recv(timeout=30)) == {"type": "subscribed", "run": "*"}


def test_signing_out_closes_the_sessions_websockets(server: Server, logged_in: httpx.Client) -> None:
    cookie = {"Cookie": f"f0_session={logged_in.cookies['f0_session']}"}
    with websocket_connect(server.ws_url, additional_headers=cookie, open_timeout=30) as websocket:
        websocket.send(orjson.dumps({"op": "subscribe", "run": "*"}).decode())
        assert orjson.loads(websocket.recv(timeout=30))["type"] == "subscribed"

        assert logged_in.post("/logout", data={"csrf": csrf_of(logged_in)}).status_code == 303

        with pytest.raises(ConnectionClosed) as closed:
            while True:
                websocket.recv(timeout=30)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
    assert "signed out" in closed.value.rcvd.reason


def test_a_websocket_with_a_bogus_session_cookie_is_not_authenticated(server: Server) -> None:
    cookie = {"Cookie": "f0_session=bogus"}
    with websocket_connect(server.ws_url, additional_headers=cookie, open_timeout=30) as websocket:
        websocket.send(orjson.dumps({"op": "subscribe", "run": "*"}).decode())
        with pytest.raises(ConnectionClosed) as closed:
            websocket.recv(timeout=30)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401


# --- static files ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "content_type"),
    [("/static/graph.css", "text/css"), ("/static/vendor/svg-pan-zoom.min.js", "javascript")],
)
def test_static_files_are_public_with_their_content_type(server: Server, path: str, content_type: str) -> None:
    with browser(server) as client:
        response = client.get(path)
    assert response.status_code == 200
    assert content_type in response.headers["content-type"]
    assert response.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(
    "target",
    [
        b"/static/../api/v1/runs",
        b"/static/../../../etc/passwd",
        b"/static/%2e%2e/pages.py",
        b"/static/..%2f..%2fpages.py",
        b"/static/./graph.css",
        b"/static//graph.css",
        b"/static/vendor/../../pages.py",
    ],
)
def test_static_paths_that_leave_the_folder_are_refused(server: Server, target: bytes) -> None:
    status, body = raw_get(server, target)
    assert status in (401, 404), body
    assert orjson.loads(body).keys() == {"error"}


def test_other_methods_on_static_files_need_the_token(server: Server) -> None:
    with browser(server) as client:
        assert client.post("/static/graph.css").status_code == 401


# --- f0 serve ----------------------------------------------------------------------------------


def test_f0_serve_prints_the_dashboard_url_and_where_the_token_is(tmp_path: Path) -> None:
    with server_process(sqlite_url(tmp_path / "server.db")) as served:
        deadline = time.monotonic() + 30
        while not any(line.startswith("dashboard:") for line in served.stderr) and time.monotonic() < deadline:
            time.sleep(0.05)
        output = "".join(served.stderr)
        assert f"dashboard: {served.url}/ (log in with the token in $F0_TOKEN)\n" in output
        assert served.token not in output


# --- the session store -------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_session_ends_after_its_lifetime_however_busy() -> None:
    clock = Clock()
    sessions = SessionStore(lifetime_s=100, idle_s=60, clock=clock)
    session_id, _ = sessions.create()
    for _ in range(3):  # seen every 30 s: never idle
        clock.now += 30
        assert sessions.find(session_id) is not None
    clock.now += 30  # 120 s after the login
    assert sessions.find(session_id) is None
    assert len(sessions) == 0


def test_a_session_ends_when_idle() -> None:
    clock = Clock()
    sessions = SessionStore(lifetime_s=100, idle_s=60, clock=clock)
    session_id, _ = sessions.create()
    clock.now += 61
    assert sessions.find(session_id) is None


def test_the_least_recently_seen_session_makes_room() -> None:
    sessions = SessionStore(max_sessions=2, clock=Clock())
    first, _ = sessions.create()
    second, _ = sessions.create()
    assert sessions.find(first) is not None  # now the second is the least recently seen
    third, _ = sessions.create()
    assert [sessions.find(one) is not None for one in (first, second, third)] == [True, False, True]


def test_a_session_csrf_token_is_its_own() -> None:
    sessions = SessionStore()
    _, one = sessions.create()
    _, other = sessions.create()
    assert csrf_matches(one, one.csrf)
    assert not csrf_matches(one, other.csrf)
    assert not csrf_matches(one, "")


def test_a_login_form_expires() -> None:
    clock = Clock()
    sessions = SessionStore(clock=clock)
    cookie, csrf = sessions.login_form()
    assert sessions.login_form_ok(cookie, csrf)
    assert not sessions.login_form_ok(cookie.rpartition(".")[0] + ".999999", csrf)  # the time is signed
    clock.now += LOGIN_FORM_LIFETIME_S + 1
    assert not sessions.login_form_ok(cookie, csrf)


@pytest.mark.parametrize(
    ("candidate", "expected"),
    [
        ("/runs/abcd?tab=logs#x", "/runs/abcd?tab=logs#x"),
        ("/", "/"),
        (None, "/"),
        ("", "/"),
        ("//evil.com/x", "/"),
        ("/\\evil.com", "/"),
        ("https://evil.com", "/"),
        ("runs", "/"),
        ("/runs\r\nSet-Cookie: x=1", "/"),
    ],
)
def test_local_path(candidate: str | None, expected: str) -> None:
    assert local_path(candidate) == expected


def test_the_view_answers_204_while_the_run_is_unchanged(logged_in: httpx.Client, run_id: str) -> None:
    view = logged_in.get(f"/api/v1/runs/{run_id}/view").json()

    unchanged = logged_in.get(f"/api/v1/runs/{run_id}/view", params={"unless": view["revision"]})
    changed = logged_in.get(f"/api/v1/runs/{run_id}/view", params={"unless": "an-older-revision"})

    assert (unchanged.status_code, unchanged.content) == (204, b"")
    assert changed.status_code == 200 and changed.json()["revision"] == view["revision"]


def test_a_steps_newest_log_lines_are_served_on_request(
    logged_in: httpx.Client, store_url: str, tmp_path: Path
) -> None:
    recipe = tmp_path / "chatty.yaml"
    recipe.write_text(
        "steps:\n  - {name: chatty, uses: shell, foreach: '{{ [1, 2, 3] }}', args: {cmd: 'echo {{ item }}'}}\n"
    )
    chatty = framework0.run(recipe, store=store_url).run_id
    logs = logged_in.get(f"/api/v1/runs/{chatty}/view").json()["logs"]["chatty"]
    assert len(logs["lines"]) >= 3

    answer = logged_in.get(f"/api/v1/runs/{chatty}/logs", params={"step": "chatty", "limit": 1})

    assert answer.status_code == 200
    assert answer.json() == {"step": "chatty", "lines": logs["lines"][-1:], "dropped": len(logs["lines"]) - 1}
