"""Slow and greedy clients cannot keep others out of the server (framework0.server.limits).

Thousands of raw sockets from several loopback addresses (127.0.0.2, 127.0.0.3, ...) send half a
request and stop, or send a body a few bytes at a time, while the test checks that others are
served, that the server closes the slow ones by its deadlines, and that one address cannot hold
more than its share of connections.
"""

from __future__ import annotations

import contextlib
import errno
import selectors
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from tests.server.servers import Server, server_process, server_thread
from tests.store.store_backends import sqlite_url
from websockets.sync.client import connect as websocket_connect

from framework0.server import limits

HALF_A_HEAD = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: slow"
WAIT = 30.0  # seconds: a generous bound for what should take a second or two


@pytest.fixture(params=["httptools", "h11"])
def protocol(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both of uvicorn's HTTP/1.1 protocols under the limits (h11 serves where httptools is missing)."""
    if request.param == "h11":
        from uvicorn.protocols.http.h11_impl import H11Protocol

        monkeypatch.setattr(limits, "http_protocol_class", lambda: H11Protocol)
    return str(request.param)


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    return sqlite_url(tmp_path / "runs.db")


def need_files(count: int) -> None:
    """Raise this process's soft open-file limit to ``count`` (skip if the hard limit is lower)."""
    resource = pytest.importorskip("resource", reason="no open-file limits to raise here")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < count:
        if hard != resource.RLIM_INFINITY and hard < count:
            pytest.skip(f"this test needs {count} open files; the hard limit is {hard}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (count, hard))


def loopback(index: int) -> str:
    """127.0.0.INDEX (Linux routes all of 127.0.0.0/8 to the loopback interface)."""
    return f"127.0.0.{index}"


def open_socket(port: int, source: str) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind((source, 0))
    except OSError as error:
        sock.close()
        if error.errno == errno.EADDRNOTAVAIL:
            pytest.skip(f"{source} is not a loopback address here")
        raise
    sock.settimeout(WAIT)
    sock.connect(("127.0.0.1", port))
    return sock


@contextlib.contextmanager
def slow_clients(port: int, sources: list[str], each: int, first: bytes = HALF_A_HEAD) -> Iterator[list[socket.socket]]:
    """``each`` connections from every address of ``sources`` that send ``first`` and nothing more."""
    socks: list[socket.socket] = []
    try:
        for source in sources:
            for _ in range(each):
                sock = open_socket(port, source)
                socks.append(sock)
                if first:
                    with contextlib.suppress(OSError):  # the server may close it already (when full)
                        sock.sendall(first)
        yield socks
    finally:
        for sock in socks:
            sock.close()


def as_socket(fileobj: object) -> socket.socket:
    assert isinstance(fileobj, socket.socket)
    return fileobj


def wait_until_closed(socks: list[socket.socket], within: float) -> dict[str, int]:
    """Read each socket until the server closes it; what the server sent before closing, counted
    by status line ("" for nothing). Fails if some are still open after ``within`` seconds."""
    answers: dict[socket.socket, bytes] = {sock: b"" for sock in socks}
    selector = selectors.DefaultSelector()
    for sock in socks:
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ)
    open_count = len(socks)
    deadline = time.monotonic() + within
    try:
        while open_count and time.monotonic() < deadline:
            for key, _ in selector.select(timeout=1.0):
                sock = as_socket(key.fileobj)
                try:
                    data = sock.recv(1 << 16)
                except BlockingIOError:  # readable a moment ago, nothing now
                    continue
                except ConnectionResetError:  # closed with data unread: as good as closed
                    data = b""
                if data:
                    answers[sock] += data
                    continue
                selector.unregister(sock)
                open_count -= 1
    finally:
        selector.close()
    assert open_count == 0, f"{open_count} of {len(socks)} slow connections still open after {within:.0f} s"
    counts: dict[str, int] = {}
    for answer in answers.values():
        line = answer.partition(b"\r\n")[0].decode(errors="replace")
        counts[line] = counts.get(line, 0) + 1
    return counts


def request(port: int, source: str, head: bytes) -> tuple[int, bytes]:
    """One whole request from ``source``: the status and the body of the answer (0: closed without one)."""
    with open_socket(port, source) as sock:
        sock.sendall(head)
        received = b""
        with contextlib.suppress(ConnectionResetError):
            while data := sock.recv(1 << 16):
                received += data
    if not received:
        return 0, b""
    status_line, _, rest = received.partition(b"\r\n")
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2]


def get(path: str, token: str | None = None) -> bytes:
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n{auth}\r\n".encode()


def port_of(server: Server) -> int:
    return int(server.url.rsplit(":", 1)[1])


def served_quickly(server: Server, source: str = "127.0.0.1") -> None:
    """/healthz and an authenticated GET from ``source`` both answer 200 within a few seconds."""
    port = port_of(server)
    for path, token in (("/healthz", None), ("/api/v1/contexts", server.token)):
        started = time.monotonic()
        status, body = request(port, source, get(path, token))
        assert status == 200, (path, status, body)
        assert time.monotonic() - started < 15, f"{path} took {time.monotonic() - started:.1f} s"


# --- the request head ----------------------------------------------------------------------------


def test_thousands_of_half_requests_are_closed_after_the_head_timeout_and_others_are_served(
    store_url: str, protocol: str
) -> None:
    need_files(2 * 3_000 + 1_000)  # both ends of every socket are in this process
    with (
        server_thread(store_url, head_timeout_s=2.0) as server,
        slow_clients(port_of(server), [loopback(i) for i in range(2, 14)], each=250) as slow,
    ):
        served_quickly(server)
        answers = wait_until_closed(slow, within=WAIT)
    # a 408 for a head that did not finish (nothing if the server was too busy to read even its start)
    assert set(answers) <= {"HTTP/1.1 408 Request Timeout", ""}
    assert answers.get("HTTP/1.1 408 Request Timeout", 0) > 0


def test_a_connection_that_sends_nothing_is_closed_after_the_head_timeout(store_url: str, protocol: str) -> None:
    with server_thread(store_url, head_timeout_s=2.0) as server:
        started = time.monotonic()
        with slow_clients(port_of(server), [loopback(2)], each=20, first=b"") as silent:
            assert wait_until_closed(silent, within=WAIT) == {"": 20}
        assert time.monotonic() - started >= 1.5  # not at once: the deadline is 2 s


def test_a_kept_alive_connection_is_not_cut_between_requests(store_url: str, protocol: str) -> None:
    with server_thread(store_url, head_timeout_s=2.0) as server, open_socket(port_of(server), "127.0.0.1") as sock:
        for turn in range(2):
            if turn:
                time.sleep(3.0)  # longer than the head timeout, shorter than the keep-alive timeout (30 s)
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            answer = b""
            while not answer.endswith(b"}"):
                data = sock.recv(1 << 16)
                assert data, "the server closed a kept-alive connection"
                answer += data
            assert answer.startswith(b"HTTP/1.1 200 ")


# --- the body ------------------------------------------------------------------------------------


def put_head(server: Server, length: int) -> bytes:
    return (
        f"PUT /api/v1/contexts/slow/keys/k HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {server.token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {length}\r\nConnection: close\r\n\r\n"
    ).encode()


def test_a_body_that_trickles_slower_than_the_minimum_rate_is_cut(store_url: str, protocol: str) -> None:
    with server_thread(store_url, body_timeout_s=2.0, body_min_rate=1000) as server:
        body = orjson.dumps({"value": "x" * 10_000})
        with open_socket(port_of(server), "127.0.0.2") as sock:
            sock.sendall(put_head(server, len(body)) + body[:10])
            sock.setblocking(False)
            answer, sent, started = b"", 10, time.monotonic()
            selector = selectors.DefaultSelector()
            selector.register(sock, selectors.EVENT_READ)
            while time.monotonic() - started < WAIT:
                if selector.select(timeout=0.2):  # the server answered or closed
                    try:
                        data = sock.recv(1 << 16)
                    except BlockingIOError:  # woken, yet nothing to read after all: wait again
                        continue
                    except ConnectionResetError:
                        break
                    if not data:  # closed
                        break
                    answer += data
                    continue
                with contextlib.suppress(OSError):
                    sock.send(body[sent : sent + 1])  # 5 bytes a second
                    sent += 1
            selector.close()
        assert time.monotonic() - started < WAIT, "the trickling body was never cut"
        assert answer.startswith(b"HTTP/1.1 408 ") or answer == b"", answer
        served_quickly(server, "127.0.0.2")


def test_a_slow_but_steady_body_is_not_cut(store_url: str, protocol: str) -> None:
    with server_thread(store_url, body_timeout_s=1.0, body_min_rate=1000) as server:
        body = orjson.dumps({"value": "x" * 30_000})  # 3 s at 10 KB a second, 10 times the minimum rate
        with open_socket(port_of(server), "127.0.0.2") as sock:
            sock.sendall(put_head(server, len(body)) + body[:1_000])
            for start in range(1_000, len(body), 1_000):
                time.sleep(0.1)
                sock.sendall(body[start : start + 1_000])
            answer = b""
            while data := sock.recv(1 << 16):
                answer += data
        assert answer.startswith(b"HTTP/1.1 200 "), answer


# --- connections per address and in all ---------------------------------------------------------


def test_an_address_over_its_connection_cap_is_refused_at_once_while_others_are_served(
    store_url: str, protocol: str
) -> None:
    with server_thread(store_url) as server:  # at most 256 connections from one address by default
        port = port_of(server)
        with slow_clients(port, [loopback(2)], each=256):
            started = time.monotonic()
            status, body = request(port, loopback(2), get("/healthz"))
            assert (status, body) == (429, b"too many connections from 127.0.0.2 (at most 256)\n")
            assert time.monotonic() - started < 15
            served_quickly(server, loopback(3))
        deadline = time.monotonic() + WAIT  # the server counts the closed ones out as it sees them go
        while request(port, loopback(2), get("/healthz"))[0] != 200:
            assert time.monotonic() < deadline, "127.0.0.2 stayed refused after its connections closed"
            time.sleep(0.1)


def test_f0_serve_takes_the_cap_per_address_from_the_command_line(store_url: str) -> None:
    with server_process(store_url, "--max-connections-per-client", "3") as server:
        port = port_of(server)
        with slow_clients(port, [loopback(2)], each=3):
            assert request(port, loopback(2), get("/healthz")) == (
                429,
                b"too many connections from 127.0.0.2 (at most 3)\n",
            )
            served_quickly(server, loopback(3))


def test_a_full_server_makes_room_by_closing_the_connections_that_waited_longest_for_a_head(
    store_url: str, protocol: str
) -> None:
    need_files(2 * 3_000 + 1_000)
    with (
        server_thread(store_url, max_connections=1_000, head_timeout_s=120.0) as server,
        slow_clients(port_of(server), [loopback(i) for i in range(2, 14)], each=250) as slow,
    ):
        served_quickly(server, loopback(20))
        newest = slow[-900:]
        selector = selectors.DefaultSelector()
        for sock in newest:
            selector.register(sock, selectors.EVENT_READ)
        assert selector.select(timeout=0) == [], "a newer slow connection was closed before an older one"
        selector.close()
        assert wait_until_closed(slow[:2_000], within=WAIT) == {"": 2_000}


def test_ten_thousand_half_requests_do_not_keep_healthz_out_of_f0_serve(store_url: str) -> None:
    """The issue's case, on a real ``f0 serve`` with its defaults: 10,200 connections from 60 addresses."""
    need_files(10_200 + 1_000)
    with (
        server_process(store_url) as server,
        slow_clients(port_of(server), [loopback(i) for i in range(2, 62)], each=170),
    ):
        served_quickly(server)


# --- WebSockets ----------------------------------------------------------------------------------


def test_a_websocket_outlives_the_head_timeout_and_counts_until_it_closes(store_url: str) -> None:
    with server_thread(store_url, head_timeout_s=2.0, max_connections_per_client=2) as server:
        headers = {"Authorization": f"Bearer {server.token}"}
        with websocket_connect(server.ws_url, additional_headers=headers, open_timeout=WAIT) as first:
            time.sleep(3.0)  # longer than the head timeout
            first.send(orjson.dumps({"op": "ping"}))
            assert orjson.loads(first.recv(timeout=WAIT)) == {"type": "pong"}
            with websocket_connect(server.ws_url, additional_headers=headers, open_timeout=WAIT):
                status, _ = request(port_of(server), "127.0.0.1", get("/healthz"))
                assert status == 429  # the two WebSockets hold 127.0.0.1's two places
        deadline = time.monotonic() + WAIT
        while request(port_of(server), "127.0.0.1", get("/healthz"))[0] != 200:
            assert time.monotonic() < deadline, "closed WebSockets still counted"
            time.sleep(0.1)


def test_a_websocket_handshake_refused_at_once_is_counted_out(store_url: str, protocol: str) -> None:
    with server_thread(store_url, max_connections_per_client=2) as server:
        port = port_of(server)
        no_key = b"GET /api/v1/ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
        for _ in range(5):
            assert request(port, "127.0.0.1", no_key)[0] == 400
        deadline = time.monotonic() + WAIT
        while request(port, "127.0.0.1", get("/healthz"))[0] != 200:
            assert time.monotonic() < deadline, "refused WebSocket handshakes still counted"
            time.sleep(0.1)


# --- units ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("peername", "key"),
    [
        (("127.0.0.2", 5000), "127.0.0.2"),
        (("::ffff:10.0.0.1", 5000, 0, 0), "10.0.0.1"),
        (("2001:db8:1:2:3:4:5:6", 5000, 0, 0), "2001:db8:1:2::/64"),
        (("fe80::1%eth0", 5000, 0, 2), "fe80::/64"),
        ("", None),
        (None, None),
    ],
)
def test_client_key_counts_an_ipv6_client_by_its_64(peername: Any, key: str | None) -> None:
    assert limits.client_key(peername) == key


def test_the_connection_cap_leaves_room_in_the_open_file_limit() -> None:
    resource = pytest.importorskip("resource", reason="no open-file limits here")
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert limits.file_budget(5) == 5
    if soft != resource.RLIM_INFINITY:
        assert limits.file_budget(10**9) == soft - min(256, soft // 2)


@pytest.mark.parametrize(
    "options",
    [
        {"head_timeout_s": 0},
        {"body_timeout_s": -1},
        {"body_min_rate": -1},
        {"max_connections": 0},
        {"max_per_client": -1},
    ],
)
def test_limits_refuse_settings_that_make_no_sense(options: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="must be"):
        limits.Limits(**options)
