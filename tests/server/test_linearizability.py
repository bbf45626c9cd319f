"""Two ``f0 serve`` processes on one PostgreSQL are one linearizable store, even while they are
killed (a Jepsen-style test, as etcd is tested).

Concurrent clients, each sending every operation to either server at random, read keys and the
whole context, write keys, compare-and-set them, change two keys atomically and increment a
counter, while a nemesis kill -9s one server at a time and restarts it on the same port. Every
operation is recorded with the time it was invoked and the time its answer came back; a write
whose answer was lost to a kill is unknown: it may have taken effect, no later than the moment
its server was back (its old process and that process's database connections are gone by then),
or not at all. The history is then checked against one copy of the data, key by key, and the
context's version (tests/server/linearizability.py).
Nothing here depends on speed: the load lasts ``LOAD_S`` seconds and at least one kill of each
server, however long restarts take.
"""

from __future__ import annotations

import json
import math
import random
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.server.linearizability import ABSENT, UNKNOWN, Operation, check_all, register, version_counter
from tests.server.servers import Server, new_token, start_process, stop
from tests.store.store_backends import postgres_schema

CONTEXT = "jepsen"
REGISTERS = ("r0", "r1")
COUNTER = "c"
KEYS = (*REGISTERS, COUNTER)
VERSION = "@version"  # the context's version, checked as one more key
CLIENTS = 8  # threads
TIMEOUT_S = 120.0  # for one answer (a busy machine can stall a server; a lost answer is "unknown" anyway)
LOAD_S = 10.0
PAUSE_S = 1.5  # of load between kills
RETRY_S = 0.05  # a client's wait when its server is down


@dataclass
class Recorded:
    """One client operation: what it asked, when, and what came back (``None``: the answer was lost)."""

    process: int
    server: int
    kind: str  # read, read-all, write, cas, change, increment
    args: dict[str, Any]
    call: float
    ret: float | None = None
    status: int | None = None  # the HTTP status; None: lost
    body: Any = None


@dataclass
class Nemesis:
    """When each server was killed and when it served again."""

    back: dict[int, list[float]] = field(default_factory=lambda: {0: [], 1: []})
    kills: int = 0


class Client:
    """One client: a thread with a connection to each server, sending each operation to one of them
    at random (a write on one server then a read on the other: the stale read of issue 13)."""

    KINDS = ("read", "read-all", "write", "cas", "change", "increment")
    WEIGHTS = (4, 2, 2, 3, 1, 2)

    def __init__(self, process: int, servers: list[Server], stop: threading.Event) -> None:
        self.process = process
        self.http = [httpx.Client(base_url=s.url, headers=s.headers, timeout=TIMEOUT_S) for s in servers]
        self.stop = stop
        self.rng = random.Random(process)
        self.versions: dict[str, int] = {}  # the last version this client saw of each register
        self.written = 0
        self.history: list[Recorded] = []

    def run(self) -> None:
        with self.http[0], self.http[1]:
            while not self.stop.is_set():
                self.one()

    def one(self) -> None:
        rng = self.rng
        key = rng.choice(REGISTERS)
        value = f"{self.process}-{self.written}"
        kind = rng.choices(self.KINDS, self.WEIGHTS)[0]
        if kind == "read":
            self.send("read", {"key": rng.choice(KEYS)})
        elif kind == "read-all":
            self.send("read-all", {})
        elif kind == "write":
            self.written += 1
            self.send("write", {"key": key, "value": value})
        elif kind == "cas":
            self.written += 1
            self.send("cas", {"key": key, "value": value, "expected": self.versions.get(key, 0)})
        elif kind == "change":
            self.written += 1
            self.send("change", {"value": value, "expected": self.versions.get("r0", 0)})
        else:
            self.send("increment", {})

    def send(self, kind: str, args: dict[str, Any]) -> None:
        base = f"/api/v1/contexts/{CONTEXT}"
        if kind == "read":
            method, path, body = "GET", f"{base}/keys/{args['key']}", None
        elif kind == "read-all":
            method, path, body = "GET", base, None
        elif kind == "write":
            method, path, body = "PUT", f"{base}/keys/{args['key']}", {"value": args["value"]}
        elif kind == "cas":
            body = {"value": args["value"], "expected_version": args["expected"]}
            method, path = "PUT", f"{base}/keys/{args['key']}"
        elif kind == "change":
            body = {"set": {key: args["value"] for key in REGISTERS}, "expected": {"r0": args["expected"]}}
            method, path = "POST", f"{base}/changes"
        else:
            method, path, body = "POST", f"{base}/changes", {"increment": {COUNTER: 1}}
        server = self.rng.randrange(2)
        record = Recorded(self.process, server, kind, args, time.monotonic())
        try:
            response = self.http[server].request(method, path, json=body)
        except httpx.ConnectError:  # never sent: the server is down
            time.sleep(RETRY_S)
            return
        except httpx.TransportError:  # sent, and the answer lost (its server was killed)
            if kind not in ("read", "read-all"):  # a read has no effect: drop it
                self.history.append(record)
            time.sleep(RETRY_S)
            return
        record.ret, record.status = time.monotonic(), response.status_code
        record.body = response.json()
        if kind in ("read", "cas") and response.status_code in (200, 409) and "key" in args:
            version = record.body.get("version", record.body.get("current_version"))
            if isinstance(version, int) and args["key"] in REGISTERS:
                self.versions[args["key"]] = version
        self.history.append(record)


def nemesis(servers: list[Server], url: str, stop_load: threading.Event, done: Nemesis) -> None:
    """Kill -9 each server in turn and restart it on its port, until the load has lasted LOAD_S."""
    started = time.monotonic()
    target = 0
    while done.kills < 2 or time.monotonic() - started < LOAD_S:
        stop_load.wait(PAUSE_S)
        server = servers[target]
        port = server.url.rsplit(":", 1)[1]
        server.kill()
        servers[target] = start_process(url, server.token, "--port", port)
        done.back[target].append(time.monotonic())
        done.kills += 1
        target = 1 - target
    stop_load.wait(PAUSE_S)  # load on both servers after the last restart
    stop_load.set()


def deadline(record: Recorded, nemesis: Nemesis) -> float:
    """The latest moment an operation whose answer was lost can have taken effect: its server's
    next return after the call (its process, and that process's transactions, had ended by then)."""
    return min((back for back in nemesis.back[record.server] if back > record.call), default=math.inf)


def operations(history: list[Recorded], nemesis: Nemesis) -> Iterator[Operation]:
    """Each recorded operation as operations on single keys (and on the context's version)."""
    for r in history:
        ret = r.ret if r.ret is not None else deadline(r, nemesis)

        def on(key: str, input: Any, output: Any, r: Recorded = r, ret: float = ret) -> Operation:
            return Operation(key, r.call, ret, input, output, r.process)

        body, status = r.body, r.status
        if status is not None and status not in (200, 404, 409):  # refused (503): it may have been committed
            status, body = None, None
        if r.kind == "read":
            if status is None:
                continue
            yield on(r.args["key"], ("read",), ABSENT if status == 404 else (body["value"], body["version"]))
        elif r.kind == "read-all":
            if status is None:
                continue
            data = body["data"]
            for key in KEYS:
                yield on(key, ("read",), (data[key], None) if key in data else ABSENT)
            yield on(VERSION, ("read",), body["version"])
        else:
            conflict = status == 409
            version = UNKNOWN if status is None else body.get("version")
            output = ("conflict", body["current_version"]) if conflict else version
            if r.kind == "write":
                yield on(r.args["key"], ("write", r.args["value"]), version)
            elif r.kind == "cas":
                yield on(r.args["key"], ("cas", r.args["expected"], r.args["value"]), output)
            elif r.kind == "change":
                yield on("r0", ("cas", r.args["expected"], r.args["value"]), output)
                if not conflict:
                    yield on("r1", ("write", r.args["value"]), version)
            else:
                yield on(COUNTER, ("increment", 1), version)
            if not conflict:
                yield on(VERSION, ("commit",), version)


def model(key: str) -> Any:
    return version_counter() if key == VERSION else register()


@pytest.fixture
def store_url() -> Iterator[str]:
    with postgres_schema() as url:
        yield url


@pytest.mark.timeout(900)  # about 20 s; four server starts take minutes on a saturated 2-core machine
def test_two_servers_on_one_postgresql_are_linearizable_while_one_at_a_time_is_killed(
    store_url: str, tmp_path: Path
) -> None:
    token = new_token()
    servers = [start_process(store_url, token), start_process(store_url, token)]
    try:
        with servers[0].client() as client:
            assert client.post("/api/v1/contexts", json={"name": CONTEXT, "strategies": {}}).status_code == 201
        stop_load = threading.Event()
        clients = [Client(n, servers, stop_load) for n in range(CLIENTS)]
        threads = [threading.Thread(target=client.run, daemon=True) for client in clients]
        done = Nemesis()
        for thread in threads:
            thread.start()
        try:
            nemesis(servers, store_url, stop_load, done)
        finally:
            stop_load.set()
            for thread in threads:
                thread.join(timeout=120)
        assert not any(thread.is_alive() for thread in threads), "a client never returned"
    finally:
        for server in servers:
            stop(server)
    history = [record for client in clients for record in client.history]
    kinds = {kind: sum(1 for r in history if r.kind == kind and r.status in (200, 404)) for kind in Client.KINDS}
    assert all(count > 0 for count in kinds.values()), kinds  # every kind of operation was answered
    assert done.kills >= 2
    checking = time.monotonic()
    results = check_all(model, operations(history, done))
    print(f"{len(history)} operations, {done.kills} kills; checked in {time.monotonic() - checking:.1f} s")
    assert {result.key for result in results} == {*KEYS, VERSION}
    failures = [str(result) for result in results if not result.ok]
    if failures:
        saved = tmp_path / "history.jsonl"
        saved.write_text("".join(json.dumps(asdict(record)) + "\n" for record in history))
        failures.append(f"(the whole history: {saved})")
    assert not failures, "\n".join(failures)
