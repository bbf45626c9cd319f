"""The context server's REST API through a real uvicorn server on loopback, spoken with plain httpx.

What RECIPES §6 fixes (versions, compare-and-set, atomic changes, history, /healthz), the merge
strategies a context declares, idempotent writes, typed JSON errors, a store whose disk is full or
that is read-only (the server then runs in a process of its own, under a file-size limit or without
the capabilities that let root ignore file modes), and the runs of the server's store.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import sqlite3
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.server.servers import READY, Server, new_token, server_thread, stop
from tests.store.store_backends import sqlite_url

import framework0
from framework0.engine.history import result_document, stored_result
from framework0.events import EventBus
from framework0.events.types import Event
from framework0.events.wire import to_wire
from framework0.store import open_store

CONTEXTS = "/api/v1/contexts"
MIB = 1 << 20


@pytest.fixture(scope="module")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty store at the current schema: each test copies it (migrating one costs more)."""
    path = tmp_path_factory.mktemp("template") / "server.db"
    open_store(sqlite_url(path)).close()
    assert not path.with_name("server.db-wal").exists()
    return path


@pytest.fixture
def db(tmp_path: Path, migrated: Path) -> Path:
    """This test's own store file."""
    path = tmp_path / "server.db"
    shutil.copyfile(migrated, path)
    return path


@pytest.fixture
def server(db: Path) -> Iterator[Server]:
    with server_thread(sqlite_url(db)) as running:
        yield running


@pytest.fixture
def api(server: Server) -> Iterator[httpx.Client]:
    with server.client() as client:
        yield client


# -- helpers --------------------------------------------------------------------------------------


def put(api: httpx.Client, key: str, value: Any, *, context: str = "c", **fields: Any) -> httpx.Response:
    return api.put(f"{CONTEXTS}/{context}/keys/{key}", json={"value": value, **fields})


def change(api: httpx.Client, *, context: str = "c", **body: Any) -> httpx.Response:
    return api.post(f"{CONTEXTS}/{context}/changes", json=body)


def version(response: httpx.Response) -> int:
    """The version a successful write answered."""
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"version"}, body
    assert isinstance(body["version"], int)
    return int(body["version"])


def read(api: httpx.Client, context: str = "c", **params: Any) -> dict[str, Any]:
    response = api.get(f"{CONTEXTS}/{context}", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def history(api: httpx.Client, context: str = "c", **params: Any) -> list[dict[str, Any]]:
    response = api.get(f"{CONTEXTS}/{context}/history", params=params)
    assert response.status_code == 200, response.text
    changes: list[dict[str, Any]] = response.json()["changes"]
    return changes


def key_version(api: httpx.Client, key: str, context: str = "c") -> int:
    response = api.get(f"{CONTEXTS}/{context}/keys/{key}")
    assert response.status_code == 200, response.text
    return int(response.json()["version"])


def error(response: httpx.Response, status: int, kind: str | None = None) -> dict[str, Any]:
    """A typed JSON error: ``{"error": {"type", "message"}}`` (plus fields), the message on one line."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body: dict[str, Any] = response.json()
    assert set(body["error"]) == {"type", "message"}, body
    if kind is not None:
        assert body["error"]["type"] == kind, body
    message = body["error"]["message"]
    assert isinstance(message, str) and message.strip() and "\n" not in message, body
    return body


def create(api: httpx.Client, name: str, strategies: dict[str, str]) -> httpx.Response:
    return api.post(CONTEXTS, json={"name": name, "strategies": strategies})


# -- RECIPES §6: reading --------------------------------------------------------------------------


def test_a_context_never_named_reads_as_empty_at_version_0(api: httpx.Client):
    assert read(api, "never-named") == {"name": "never-named", "version": 0, "data": {}}


def test_reading_a_context_gives_its_name_version_and_data(api: httpx.Client):
    version(put(api, "db.host", "h1"))
    version(change(api, set={"db.port": 5432, "tags": ["a"]}))
    assert read(api) == {"name": "c", "version": 2, "data": {"db.host": "h1", "db.port": 5432, "tags": ["a"]}}


def test_at_reads_the_context_as_it_was_at_an_earlier_version(api: httpx.Client):
    version(put(api, "a", 1))
    version(change(api, set={"a": 2, "b": "x"}))
    version(change(api, delete=["a"], increment={"n": 3}))
    assert read(api, at=0) == {"name": "c", "version": 0, "data": {}}
    assert read(api, at=1) == {"name": "c", "version": 1, "data": {"a": 1}}
    assert read(api, at=2) == {"name": "c", "version": 2, "data": {"a": 2, "b": "x"}}
    assert read(api, at=3) == read(api) == {"name": "c", "version": 3, "data": {"b": "x", "n": 3}}


def test_reading_a_key_gives_its_value_and_the_version_that_last_wrote_it(api: httpx.Client):
    version(put(api, "db", {"host": "h1", "port": 1}))
    version(put(api, "other", True))
    response = api.get(f"{CONTEXTS}/c/keys/db")
    assert response.status_code == 200
    assert response.json() == {"key": "db", "value": {"host": "h1", "port": 1}, "version": 1}


@pytest.mark.parametrize(
    ("context", "key"),
    [("c", "never-written"), ("c", "deleted"), ("never-named", "a")],
    ids=["absent", "deleted", "no-context"],
)
def test_reading_a_key_that_does_not_exist_is_404(api: httpx.Client, context: str, key: str):
    version(put(api, "deleted", 1))
    version(change(api, delete=["deleted"]))
    error(api.get(f"{CONTEXTS}/{context}/keys/{key}"), 404, "KeyNotFound")


# -- RECIPES §6: PUT a key ------------------------------------------------------------------------


def test_put_writes_a_key_and_answers_the_new_version(api: httpx.Client):
    assert version(put(api, "a", {"x": [1, 2]})) == 1
    assert version(put(api, "a", "replaced")) == 2
    assert read(api)["data"] == {"a": "replaced"}


def test_put_with_the_keys_current_version_writes(api: httpx.Client):
    version(put(api, "a", 1))
    version(put(api, "other", 1))
    assert version(put(api, "a", 2, expected_version=1)) == 3
    assert read(api)["data"]["a"] == 2


def test_put_with_a_stale_version_is_409_with_the_current_version_and_writes_nothing(api: httpx.Client):
    version(put(api, "a", 1))
    version(put(api, "a", 2))
    before_history = history(api)
    body = error(put(api, "a", "stale", expected_version=1), 409, "ContextConflict")
    assert body["current_version"] == 2
    assert read(api) == {"name": "c", "version": 2, "data": {"a": 2}}
    assert history(api) == before_history
    assert key_version(api, "a") == 2


def test_put_with_expected_version_0_writes_only_a_key_that_does_not_exist(api: httpx.Client):
    assert version(put(api, "lock", "me", expected_version=0)) == 1
    body = error(put(api, "lock", "you", expected_version=0), 409, "ContextConflict")
    assert body["current_version"] == 1
    assert read(api)["data"] == {"lock": "me"}
    version(change(api, delete=["lock"]))
    assert version(put(api, "lock", "you", expected_version=0)) == 3  # deleted: absent again, version 0


def test_put_expecting_a_version_of_a_key_that_does_not_exist_is_409_with_version_0(api: httpx.Client):
    body = error(put(api, "ghost", 1, expected_version=4), 409, "ContextConflict")
    assert body["current_version"] == 0
    assert read(api, "c") == {"name": "c", "version": 0, "data": {}}


# -- RECIPES §6: POST one atomic change -----------------------------------------------------------


def test_a_change_of_several_keys_is_one_new_version(api: httpx.Client):
    version(change(api, set={"a": 1, "b": 2, "n": 10}))
    assert version(change(api, set={"a": "new"}, delete=["b"], increment={"n": 5, "fresh": 1})) == 2
    assert read(api) == {"name": "c", "version": 2, "data": {"a": "new", "n": 15, "fresh": 1}}
    assert {entry["version"] for entry in history(api, since=1)} == {2}


def test_a_change_with_stale_keys_is_409_naming_them_and_applies_nothing(api: httpx.Client):
    version(change(api, set={"a": 1, "b": 1, "c": 1}))  # all at version 1
    version(change(api, set={"b": 2, "c": 2}))  # b and c at version 2
    before = read(api)
    before_history = history(api)
    response = change(api, set={"a": "x", "b": "x", "new": "x"}, increment={"c": 1}, expected={"a": 1, "b": 1, "c": 1})
    body = error(response, 409, "ContextConflict")
    assert body["conflicts"] == {"b": {"expected": 1, "current": 2}, "c": {"expected": 1, "current": 2}}
    assert read(api) == before
    assert history(api) == before_history


def test_expected_may_guard_keys_the_change_does_not_write(api: httpx.Client):
    version(put(api, "leader", "n1"))
    version(put(api, "leader", "n2"))
    body = error(change(api, set={"work": "done"}, expected={"leader": 1}), 409, "ContextConflict")
    assert body["conflicts"] == {"leader": {"expected": 1, "current": 2}}
    assert "work" not in read(api)["data"]
    assert version(change(api, set={"work": "done"}, expected={"leader": 2})) == 3


def test_versions_are_1_2_3_without_gaps_even_after_refused_writes(api: httpx.Client):
    assert version(put(api, "a", 1)) == 1
    error(put(api, "a", 2, expected_version=0), 409)  # stale
    error(change(api, increment={"s": 1}, set={"s": 1}), 422)  # invalid
    error(put(api, "a", 2, context="bad name"), 422)
    assert version(change(api, set={"b": 1})) == 2
    error(change(api, set={"x": 1}, expected={"ghost": 9}), 409)
    assert version(put(api, "a", 3)) == 3
    assert [entry["version"] for entry in history(api)] == [1, 2, 3]
    assert read(api)["version"] == 3


def test_concurrent_writers_get_consecutive_versions(server: Server):
    def writer(number: int) -> list[int]:
        with server.client() as client:
            return [version(change(client, increment={"hits": 1}, set={f"w{number}": i})) for i in range(5)]

    with ThreadPoolExecutor(max_workers=16) as pool:
        answered = [v for versions in pool.map(writer, range(16)) for v in versions]
    assert sorted(answered) == list(range(1, 81))
    with server.client() as client:
        state = read(client)
        assert state["version"] == 80
        assert state["data"]["hits"] == 80
        assert sorted({entry["version"] for entry in history(client)}) == list(range(1, 81))


def test_each_key_remembers_the_version_of_the_change_that_last_wrote_it(api: httpx.Client):
    version(change(api, set={"a": 1, "b": 1}))  # 1
    version(change(api, set={"b": 2}))  # 2
    version(change(api, set={"c": 3}))  # 3
    version(change(api, increment={"a": 1}))  # 4
    assert {key: key_version(api, key) for key in "abc"} == {"a": 4, "b": 2, "c": 3}
    body = error(change(api, set={"x": 1}, expected={"a": 4, "b": 2, "c": 3, "nothing": 1}), 409)
    assert body["conflicts"] == {"nothing": {"expected": 1, "current": 0}}  # a key that does not exist: 0


# -- RECIPES §6: history and health ---------------------------------------------------------------


def test_history_lists_each_key_change_with_old_and_new_value_when_and_who(api: httpx.Client):
    started = time.time()
    version(put(api, "a", 1))
    version(change(api, set={"a": 2, "b": "x"}, source={"node": "n1", "run": "r1", "step": "s1", "attempt": 2}))
    version(change(api, delete=["a"]))
    changes = history(api)
    assert [(e["version"], e["key"], e["old"], e["new"]) for e in changes] == [
        (1, "a", None, 1),
        (2, "a", 1, 2),
        (2, "b", None, "x"),
        (3, "a", 2, None),
    ]
    for entry in changes:
        assert {"version", "key", "old", "new", "at", "source"} <= set(entry), entry
        assert started - 1 <= entry["at"] <= time.time() + 1
    assert {"node": "n1", "run": "r1", "step": "s1", "attempt": 2}.items() <= changes[1]["source"].items()
    assert changes[0]["source"]["client"].startswith("127.0.0.1:")  # who, when the writer says nothing


def test_history_since_a_version_and_of_one_key(api: httpx.Client):
    version(change(api, set={"a": 1, "b": 1}))
    version(change(api, set={"a": 2}))
    version(change(api, set={"b": 2}))
    version(change(api, set={"a": 3, "b": 3}))
    assert [(e["version"], e["key"]) for e in history(api, since=2)] == [(3, "b"), (4, "a"), (4, "b")]
    assert [(e["version"], e["new"]) for e in history(api, key="a")] == [(1, 1), (2, 2), (4, 3)]
    assert [(e["version"], e["new"]) for e in history(api, since=1, key="b")] == [(3, 2), (4, 3)]
    assert history(api, since=4) == []


def test_healthz_answers_200_without_a_token(server: Server):
    response = httpx.get(f"{server.url}/healthz", timeout=10)
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_every_other_route_needs_the_token(server: Server):
    routes = [
        ("GET", f"{CONTEXTS}/c"),
        ("GET", f"{CONTEXTS}/c/keys/a"),
        ("PUT", f"{CONTEXTS}/c/keys/a"),
        ("POST", f"{CONTEXTS}/c/changes"),
        ("GET", f"{CONTEXTS}/c/history"),
        ("GET", "/api/v1/runs"),
    ]
    for method, path in routes:
        for headers in ({}, {"Authorization": "Bearer wrong-token-0123456789"}):
            response = httpx.request(method, f"{server.url}{path}", json={"value": 1}, headers=headers, timeout=10)
            error(response, 401, "Unauthorized")
    with server.client() as client:
        assert read(client) == {"name": "c", "version": 0, "data": {}}


# -- merge strategies -----------------------------------------------------------------------------


def test_reject_is_the_default_for_keys_no_rule_names(api: httpx.Client):
    assert create(api, "m", {"counters.*": "counter"}).status_code == 201
    version(put(api, "plain", 1, context="m"))
    version(put(api, "plain", 2, context="m"))
    error(put(api, "plain", 3, context="m", expected_version=1), 409, "ContextConflict")
    assert read(api, "m")["data"] == {"plain": 2}


def test_last_writer_wins_ignores_a_stale_expected_version(api: httpx.Client):
    assert create(api, "m", {"owner": "last-writer-wins"}).status_code == 201
    version(put(api, "owner", "a", context="m"))
    version(put(api, "owner", "b", context="m"))
    assert version(put(api, "owner", "c", context="m", expected_version=1)) == 3
    assert version(change(api, context="m", set={"owner": "d"}, expected={"owner": 0})) == 4
    assert read(api, "m")["data"] == {"owner": "d"}


def test_deep_merge_merges_objects_recursively_and_ignores_a_stale_expected(api: httpx.Client):
    assert create(api, "m", {"config": "deep-merge"}).status_code == 201
    version(put(api, "config", {"db": {"host": "h1", "port": 1}, "tags": ["a"], "debug": False}, context="m"))
    version(
        change(api, context="m", set={"config": {"db": {"port": 2}, "tags": ["b"], "new": 1}}, expected={"config": 0})
    )
    assert read(api, "m")["data"]["config"] == {
        "db": {"host": "h1", "port": 2},
        "tags": ["b"],
        "debug": False,
        "new": 1,
    }
    version(put(api, "config", "not an object", context="m"))  # a non-object replaces
    assert read(api, "m")["data"]["config"] == "not an object"


def test_counter_increments_merge_and_their_expected_version_is_ignored(server: Server):
    with server.client() as client:
        assert create(client, "m", {"done": "counter"}).status_code == 201
        version(change(client, context="m", increment={"done": 1}))
        read_at = key_version(client, "done", context="m")  # every writer read version 1

    def bump(_: int) -> int:
        with server.client() as client:
            return version(change(client, context="m", increment={"done": 2}, expected={"done": read_at}))

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert sorted(pool.map(bump, range(20))) == list(range(2, 22))
    with server.client() as client:
        assert read(client, "m")["data"] == {"done": 41}
        assert version(put(client, "done", 100, context="m", expected_version=1)) == 22  # RECIPES: ignored
        assert read(client, "m")["data"] == {"done": 100}


def test_set_adds_and_removes_items_without_duplicates_in_insertion_order(api: httpx.Client):
    assert create(api, "m", {"hosts": "set"}).status_code == 201
    version(change(api, context="m", add={"hosts": ["web-1", "web-2"]}))
    version(change(api, context="m", add={"hosts": ["web-2", "web-3", {"id": 4}]}, expected={"hosts": 0}))
    version(change(api, context="m", remove={"hosts": ["web-1", "absent"]}, expected={"hosts": 1}))
    assert read(api, "m")["data"] == {"hosts": ["web-2", "web-3", {"id": 4}]}


def test_a_prefix_rule_covers_every_key_under_the_prefix(api: httpx.Client):
    assert create(api, "m", {"jobs.*": "counter"}).status_code == 201
    for key in ("jobs.a", "jobs.a.b"):
        version(change(api, context="m", increment={key: 1}))
        version(change(api, context="m", increment={key: 1}, expected={key: 0}))  # stale, ignored
    version(put(api, "jobs", 1, context="m"))  # "jobs" itself is not under "jobs."
    error(put(api, "jobs", 2, context="m", expected_version=0), 409, "ContextConflict")
    assert read(api, "m")["data"] == {"jobs.a": 2, "jobs.a.b": 2, "jobs": 1}


def test_an_exact_rule_beats_a_prefix_and_the_longest_prefix_wins(api: httpx.Client):
    rules = {"jobs.*": "last-writer-wins", "jobs.locked.*": "reject", "jobs.owner": "reject"}
    assert create(api, "m", rules).status_code == 201
    for key in ("jobs.owner", "jobs.locked.x", "jobs.free"):
        version(put(api, key, 1, context="m"))
    version(put(api, "jobs.free", 2, context="m", expected_version=0))
    error(put(api, "jobs.owner", 2, context="m", expected_version=0), 409, "ContextConflict")
    error(put(api, "jobs.locked.x", 2, context="m", expected_version=0), 409, "ContextConflict")
    assert read(api, "m")["data"] == {"jobs.owner": 1, "jobs.locked.x": 1, "jobs.free": 2}


@pytest.mark.parametrize(
    ("rules", "named"),
    [
        ({"jobs.*": "counterr"}, "'counterr'"),
        ({"a": "union"}, "'union'"),
        ({"a*": "counter"}, "'a*'"),
        ({"a": 3}, "strategies.a"),
    ],
    ids=["typo", "unknown", "bad-pattern", "not-a-string"],
)
def test_an_unknown_strategy_or_pattern_is_422_with_a_one_line_message(
    api: httpx.Client, rules: dict[str, Any], named: str
):
    for response in (create(api, "m", rules), api.put(f"{CONTEXTS}/m/strategies", json={"strategies": rules})):
        body = error(response, 422)
        assert named in body["error"]["message"]
    assert read(api, "m")["version"] == 0
    assert api.get(CONTEXTS).json()["contexts"] == []


def test_creating_a_context_again_with_the_same_rules_is_ok(api: httpx.Client):
    first = create(api, "m", {"a": "counter", "b.*": "set"})
    assert first.status_code == 201
    assert first.json()["strategies"] == {"a": "counter", "b.*": "set"}
    again = create(api, "m", {"b.*": "set", "a": "counter"})
    assert again.status_code == 201
    assert again.json() == first.json()
    assert [c["name"] for c in api.get(CONTEXTS).json()["contexts"]] == ["m"]


def test_creating_a_context_again_with_other_rules_is_409(api: httpx.Client):
    assert create(api, "m", {"a": "counter"}).status_code == 201
    error(create(api, "m", {"a": "set"}), 409, "ContextExists")
    error(create(api, "m", {}), 409, "ContextExists")
    assert api.get(CONTEXTS).json()["contexts"][0]["strategies"] == {"a": "counter"}


def test_replacing_the_strategies_changes_how_later_writes_merge(api: httpx.Client):
    version(put(api, "owner", "a"))  # the context exists with no rules: reject
    error(put(api, "owner", "b", expected_version=0), 409)
    response = api.put(f"{CONTEXTS}/c/strategies", json={"strategies": {"owner": "last-writer-wins"}})
    assert response.status_code == 200, response.text
    assert response.json()["strategies"] == {"owner": "last-writer-wins"}
    assert version(put(api, "owner", "b", expected_version=0)) == 2


# -- idempotent writes ----------------------------------------------------------------------------


def test_the_same_change_sent_twice_with_one_write_id_is_written_once(api: httpx.Client):
    first = version(change(api, increment={"n": 1}, write_id="job-7/attempt-1"))
    version(put(api, "other", 1))
    assert version(change(api, increment={"n": 1}, write_id="job-7/attempt-1")) == first
    assert read(api)["data"] == {"n": 1, "other": 1}
    assert [entry["version"] for entry in history(api, key="n")] == [first]


def test_the_same_put_sent_twice_with_one_write_id_is_written_once(api: httpx.Client):
    assert version(put(api, "lock", "me", expected_version=0, write_id="w1")) == 1
    assert version(put(api, "lock", "me", expected_version=0, write_id="w1")) == 1  # a retry, not a conflict
    assert read(api)["version"] == 1
    assert len(history(api)) == 1


def test_one_write_id_sent_by_many_clients_at_once_is_written_once(server: Server):
    def send(_: int) -> int:
        with server.client() as client:
            return version(change(client, increment={"n": 1}, write_id="once"))

    with ThreadPoolExecutor(max_workers=10) as pool:
        assert set(pool.map(send, range(10))) == {1}
    with server.client() as client:
        assert read(client) == {"name": "c", "version": 1, "data": {"n": 1}}


# -- typed errors, never a 500 --------------------------------------------------------------------


@pytest.mark.parametrize(
    "body", [b"{nope", b"", b"\xff\xfe", b'{"set": {"a": NaN}}'], ids=["syntax", "empty", "utf8", "nan"]
)
def test_a_body_that_is_not_json_is_400(api: httpx.Client, body: bytes):
    error(api.post(f"{CONTEXTS}/c/changes", content=body), 400, "BadRequestBody")
    error(api.put(f"{CONTEXTS}/c/keys/a", content=body), 400, "BadRequestBody")
    assert read(api)["version"] == 0


@pytest.mark.parametrize("opening", [b"[", b'{"a":'], ids=["arrays", "objects"])
def test_json_nested_10000_deep_is_refused_with_a_4xx(api: httpx.Client, opening: bytes):
    closing = b"]" if opening == b"[" else b"}"
    body = opening * 10_000 + (b"" if opening == b"[" else b"1") + closing * 10_000
    response = api.post(f"{CONTEXTS}/c/changes", content=body)
    assert 400 <= response.status_code < 500
    error(response, response.status_code)
    deep_value = b'{"value": ' + b"[" * 10_000 + b"]" * 10_000 + b"}"
    response = api.put(f"{CONTEXTS}/c/keys/a", content=deep_value)
    assert 400 <= response.status_code < 500
    error(response, response.status_code)
    assert read(api)["version"] == 0


@pytest.mark.parametrize("sent", ["with-length", "chunked"])
def test_a_body_over_1_mib_is_413(api: httpx.Client, sent: str):
    big = json.dumps({"set": {"blob": "x" * MIB}}).encode()

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(big), 65_536):
            yield big[start : start + 65_536]

    response = api.post(f"{CONTEXTS}/c/changes", content=big if sent == "with-length" else chunks())
    error(response, 413, "BodyTooLarge")
    assert read(api)["version"] == 0


@pytest.mark.parametrize(
    ("route", "body"),
    [
        pytest.param("changes", {"set": [1, 2]}, id="set-list"),
        pytest.param("changes", {"delete": "a"}, id="delete-string"),
        pytest.param("changes", {"increment": {"n": "many"}}, id="increment-word"),
        pytest.param("changes", {"increment": {"n": None}}, id="increment-null"),
        pytest.param("changes", {"add": {"tags": "x"}}, id="add-string"),
        pytest.param("changes", {"expected": {"a": 1.5}}, id="expected-fraction"),
        pytest.param("changes", {"expected": {"a": -1}}, id="expected-negative"),
        pytest.param("changes", {"set": {"": 1}}, id="empty-key"),
        pytest.param("changes", {"sett": {"a": 1}}, id="unknown-field"),
        pytest.param("changes", {"set": {"a": 1}, "write_id": ""}, id="empty-write-id"),
        pytest.param("changes", [{"set": {"a": 1}}], id="change-list"),
        pytest.param("key", {"valu": 1}, id="key-no-value"),
        pytest.param("key", {"value": 1, "expected_version": -1}, id="key-negative-version"),
        pytest.param("key", {"value": 1, "expected_version": "one"}, id="key-word-version"),
        pytest.param("key", "just a string", id="key-string-body"),
        pytest.param("changes", {"increment": {"n": "5"}}, id="increment-numeric-string"),
        pytest.param("changes", {"increment": {"n": True}}, id="increment-boolean"),
        pytest.param("changes", {"set": {"a": 1}, "expected": {"a": "0"}}, id="expected-string"),
        pytest.param("changes", {"set": {"a": 1}, "expected": {"a": False}}, id="expected-boolean"),
        pytest.param("key", {"value": 1, "expected_version": "0"}, id="key-string-version"),
        pytest.param("key", {"value": 1, "expected_version": False}, id="key-boolean-version"),
        pytest.param("changes", {"set": {"a": 1}, "source": {"attempt": "1"}}, id="source-string"),
    ],
)
def test_a_body_of_the_wrong_shape_or_types_is_422_and_writes_nothing(api: httpx.Client, route: str, body: Any):
    path = f"{CONTEXTS}/c/changes" if route == "changes" else f"{CONTEXTS}/c/keys/a"
    response = api.post(path, json=body) if route == "changes" else api.put(path, json=body)
    error(response, 422)
    assert read(api) == {"name": "c", "version": 0, "data": {}}


@pytest.mark.parametrize("name", ["bad name", "-leading-dash", "a" * 201, "semi;colon"])
def test_a_bad_context_name_is_422(api: httpx.Client, name: str):
    error(api.get(f"{CONTEXTS}/{name}"), 422)
    error(api.put(f"{CONTEXTS}/{name}/keys/a", json={"value": 1}), 422)
    error(api.post(f"{CONTEXTS}/{name}/changes", json={"set": {"a": 1}}), 422)
    error(create(api, name, {}), 422)
    assert api.get(CONTEXTS).json()["contexts"] == []


def test_incrementing_a_value_that_is_not_a_number_is_422_and_writes_nothing(api: httpx.Client):
    version(put(api, "name", "web-1"))
    body = error(change(api, increment={"name": 1, "n": 1}), 422, "ContextError")
    assert "'name'" in body["error"]["message"]
    assert read(api) == {"name": "c", "version": 1, "data": {"name": "web-1"}}


def test_a_key_in_both_set_and_delete_of_one_change_is_422(api: httpx.Client):
    version(put(api, "a", 1))
    body = error(change(api, set={"a": 2, "b": 2}, delete=["a"]), 422, "ContextError")
    assert "'a'" in body["error"]["message"]
    assert read(api) == {"name": "c", "version": 1, "data": {"a": 1}}


def test_reading_at_a_version_after_the_current_one_is_404(api: httpx.Client):
    version(put(api, "a", 1))
    error(api.get(f"{CONTEXTS}/c", params={"at": 2}), 404, "UnknownVersion")
    error(api.get(f"{CONTEXTS}/never-named", params={"at": 1}), 404, "UnknownVersion")


def test_history_since_a_trimmed_version_is_410_with_the_oldest_version_held(db: Path):
    with server_thread(sqlite_url(db), keep_history=10) as server, server.client() as api:
        for value in range(300):
            version(put(api, "k", value))
        body = error(api.get(f"{CONTEXTS}/c/history", params={"since": 0}), 410, "HistoryGone")
        oldest = body["oldest"]
        assert 10 <= 300 - oldest <= 10 + 100  # keeps at least 10, trims once past keep + max(100, keep // 10)
        assert api.get(CONTEXTS).json()["contexts"][0]["oldest"] == oldest
        error(api.get(f"{CONTEXTS}/c/history", params={"since": oldest - 1}), 410, "HistoryGone")
        error(api.get(f"{CONTEXTS}/c", params={"at": oldest - 1}), 410, "HistoryGone")
        held = history(api, since=oldest)
        assert [entry["version"] for entry in held] == list(range(oldest + 1, 301))
        assert read(api, at=oldest)["data"] == {"k": oldest - 1}


# -- a full disk, a read-only store ---------------------------------------------------------------

# The server in a process of its own: argv = token, store URL, Python run first (fault injection).
SERVE = """\
import sys

exec(sys.argv[3])

from framework0.server.serve import serve
from framework0.server.settings import Settings


def ready(port):
    print(f"serving on http://127.0.0.1:{port}", file=sys.stderr, flush=True)


serve(Settings(token=sys.argv[1], store_url=sys.argv[2], port=0), on_ready=ready)
"""


@contextmanager
def server_subprocess(
    store_url: str,
    *,
    setup: str = "",
    prefix: tuple[str, ...] = (),
    preexec_fn: Callable[[], None] | None = None,
) -> Iterator[Server]:
    """``framework0.server.serve.serve`` in a process of its own, after ``setup`` ran in it."""
    token = new_token()
    process = subprocess.Popen(
        [*prefix, sys.executable, "-c", SERVE, token, store_url, setup],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=preexec_fn,
    )
    assert process.stderr is not None
    lines: list[str] = []
    found = None
    deadline = time.monotonic() + 60
    while found is None and time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line:
            break
        lines.append(line)
        found = READY.search(line)
    if found is None:
        process.kill()
        process.wait(timeout=10)
        process.stderr.close()
        raise RuntimeError("the server process did not start:\n" + "".join(lines))
    server = Server(found.group(1), token, process=process, stderr=lines)
    stderr = process.stderr
    drain = threading.Thread(target=lambda: lines.extend(stderr), daemon=True)
    drain.start()
    try:
        yield server
    finally:
        stop(server)
        drain.join(timeout=10)
        stderr.close()


def seed(url: str) -> dict[str, Any]:
    """Two versions of context ``c``, written by a server that then stops; returns what it reads."""
    with server_thread(url) as server, server.client() as api:
        version(put(api, "a", 1))
        version(change(api, set={"b": {"x": 1}}, increment={"n": 1}))
        return everything(api)


def everything(api: httpx.Client) -> dict[str, Any]:
    """What the server holds: context ``c``, its history, and which contexts exist."""
    names = [row["name"] for row in api.get(CONTEXTS).json()["contexts"]]
    return {"context": read(api), "history": history(api), "names": names}


def assert_holds(url: str, expected: dict[str, Any]) -> None:
    """A fresh server on the store reads exactly ``expected``, and writes at the next version."""
    with server_thread(url) as server, server.client() as api:
        assert everything(api) == expected
        assert version(put(api, "after", 1)) == expected["context"]["version"] + 1


def full_disk_for(db: Path) -> Callable[[], None]:
    """A preexec_fn under which no file grows past the database's size plus 64 KiB (EFBIG)."""
    limit = db.stat().st_size + 64 * 1024

    def small_disk() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails instead of killing
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return small_disk


BIG = "x" * 300_000  # past the 64 KiB left


def test_a_write_to_a_full_disk_writes_nothing_and_the_next_write_gets_the_next_version(db: Path):
    url = sqlite_url(db)
    seeded = seed(url)
    with server_subprocess(url, preexec_fn=full_disk_for(db)) as server, server.client() as api:
        response = change(api, set={"small": 1, "big": BIG}, increment={"n": 1})
        assert response.status_code in (503, 507), response.text  # 507: see test_a_full_disk_is_507_store_full
        body = error(response, response.status_code)
        assert "nothing was written" in body["error"]["message"]
        error(put(api, "big", BIG, context="new-context"), response.status_code)
        assert everything(api) == seeded
        assert version(put(api, "small", 1)) == 3  # what fits is written, at the next version
        after = everything(api)
    assert after["context"] == {"name": "c", "version": 3, "data": {**seeded["context"]["data"], "small": 1}}
    assert_holds(url, after)


def test_a_full_disk_is_507_store_full(db: Path):
    url = sqlite_url(db)
    seed(url)
    with server_subprocess(url, preexec_fn=full_disk_for(db)) as server, server.client() as api:
        error(change(api, set={"big": BIG}), 507, "StoreFull")


# SQLite's own "database or disk is full" (SQLITE_FULL, what ENOSPC gives), by capping the pages
SMALL_DATABASE = """\
from sqlalchemy import event
from sqlalchemy.engine import Engine


@event.listens_for(Engine, "connect")
def _cap(dbapi_connection, _record):
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA max_page_count = {pages}")
    cursor.close()
"""


def test_a_store_that_reports_its_disk_full_is_507_store_full_and_writes_nothing(db: Path):
    url = sqlite_url(db)
    seeded = seed(url)
    with sqlite3.connect(db) as connection:
        pages = connection.execute("PRAGMA page_count").fetchone()[0]
    connection.close()
    setup = SMALL_DATABASE.replace("{pages}", str(pages + 8))
    with server_subprocess(url, setup=setup) as server, server.client() as api:
        body = error(change(api, set={"small": 1, "big": BIG}, increment={"n": 1}), 507, "StoreFull")
        assert "nothing was written" in body["error"]["message"]
        assert everything(api) == seeded
    assert_holds(url, seeded)


STRIP_CAPABILITIES = ("setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner", "--")


@pytest.fixture(scope="module")
def unprivileged() -> tuple[str, ...]:
    """A command prefix under which file modes apply (root ignores them unless setpriv drops that)."""
    if os.geteuid() != 0:
        return ()
    if shutil.which("setpriv") is None:
        pytest.skip("running as root, where chmod does not stop writes, and setpriv is not installed")
    probe = subprocess.run(
        [*STRIP_CAPABILITIES, sys.executable, "-c", "import os; os.open('/proc/1/environ', os.O_RDONLY)"],
        capture_output=True,
    )
    if probe.returncode == 0:
        pytest.skip("running as root, and setpriv could not drop the capabilities that override file modes")
    return STRIP_CAPABILITIES


@contextmanager
def read_only(db: Path) -> Iterator[None]:
    mode = stat.S_IMODE(db.stat().st_mode)
    db.chmod(mode & ~0o222)
    try:
        yield
    finally:
        db.chmod(mode)


def test_a_read_only_store_refuses_writes_with_503_and_writes_nothing(db: Path, unprivileged: tuple[str, ...]):
    url = sqlite_url(db)
    seeded = seed(url)
    with read_only(db), server_subprocess(url, prefix=unprivileged) as server, server.client() as api:
        for response in (
            put(api, "a", 2),
            change(api, set={"a": 2, "z": 1}, increment={"n": 1}),
            put(api, "a", 1, context="new-context"),
            create(api, "other", {"a": "counter"}),
        ):
            body = error(response, 503, "StoreUnavailable")
            assert "read-only" in body["error"]["message"]
    assert_holds(url, seeded)


def test_a_read_only_store_still_answers_reads(db: Path, unprivileged: tuple[str, ...]):
    url = sqlite_url(db)
    seeded = seed(url)
    with read_only(db), server_subprocess(url, prefix=unprivileged) as server, server.client() as api:
        assert read(api) == seeded["context"]


# -- runs -----------------------------------------------------------------------------------------

RECIPE = """\
test_meta: {test_id: API-RUNS}
steps:
  - {name: hello, uses: hello_world}
  - {name: put, uses: set_context, args: {values: {db.host: h1}}, depends_on: [hello]}
"""


def run_recipe(folder: Path, **options: Any) -> framework0.RunResult:
    recipe = framework0.load_recipe_text(RECIPE, file="api.yaml", base_dir=folder)
    result = framework0.run(recipe, **options)
    assert result.status == "succeeded"
    return result


def as_json(value: Any) -> Any:
    return json.loads(json.dumps(value))


def test_a_run_recorded_in_the_servers_store_is_listed(api: httpx.Client, db: Path, tmp_path: Path):
    result = run_recipe(tmp_path, store=sqlite_url(db))
    response = api.get("/api/v1/runs")
    assert response.status_code == 200
    runs = response.json()["runs"]
    assert [(run["run_id"], run["test_id"], run["status"]) for run in runs] == [
        (result.run_id, "API-RUNS", "succeeded")
    ]


def test_a_run_shows_its_run_result_document(api: httpx.Client, db: Path, tmp_path: Path):
    result = run_recipe(tmp_path, store=sqlite_url(db))
    response = api.get(f"/api/v1/runs/{result.run_id}")
    assert response.status_code == 200
    store = open_store(sqlite_url(db))
    try:
        assert response.json() == as_json(result_document(stored_result(store, result.run_id)))
    finally:
        store.close()
    assert response.json()["steps"]["put"]["output"] == ["db.host"]
    assert response.json()["context"] == {"greeted": "world", "db.host": "h1"}


def test_a_runs_events_come_in_order_from_run_started_to_run_finished(api: httpx.Client, db: Path, tmp_path: Path):
    result = run_recipe(tmp_path, store=sqlite_url(db))
    response = api.get(f"/api/v1/runs/{result.run_id}/events")
    assert response.status_code == 200
    events = response.json()["events"]
    types = [event["type"] for event in events]
    assert types[0] == "run_started" and types[-1] == "run_finished"
    assert events[-1]["status"] == "succeeded"
    assert all(event["run_id"] == result.run_id for event in events)
    assert [event["at"] for event in events] == sorted(event["at"] for event in events)
    for step in ("hello", "put"):
        of_step = [event["type"] for event in events if event.get("step") == step]
        assert of_step.index("attempt_started") < of_step.index("attempt_finished") < of_step.index("step_finished")
    changed = [event for event in events if event["type"] == "context_changed"]
    assert [event["step"] for event in changed] == ["hello", "put"]


@pytest.mark.parametrize("path", ["/api/v1/runs/nosuchrun", "/api/v1/runs/nosuchrun/events"])
def test_an_unknown_run_is_404(api: httpx.Client, path: str):
    error(api.get(path), 404, "RunNotFound")


def test_a_runners_posted_events_are_recorded_as_a_run(api: httpx.Client, tmp_path: Path):
    bus = EventBus()
    published: list[Event] = []
    bus.subscribe(published.append)
    result = run_recipe(tmp_path, bus=bus, store=None)
    events = [to_wire(event) for event in published]
    assert events[0]["type"] == "run_started" and events[-1]["type"] == "run_finished"
    response = api.post(f"/api/v1/runs/{result.run_id}/events", json={"events": events})
    assert response.status_code == 200, response.text
    # recorded by a writer thread: the POST may answer before the run's end is stored
    deadline = time.monotonic() + 10
    while True:
        shown = api.get(f"/api/v1/runs/{result.run_id}")
        assert shown.status_code == 200, shown.text
        if shown.json()["status"] != "running" or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert shown.json() == as_json(result.to_dict())
    listed = api.get("/api/v1/runs").json()["runs"]
    assert [(run["run_id"], run["status"]) for run in listed] == [(result.run_id, "succeeded")]
    recorded = [event["type"] for event in api.get(f"/api/v1/runs/{result.run_id}/events").json()["events"]]
    assert recorded[0] == "run_started" and recorded[-1] == "run_finished"


def test_posted_events_of_another_run_are_422_and_not_recorded(api: httpx.Client, tmp_path: Path):
    bus = EventBus()
    published: list[Event] = []
    bus.subscribe(published.append)
    result = run_recipe(tmp_path, bus=bus, store=None)
    events = [to_wire(event) for event in published]
    error(api.post("/api/v1/runs/someotherrun/events", json={"events": events}), 422, "BadEvent")
    error(api.post(f"/api/v1/runs/{result.run_id}/events", json={"events": [{"type": "nope"}]}), 422, "BadEvent")
    assert api.get("/api/v1/runs").json()["runs"] == []
