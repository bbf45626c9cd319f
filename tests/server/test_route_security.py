"""Every route of the real server needs the bearer token, except exactly ``GET /healthz``.

The routes are enumerated from ``create_api(settings)``, so a route added later is checked too (one
with a path parameter that has no sample value here fails ``test_the_routes_are_all_found``). Paths that only look
like ``/healthz`` are sent raw, on a socket, so that no client normalises them. ``f0 serve`` is
started for real to check what it binds and the token file it creates.
"""

from __future__ import annotations

import os
import re
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from click.testing import CliRunner
from fastapi.routing import iter_route_contexts
from starlette.routing import WebSocketRoute
from tests.server.servers import READY, Server, new_token, server_thread, start_process, stop
from tests.store.store_backends import sqlite_url
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection
from websockets.sync.client import connect as websocket_connect

from framework0.cli.main import cli
from framework0.server.app import create_api
from framework0.server.settings import Settings

TOKEN = new_token()
AUTH_DEADLINE_S = 1.0

#: a valid value for each path parameter of the API
PATH_SAMPLES = {"name": "sample", "key": "a.b", "run_id": "run-0001"}
#: what a route needs besides its path to do its work (with the token)
REQUESTS: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/api/v1/contexts"): {"json": {"name": "sample", "strategies": {}}},
    ("PUT", "/api/v1/contexts/{name}/strategies"): {"json": {"strategies": {"counters.*": "counter"}}},
    ("PUT", "/api/v1/contexts/{name}/keys/{key:path}"): {"json": {"value": 1}},
    ("POST", "/api/v1/contexts/{name}/changes"): {"json": {"set": {"a.c": 2}}},
    ("GET", "/api/v1/contexts/{name}/diff"): {"params": {"from": 0}},
    ("POST", "/api/v1/runs/{run_id}/events"): {"json": {"events": []}},
}
WRONG_AUTHORIZATIONS = {
    "another-token": f"Bearer {new_token()}",
    "token-prefix": f"Bearer {TOKEN[:-1]}",
    "token-and-more": f"Bearer {TOKEN}x",
    "no-scheme": TOKEN,
    "basic-scheme": f"Basic {TOKEN}",
    "bearer-alone": "Bearer",
    "lower-case-scheme-wrong-token": f"bearer {new_token()}",
}


@dataclass(frozen=True)
class Endpoint:
    method: str  # "WEBSOCKET" for the WebSocket route
    template: str  # the route's path, as declared

    @property
    def path(self) -> str:
        """The path with every parameter filled with a valid sample."""
        return re.sub(r"{(\w+)(:\w+)?}", lambda found: PATH_SAMPLES[found.group(1)], self.template)

    @property
    def label(self) -> str:
        return f"{self.method} {self.template}"


def endpoints() -> list[Endpoint]:
    """Every route of the API, with each of its methods; the WebSocket route once."""
    found = []
    for context in iter_route_contexts(create_api(Settings(token=TOKEN)).routes):
        route = context.original_route
        assert context.path is not None, route
        if isinstance(route, WebSocketRoute):
            found.append(Endpoint("WEBSOCKET", context.path))
        else:
            methods = getattr(route, "methods", None)
            assert methods, f"a route with no methods: {route!r}"
            found.extend(Endpoint(method, context.path) for method in sorted(methods))
    return sorted(found, key=lambda endpoint: (endpoint.template, endpoint.method))


ENDPOINTS = endpoints()
HTTP_ENDPOINTS = [endpoint for endpoint in ENDPOINTS if endpoint.method != "WEBSOCKET"]
PUBLIC = {Endpoint("GET", "/healthz")}
PROTECTED_HTTP = [endpoint for endpoint in HTTP_ENDPOINTS if endpoint not in PUBLIC]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("route-security")
    with server_thread(sqlite_url(folder / "server.db"), token=TOKEN, auth_deadline_s=AUTH_DEADLINE_S) as running:
        yield running


@pytest.fixture(scope="module")
def http(server: Server) -> Iterator[httpx.Client]:
    """A client with no token."""
    with httpx.Client(base_url=server.url, timeout=30) as client:
        yield client


def call(http: httpx.Client, endpoint: Endpoint, headers: dict[str, str]) -> httpx.Response:
    options = REQUESTS.get((endpoint.method, endpoint.template), {})
    return http.request(endpoint.method, endpoint.path, headers=headers, **options)


def assert_unauthorized(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == 'Bearer realm="framework0"'
    if response.request.method != "HEAD":
        assert response.json()["error"]["type"] == "Unauthorized"


def test_the_routes_are_all_found() -> None:
    """The enumeration sees the routers' routes, the WebSocket and the OpenAPI document."""
    labels = {endpoint.label for endpoint in ENDPOINTS}
    assert {
        "GET /healthz",
        "GET /openapi.json",
        "WEBSOCKET /api/v1/ws",
        "GET /api/v1/contexts/{name}",
        "PUT /api/v1/contexts/{name}/keys/{key:path}",
        "POST /api/v1/contexts/{name}/changes",
        "POST /api/v1/runs/{run_id}/events",
    } <= labels
    assert len(labels) == len(ENDPOINTS)
    assert all(endpoint.path.startswith("/") for endpoint in ENDPOINTS)  # every parameter has a sample


# --- HTTP ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("endpoint", HTTP_ENDPOINTS, ids=lambda endpoint: endpoint.label)
def test_every_route_needs_the_token(http: httpx.Client, endpoint: Endpoint) -> None:
    response = call(http, endpoint, {})
    if endpoint in PUBLIC:
        assert response.status_code == 200
    else:
        assert_unauthorized(response)


@pytest.mark.parametrize("authorization", WRONG_AUTHORIZATIONS.values(), ids=WRONG_AUTHORIZATIONS.keys())
@pytest.mark.parametrize("endpoint", PROTECTED_HTTP, ids=lambda endpoint: endpoint.label)
def test_every_route_refuses_a_wrong_token(http: httpx.Client, endpoint: Endpoint, authorization: str) -> None:
    assert_unauthorized(call(http, endpoint, {"Authorization": authorization}))


@pytest.mark.parametrize("endpoint", HTTP_ENDPOINTS, ids=lambda endpoint: endpoint.label)
def test_every_route_serves_the_right_token(http: httpx.Client, server: Server, endpoint: Endpoint) -> None:
    response = call(http, endpoint, server.headers)
    if response.status_code == 404:  # the samples are valid: only what they name may not exist
        assert response.json()["error"]["type"] in ("KeyNotFound", "RunNotFound")
    else:
        assert response.status_code in (200, 201), response.text


def test_two_authorization_headers_are_refused_even_if_one_is_right(server: Server) -> None:
    head = (
        f"GET /api/v1/contexts HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        f"Authorization: Bearer {TOKEN}\r\nAuthorization: Bearer wrong\r\n\r\n"
    )
    assert raw_request(server, head.encode())[0] == 401


# --- paths that only look public ---------------------------------------------------------------


def raw_request(server: Server, head: bytes) -> tuple[int, bytes]:
    """Send ``head`` as it is; the answer's status and body."""
    host, port = server.url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(head)
        received = b""
        while data := sock.recv(1 << 16):
            received += data
    status_line, _, rest = received.partition(b"\r\n")
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2]


def get(target: bytes, method: bytes = b"GET") -> bytes:
    return method + b" " + target + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"


TRICKS = [
    b"/x/healthz",
    b"/healthz/",
    b"/healthz/.",
    b"/%2e/healthz",
    b"/%2E/healthz",
    b"/./healthz",
    b"//healthz",
    b"/HEALTHZ",
    b"/healthz%00",
    b"/healthz%20",
    b"/healthz%2f",
    b"/api/v1/../healthz",
    b"/api/v1/%2e%2e/healthz",
    b"/healthz;x",
    b"/%68ealthz",
    b"/api/v1/contexts/%2e%2e/x",
    b"/api/v1/contexts/../../healthz",
    b"/healthz/../api/v1/contexts",
    b"/healthz/..%2fapi/v1/contexts",
    b"/healthz%2f..%2fapi/v1/contexts",
    b"http://127.0.0.1/api/v1/contexts",
    b"/openapi.json",
    b"/api/v1/ws",
]


def test_healthz_needs_no_token(server: Server) -> None:
    for target in (b"/healthz", b"/healthz?x=1"):
        status, body = raw_request(server, get(target))
        assert (status, orjson.loads(body)) == (200, {"status": "ok", "store": "sqlite"})


@pytest.mark.parametrize("target", TRICKS, ids=lambda target: target.decode())
def test_paths_that_only_look_public_need_the_token(server: Server, target: bytes) -> None:
    status, body = raw_request(server, get(target))
    assert status in (400, 401, 404), body
    assert orjson.loads(body).keys() == {"error"}  # never data
    if status == 401:
        assert orjson.loads(body)["error"]["type"] == "Unauthorized"


@pytest.mark.parametrize("method", [b"HEAD", b"OPTIONS", b"PATCH", b"TRACE", b"POST"])
def test_other_methods_on_a_protected_path_need_the_token(server: Server, method: bytes) -> None:
    assert raw_request(server, get(b"/api/v1/contexts", method))[0] == 401


# --- the WebSocket -------------------------------------------------------------------------------


def ws_connect(server: Server, headers: dict[str, str] | None = None) -> ClientConnection:
    return websocket_connect(server.ws_url, additional_headers=headers, open_timeout=30, close_timeout=5)


def closed_with(websocket: ClientConnection) -> int | None:
    """Read until the server closes the connection; its close code. Fails if any data arrives first."""
    with pytest.raises(ConnectionClosed) as closed:
        message = websocket.recv(timeout=AUTH_DEADLINE_S * 10)
        pytest.fail(f"an unauthenticated WebSocket was sent {message!r}")
    return closed.value.rcvd.code if closed.value.rcvd is not None else None


def test_a_websocket_without_a_token_is_closed_at_the_auth_deadline(server: Server) -> None:
    with ws_connect(server) as websocket:
        started = time.monotonic()
        assert closed_with(websocket) == 4401
        assert time.monotonic() - started < AUTH_DEADLINE_S + 5


@pytest.mark.parametrize(
    "message",
    [
        {"op": "subscribe", "context": "sample", "since": 0},
        {"op": "subscribe", "run": "*"},
        {"op": "write", "id": 1, "context": "sample", "changes": [{"set": {"x": 1}}]},
        {"op": "ping"},
        {"op": "auth", "token": "wrong-token-0123456789abcdef"},
        {"op": "auth", "token": TOKEN[:-1]},
        {"op": "auth"},
    ],
    ids=lambda message: str(message.get("op")),
)
def test_a_websocket_without_a_token_gets_nothing_but_a_close(server: Server, message: dict[str, Any]) -> None:
    with ws_connect(server) as websocket:
        websocket.send(orjson.dumps(message).decode())
        assert closed_with(websocket) == 4401


def test_a_websocket_cannot_stay_unauthenticated_by_sending_garbage(server: Server) -> None:
    with ws_connect(server) as websocket:
        deadline = time.monotonic() + AUTH_DEADLINE_S * 3
        with pytest.raises(ConnectionClosed):
            while time.monotonic() < deadline:
                websocket.send("not json")
                time.sleep(AUTH_DEADLINE_S / 4)
                with pytest.raises(TimeoutError):
                    message = websocket.recv(timeout=0)
                    pytest.fail(f"an unauthenticated WebSocket was sent {message!r}")
            websocket.recv(timeout=AUTH_DEADLINE_S * 2)


@pytest.mark.parametrize("authorization", WRONG_AUTHORIZATIONS.values(), ids=WRONG_AUTHORIZATIONS.keys())
def test_a_websocket_handshake_with_a_wrong_token_is_refused(server: Server, authorization: str) -> None:
    with pytest.raises(InvalidStatus) as refused:
        ws_connect(server, {"Authorization": authorization})
    assert refused.value.response.status_code == 401
    assert orjson.loads(refused.value.response.body or b"")["error"]["type"] == "Unauthorized"


def test_a_websocket_with_the_token_in_its_handshake_is_served(server: Server) -> None:
    with ws_connect(server, server.headers) as websocket:
        websocket.send('{"op": "ping"}')
        assert orjson.loads(websocket.recv(timeout=30)) == {"type": "pong"}


def test_a_websocket_that_authenticates_first_is_served(server: Server) -> None:
    with ws_connect(server) as websocket:
        websocket.send(orjson.dumps({"op": "auth", "token": TOKEN}).decode())
        assert orjson.loads(websocket.recv(timeout=30)) == {"type": "authenticated"}
        websocket.send('{"op": "ping"}')
        assert orjson.loads(websocket.recv(timeout=30)) == {"type": "pong"}


# --- f0 serve: where it listens, and its token file ---------------------------------------------


def test_the_server_listens_on_loopback_by_default(tmp_path: Path) -> None:
    assert Settings(token=TOKEN).host == "127.0.0.1"
    result = CliRunner().invoke(cli, ["serve", "--help"], terminal_width=200, prog_name="f0")
    assert result.exit_code == 0, result.output
    assert re.search(
        r"--host TEXT +The address to listen on \(loopback by default\)\. +\[default: 127\.0\.0\.1\]", result.output
    )
    served = start_process(sqlite_url(tmp_path / "server.db"), TOKEN)
    try:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", served.url)
        port = int(served.url.rsplit(":", 1)[1])
        assert httpx.get(f"{served.url}/healthz", timeout=30).status_code == 200
        if sys.platform == "linux":  # all of 127/8 is loopback there: a wildcard bind would answer on 127.0.0.2
            with pytest.raises(ConnectionRefusedError):
                socket.create_connection(("127.0.0.2", port), timeout=10).close()
    finally:
        stop(served)


@contextmanager
def serve_without_f0_token(store_url: str, environ: dict[str, str], *args: str) -> Iterator[tuple[Server, str]]:
    """``f0 serve --port 0`` with ``F0_TOKEN`` unset: the server, and where it says its token is."""
    env = {key: value for key, value in os.environ.items() if key not in ("F0_TOKEN", "F0_TOKEN_FILE")}
    process = subprocess.Popen(
        [sys.executable, "-m", "framework0", "serve", "--port", "0", "--store", store_url, *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**env, **environ},
    )
    assert process.stderr is not None
    drain = threading.Thread(target=process.stderr.read, daemon=True)
    try:
        lines = []
        for line in process.stderr:
            lines.append(line)
            ready = READY.search(line)
            if ready:
                drain.start()
                where = re.search(r"\(token: (.+)\)$", line.strip())
                assert where is not None, line
                yield Server(ready.group(1), "", process=process), where.group(1)
                return
        raise AssertionError("f0 serve did not start:\n" + "".join(lines))
    finally:
        stop(Server("", "", process=process))
        if drain.is_alive():
            drain.join(timeout=30)
        process.stderr.close()


@pytest.mark.parametrize("how", ["XDG_CONFIG_HOME", "F0_TOKEN_FILE", "--token-file"])
def test_f0_serve_creates_a_private_token_file_and_reuses_it(tmp_path: Path, how: str) -> None:
    home = tmp_path / "home"
    home.mkdir()
    environ = {"HOME": str(home), "XDG_CONFIG_HOME": str(tmp_path / "config")}
    args: tuple[str, ...] = ()
    if how == "XDG_CONFIG_HOME":
        path = tmp_path / "config" / "framework0" / "token"
    elif how == "F0_TOKEN_FILE":
        path = tmp_path / "secrets" / "f0-token"
        environ["F0_TOKEN_FILE"] = str(path)
    else:
        path = tmp_path / "elsewhere" / "token"
        args = ("--token-file", str(path))
    store_url = sqlite_url(tmp_path / "server.db")

    tokens = []
    for start in ("first", "second"):
        with serve_without_f0_token(store_url, environ, *args) as (served, where):
            assert where == str(path), start
            token = path.read_text().strip()
            assert stat.S_IMODE(path.stat().st_mode) == 0o600
            assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
            assert len(token) >= 32
            bearer = {"Authorization": f"Bearer {token}"}
            assert httpx.get(f"{served.url}/api/v1/contexts", headers=bearer, timeout=30).status_code == 200
            assert httpx.get(f"{served.url}/api/v1/contexts", timeout=30).status_code == 401
            tokens.append(token)
    assert tokens[0] == tokens[1]
    assert sorted(os.listdir(path.parent)) == [path.name]  # no temporary file left behind
    assert not (home / ".config").exists()
