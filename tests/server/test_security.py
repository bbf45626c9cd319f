"""The server's front door: token file, bearer and Origin checks, body and JSON-depth limits.

``Guard`` is exercised three ways: with hand-made ASGI messages, through Starlette's TestClient,
and on a real uvicorn server on loopback, where raw sockets send paths no client would normalise.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import os
import re
import socket
import stat
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.exceptions import StarletteDeprecationWarning
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect as websocket_connect
from websockets.typing import Origin

from framework0.client.token import load_or_create_token, read_token, token_file_default
from framework0.errors import BadRequestBody, BodyTooLarge, ServerError
from framework0.server.security import (
    AUTHENTICATED,
    ASGIApp,
    Guard,
    Message,
    Receive,
    Scope,
    Send,
    bearer_matches,
    default_origins,
    is_authenticated,
    json_depth,
    loads_bounded,
    origin_allowed,
    ws_token_ok,
)

with warnings.catch_warnings():
    # Starlette 1.x asks for httpx2 in its TestClient; the httpx installed here works the same
    warnings.filterwarnings("ignore", "Using `httpx` with `starlette.testclient`", StarletteDeprecationWarning)
    from starlette.testclient import TestClient, WebSocketDenialResponse

TOKEN = "test-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
MIB = 1 << 20
PAGE = "http://localhost:8765"


def json_string(size: int) -> bytes:
    """A JSON document of exactly ``size`` bytes."""
    return b'"' + b"x" * (size - 2) + b'"'


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


# --- the token file ------------------------------------------------------------------------------


def test_first_start_creates_a_token_file_only_its_owner_can_read(tmp_path: Path) -> None:
    path = tmp_path / "config" / "framework0" / "token"
    token, source = load_or_create_token(path, environ={})
    assert source == str(path)
    assert len(token) >= 43
    assert path.read_text() == f"{token}\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert os.listdir(path.parent) == ["token"]  # no temporary file left behind


def test_a_second_start_reuses_the_token(tmp_path: Path) -> None:
    path = tmp_path / "token"
    first, _ = load_or_create_token(path, environ={})
    second, _ = load_or_create_token(path, environ={})
    assert first == second


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o620], ids=oct)
def test_a_token_file_other_users_can_read_or_change_is_refused(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "token"
    load_or_create_token(path, environ={})
    path.chmod(mode)
    with pytest.raises(ServerError) as caught:
        load_or_create_token(path, environ={})
    assert str(caught.value) == (
        f"the token file {path} can be read or changed by other users (mode {mode:o}): run `chmod 600 {path}`"
    )


def test_an_empty_token_file_is_refused_with_a_way_out(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.touch(mode=0o600)
    with pytest.raises(ServerError) as caught:
        load_or_create_token(path, environ={})
    assert str(caught.value).startswith(f"the token in {path} is too short: use at least 16 characters")
    assert str(caught.value).endswith(": delete the file to get a new one, or set F0_TOKEN")


def test_f0_token_wins_over_the_file(tmp_path: Path) -> None:
    path = tmp_path / "token"
    assert load_or_create_token(path, environ={"F0_TOKEN": "x" * 16}) == ("x" * 16, "F0_TOKEN")
    assert not path.exists()


def test_a_short_f0_token_is_refused() -> None:
    with pytest.raises(ServerError) as caught:
        load_or_create_token(environ={"F0_TOKEN": "short"})
    assert str(caught.value) == (
        "F0_TOKEN is too short: use at least 16 characters, "
        "e.g. from `python -c 'import secrets; print(secrets.token_urlsafe(32))'`"
    )


def test_an_f0_token_with_spaces_is_refused() -> None:
    with pytest.raises(ServerError, match="^F0_TOKEN must be printable ASCII without spaces$"):
        load_or_create_token(environ={"F0_TOKEN": "sixteen chars or more"})


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"F0_TOKEN_FILE": "/etc/f0/token", "XDG_CONFIG_HOME": "/xdg"}, "/etc/f0/token"),
        ({"XDG_CONFIG_HOME": "/xdg", "HOME": "/home/u"}, "/xdg/framework0/token"),
        ({"XDG_CONFIG_HOME": "relative", "HOME": "/home/u"}, "/home/u/.config/framework0/token"),
        ({"HOME": "/home/u"}, "/home/u/.config/framework0/token"),
    ],
    ids=["F0_TOKEN_FILE", "XDG_CONFIG_HOME", "relative-XDG-ignored", "HOME"],
)
def test_token_file_default(environ: dict[str, str], expected: str) -> None:
    assert token_file_default(environ) == Path(expected)


def test_read_token_for_clients(tmp_path: Path) -> None:
    path = tmp_path / "token"
    assert read_token(path, environ={}) is None
    token, _ = load_or_create_token(path, environ={})
    assert read_token(path, environ={}) == token
    assert read_token(path, environ={"F0_TOKEN": "from-the-environment"}) == "from-the-environment"
    assert read_token(environ={"F0_TOKEN_FILE": str(path)}) == token


# --- bearer, origin and JSON checks --------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (f"Bearer {TOKEN}", True),
        (f"bearer {TOKEN}", True),
        (f"BEARER {TOKEN} ", True),
        (f"Bearer {TOKEN}x", False),
        (f"Bearer {TOKEN[:-1]}", False),
        (f"Basic {TOKEN}", False),
        (TOKEN, False),
        ("Bearer", False),
        ("Bearer ", False),
        ("", False),
        (None, False),
    ],
)
def test_bearer_matches(header: str | None, expected: bool) -> None:
    assert bearer_matches(header, TOKEN) is expected


def test_tokens_are_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[object, object]] = []

    def compare_digest(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return a == b

    monkeypatch.setattr(hmac, "compare_digest", compare_digest)
    assert bearer_matches(f"Bearer {TOKEN}", TOKEN)
    assert not ws_token_ok("nope", TOKEN)
    assert calls == [(TOKEN.encode(), TOKEN.encode()), (b"nope", TOKEN.encode())]


@pytest.mark.parametrize(
    ("message_token", "expected"), [(TOKEN, True), (TOKEN + "x", False), ("", False), (None, False), (123, False)]
)
def test_ws_token_ok(message_token: object, expected: bool) -> None:
    assert ws_token_ok(message_token, TOKEN) is expected


@pytest.mark.parametrize(
    ("origin", "expected"),
    [
        (None, True),
        (PAGE, True),
        ("HTTP://LOCALHOST:8765", True),
        ("null", False),
        ("NULL", False),
        ("", False),
        ("*", False),
        ("http://localhost:8766", False),
        ("https://localhost:8765", False),
        ("http://localhost:8765.evil.example", False),
        ("http://evil.example", False),
    ],
)
def test_origin_allowed(origin: str | None, expected: bool) -> None:
    assert origin_allowed(origin, [PAGE, "*"]) is expected


def test_default_origins() -> None:
    assert default_origins("127.0.0.1", 8765) == ("http://127.0.0.1:8765", "http://localhost:8765", "http://[::1]:8765")
    assert default_origins("box.lan", 80)[-1] == "http://box.lan"
    assert default_origins("fe80::1", 8765)[-1] == "http://[fe80::1]:8765"
    assert len(default_origins("0.0.0.0", 8765)) == 3


def test_json_depth() -> None:
    values: list[Any] = [1, "s", None, [], {}, [1, [2]], {"a": {"b": [{}]}}]
    assert [json_depth(value) for value in values] == [0, 0, 0, 1, 1, 2, 4]
    deep: list[Any] = []
    for _ in range(10_000):  # deeper than the recursion limit
        deep = [deep]
    assert json_depth(deep) == 10_001


def test_loads_bounded_parses_json_within_the_depth() -> None:
    assert loads_bounded(b'{"a": [1, 2]}') == {"a": [1, 2]}
    assert loads_bounded(nested(64)) is not None


@pytest.mark.parametrize("depth", [65, 1_000, 10_000])
def test_loads_bounded_refuses_deep_json_with_a_422(depth: int) -> None:
    with pytest.raises(BadRequestBody) as caught:
        loads_bounded(nested(depth))
    assert (caught.value.status, str(caught.value)) == (422, "JSON body nests deeper than 64 levels")


def test_loads_bounded_refuses_invalid_json_with_a_400() -> None:
    with pytest.raises(BadRequestBody) as caught:
        loads_bounded(b'{"a":')
    assert caught.value.status == 400
    assert str(caught.value) == "request body is not valid JSON: unexpected end of data: line 1 column 6 (char 5)"
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"token": "short"}, "the server token is too short"),
        ({"allowed_origins": ["*"]}, "allowed origins cannot be '*'"),
        ({"allowed_origins": ["null"]}, "allowed origin 'null' is not scheme://host[:port]"),
        ({"allowed_origins": ["http://x/path"]}, "allowed origin 'http://x/path' is not scheme://host[:port]"),
        ({"allowed_origins": PAGE}, "allowed_origins must be a collection of origins"),
        ({"public_paths": frozenset({"healthz"})}, "public path 'healthz' must start with '/'"),
    ],
)
def test_guard_refuses_unsafe_settings(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ServerError, match="^" + re.escape(message)):
        Guard(echo_app, **{"token": TOKEN, **options})


# --- Guard with hand-made ASGI messages ----------------------------------------------------------


async def echo_app(scope: Scope, receive: Receive, send: Send) -> None:
    """Reads the whole body, then answers 200 with its size."""
    size = 0
    more = True
    while more:
        message = await receive()
        size += len(message.get("body", b""))
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": str(size).encode()})


def run_asgi(app: ASGIApp, scope: Scope, incoming: list[Message]) -> list[Message]:
    sent: list[Message] = []

    async def receive() -> Message:
        return incoming.pop(0) if incoming else {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    async def call() -> None:
        await app(scope, receive, send)

    asyncio.run(call())
    return sent


def http_scope(*headers: tuple[bytes, bytes]) -> Scope:
    """An authorized POST /echo with ``headers`` added."""
    authorization = (b"authorization", AUTH["Authorization"].encode())
    return {
        "type": "http",
        "method": "POST",
        "path": "/echo",
        "raw_path": b"/echo",
        "headers": [authorization, *headers],
    }


def test_a_chunked_body_over_the_limit_gets_a_413_and_the_app_sees_body_too_large() -> None:
    failures: list[BaseException] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await echo_app(scope, receive, send)
        except BodyTooLarge as error:
            failures.append(error)
            await send({"type": "http.response.start", "status": 500, "headers": []})  # dropped by Guard

    chunks: list[Message] = [{"type": "http.request", "body": b"x" * 40, "more_body": True} for _ in range(3)]
    sent = run_asgi(Guard(app, token=TOKEN, max_body=100), http_scope(), chunks)
    assert [m.get("status") for m in sent] == [413, None]
    assert orjson.loads(sent[1]["body"]) == {
        "error": {"type": "BodyTooLarge", "message": "request body is larger than 100 bytes"}
    }
    assert (b"connection", b"close") in sent[0]["headers"]
    assert [type(error) for error in failures] == [BodyTooLarge]


def test_a_body_at_the_limit_passes() -> None:
    chunks: list[Message] = [
        {"type": "http.request", "body": b"x" * 50, "more_body": True},
        {"type": "http.request", "body": b"x" * 50},
    ]
    sent = run_asgi(Guard(echo_app, token=TOKEN, max_body=100), http_scope(), chunks)
    assert (sent[0]["status"], sent[1]["body"]) == (200, b"100")


def test_a_body_over_the_limit_after_the_response_started_aborts_the_request() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await receive()

    with pytest.raises(BodyTooLarge):
        run_asgi(Guard(app, token=TOKEN, max_body=10), http_scope(), [{"type": "http.request", "body": b"x" * 11}])


@pytest.mark.parametrize("length", [b"abc", b"-1", b"1e3", b"+5", b"5, 5", b"\xb2"])
def test_an_invalid_content_length_gets_a_400(length: bytes) -> None:
    sent = run_asgi(Guard(echo_app, token=TOKEN), http_scope((b"content-length", length)), [])
    assert sent[0]["status"] == 400


@pytest.mark.parametrize(
    ("path", "raw_path", "public"),
    [
        ("/healthz", b"/healthz", True),
        ("/healthz", None, True),
        ("/healthz", b"/%68ealthz", False),
        ("/healthz", b"/healthz/", False),
        ("/HEALTHZ", b"/HEALTHZ", False),
        ("/./healthz", b"/%2e/healthz", False),
    ],
)
def test_a_path_is_public_only_as_sent(path: str, raw_path: bytes | None, public: bool) -> None:
    guard = Guard(echo_app, token=TOKEN)
    assert guard.is_public({"type": "http", "path": path, "raw_path": raw_path}) is public


def test_two_authorization_headers_are_refused() -> None:
    scope = http_scope((b"authorization", b"Bearer other-token-0123456789"))
    assert run_asgi(Guard(echo_app, token=TOKEN), scope, [])[0]["status"] == 401


def test_lifespan_passes_through() -> None:
    seen: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope["type"])

    run_asgi(Guard(app, token=TOKEN), {"type": "lifespan"}, [])
    assert seen == ["lifespan"]


def test_a_refused_websocket_is_closed_with_4403_when_the_server_cannot_send_an_http_answer() -> None:
    scope = {"type": "websocket", "path": "/ws", "headers": [(b"origin", b"null")]}
    sent = run_asgi(Guard(echo_app, token=TOKEN), scope, [{"type": "websocket.connect"}])
    assert sent == [{"type": "websocket.close", "code": 4403}]


def test_a_websocket_with_a_wrong_token_is_closed_with_4401_when_the_server_cannot_send_an_http_answer() -> None:
    scope = {"type": "websocket", "path": "/ws", "headers": [(b"authorization", b"Bearer wrong")]}
    sent = run_asgi(Guard(echo_app, token=TOKEN), scope, [{"type": "websocket.connect"}])
    assert sent == [{"type": "websocket.close", "code": 4401}]


# --- Guard in front of a Starlette app: TestClient and a real uvicorn server ---------------------


async def healthz(request: Request) -> Response:
    return JSONResponse({"ok": True})


async def echo(request: Request) -> Response:
    body = b"".join([chunk async for chunk in request.stream()])
    if body:
        loads_bounded(body)
    return JSONResponse({"bytes": len(body), "authenticated": is_authenticated(request.scope)})


async def anything(request: Request) -> Response:
    """Any other path answers 200, so a request that slipped past Guard would show."""
    return JSONResponse({"path": request.url.path})


async def hello(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_json({"authenticated": websocket.scope[AUTHENTICATED]})
    await websocket.close()


async def bad_body(request: Request, error: Exception) -> Response:
    assert isinstance(error, BadRequestBody)
    return JSONResponse(
        {"error": {"type": type(error).__name__, "message": str(error)}}, status_code=error.status or 400
    )


def make_app() -> Guard:
    app = Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/echo", echo, methods=["POST"]),
            WebSocketRoute("/ws", hello),
            Route("/{path:path}", anything),
        ],
        exception_handlers={BadRequestBody: bad_body},
    )
    return Guard(app, token=TOKEN, allowed_origins=[PAGE])


@pytest.fixture
def client() -> Iterator[TestClient]:
    with TestClient(make_app()) as test_client:
        yield test_client


def test_client_healthz_needs_no_token(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"ok": True}
    assert client.get("/healthz?x=1").status_code == 200


@pytest.mark.parametrize(
    "raw_path",
    [
        b"/x/healthz",
        b"/healthz/",
        b"//healthz",
        b"/HEALTHZ",
        b"/healthz;x",
        b"/%2e/healthz",
        b"/%68ealthz",
        b"/healthz%2f",
    ],
)
def test_client_suffix_tricks_need_the_token(client: TestClient, raw_path: bytes) -> None:
    url = httpx.URL("http://testserver").copy_with(raw_path=raw_path)
    response = client.get(url)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="framework0"'
    assert response.json()["error"]["type"] == "Unauthorized"
    assert client.get(url, headers=AUTH).status_code == 200


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}])
def test_client_every_other_route_needs_the_right_token(client: TestClient, headers: dict[str, str]) -> None:
    response = client.post("/echo", content=b"{}", headers=headers)
    assert response.status_code == 401
    assert response.json() == {
        "error": {
            "type": "Unauthorized",
            "message": "missing or wrong bearer token: send 'Authorization: Bearer TOKEN'",
        }
    }


def test_client_body_limit_with_content_length_and_chunked(client: TestClient) -> None:
    assert client.post("/echo", content=json_string(MIB), headers=AUTH).json() == {"bytes": MIB, "authenticated": True}
    assert client.post("/echo", content=b" " * (MIB + 1), headers=AUTH).status_code == 413
    response = client.post("/echo", content=iter([b" " * MIB, b" "]), headers=AUTH)
    assert "content-length" not in response.request.headers
    assert response.status_code == 413
    assert response.json()["error"]["type"] == "BodyTooLarge"


def test_client_deep_json_is_a_4xx(client: TestClient) -> None:
    response = client.post("/echo", content=nested(10_000), headers=AUTH)
    assert response.status_code == 422
    assert response.json() == {"error": {"type": "BadRequestBody", "message": "JSON body nests deeper than 64 levels"}}


def test_client_websocket_origin_and_token(client: TestClient) -> None:
    with client.websocket_connect("/ws", headers={**AUTH, "Origin": PAGE}) as websocket:
        assert websocket.receive_json() == {"authenticated": True}
    with client.websocket_connect("/ws") as websocket:
        assert websocket.receive_json() == {"authenticated": False}
    for headers in ({"Origin": "null"}, {"Origin": "http://evil.example"}):
        with pytest.raises(WebSocketDenialResponse) as denied, client.websocket_connect("/ws", headers=headers):
            pass
        assert denied.value.status_code == 403
        assert denied.value.json()["error"]["type"] == "Forbidden"
    with (
        pytest.raises(WebSocketDenialResponse) as denied,
        client.websocket_connect("/ws", headers={"Authorization": "Bearer wrong"}),
    ):
        pass
    assert denied.value.status_code == 401


@contextlib.contextmanager
def running(http: str) -> Iterator[int]:
    """A uvicorn server for ``make_app()`` on 127.0.0.1 and an ephemeral port, in a thread."""
    config = uvicorn.Config(
        make_app(), host="127.0.0.1", port=0, http=http, ws="websockets-sansio", lifespan="off", log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"uvicorn-{http}", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.01)
        yield server.servers[0].sockets[0].getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        assert not thread.is_alive(), "uvicorn did not stop"


@pytest.fixture(scope="module", params=["h11", "httptools"])
def port(request: pytest.FixtureRequest) -> Iterator[int]:
    with running(request.param) as server_port:
        yield server_port


def raw_request(port: int, head: bytes, body: bytes = b"") -> tuple[int, bytes]:
    """Send bytes as they are; the status and the body of the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head + body)
        received = b""
        while len(received) < 1 << 16:
            data = sock.recv(1 << 16)
            if not data:
                break
            received += data
    status_line, _, rest = received.partition(b"\r\n")
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2]


def get(target: bytes, headers: bytes = b"") -> bytes:
    return b"GET " + target + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n" + headers + b"\r\n"


TRICKS = [
    b"/x/healthz",
    b"/healthz/",
    b"//healthz",
    b"/HEALTHZ",
    b"/healthz;x",
    b"/%2e/healthz",
    b"/%2E/healthz",
    b"/%68ealthz",
    b"/healthz%2f",
    b"/./healthz",
    b"/api/../healthz",
    b"/healthz/.",
    b"/healthz%00",
    b"/healthz%20",
]


def test_server_healthz_needs_no_token(port: int) -> None:
    assert raw_request(port, get(b"/healthz")) == (200, b'{"ok":true}')
    assert raw_request(port, get(b"/healthz?x"))[0] == 200


@pytest.mark.parametrize("target", TRICKS)
def test_server_suffix_tricks_need_the_token(port: int, target: bytes) -> None:
    status, body = raw_request(port, get(target))
    assert status == 401
    assert orjson.loads(body)["error"]["type"] == "Unauthorized"


def test_server_a_wrong_token_is_refused(port: int) -> None:
    assert raw_request(port, get(b"/anything", b"Authorization: Bearer wrong\r\n"))[0] == 401
    assert raw_request(port, get(b"/anything", f"Authorization: Bearer {TOKEN}\r\n".encode()))[0] == 200


def test_server_a_content_length_over_the_limit_gets_a_413_before_the_body_is_sent(port: int) -> None:
    head = (
        f"POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\nContent-Length: {MIB + 1}\r\n\r\n"
    )
    status, body = raw_request(port, head.encode())
    assert status == 413
    assert orjson.loads(body) == {
        "error": {"type": "BodyTooLarge", "message": f"request body is larger than {MIB} bytes"}
    }


@pytest.fixture
def http(port: int) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=AUTH, timeout=10) as client:
        yield client


def test_server_a_body_of_exactly_the_limit_passes(http: httpx.Client) -> None:
    assert http.post("/echo", content=json_string(MIB)).json() == {"bytes": MIB, "authenticated": True}


def test_server_a_chunked_body_over_the_limit_gets_a_413(http: httpx.Client) -> None:
    response = http.post("/echo", content=iter([b" " * (MIB // 2)] * 2 + [b" "]))
    assert response.request.headers["transfer-encoding"] == "chunked"
    assert (response.status_code, response.json()["error"]["type"]) == (413, "BodyTooLarge")


def test_server_deep_json_is_a_4xx(http: httpx.Client) -> None:
    assert http.post("/echo", content=nested(10_000)).status_code == 422


def test_server_websocket_with_the_token_and_an_allowed_origin(port: int) -> None:
    url = f"ws://127.0.0.1:{port}/ws"
    with websocket_connect(url, origin=Origin(PAGE), additional_headers=AUTH, open_timeout=10) as websocket:
        assert orjson.loads(websocket.recv(timeout=10)) == {"authenticated": True}


def test_server_websocket_without_a_token_is_flagged_unauthenticated(port: int) -> None:
    with websocket_connect(f"ws://127.0.0.1:{port}/ws", open_timeout=10) as websocket:
        assert orjson.loads(websocket.recv(timeout=10)) == {"authenticated": False}


@pytest.mark.parametrize("origin", ["null", "http://evil.example", "http://localhost:8766"])
def test_server_websocket_from_another_origin_is_refused(port: int, origin: str) -> None:
    with pytest.raises(InvalidStatus) as refused:
        websocket_connect(f"ws://127.0.0.1:{port}/ws", origin=Origin(origin), additional_headers=AUTH, open_timeout=10)
    assert refused.value.response.status_code == 403
    assert orjson.loads(refused.value.response.body or b"")["error"]["type"] == "Forbidden"


def test_server_websocket_with_a_wrong_token_is_refused(port: int) -> None:
    with pytest.raises(InvalidStatus) as refused:
        websocket_connect(
            f"ws://127.0.0.1:{port}/ws", additional_headers={"Authorization": "Bearer wrong"}, open_timeout=10
        )
    assert refused.value.response.status_code == 401
    assert orjson.loads(refused.value.response.body or b"")["error"]["type"] == "Unauthorized"
