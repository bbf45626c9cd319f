"""The WebSocket at /api/v1/ws on a real server (uvicorn on loopback): live context changes in
order and without gaps across reconnects, run events, batched writes, slow, idle and
unauthenticated clients, Origin and size limits. The clients are plain ``websockets`` connections."""

from __future__ import annotations

import secrets
import socket
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from tests.server.servers import Server, server_thread
from tests.store.store_backends import sqlite_url
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection
from websockets.sync.client import connect as websocket_connect
from websockets.typing import Origin

import framework0
from framework0.events import EventBus
from framework0.events.types import Event
from framework0.events.wire import to_wire

WAIT_S = 10.0  # the longest any single receive waits


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    return sqlite_url(tmp_path / "server.db")


@pytest.fixture
def server(store_url: str) -> Iterator[Server]:
    with server_thread(store_url) as running:
        yield running


@pytest.fixture
def http(server: Server) -> Iterator[httpx.Client]:
    with server.client() as client:
        yield client


def connect(server: Server, *, token: bool = True, **options: Any) -> ClientConnection:
    headers = server.headers if token else {}
    websocket = websocket_connect(server.ws_url, additional_headers=headers, open_timeout=WAIT_S, proxy=None, **options)
    assert isinstance(websocket, ClientConnection)
    return websocket


def send(websocket: ClientConnection, message: dict[str, Any]) -> None:
    websocket.send(orjson.dumps(message).decode())


def receive(websocket: ClientConnection, timeout: float = WAIT_S) -> dict[str, Any]:
    message: dict[str, Any] = orjson.loads(websocket.recv(timeout=timeout))
    return message


def subscribe(websocket: ClientConnection, context: str, since: int | None = None) -> dict[str, Any]:
    send(websocket, {"op": "subscribe", "context": context, **({"since": since} if since is not None else {})})
    reply = receive(websocket)
    assert reply["type"] == "subscribed", reply
    return reply


def changes_until(websocket: ClientConnection, context: str, version: int) -> list[dict[str, Any]]:
    """The changes of ``context`` received until ``version`` (every frame must be one of its changes)."""
    received: list[dict[str, Any]] = []
    deadline = time.monotonic() + WAIT_S
    while not received or received[-1]["version"] < version:
        frame = receive(websocket, timeout=max(0.01, deadline - time.monotonic()))
        assert frame["type"] == "changes" and frame["context"] == context, frame
        received.extend(frame["changes"])
    return received


def versions(changes: list[dict[str, Any]]) -> list[int]:
    return [change["version"] for change in changes]


def drain(websocket: ClientConnection) -> list[dict[str, Any]]:
    """What the server sent before it answered a ping: everything its writes so far caused
    (a write is published to the hub before it is acknowledged)."""
    send(websocket, {"op": "ping"})
    received: list[dict[str, Any]] = []
    while (frame := receive(websocket)) != {"type": "pong"}:
        received.append(frame)
    return received


def nothing_pending(websocket: ClientConnection) -> None:
    assert drain(websocket) == []


def closed_with(websocket: ClientConnection, timeout: float = WAIT_S) -> tuple[int, str]:
    """Read until the server closes the connection; its close code and reason."""
    deadline = time.monotonic() + timeout
    with pytest.raises(ConnectionClosed) as closed:  # the frames before the close are read first
        while True:
            websocket.recv(timeout=max(0.01, deadline - time.monotonic()))
    assert closed.value.rcvd is not None, "closed without a close frame"
    return closed.value.rcvd.code, closed.value.rcvd.reason


def write(http: httpx.Client, context: str, change: dict[str, Any]) -> int:
    response = http.post(f"/api/v1/contexts/{context}/changes", json=change)
    assert response.status_code == 200, response.text
    version: int = response.json()["version"]
    return version


class Writes:
    """Increments ``n`` of a context ``count`` times over HTTP in a thread, while the test goes on."""

    def __init__(self, server: Server, context: str, count: int) -> None:
        self.server, self.context, self.count = server, context, count
        self.done = 0
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            with self.server.client() as client:
                for _ in range(self.count):
                    write(client, self.context, {"increment": {"n": 1}})
                    self.done += 1
        except BaseException as error:
            self.error = error

    def wait_for(self, done: int) -> None:
        deadline = time.monotonic() + WAIT_S
        while self.done < done and self.thread.is_alive():
            assert time.monotonic() < deadline, f"only {self.done} writes in {WAIT_S}s"
            time.sleep(0.005)

    def join(self) -> None:
        self.thread.join(timeout=WAIT_S * 3)
        assert not self.thread.is_alive() and self.error is None, self.error


# --- context changes -----------------------------------------------------------------------------


def test_a_subscriber_receives_every_change_as_a_delta_with_its_version_in_order(
    server: Server, http: httpx.Client
) -> None:
    with connect(server) as websocket:
        assert subscribe(websocket, "shared") == {"type": "subscribed", "context": "shared", "version": 0, "since": 0}
        write(http, "shared", {"set": {"region": "eu", "jobs": ["a"]}})
        write(http, "shared", {"increment": {"done": 2}})
        write(http, "shared", {"set": {"region": "us"}, "delete": ["jobs"]})
        write(http, "shared", {"add": {"tags": ["x", "y"]}})
        write(http, "shared", {"remove": {"tags": ["x"]}, "increment": {"done": 1}})
        received = changes_until(websocket, "shared", 5)
        nothing_pending(websocket)
    assert [(c["version"], c["changes"]) for c in received] == [
        (
            1,
            [
                {"key": "region", "op": "set", "old": None, "new": "eu"},
                {"key": "jobs", "op": "set", "old": None, "new": ["a"]},
            ],
        ),
        (2, [{"key": "done", "op": "set", "old": None, "new": 2}]),
        (
            3,
            [
                {"key": "region", "op": "set", "old": "eu", "new": "us"},
                {"key": "jobs", "op": "delete", "old": ["a"], "new": None},
            ],
        ),
        (4, [{"key": "tags", "op": "set", "old": None, "new": ["x", "y"]}]),
        (
            5,
            [
                {"key": "done", "op": "set", "old": 2, "new": 3},  # increments resolve before removals
                {"key": "tags", "op": "set", "old": ["x", "y"], "new": ["y"]},
            ],
        ),
    ]
    assert all(isinstance(change["at"], float) for change in received)


def test_subscribing_since_a_version_sends_the_backlog_then_live_changes_without_duplicates(server: Server) -> None:
    writes = Writes(server, "busy", 300)
    writes.wait_for(100)
    with connect(server) as websocket:
        reply = subscribe(websocket, "busy", since=40)  # while the writes go on
        assert reply["since"] == 40 and reply["version"] >= 100
        writes.join()
        received = changes_until(websocket, "busy", 300)
        nothing_pending(websocket)
    assert versions(received) == list(range(41, 301))
    assert [change["changes"][0]["new"] for change in received] == list(range(41, 301))


def test_a_subscriber_that_reconnects_resumes_after_the_last_version_it_saw(server: Server) -> None:
    writes = Writes(server, "busy", 300)
    seen: list[dict[str, Any]] = []
    last = 0
    for hang_up_at in (60, 150):  # hang up twice while the writes go on
        with connect(server) as websocket:
            subscribe(websocket, "busy", since=last)
            if last < hang_up_at:
                seen.extend(changes_until(websocket, "busy", hang_up_at))
                last = seen[-1]["version"]
    writes.join()
    with connect(server) as websocket:
        subscribe(websocket, "busy", since=last)
        if last < 300:
            seen.extend(changes_until(websocket, "busy", 300))
        nothing_pending(websocket)
    assert versions(seen) == list(range(1, 301))


def test_two_subscriptions_on_one_socket_and_unsubscribe(server: Server, http: httpx.Client) -> None:
    with connect(server) as websocket:
        subscribe(websocket, "a")
        subscribe(websocket, "b")
        for round_ in range(3):
            write(http, "a", {"set": {"k": round_}})
            write(http, "b", {"set": {"k": round_}})
        by_context: dict[str, list[int]] = {"a": [], "b": []}
        while len(by_context["a"]) < 3 or len(by_context["b"]) < 3:
            frame = receive(websocket)
            assert frame["type"] == "changes", frame
            by_context[frame["context"]].extend(versions(frame["changes"]))
        assert by_context == {"a": [1, 2, 3], "b": [1, 2, 3]}

        send(websocket, {"op": "unsubscribe", "context": "a"})
        assert receive(websocket) == {"type": "unsubscribed", "context": "a", "run": None}
        write(http, "a", {"set": {"k": "unseen"}})
        write(http, "b", {"set": {"k": "seen"}})
        assert versions(changes_until(websocket, "b", 4)) == [4]
        nothing_pending(websocket)  # and no change of "a"


def test_a_live_change_and_the_same_change_replayed_look_the_same(server: Server, http: httpx.Client) -> None:
    with connect(server) as live:
        subscribe(live, "shared")
        write(http, "shared", {"set": {"region": "eu"}})
        write(http, "shared", {"set": {"region": "us"}, "source": {"node": "n1", "step": "s", "attempt": 1}})
        seen_live = changes_until(live, "shared", 2)
    with connect(server) as later:
        subscribe(later, "shared", since=0)
        replayed = changes_until(later, "shared", 2)
    assert replayed == seen_live
    assert [change["source"] for change in seen_live] == [{}, {"node": "n1", "step": "s", "attempt": 1}]


def test_subscribing_from_a_version_the_server_no_longer_holds_is_an_error_never_a_gap(store_url: str) -> None:
    with server_thread(store_url, keep_history=10) as server, connect(server) as websocket:
        for batch in range(3):
            send(
                websocket, {"op": "write", "id": batch, "context": "short", "changes": [{"increment": {"n": 1}}] * 100}
            )
            assert receive(websocket)["type"] == "ack"
        with server.client() as http:
            (info,) = http.get("/api/v1/contexts").json()["contexts"]
        oldest = info["oldest"]
        assert info["version"] == 300 and 190 <= oldest < 300

        send(websocket, {"op": "subscribe", "context": "short", "since": 0})
        gone = receive(websocket)
        assert gone["type"] == "error" and gone["error"]["type"] == "HistoryGone", gone
        assert (gone["context"], gone["oldest"]) == ("short", oldest)
        assert f"history before version {oldest} is no longer held (asked from 0)" in gone["error"]["message"]
        nothing_pending(websocket)  # not subscribed: no changes follow the error

        subscribe(websocket, "short", since=oldest)  # from the oldest version held: every later change
        assert versions(changes_until(websocket, "short", 300)) == list(range(oldest + 1, 301))


# --- run events ----------------------------------------------------------------------------------


def run_events(recipe_text: str) -> list[dict[str, Any]]:
    """The events of a real run of ``recipe_text``, as a runner posts them (their JSON form)."""
    recipe = framework0.load_recipe_text(textwrap.dedent(recipe_text), file="ws.yaml")
    bus = EventBus()
    seen: list[Event] = []
    bus.subscribe(seen.append)
    assert framework0.run(recipe, bus=bus, store=None).status == "succeeded"
    return [to_wire(event) for event in seen]


def post_events(http: httpx.Client, events: list[dict[str, Any]]) -> None:
    response = http.post(f"/api/v1/runs/{events[0]['run_id']}/events", json={"events": events})
    assert response.json() == {"received": len(events)}


SLEEPY = """\
    test_meta: {test_id: WS-RUN}
    steps:
      - {name: first, uses: sleep, args: {seconds: 0.01}}
      - {name: second, uses: sleep, args: {seconds: 0.01}, depends_on: [first]}
"""


def test_run_subscribers_receive_the_posted_events_as_event_frames_in_order(server: Server, http: httpx.Client) -> None:
    one, other = run_events(SLEEPY), run_events(SLEEPY)
    with connect(server) as every_run, connect(server) as one_run:
        send(every_run, {"op": "subscribe", "run": "*"})
        assert receive(every_run) == {"type": "subscribed", "run": "*"}
        send(one_run, {"op": "subscribe", "run": one[0]["run_id"]})
        assert receive(one_run) == {"type": "subscribed", "run": one[0]["run_id"]}
        post_events(http, one)
        post_events(http, other)
        assert drain(every_run) == [{"type": "event", "event": e} for e in one + other]
        assert drain(one_run) == [{"type": "event", "event": e} for e in one]  # none of the other run's

        send(one_run, {"op": "unsubscribe", "run": one[0]["run_id"]})
        assert receive(one_run) == {"type": "unsubscribed", "context": None, "run": one[0]["run_id"]}
        post_events(http, run_events(SLEEPY.replace("WS-RUN", "WS-RUN-2")))
        nothing_pending(one_run)


def test_run_subscribers_receive_the_runs_context_changes_too(server: Server, http: httpx.Client) -> None:
    events = run_events(
        """\
        test_meta: {test_id: WS-CONTEXT}
        steps:
          - {name: remember, uses: set_context, args: {values: {region: eu}}}
        """
    )
    assert "context_changed" in [event["type"] for event in events]
    with connect(server) as websocket:
        send(websocket, {"op": "subscribe", "run": "*"})
        assert receive(websocket)["type"] == "subscribed"
        post_events(http, events)
        assert drain(websocket) == [{"type": "event", "event": e} for e in events]


# --- writes --------------------------------------------------------------------------------------


def test_writes_over_the_socket_are_acknowledged_in_order_with_conflicts_per_change(server: Server) -> None:
    with connect(server) as websocket:
        subscribe(websocket, "shared")
        send(
            websocket, {"op": "write", "id": 1, "context": "shared", "changes": [{"set": {"a": 1}}, {"set": {"b": 1}}]}
        )
        send(
            websocket,
            {
                "op": "write",
                "id": 2,
                "context": "shared",
                "changes": [
                    {"set": {"a": 2}, "expected": {"a": 1}},  # a is at version 1: written
                    {"set": {"a": 3}, "expected": {"a": 1}},  # a is at version 3 now: a conflict
                    {"set": {"c": 1}, "expected": {"c": 0}},  # c must not exist yet: written
                ],
                "source": {"node": "runner-1", "step": "s"},
            },
        )
        send(websocket, {"op": "write", "id": 3, "context": "shared", "changes": [{"increment": {"n": 5}}]})
        replies: list[dict[str, Any]] = []
        received: list[dict[str, Any]] = []
        while len(replies) < 3 or len(received) < 5:
            frame = receive(websocket)
            if frame["type"] == "changes":
                received.extend(frame["changes"])
            else:
                replies.append(frame)
    assert replies[0] == {"type": "ack", "id": 1, "results": [{"version": 1}, {"version": 2}]}
    conflict = replies[1]["results"][1]
    assert replies[1]["results"][0] == {"version": 3} and replies[1]["results"][2] == {"version": 4}
    assert conflict["type"] == "error" and conflict["error"]["type"] == "ContextConflict"
    assert conflict["conflicts"] == {"a": {"expected": 1, "current": 3}}
    assert replies[2] == {"type": "ack", "id": 3, "results": [{"version": 5}]}
    assert versions(received) == [1, 2, 3, 4, 5]
    assert received[2]["source"] == {"node": "runner-1", "step": "s"}


@pytest.mark.parametrize(
    ("message", "error"),
    [
        (
            {"op": "write", "id": 7, "context": "shared", "changes": []},
            "write: needs 'context' and a list of 'changes'",
        ),
        ({"op": "write", "id": 7, "context": "shared", "changes": [{"set": {"a": 1}, "delete": ["a"]}]}, "write: "),
        ({"op": "write", "id": 7, "context": "shared", "changes": ["set a"]}, "write: each change is a JSON object"),
    ],
    ids=["no-changes", "a-key-twice", "not-an-object"],
)
def test_a_bad_write_is_refused_whole_with_its_id(server: Server, message: dict[str, Any], error: str) -> None:
    with connect(server) as websocket:
        send(websocket, message)
        reply = receive(websocket)
        assert (reply["type"], reply["id"], reply["error"]["type"]) == ("error", 7, "BadMessage")
        assert reply["error"]["message"].startswith(error)
        send(websocket, {"op": "write", "id": 8, "context": "shared", "changes": [{"set": {"a": 1}}]})
        assert receive(websocket) == {"type": "ack", "id": 8, "results": [{"version": 1}]}  # nothing else was written


# --- limits --------------------------------------------------------------------------------------


def small_receive_buffer(server: Server) -> socket.socket:
    """A connected socket that buffers little, so that a client that stops reading is felt at once."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(WAIT_S)
    sock.connect(("127.0.0.1", int(server.url.rsplit(":", 1)[1])))
    return sock


def test_a_slow_subscriber_is_disconnected_with_a_reason_and_stalls_nobody(store_url: str) -> None:
    total, per_write = 2000, 20
    with server_thread(store_url, queue_limit=50) as server:
        # the slow viewer never reads: its client stops taking frames off the socket after one
        # (max_queue=1), uncompressed, so that the server's buffers fill and its queue grows
        slow = connect(server, sock=small_receive_buffer(server), compression=None, max_queue=1, max_size=None)
        with slow, connect(server, max_size=None) as fast, connect(server) as writer:
            subscribe(slow, "busy")  # the last frame it reads
            subscribe(fast, "busy")
            seen: list[int] = []

            def read_fast() -> None:
                seen.extend(versions(changes_until(fast, "busy", total)))

            reader = threading.Thread(target=read_fast, daemon=True)
            reader.start()
            started = time.monotonic()
            for index in range(total // per_write):  # 2 KB of random hex per key: about 8 MB in all
                changes = [{"set": {f"k{key}": secrets.token_hex(1000)}} for key in range(per_write)]
                send(writer, {"op": "write", "id": index, "context": "busy", "changes": changes})
                ack = receive(writer)
                assert ack["type"] == "ack" and all("version" in result for result in ack["results"]), ack
            writing_s = time.monotonic() - started
            reader.join(timeout=WAIT_S)
            assert seen == list(range(1, total + 1))  # the fast subscriber got every change, in order
            assert writing_s < WAIT_S  # and the writes were not held up by the slow one

            code, reason = closed_with(slow)
            assert code == 4408
            assert reason == (
                "slow subscriber: more than 50 messages waiting; reconnect and subscribe from the last version you saw"
            )
            nothing_pending(fast)
            nothing_pending(writer)


def test_a_subscriber_that_keeps_up_is_not_dropped_by_one_large_write(store_url: str) -> None:
    with server_thread(store_url, queue_limit=50) as server, connect(server) as viewer, connect(server) as writer:
        subscribe(viewer, "busy")
        send(writer, {"op": "write", "id": 1, "context": "busy", "changes": [{"increment": {"n": 1}}] * 200})
        assert receive(writer)["type"] == "ack"
        assert versions(changes_until(viewer, "busy", 200)) == list(range(1, 201))


def test_an_idle_websocket_is_closed(store_url: str) -> None:
    with server_thread(store_url, idle_s=1) as server, connect(server) as websocket:
        nothing_pending(websocket)
        started = time.monotonic()
        assert closed_with(websocket) == (4000, "idle for 1s")
        assert 0.8 < time.monotonic() - started < 5


def test_a_websocket_that_does_not_authenticate_in_time_is_closed(store_url: str) -> None:
    with server_thread(store_url, auth_deadline_s=1) as server, connect(server, token=False) as websocket:
        started = time.monotonic()
        assert closed_with(websocket) == (4401, "not authenticated within 1s")
        assert 0.8 < time.monotonic() - started < 5


def test_a_websocket_authenticates_with_its_first_message(store_url: str) -> None:
    with server_thread(store_url, auth_deadline_s=1) as server, connect(server, token=False) as websocket:
        send(websocket, {"op": "auth", "token": server.token})
        assert receive(websocket) == {"type": "authenticated"}
        time.sleep(1.2)  # past the deadline: authenticated connections wait for idle_s
        subscribe(websocket, "shared")
        with server.client() as http:
            write(http, "shared", {"set": {"a": 1}})
        assert versions(changes_until(websocket, "shared", 1)) == [1]


@pytest.mark.parametrize(
    "first",
    [{"op": "auth", "token": "wrong-token-0123456789"}, {"op": "subscribe", "context": "shared"}, {"op": "ping"}],
    ids=["wrong-token", "subscribe", "ping"],
)
def test_an_unauthenticated_websocket_is_closed_at_its_first_other_message(server: Server, first: Any) -> None:
    with connect(server, token=False) as websocket:
        send(websocket, first)
        assert closed_with(websocket) == (4401, 'authenticate first: {"op": "auth", "token": ...}')


def test_a_wrong_token_in_the_handshake_is_refused(server: Server) -> None:
    with pytest.raises(InvalidStatus) as refused:
        websocket_connect(
            server.ws_url, additional_headers={"Authorization": "Bearer wrong"}, open_timeout=WAIT_S, proxy=None
        )
    assert refused.value.response.status_code == 401


@pytest.mark.parametrize("origin", ["null", "http://evil.example", "http://127.0.0.1:1"])
def test_a_handshake_from_a_foreign_origin_is_refused(server: Server, origin: str) -> None:
    with pytest.raises(InvalidStatus) as refused:
        connect(server, origin=Origin(origin))
    assert refused.value.response.status_code == 403
    assert orjson.loads(refused.value.response.body or b"")["error"]["type"] == "Forbidden"


def test_a_handshake_from_the_servers_own_origin_is_accepted(server: Server) -> None:
    with connect(server, origin=Origin(server.url)) as websocket:
        nothing_pending(websocket)


def test_a_message_over_the_size_limit_closes_the_websocket(store_url: str) -> None:
    with server_thread(store_url, max_message=4096) as server, connect(server) as websocket:
        nothing_pending(websocket)
        websocket.send(orjson.dumps({"op": "ping", "pad": "x" * 5000}).decode())
        assert closed_with(websocket)[0] == 1009


@pytest.mark.parametrize("depth", [65, 2000, 100_000], ids=str)
def test_a_deeply_nested_message_gets_an_error_reply(server: Server, depth: int) -> None:
    with connect(server) as websocket:
        websocket.send("[" * depth + "]" * depth)
        reply = receive(websocket)
        assert (reply["type"], reply["error"]["type"]) == ("error", "BadMessage")
        assert reply["error"]["message"] == "JSON body nests deeper than 64 levels"
        nothing_pending(websocket)  # the connection and the server carry on


@pytest.mark.parametrize(
    ("message", "error"),
    [
        (b"not json", "request body is not valid JSON"),
        (b"[1, 2]", "a message is a JSON object with an 'op'"),
        (b'{"op": "shout"}', "unknown op 'shout': use auth, subscribe, unsubscribe, write, ping"),
        (b'{"op": "subscribe", "context": "no spaces"}', "subscribe: 'context' must be a context name"),
        (b'{"op": "subscribe", "context": "a", "since": -1}', "subscribe: 'since' must be a version >= 0, not -1"),
    ],
    ids=["not-json", "not-an-object", "unknown-op", "bad-name", "bad-since"],
)
def test_a_bad_message_gets_an_error_reply(server: Server, message: bytes, error: str) -> None:
    with connect(server) as websocket:
        websocket.send(message.decode())
        reply = receive(websocket)
        assert (reply["type"], reply["error"]["type"]) == ("error", "BadMessage")
        assert reply["error"]["message"].startswith(error)
        nothing_pending(websocket)


def test_subscribing_since_a_version_that_does_not_exist_yet_is_an_error(server: Server, http: httpx.Client) -> None:
    write(http, "shared", {"set": {"a": 1}})
    with connect(server) as websocket:
        send(websocket, {"op": "subscribe", "context": "shared", "since": 5})
        reply = receive(websocket)
        assert reply["error"] == {
            "type": "UnknownVersion",
            "message": "subscribe: context 'shared' is at version 1; 'since' 5 does not exist yet",
        }
