"""Several ``f0 serve`` processes on one PostgreSQL behave as one server: a change acknowledged by
one is read at once on the others and reaches their subscribers, in order, and compare-and-set
holds across them. On SQLite one server process writes; a second one reads and refuses writes.
(tests/server/test_linearizability.py checks this under load and kill -9.)"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from tests.server.servers import Server, new_token, server_process, stop
from tests.store.store_backends import postgres_schema, sqlite_url
from websockets.sync.client import connect


@pytest.fixture
def two_servers() -> Iterator[tuple[Server, Server]]:
    token = new_token()
    with postgres_schema() as url, server_process(url, token=token) as a, server_process(url, token=token) as b:
        yield a, b


@contextmanager
def subscribe(server: Server, context: str, since: int | None = None) -> Iterator[Any]:
    with connect(server.ws_url, additional_headers=server.headers, open_timeout=10) as websocket:
        websocket.send(json.dumps({"op": "subscribe", "context": context, "since": since}))
        reply = json.loads(websocket.recv(timeout=10))
        assert reply["type"] == "subscribed", reply
        yield websocket


def versions_received(websocket: Any, count: int, timeout: float = 20.0) -> list[dict[str, Any]]:
    """The next ``count`` changes a subscriber receives (each with its version)."""
    changes: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while len(changes) < count:
        frame = json.loads(websocket.recv(timeout=max(0.01, deadline - time.monotonic())))
        assert frame["type"] == "changes", frame
        changes.extend(frame["changes"])
    return changes


def test_a_change_acknowledged_by_one_server_reaches_the_subscribers_of_the_other(two_servers):
    a, b = two_servers
    with subscribe(b, "shared") as websocket, a.client() as client:
        for n in range(1, 51):
            assert client.put("/api/v1/contexts/shared/keys/n", json={"value": n}).json() == {"version": n}
        changes = versions_received(websocket, 50)
    assert [change["version"] for change in changes] == list(range(1, 51))
    assert [change["changes"][0]["new"] for change in changes] == list(range(1, 51))


def test_a_subscriber_sees_the_writes_of_both_servers_in_one_order_without_gaps(two_servers):
    a, b = two_servers

    def write(server: Server, label: str) -> None:
        with server.client() as client:
            for n in range(40):
                response = client.post("/api/v1/contexts/shared/changes", json={"set": {f"{label}.{n}": n}})
                assert response.status_code == 200, response.text

    with subscribe(a, "shared") as on_a, subscribe(b, "shared") as on_b:
        writers = [threading.Thread(target=write, args=(server, label)) for server, label in ((a, "a"), (b, "b"))]
        for writer in writers:
            writer.start()
        for writer in writers:
            writer.join(timeout=60)
        seen_a, seen_b = versions_received(on_a, 80), versions_received(on_b, 80)
    assert [change["version"] for change in seen_a] == list(range(1, 81))
    assert seen_a == seen_b


def test_a_server_reads_what_the_other_server_wrote(two_servers):
    a, b = two_servers
    with a.client() as on_a, b.client() as on_b:
        assert on_b.get("/api/v1/contexts/shared").json()["version"] == 0  # b has it in memory now
        on_a.post("/api/v1/contexts/shared/changes", json={"set": {"x": 1, "y": 2}})
        deadline = time.monotonic() + 10
        while on_b.get("/api/v1/contexts/shared").json()["version"] != 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert on_b.get("/api/v1/contexts/shared").json() == {"name": "shared", "version": 1, "data": {"x": 1, "y": 2}}


def test_a_read_on_one_server_sees_the_write_the_other_server_just_acknowledged(two_servers):
    """Issue 13: a GET on B right after a PUT acknowledged by A returned the old value 242 times in 300."""
    a, b = two_servers
    with a.client() as on_a, b.client() as on_b:
        on_b.get("/api/v1/contexts/shared")  # B holds the context in memory from now on
        for n in range(1, 101):
            assert on_a.put("/api/v1/contexts/shared/keys/n", json={"value": n}).json() == {"version": n}
            assert on_b.get("/api/v1/contexts/shared/keys/n").json() == {"key": "n", "value": n, "version": n}
            assert on_b.get("/api/v1/contexts/shared").json()["version"] == n
            history_at_b = on_b.get("/api/v1/contexts/shared", params={"at": n}).json()
            assert history_at_b["data"] == {"n": n}


def test_a_subscriber_resumes_on_the_other_server_from_the_version_it_was_just_given(two_servers):
    a, b = two_servers
    with a.client() as on_a, b.client() as on_b:
        on_b.get("/api/v1/contexts/shared")  # B holds the context in memory from now on
        for n in range(1, 21):
            version = on_a.put("/api/v1/contexts/shared/keys/n", json={"value": n}).json()["version"]
            with subscribe(b, "shared", since=version) as websocket:  # not "version does not exist yet"
                on_a.put("/api/v1/contexts/shared/keys/n", json={"value": -n})
                assert [change["version"] for change in versions_received(websocket, 1)] == [version + 1]


def test_compare_and_set_holds_across_servers(two_servers):
    a, b = two_servers
    acknowledged = []
    lock = threading.Lock()

    def increment(server: Server) -> None:
        with server.client() as client:
            done = 0
            while done < 25:
                found = client.get("/api/v1/contexts/c/keys/n")
                value, version = (
                    (found.json()["value"], found.json()["version"]) if found.status_code == 200 else (0, 0)
                )
                answer = client.put("/api/v1/contexts/c/keys/n", json={"value": value + 1, "expected_version": version})
                if answer.status_code == 409:
                    continue
                assert answer.status_code == 200, answer.text
                done += 1
                with lock:
                    acknowledged.append(value + 1)

    threads = [threading.Thread(target=increment, args=(server,)) for server in (a, b, a, b)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=90)
    final = httpx.get(f"{a.url}/api/v1/contexts/c/keys/n", headers=a.headers).json()
    assert final["value"] == 100
    assert sorted(acknowledged) == list(range(1, 101))  # every acknowledged write is one increment


def test_a_second_server_on_one_sqlite_file_reads_refuses_writes_and_takes_over_when_the_first_ends(tmp_path):
    url = sqlite_url(tmp_path / "one.db")
    token = new_token()
    with server_process(url, token=token) as first, server_process(url, token=token) as second:
        with first.client() as on_first, second.client() as on_second:
            assert on_first.put("/api/v1/contexts/c/keys/x", json={"value": 1}).json() == {"version": 1}
            assert on_second.get("/api/v1/contexts/c/keys/x").json()["value"] == 1
            refused = on_second.put("/api/v1/contexts/c/keys/x", json={"value": "lost?"})
            assert refused.status_code == 503
            assert "another f0 serve writes this SQLite store" in refused.json()["error"]["message"]
            assert on_first.put("/api/v1/contexts/c/keys/x", json={"value": 2}).json() == {"version": 2}
            assert on_second.get("/api/v1/contexts/c").json() == {"name": "c", "version": 2, "data": {"x": 2}}
            stop(first)
            assert on_second.put("/api/v1/contexts/c/keys/x", json={"value": 3}).json() == {"version": 3}
            assert on_second.get("/api/v1/contexts/c").json() == {"name": "c", "version": 3, "data": {"x": 3}}
