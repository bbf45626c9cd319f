"""Many writer processes against one real ``f0 serve``: compare-and-set and counter increments on
one key each lose nothing, version every write exactly once, starve no writer, and survive kill -9
of the server.

The writers are OS processes running tests/server/writers.py (httpx, keep-alive), each logging its
acknowledged writes to a file of its own. The compare-and-set group and the counter group run at the
same time, on two contexts, for ``LOAD_S`` seconds each: the wall time of one group, the load of both.
Nothing asserts speed (a busy 2-core machine can stall a server for seconds, and under load a
compare-and-set writer may win only a few times in ten seconds): the tests wait for outcomes (each
writer acknowledged a few times; acknowledgements before the kill and after the restart), with
generous bounds that only catch a hang or a writer the others always overtake.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.server.servers import Server, new_token, server_process, start_process, stop
from tests.server.writers import Log, read_log
from tests.store.store_backends import sqlite_url

WRITERS = Path(__file__).with_name("writers.py")
PER_GROUP = 8  # processes per group (the machine running the suite may have 2 cores)
LOAD_S = 10.0
PATIENCE_S = 120.0  # the longest wait for an event under load before the test calls it a hang
MIN_ACKS = 3  # acknowledgements each writer gets (a starved writer gets none)
CAS, COUNTER = "cas", "counters"
KEY = "n"


@dataclass
class Writer:
    mode: str
    process: subprocess.Popen[bytes]
    log: Path


@contextmanager
def writers(server: Server, tmp_path: Path, groups: dict[str, str]) -> Iterator[list[Writer]]:
    """``PER_GROUP`` writer processes per ``{mode: context}``, connected and waiting for ``go``."""
    started: list[Writer] = []
    env = {**os.environ, "F0_TOKEN": server.token}
    try:
        for mode, context in groups.items():
            for index in range(PER_GROUP):
                log = tmp_path / f"{mode}-{index}.log"
                process = subprocess.Popen(
                    [sys.executable, str(WRITERS), mode, server.url, context, KEY, str(log)],
                    stdin=subprocess.PIPE,
                    env=env,
                )
                started.append(Writer(mode, process, log))
        deadline = time.monotonic() + 60
        while not all(_ready(writer) for writer in started):
            assert time.monotonic() < deadline, "the writers did not connect within 60 s"
            time.sleep(0.05)
        yield started
    finally:
        for writer in started:
            if writer.process.poll() is None:
                writer.process.kill()
            writer.process.wait(timeout=10)
            assert writer.process.stdin is not None
            writer.process.stdin.close()


def _ready(writer: Writer) -> bool:
    assert writer.process.poll() is None, f"writer {writer.log.name} exited with {writer.process.returncode}"
    return writer.log.exists() and '"ready"' in writer.log.read_text()


def go(started: list[Writer], seconds: float) -> None:
    tell(started, f"go {seconds}")


def tell(started: list[Writer], line: str) -> None:
    for writer in started:
        assert writer.process.stdin is not None
        writer.process.stdin.write(f"{line}\n".encode())
        writer.process.stdin.flush()


def wait_for(started: list[Writer], what: str, done: Any) -> list[Log]:
    """The writers' logs once ``done(log)`` holds for each (at most PATIENCE_S: then a hang)."""
    deadline = time.monotonic() + PATIENCE_S
    while True:
        logs = [read_log(writer.log) for writer in started]
        if all(done(log) for log in logs):
            return logs
        assert time.monotonic() < deadline, f"{what}: not within {PATIENCE_S:.0f} s"
        time.sleep(0.05)


def finish(started: list[Writer], timeout: float) -> dict[str, list[Log]]:
    """Wait for every writer to end; their logs by mode."""
    deadline = time.monotonic() + timeout
    for writer in started:
        assert writer.process.wait(timeout=max(0.1, deadline - time.monotonic())) == 0, writer.log.name
    logs: dict[str, list[Log]] = {}
    for writer in started:
        logs.setdefault(writer.mode, []).append(read_log(writer.log))
    return logs


def create_contexts(client: httpx.Client) -> None:
    for body in ({"name": CAS, "strategies": {}}, {"name": COUNTER, "strategies": {KEY: "counter"}}):
        assert client.post("/api/v1/contexts", json=body).status_code == 201


def history(client: httpx.Client, context: str) -> list[dict[str, Any]]:
    """Every change of ``context``, oldest first (read in pages)."""
    changes: list[dict[str, Any]] = []
    since = 0
    while True:
        page = client.get(f"/api/v1/contexts/{context}/history", params={"since": since, "limit": 10_000})
        assert page.status_code == 200, page.text
        found = page.json()["changes"]
        if not found:
            return changes
        changes.extend(found)
        since = found[-1]["version"]


def current(client: httpx.Client, context: str) -> tuple[int, int]:
    """The context's version and its key's value."""
    body = client.get(f"/api/v1/contexts/{context}").json()
    return body["version"], body["data"].get(KEY, 0)


@pytest.mark.timeout(900)  # well under a minute; much longer on a saturated 2-core machine
def test_cas_and_counter_writers_lose_nothing_and_version_every_write_once(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "server.db")
    with server_process(url) as server, server.client() as client:
        create_contexts(client)
        with writers(server, tmp_path, {"cas": CAS, "counter": COUNTER}) as started:
            go(started, 4 * PATIENCE_S)  # until told to stop
            began = time.monotonic()
            # nobody starves: each writer is acknowledged MIN_ACKS times, however slow the machine
            # (a writer that the others always overtake never is; the wait is bounded by PATIENCE_S)
            wait_for(started, f"every writer acknowledged {MIN_ACKS} times", lambda log: len(log.acks) >= MIN_ACKS)
            time.sleep(max(0.0, began + LOAD_S - time.monotonic()))  # the load lasts LOAD_S at least
            tell(started, "stop")
            logs = finish(started, timeout=PATIENCE_S)
        for mode, context in (("cas", CAS), ("counter", COUNTER)):
            group = logs[mode]
            assert [(log.unknown, log.failures) for log in group] == [(0, [])] * PER_GROUP
            acks = [ack for log in group for ack in log.acks]
            versions = sorted(version for version, _, _ in acks)
            version, value = current(client, context)
            # every acknowledged write counted once: the value is the number of acks
            assert value == len(acks), mode
            # versions without gaps or duplicates, the same in the acks and in the history
            assert versions == list(range(1, version + 1)), mode
            changes = history(client, context)
            assert [change["version"] for change in changes] == versions, mode
            assert all(change["key"] == KEY and change["new"] == change["version"] for change in changes), mode
            if mode == "cas":  # each writer saw the value it wrote at the version it was given
                assert all(written == acked for acked, written, _ in acks)
        assert sum(log.conflicts for log in logs["cas"]) > 0  # the writers did contend


@pytest.mark.timeout(900)  # well under a minute; much longer on a saturated 2-core machine
def test_kill_9_of_the_server_under_load_loses_no_acknowledged_write(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "server.db")
    server = start_process(url, new_token())
    try:
        port = server.url.rsplit(":", 1)[1]
        with server.client() as client:
            create_contexts(client)
        with writers(server, tmp_path, {"cas": CAS, "counter": COUNTER}) as started:
            go(started, 4 * PATIENCE_S)  # until told to stop
            wait_for(started, "every writer acknowledged before the kill", lambda log: len(log.acks) >= 3)
            server.kill()  # under load: every writer is writing
            server = start_process(url, server.token, "--port", port)  # the same URL: the writers reconnect
            back = time.monotonic()
            wait_for(started, "every writer acknowledged after the restart", lambda log: log.acks[-1][2] > back)
            tell(started, "stop")
            finish(started, timeout=PATIENCE_S)
            logs = [read_log(writer.log) for writer in started]
        with server.client() as client:
            for mode, context in (("cas", CAS), ("counter", COUNTER)):
                group = [log for log, writer in zip(logs, started, strict=True) if writer.mode == mode]
                assert [log.failures for log in group] == [[]] * PER_GROUP
                acks = {version: value for log in group for version, value, _ in log.acks}
                assert len(acks) == sum(len(log.acks) for log in group), f"{mode}: a version acknowledged twice"
                changes = {change["version"]: change for change in history(client, context)}
                version, value = current(client, context)
                assert sorted(changes) == list(range(1, version + 1)), mode
                assert value == version, mode  # each committed write added one
                # every acknowledged write is in the history, with the value its writer was told
                assert set(acks) <= set(changes), f"{mode}: acknowledged versions lost by kill -9"
                if mode == "cas":
                    assert all(changes[v]["new"] == written for v, written in acks.items())
                # a write committed without an acknowledgement had its answer cut off by the kill
                assert len(changes) - len(acks) <= sum(log.unknown for log in group), mode
    finally:
        stop(server)
