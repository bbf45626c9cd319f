from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from framework0.context import ChangeSource, Context, ContextState
from framework0.errors import UnexpectedStatus
from framework0.scriptlets.builtin.http import HttpScriptlet


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/json":
            self._send(200, "application/json; charset=utf-8", json.dumps({"ok": True}).encode())
        elif self.path == "/text":
            self._send(200, "text/plain", b"plain words")
        elif self.path == "/bad-json":
            self._send(200, "application/json", b"{not json")
        else:
            self._send(404, "text/plain", b"no such thing " + b"x" * 300)

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        echo = {"got": body, "token": self.headers.get("X-Token")}
        self._send(201, "application/problem+json", json.dumps(echo).encode())

    def _send(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def base_url(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def request(args: dict[str, Any]) -> Any:
    ctx = Context(ContextState(), ChangeSource(node="test", step="s", attempt=1))
    scriptlet = HttpScriptlet()
    scriptlet.setup(ctx)
    return scriptlet.run(ctx, HttpScriptlet.parse_params(args))


def test_http_returns_status_headers_and_parsed_json(base_url: str) -> None:
    output = request({"url": f"{base_url}/json"})
    assert output["status"] == 200
    assert output["headers"]["content-type"] == "application/json; charset=utf-8"
    assert output["json"] == {"ok": True}
    assert "text" not in output


def test_http_returns_text_when_the_response_is_not_json(base_url: str) -> None:
    output = request({"url": f"{base_url}/text"})
    assert (output["status"], output["text"]) == (200, "plain words")
    assert "json" not in output


def test_http_keeps_a_body_that_claims_json_but_is_not_as_text(base_url: str) -> None:
    assert request({"url": f"{base_url}/bad-json"})["text"] == "{not json"


def test_http_sends_json_and_headers(base_url: str) -> None:
    output = request({"method": "post", "url": f"{base_url}/echo", "json": {"a": [1, 2]}, "headers": {"X-Token": "t0"}})
    assert output["status"] == 201
    assert output["json"] == {"got": {"a": [1, 2]}, "token": "t0"}


def test_http_fails_on_a_status_outside_2xx_naming_the_request(base_url: str) -> None:
    url = f"{base_url}/missing"
    with pytest.raises(UnexpectedStatus) as caught:
        request({"url": url})
    preview = ("no such thing " + "x" * 300)[:200]
    assert str(caught.value) == f"GET {url} returned 404 (expected 2xx): {preview!r}"


def test_http_accepts_an_expected_status(base_url: str) -> None:
    assert request({"url": f"{base_url}/missing", "expect_status": 404})["status"] == 404
    assert request({"url": f"{base_url}/missing", "expect_status": [200, 404]})["status"] == 404


def test_http_fails_on_a_2xx_when_another_status_is_expected(base_url: str) -> None:
    with pytest.raises(UnexpectedStatus) as caught:
        request({"url": f"{base_url}/text", "expect_status": [201, 204]})
    assert str(caught.value) == f"GET {base_url}/text returned 200 (expected 201 or 204): 'plain words'"


def test_http_timeout_accepts_a_duration_string() -> None:
    assert HttpScriptlet.parse_params({"url": "http://x", "timeout": "1500ms"}).timeout == 1.5
    assert HttpScriptlet.parse_params({"url": "http://x"}).timeout == 30.0
