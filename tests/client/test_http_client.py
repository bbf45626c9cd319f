"""``ContextClient`` against real context servers (uvicorn on loopback; ``f0 serve`` processes for
restarts): every method, its errors, and the retries that make a write happen once."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.client.conftest import ServerProcesses
from tests.server.servers import Server, server_thread
from tests.store.store_backends import sqlite_url

from framework0.client import ContextClient
from framework0.context.changes import Change, ChangeSource
from framework0.context.merge import ChangeRequest
from framework0.errors import ContextConflict, HistoryGone, ServerError, UsageError
from framework0.events.types import ContextChanged, Event, RunFinished, RunStarted, StepFinished
from framework0.events.wire import to_wire


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One in-process server for the module; each test uses contexts of its own name."""
    folder = tmp_path_factory.mktemp("client")
    with server_thread(sqlite_url(folder / "server.db")) as running:
        yield running


@pytest.fixture
def client(server: Server) -> Iterator[ContextClient]:
    with ContextClient(server.url, server.token, retry_for=5) as client:
        yield client


@pytest.fixture
def name(request: pytest.FixtureRequest) -> str:
    """A context name unique to the test."""
    return re.sub(r"[^A-Za-z0-9._-]", "-", request.node.name)[:200]


class LoseFirstAnswer(httpx.BaseTransport):
    """A real transport that loses the answer to the first ``method`` request after the server got it."""

    def __init__(self, method: str) -> None:
        self.inner = httpx.HTTPTransport()
        self.method = method
        self.bodies: list[bytes] = []
        self.lost = False

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        if request.method == self.method:
            self.bodies.append(request.content)
            if not self.lost:
                self.lost = True
                response.read()
                response.close()
                raise httpx.ReadError("connection reset before the answer arrived", request=request)
        return response

    def close(self) -> None:
        self.inner.close()


class CountConnectErrors(httpx.BaseTransport):
    """A real transport that counts the connections it could not make."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.refused = threading.Event()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        try:
            return self.inner.handle_request(request)
        except httpx.ConnectError:
            self.refused.set()
            raise

    def close(self) -> None:
        self.inner.close()


# -- the server and contexts -------------------------------------------------------------------------


def test_health_says_the_server_and_its_store_can_serve(client: ContextClient) -> None:
    assert client.health() == {"status": "ok", "store": "sqlite"}


def test_create_declares_a_context_with_its_merge_rules_and_contexts_lists_it(client: ContextClient, name: str) -> None:
    created = client.create(name, {"counters.*": "counter"})

    assert (created["name"], created["version"], created["strategies"]) == (name, 0, {"counters.*": "counter"})
    assert [c for c in client.contexts() if c["name"] == name] == [created]


def test_create_with_other_rules_than_the_existing_ones_raises_a_409_server_error(
    client: ContextClient, name: str
) -> None:
    client.create(name, {"counters.*": "counter"})

    with pytest.raises(ServerError) as caught:
        client.create(name, {"*": "last-writer-wins"})

    assert caught.value.status == 409
    assert str(caught.value).startswith(f"context {name!r} already exists with rules {{'counters.*': 'counter'}}")


def test_set_strategies_replaces_the_rules_later_writes_merge_by(client: ContextClient, name: str) -> None:
    client.create(name, {"counters.*": "counter"})

    assert client.set_strategies(name, {"*": "last-writer-wins"})["strategies"] == {"*": "last-writer-wins"}
    client.put(name, "a", 1)
    assert client.put(name, "a", 2, expected_version=0) == 2  # last-writer-wins ignores the stale version


def test_read_gives_the_version_and_data_now_and_at_an_earlier_version(client: ContextClient, name: str) -> None:
    client.put(name, "a", 1)
    client.put(name, "b", {"x": [1, 2]})

    assert client.read(name) == (2, {"a": 1, "b": {"x": [1, 2]}})
    assert client.read(name, at=1) == (1, {"a": 1})


def test_a_context_never_written_reads_as_version_0_and_empty(client: ContextClient, name: str) -> None:
    assert client.read(name) == (0, {})


def test_get_gives_a_keys_value_and_the_version_that_wrote_it_or_none(client: ContextClient, name: str) -> None:
    client.put(name, "a", "first")
    client.put(name, "b", "second")

    assert client.get(name, "a") == ("first", 1)
    assert client.get(name, "missing") is None


def test_keys_with_slashes_and_spaces_travel_as_one_path_segment(client: ContextClient, name: str) -> None:
    client.put(name, "dir/file name?#.txt", 1)

    assert client.get(name, "dir/file name?#.txt") == (1, 1)
    assert client.read(name)[1] == {"dir/file name?#.txt": 1}


def test_put_with_a_stale_expected_version_raises_context_conflict_with_the_current_version(
    client: ContextClient, name: str
) -> None:
    client.put(name, "a", 1)
    client.put(name, "a", 2)

    with pytest.raises(ContextConflict) as caught:
        client.put(name, "a", 3, expected_version=1)

    assert caught.value.conflicts == {"a": (1, 2)}
    assert str(caught.value) == "stale write, nothing written: 'a' is at version 2, not 1"
    assert client.get(name, "a") == (2, 2)


def test_put_with_the_current_version_writes(client: ContextClient, name: str) -> None:
    client.put(name, "a", 1)

    assert client.put(name, "a", 2, expected_version=1) == 2


def test_delete_removes_a_key_and_answers_the_new_version(client: ContextClient, name: str) -> None:
    client.put(name, "a", 1)
    client.put(name, "b", 2)

    assert client.delete(name, "a") == 3
    assert client.read(name) == (3, {"b": 2})
    assert client.delete(name, "a") == 3  # absent: nothing changes


def test_delete_with_a_stale_expected_version_raises_context_conflict(client: ContextClient, name: str) -> None:
    client.put(name, "a", 1)

    with pytest.raises(ContextConflict) as caught:
        client.delete(name, "a", expected_version=5)

    assert caught.value.conflicts == {"a": (5, 1)}


def test_change_applies_sets_deletes_increments_and_set_items_atomically(client: ContextClient, name: str) -> None:
    client.create(name, {"tags": "set", "n": "counter"})
    client.put(name, "gone", 1)

    version = client.change(name, set={"a": {"b": 1}}, delete=["gone"], increment={"n": 5}, add={"tags": ["x", "y"]})
    client.change(name, remove={"tags": ["x"]}, increment={"n": -2})

    assert version == 2
    assert client.read(name) == (3, {"a": {"b": 1}, "n": 3, "tags": ["y"]})


def test_change_takes_a_change_request(client: ContextClient, name: str) -> None:
    assert client.change(name, ChangeRequest(set={"a": 1}, expected={"a": 0})) == 1


def test_change_with_a_request_and_keywords_is_a_usage_error(client: ContextClient, name: str) -> None:
    with pytest.raises(UsageError, match=r"^change\(\): pass a ChangeRequest or keywords \(set\), not both$"):
        client.change(name, ChangeRequest(set={"a": 1}), set={"b": 2})


def test_change_with_a_stale_expected_version_writes_nothing_and_names_every_stale_key(
    client: ContextClient, name: str
) -> None:
    client.change(name, set={"a": 1, "b": 1})

    with pytest.raises(ContextConflict) as caught:
        client.change(name, set={"a": 2, "c": 3}, expected={"a": 0, "b": 1, "c": 4})

    assert caught.value.conflicts == {"a": (0, 1), "c": (4, 0)}
    assert client.read(name) == (1, {"a": 1, "b": 1})


def test_history_lists_each_keys_change_with_its_source(client: ContextClient, name: str) -> None:
    client.put(name, "a", 1, source={"node": "n1", "step": "s"})
    client.change(name, set={"a": 2, "b": 3})

    changes = client.history(name)

    assert [(c["version"], c["key"], c["op"], c["old"], c["new"]) for c in changes] == [
        (1, "a", "create", None, 1),
        (2, "a", "set", 1, 2),
        (2, "b", "create", None, 3),
    ]
    assert {"node": "n1", "step": "s"}.items() <= changes[0]["source"].items()
    assert [c["version"] for c in client.history(name, since=1, key="b")] == [2]
    assert [c["key"] for c in client.history(name, limit=1)] == ["a"]


def test_history_the_server_no_longer_holds_raises_history_gone_with_the_oldest_version(tmp_path: Path) -> None:
    with server_thread(sqlite_url(tmp_path / "server.db"), keep_history=10) as server:
        with ContextClient(server.url, server.token) as client:
            for value in range(300):
                client.put("c", "a", value)

            with pytest.raises(HistoryGone) as caught:
                client.history("c", since=1)

    assert caught.value.oldest is not None and caught.value.oldest > 1
    assert f"history before version {caught.value.oldest} is no longer held (asked from 1)" in str(caught.value)


def test_diff_names_the_keys_added_removed_and_changed_between_two_versions(client: ContextClient, name: str) -> None:
    client.change(name, set={"a": 1, "b": 2})
    client.change(name, set={"a": 10, "c": 3}, delete=["b"])

    assert client.diff(name, 1) == {"added": {"c": 3}, "removed": {"b": 2}, "changed": {"a": {"old": 1, "new": 10}}}
    assert client.diff(name, 0, 1) == {"added": {"a": 1, "b": 2}, "removed": {}, "changed": {}}


# -- runs ----------------------------------------------------------------------------------------------


def run_events(run_id: str) -> list[dict[str, Any]]:
    now = time.time()
    source = ChangeSource(node="n", step="hello")
    change = Change(version=1, key="greeting", op="set", old=None, new="hi", at=now, source=source)
    events: list[Event] = [
        RunStarted(run_id, "T-1", "r.yaml", ("hello",), {"who": "x"}, now),
        ContextChanged(run_id, (change,)),
        StepFinished(run_id, "hello", "succeeded", now + 0.5, 0.5, 1, None, "hi", now, now + 0.5),
        RunFinished(run_id, "succeeded", now + 1, 1.0, None),
    ]
    return [to_wire(event) for event in events]


def test_posted_events_are_recorded_as_a_run_the_server_lists_shows_and_replays(client: ContextClient) -> None:
    run_id = "client0001"

    assert client.post_events(run_id, run_events(run_id)) == 4

    deadline = time.monotonic() + 10
    while client.run(run_id)["status"] != "succeeded":  # the server records the run in the background
        assert time.monotonic() < deadline, "the posted run was not recorded as succeeded in 10 s"
        time.sleep(0.02)
    document = client.run(run_id)
    assert (document["run_id"], document["recipe"]["test_id"], document["steps"]["hello"]["output"]) == (
        run_id,
        "T-1",
        "hi",
    )
    assert run_id in [run["run_id"] for run in client.runs(status="succeeded")]
    assert [event["type"] for event in client.run_events(run_id)] == [
        "run_started",
        "context_changed",
        "step_finished",
        "run_finished",
    ]


def test_an_unknown_run_raises_a_404_server_error(client: ContextClient) -> None:
    with pytest.raises(ServerError) as caught:
        client.run("nosuchrun")

    assert caught.value.status == 404
    assert "nosuchrun" in str(caught.value)


def test_events_of_another_run_are_refused_with_the_servers_message(client: ContextClient) -> None:
    with pytest.raises(ServerError) as caught:
        client.post_events("client0002", run_events("client0003"))

    assert caught.value.status == 422
    assert str(caught.value) == "events[0] is of run 'client0003', not 'client0002'"


# -- errors and tokens -------------------------------------------------------------------------------


def test_a_wrong_token_raises_an_actionable_401_server_error(server: Server) -> None:
    with ContextClient(server.url, "wrong-token-wrong-token") as client:
        with pytest.raises(ServerError) as caught:
            client.read("c")

    assert caught.value.status == 401
    assert str(caught.value) == (
        f"the context server at {server.url} refused the token: set F0_TOKEN (or pass token=) to the token "
        "`f0 serve` uses (printed when it starts)"
    )


def test_the_token_defaults_to_f0_token(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("F0_TOKEN", server.token)

    with ContextClient(server.url) as client:
        assert client.read("never-written") == (0, {})


def test_no_token_anywhere_raises_a_401_that_says_where_to_set_one(
    server: Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("F0_TOKEN", raising=False)
    monkeypatch.setenv("F0_TOKEN_FILE", str(tmp_path / "no-token"))

    with ContextClient(server.url) as client:
        with pytest.raises(ServerError, match="needs a token and none was found: set F0_TOKEN or pass token=$"):
            client.read("c")


def test_a_url_that_is_not_http_is_refused_with_an_example() -> None:
    with pytest.raises(ServerError, match=r"must start with http:// or https:// \(e.g. http://127.0.0.1:8765\)$"):
        ContextClient("127.0.0.1:8765", "t" * 32)


def test_an_answer_that_is_not_json_raises_a_server_error_naming_the_status() -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(502, text="Bad Gateway\n<html>"))

    with ContextClient("http://proxy.invalid", "t" * 32, transport=transport) as client:
        with pytest.raises(ServerError) as caught:
            client.read("c")

    assert caught.value.status == 502
    assert str(caught.value) == ("the context server answered GET /api/v1/contexts/c with HTTP 502: Bad Gateway")


def test_a_server_that_cannot_be_reached_raises_after_retrying_for_retry_for_seconds() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    started = time.monotonic()

    with ContextClient(url, "t" * 32, retry_for=0.5) as client:
        with pytest.raises(ServerError) as caught:
            client.read("c")

    assert 0.3 <= time.monotonic() - started < 5
    assert caught.value.status is None
    assert str(caught.value).startswith(f"cannot reach the context server at {url}: ")
    assert str(caught.value).endswith("is `f0 serve` running there?")


# -- retries -----------------------------------------------------------------------------------------


def test_a_change_whose_answer_is_lost_is_retried_with_its_write_id_and_written_once(server: Server, name: str) -> None:
    transport = LoseFirstAnswer("POST")

    with ContextClient(server.url, server.token, transport=transport) as client:
        version = client.change(name, increment={"n": 1})

        assert version == 1
        assert len(transport.bodies) == 2 and transport.bodies[0] == transport.bodies[1]
        assert client.read(name) == (1, {"n": 1})
        assert [c["version"] for c in client.history(name)] == [1]


def test_a_put_repeated_with_the_same_write_id_is_acknowledged_with_the_same_version_and_written_once(
    client: ContextClient, name: str
) -> None:
    first = client.put(name, "a", "x", write_id="w-1")
    client.put(name, "b", "y")

    assert client.put(name, "a", "x", write_id="w-1") == first
    assert [(c["version"], c["key"]) for c in client.history(name)] == [(1, "a"), (2, "b")]


def test_a_compare_and_set_delete_whose_answer_is_lost_is_not_retried(server: Server, name: str) -> None:
    transport = LoseFirstAnswer("DELETE")

    with ContextClient(server.url, server.token, transport=transport) as client:
        client.put(name, "a", 1)
        with pytest.raises(ServerError, match="^cannot reach the context server at .*: connection reset"):
            client.delete(name, "a", expected_version=1)

        assert len(transport.bodies) == 1
        assert client.get(name, "a") is None  # it was deleted: a retry would have reported a conflict


def test_a_client_kept_across_a_server_kill_and_restart_retries_a_write_until_it_is_back(
    processes: ServerProcesses,
) -> None:
    first = processes.start()
    transport = CountConnectErrors()
    with ContextClient(processes.url, processes.token, transport=transport) as client:
        client.put("c", "a", 1)
        first.kill()
        answers: list[int] = []
        writer = threading.Thread(target=lambda: answers.append(client.change("c", set={"b": 2})))
        writer.start()
        assert transport.refused.wait(10), "the write never found the server down"
        processes.start()
        writer.join(30)

        assert answers == [2]
        assert client.read("c") == (2, {"a": 1, "b": 2})
