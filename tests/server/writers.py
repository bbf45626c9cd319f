"""A load writer for the concurrency tests: one OS process hammering one key of a context server.

Run as a script (``python tests/server/writers.py MODE URL CONTEXT KEY LOG``, the token in
``$F0_TOKEN``). It connects, writes ``{"ready": ...}`` to LOG, then waits for one line
``go SECONDS`` on stdin and writes for that many seconds (or until a line ``stop`` comes) over one
keep-alive connection:

- ``cas``: GET the key, PUT value + 1 with ``expected_version``; on a 409 back off (random jitter,
  at most ``MAX_BACKOFF_S``) and read again;
- ``counter``: POST ``{"increment": {KEY: 1}}`` to the context's changes.

Every acknowledged write is appended to LOG at once (one JSON line, flushed, with the time it was
acknowledged on the machine's monotonic clock, which every process shares), so a server killed
with kill -9 leaves the writer's log complete. A write that got no answer (the server died under
it) is logged as ``unknown``: it may or may not have been committed. When the server is away the
writer retries until it is back (on the same URL) or its time is up.
"""

from __future__ import annotations

import json
import os
import random
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import httpx

MAX_BACKOFF_S = 0.02
RETRY_S = 0.05  # between attempts while the server is unreachable
TIMEOUT_S = 120.0  # for one answer: a busy machine can stall a server for seconds (not a failure here)
MODES = ("cas", "counter")


@dataclass
class Log:
    """What one writer's LOG says: its start and end (its own monotonic clock) and its acks."""

    start: float | None = None
    end: float | None = None
    acks: list[tuple[int, Any, float]] = field(default_factory=list)  # (version, value or None, at)
    unknown: int = 0  # writes sent without an answer
    failures: list[str] = field(default_factory=list)  # answers that were neither a success nor a 409
    conflicts: int = 0


def read_log(path: Path) -> Log:
    """Parse a writer's LOG (a line cut short by a killed writer is ignored)."""
    log = Log()
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if "ack" in record:
            log.acks.append((record["ack"], record.get("value"), record["at"]))
        elif "go" in record:
            log.start = record["go"]
        elif "end" in record:
            log.end, log.conflicts = record["end"], record["conflicts"]
        elif "unknown" in record:
            log.unknown += 1
        elif "failure" in record:
            log.failures.append(record["failure"])
    return log


class Writer:
    def __init__(self, client: httpx.Client, context: str, key: str, out: TextIO) -> None:
        self.client = client
        self.context = context
        self.key = key
        self.out = out
        self.conflicts = 0
        self.misses = 0  # 409s in a row

    def record(self, **fields: Any) -> None:
        self.out.write(json.dumps(fields) + "\n")
        self.out.flush()

    def run(self, mode: str, seconds: float, stop: threading.Event) -> None:
        start = time.monotonic()
        self.record(go=start)
        deadline = start + seconds
        step = self.cas if mode == "cas" else self.increment
        while time.monotonic() < deadline and not stop.is_set():
            step()
        self.record(end=time.monotonic(), conflicts=self.conflicts)

    def cas(self) -> None:
        """One compare-and-set attempt: read the key, write it + 1 if nobody wrote it since."""
        try:
            response = self.client.get(f"/api/v1/contexts/{self.context}/keys/{self.key}")
        except httpx.TransportError:
            time.sleep(RETRY_S)
            return
        if response.status_code == 404:
            value, version = 0, 0
        elif response.status_code == 200:
            body = response.json()
            value, version = body["value"], body["version"]
        else:
            self.record(failure=f"GET {response.status_code} {response.text[:200]}")
            time.sleep(RETRY_S)
            return
        path = f"/api/v1/contexts/{self.context}/keys/{self.key}"
        answer = self.write("PUT", path, {"value": value + 1, "expected_version": version})
        if answer is None:
            return
        if answer.status_code == 200:
            self.record(ack=answer.json()["version"], value=value + 1, at=time.monotonic())
            self.misses = 0
        elif answer.status_code == 409:
            self.conflicts += 1
            self.misses += 1
            time.sleep(random.uniform(0, min(MAX_BACKOFF_S, 0.001 * 2**self.misses)))
        else:
            self.record(failure=f"PUT {answer.status_code} {answer.text[:200]}")
            time.sleep(RETRY_S)

    def increment(self) -> None:
        answer = self.write("POST", f"/api/v1/contexts/{self.context}/changes", {"increment": {self.key: 1}})
        if answer is None:
            return
        if answer.status_code == 200:
            self.record(ack=answer.json()["version"], at=time.monotonic())
        else:
            self.record(failure=f"POST {answer.status_code} {answer.text[:200]}")
            time.sleep(RETRY_S)

    def write(self, method: str, path: str, body: dict[str, Any]) -> httpx.Response | None:
        """The answer to a write; None (logged as unknown) when the server gave none."""
        try:
            return self.client.request(method, path, json=body)
        except httpx.ConnectError:
            pass  # never sent: nothing to record
        except httpx.TransportError as error:
            self.record(unknown=time.monotonic(), error=type(error).__name__)
        time.sleep(RETRY_S)
        return None


def main(argv: list[str]) -> int:
    mode, url, context, key, log = argv
    if mode not in MODES:
        raise SystemExit(f"writers.py: MODE is one of {MODES}, not {mode!r}")
    headers = {"Authorization": f"Bearer {os.environ['F0_TOKEN']}"}
    with open(log, "a") as out, httpx.Client(base_url=url, headers=headers, timeout=TIMEOUT_S) as client:
        client.get("/healthz")  # connect before the start, so that the load starts together
        out.write(json.dumps({"ready": time.monotonic()}) + "\n")
        out.flush()
        command = sys.stdin.readline().split()
        if command[:1] != ["go"]:
            return 0
        stop = threading.Event()
        threading.Thread(target=_wait_for_stop, args=(stop,), daemon=True).start()
        Writer(client, context, key, out).run(mode, float(command[1]), stop)
    return 0


def _wait_for_stop(stop: threading.Event) -> None:
    for line in sys.stdin:  # "stop", or the end of stdin
        if line.strip() == "stop":
            break
    stop.set()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
