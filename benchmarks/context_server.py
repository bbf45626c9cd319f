"""The context server under load: `f0 serve` on SQLite in one process, driven from another.

Scenarios (each runs ``--warmup`` seconds, then is measured for ``--seconds``):

a) 50 HTTP keep-alive clients, each PUTting its own key of one context back to back: acknowledged
   (committed, durable) writes per second and the latency of each write.
b) 50 HTTP clients incrementing one counter key (``{"increment": {"hits": 1}}``); the counter must
   equal the writes acknowledged.
c) 4 WebSocket connections sending ``write`` batches of 100 changes, 8 batches in flight on each:
   acknowledged changes per second, and the latency of each batch's ack.
d) 100 WebSocket subscribers of one context while one HTTP writer writes ~200 times a second: the
   delay from the writer sending a write to each subscriber receiving it (the send time travels in
   the written value; one machine, one clock); every subscriber must get every version, in order.

The baseline is a raw sqlite3 connection committing one INSERT per transaction (WAL,
synchronous=FULL, as the server's store) in this process, before the server starts: what a server
without group commit could at best acknowledge. "writes/commit" is read from the store after the
run (the writes of one group commit share their ``at``). CPU is the share of one core over the
measured seconds: the server's event-loop thread, its other threads (the context writer, mostly),
and the driver process. WebSockets run without compression.

The HTTP load goes over raw keep-alive connections (``RawHttp``: one write per request): httpx's
AsyncClient costs the driver ~1 ms of CPU per request and its pool slows down with 50 connections,
so it measured itself (``--httpx`` shows that). d)'s writer keeps its ~200 writes/s on schedule
over up to 8 connections. c)'s ack latency follows Little's law: changes in flight / changes per
second (``--in-flight`` sets the batches in flight per connection). Aims (issue 4): 2,000 writes/s over
HTTP, 20,000 changes/s in batches, p99 under 50 ms, fan-out p99 under 50 ms. Nothing is asserted.

    python benchmarks/context_server.py [--seconds 5] [--warmup 1] [--scenario all|a,b,c,d] [--repeat 1]
                                        [--in-flight 8] [--httpx]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import queue
import re
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import psutil
from websockets.asyncio.client import ClientConnection, connect

CLIENTS = 50  # HTTP clients in a) and b)
WS_CONNECTIONS = 4  # c)
IN_FLIGHT = 8  # batches waiting for their ack, per connection, in c)
BATCH = 100  # changes per batch in c)
SUBSCRIBERS = 100  # d)
WRITE_RATE = 200.0  # writes per second in d)
WRITER_CONNECTIONS = 8  # d)'s writer: HTTP connections it may use at once
TIMEOUT = 10.0  # seconds any one request, message or connection may take
READY = re.compile(r"serving on (http://\S+)")
SCENARIOS = ("a", "b", "c", "d")
TITLES = {
    "a": f"a) PUT own key, {CLIENTS} HTTP clients",
    "b": f"b) increment 1 counter, {CLIENTS} clients",
    "c": f"c) WS {WS_CONNECTIONS} conns, batches of {BATCH}",
    "d": f"d) fan-out to {SUBSCRIBERS} subscribers",
}


# -- figures -----------------------------------------------------------------------------------


def percentile(ordered: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) of sorted values, nearest rank; NaN when there are none."""
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def latency(values_ms: list[float]) -> dict[str, float]:
    ordered = sorted(values_ms)
    return {
        "p50": percentile(ordered, 0.50),
        "p99": percentile(ordered, 0.99),
        "max": ordered[-1] if ordered else float("nan"),
    }


class CpuMeter:
    """CPU seconds of the server's event-loop thread, its other threads and this process."""

    def __init__(self, server_pid: int) -> None:
        self.server = psutil.Process(server_pid)
        self.start: tuple[float, float, float] = (0.0, 0.0, 0.0)
        self.shares: dict[str, float] = {}

    def sample(self) -> tuple[float, float, float]:
        times = self.server.cpu_times()  # threads that ended are counted here, not in threads()
        loop = sum(t.user_time + t.system_time for t in self.server.threads() if t.id == self.server.pid)
        return loop, times.user + times.system - loop, time.process_time()

    def begin(self) -> None:
        self.start = self.sample()

    def end(self, seconds: float) -> None:
        now = self.sample()
        loop, other, driver = (b - a for a, b in zip(self.start, now, strict=True))
        self.shares = {"cpu_loop": loop / seconds, "cpu_other": other / seconds, "cpu_driver": driver / seconds}


@dataclass
class Window:
    """The measured seconds of a scenario, after its warm-up (perf_counter and wall clock)."""

    warmup: float
    seconds: float
    t0: float = 0.0
    t1: float = 0.0
    wall0: float = 0.0
    wall1: float = 0.0

    def open(self) -> None:
        now = time.perf_counter()
        self.t0 = now + self.warmup
        self.t1 = self.t0 + self.seconds
        self.wall0 = time.time() + self.warmup
        self.wall1 = self.wall0 + self.seconds

    def inside(self, moment: float) -> bool:
        return self.t0 <= moment < self.t1


async def meter_window(window: Window, meter: CpuMeter) -> None:
    await asyncio.sleep(max(0.0, window.t0 - time.perf_counter()))
    meter.begin()
    await asyncio.sleep(max(0.0, window.t1 - time.perf_counter()))
    meter.end(window.seconds)


@dataclass
class Tally:
    acks: int = 0  # every acknowledged write (warm-up included)
    measured: int = 0  # those acknowledged inside the window
    latencies: list[float] = field(default_factory=list)  # ms, of those
    errors: int = 0
    first_error: str = ""

    def failed(self, what: str) -> None:
        self.errors += 1
        self.first_error = self.first_error or what[:200]


# -- the driver (a process of its own) ------------------------------------------------------------


@dataclass
class Target:
    url: str
    token: str
    server_pid: int
    use_httpx: bool = False  # load a) b) d) through httpx.AsyncClient instead of RawHttp
    in_flight: int = IN_FLIGHT  # c)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"}

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://", 1) + "/api/v1/ws"

    def client(self, connections: int) -> httpx.AsyncClient:
        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        return httpx.AsyncClient(
            base_url=self.url, headers=self.headers, limits=limits, timeout=TIMEOUT, trust_env=False
        )

    def websocket(self) -> connect:
        return connect(
            self.ws_url,
            additional_headers={"Authorization": f"Bearer {self.token}"},
            compression=None,
            proxy=None,
            open_timeout=TIMEOUT,
            close_timeout=2,
            ping_interval=None,
            max_size=1 << 24,
        )


class RawHttp:
    """One HTTP/1.1 keep-alive connection, as lean as a client can be: the load generator.

    httpx.AsyncClient costs about 1 ms of CPU per request, and its connection pool scans every
    connection for every request (50 connections: a few hundred requests/s at most), so it would
    measure itself rather than the server. This sends each request in one write and reads a
    Content-Length response; anything else is an error."""

    def __init__(self, url: str, token: str) -> None:
        host, _, port = url.removeprefix("http://").rpartition(":")
        self.host, self.port = host.strip("[]"), int(port)
        self.prefix = f"Host: {host}:{port}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\n"
        self.streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def request(self, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
        return await asyncio.wait_for(self._request(method, path, body), TIMEOUT)

    async def _request(self, method: str, path: str, body: bytes) -> tuple[int, bytes]:
        if self.streams is None:
            self.streams = await asyncio.open_connection(self.host, self.port)
        reader, writer = self.streams
        head = f"{method} {path} HTTP/1.1\r\n{self.prefix}Content-Length: {len(body)}\r\n\r\n"
        writer.write(head.encode() + body)
        try:
            status = int((await reader.readline()).split()[1])
            length, close = -1, False
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"connection":
                    close = value.strip().lower() == b"close"
            if length < 0:
                raise ValueError("a response without Content-Length")
            data = await reader.readexactly(length)
        except BaseException:
            await self.close()
            raise
        if close:
            await self.close()
        return status, data

    async def close(self) -> None:
        if self.streams is not None:
            writer = self.streams[1]
            self.streams = None
            writer.close()
            with contextlib.suppress(OSError, asyncio.TimeoutError):
                await asyncio.wait_for(writer.wait_closed(), 2)


Send = Callable[[str, str, bytes], Awaitable[tuple[int, bytes]]]


@contextlib.asynccontextmanager
async def senders(target: Target, count: int) -> AsyncIterator[list[Send]]:
    """``count`` ways to send a request (method, path, body) -> (status, body), one per client."""
    if target.use_httpx:
        async with target.client(count) as client:

            async def send(method: str, path: str, body: bytes) -> tuple[int, bytes]:
                response = await client.request(method, path, content=body)
                return response.status_code, response.content

            yield [send] * count
        return
    connections = [RawHttp(target.url, target.token) for _ in range(count)]
    try:
        yield [connection.request for connection in connections]
    finally:
        await asyncio.gather(*(connection.close() for connection in connections))


async def create(client: httpx.AsyncClient, name: str, strategies: dict[str, str]) -> None:
    response = await client.post("/api/v1/contexts", content=orjson.dumps({"name": name, "strategies": strategies}))
    if response.status_code != 201:
        raise RuntimeError(f"creating context {name}: {response.status_code} {response.text}")


async def version_of(client: httpx.AsyncClient, name: str) -> int:
    response = await client.get(f"/api/v1/contexts/{name}")
    response.raise_for_status()
    version: int = response.json()["version"]
    return version


async def http_load(
    target: Target, window: Window, request: Callable[[int, int], tuple[str, str, bytes]]
) -> tuple[Tally, dict[str, float]]:
    """CLIENTS clients sending ``request(client, n)`` back to back until the window closes."""
    tally = Tally()
    meter = CpuMeter(target.server_pid)

    async def worker(send: Send, index: int) -> None:
        n = 0
        while (began := time.perf_counter()) < window.t1:
            n += 1
            try:
                status, body = await send(*request(index, n))
            except (httpx.HTTPError, OSError, ValueError, asyncio.TimeoutError, asyncio.IncompleteReadError) as error:
                tally.failed(f"{type(error).__name__}: {error}")
                continue
            ended = time.perf_counter()
            if status != 200:
                tally.failed(f"{status} {body[:150]!r}")
                continue
            tally.acks += 1
            if window.inside(ended):
                tally.measured += 1
                tally.latencies.append((ended - began) * 1000)

    async with senders(target, CLIENTS) as sends:
        window.open()
        metering = asyncio.ensure_future(meter_window(window, meter))
        await asyncio.wait_for(
            asyncio.gather(*(worker(send, index) for index, send in enumerate(sends))),
            window.warmup + window.seconds + 2 * TIMEOUT,
        )
        await asyncio.wait_for(metering, TIMEOUT)
    return tally, meter.shares


def summary(name: str, window: Window, tally: Tally, shares: dict[str, float], **extra: Any) -> dict[str, Any]:
    return {
        "context": name,
        "rate": tally.measured / window.seconds,
        **latency(tally.latencies),
        "errors": tally.errors,
        "first_error": tally.first_error,
        **shares,
        **extra,
    }


async def scenario_a(target: Target, window: Window, name: str) -> dict[str, Any]:
    async with target.client(2) as client:
        await create(client, name, {})

    def request(index: int, n: int) -> tuple[str, str, bytes]:
        return "PUT", f"/api/v1/contexts/{name}/keys/client{index}", orjson.dumps({"value": n})

    tally, shares = await http_load(target, window, request)
    async with target.client(2) as client:
        version = await version_of(client, name)
    check = "ok" if version == tally.acks else f"version {version} != {tally.acks} acks"
    return summary(name, window, tally, shares, unit="writes/s", check=check)


async def scenario_b(target: Target, window: Window, name: str) -> dict[str, Any]:
    async with target.client(2) as client:
        await create(client, name, {"hits": "counter"})
    body = orjson.dumps({"increment": {"hits": 1}})

    def request(_index: int, _n: int) -> tuple[str, str, bytes]:
        return "POST", f"/api/v1/contexts/{name}/changes", body

    tally, shares = await http_load(target, window, request)
    async with target.client(2) as client:
        response = await client.get(f"/api/v1/contexts/{name}/keys/hits")
        response.raise_for_status()
        hits = response.json()["value"]
    check = "ok" if hits == tally.acks else f"counter {hits} != {tally.acks} acks"
    return summary(name, window, tally, shares, unit="writes/s", check=check)


async def scenario_c(target: Target, window: Window, name: str) -> dict[str, Any]:
    async with target.client(2) as client:
        await create(client, name, {})
    tally = Tally()  # counts changes; latencies are per batch
    meter = CpuMeter(target.server_pid)

    async def connection(index: int) -> None:
        slots = asyncio.Semaphore(target.in_flight)
        sent: dict[int, float] = {}
        finished = asyncio.Event()  # the sender is done: the reader stops once nothing is in flight

        async def reader(websocket: ClientConnection) -> None:
            while sent or not finished.is_set():
                try:
                    raw = await asyncio.wait_for(websocket.recv(), TIMEOUT)
                except asyncio.TimeoutError:
                    if finished.is_set() and not sent:
                        return
                    raise
                ended = time.perf_counter()
                message = orjson.loads(raw)
                began = sent.pop(message.get("id", -1), None)
                if began is None:
                    tally.failed(f"unexpected message {str(raw)[:150]}")
                    continue
                slots.release()
                results = message.get("results") if message.get("type") == "ack" else None
                if not results:
                    tally.failed(f"batch refused: {str(raw)[:150]}")
                    continue
                good = sum(1 for result in results if "version" in result)
                if good != len(results):
                    tally.failed(f"{len(results) - good} changes refused: {str(raw)[:150]}")
                tally.acks += good
                if window.inside(ended):
                    tally.measured += good
                    tally.latencies.append((ended - began) * 1000)

        async with target.websocket() as websocket:
            reading = asyncio.ensure_future(reader(websocket))
            ident = 0
            try:
                while time.perf_counter() < window.t1 and not reading.done():
                    await asyncio.wait_for(slots.acquire(), TIMEOUT)
                    ident += 1
                    changes = [{"set": {f"w{index}.k{j}": ident}} for j in range(BATCH)]
                    payload = orjson.dumps({"op": "write", "id": ident, "context": name, "changes": changes})
                    sent[ident] = time.perf_counter()
                    await websocket.send(payload.decode())
            finally:
                finished.set()
                await asyncio.wait_for(reading, 2 * TIMEOUT)

    window.open()
    metering = asyncio.ensure_future(meter_window(window, meter))
    await asyncio.wait_for(
        asyncio.gather(*(connection(index) for index in range(WS_CONNECTIONS))),
        window.warmup + window.seconds + 3 * TIMEOUT,
    )
    await asyncio.wait_for(metering, TIMEOUT)
    async with target.client(2) as client:
        version = await version_of(client, name)
    check = "ok" if version == tally.acks else f"version {version} != {tally.acks} changes acked"
    return summary(name, window, tally, meter.shares, unit="changes/s", check=check)


@dataclass
class Subscriber:
    websocket: ClientConnection
    last: int  # the last version received
    received: int = 0
    out_of_order: int = 0
    delays: list[float] = field(default_factory=list)  # ms, of writes sent inside the window


async def subscribe(target: Target, name: str) -> Subscriber:
    websocket = await target.websocket()
    await websocket.send(orjson.dumps({"op": "subscribe", "context": name}).decode())
    reply = orjson.loads(await asyncio.wait_for(websocket.recv(), TIMEOUT))
    if reply.get("type") != "subscribed":
        await websocket.close()
        raise RuntimeError(f"subscribe: {reply}")
    return Subscriber(websocket, reply["version"])


async def listen(subscriber: Subscriber, window: Window) -> None:
    """Receive changes until the connection closes (the scenario closes it when done)."""
    async for raw in subscriber.websocket:
        now = time.time()
        message = orjson.loads(raw)
        if message.get("type") != "changes":
            continue
        for entry in message["changes"]:
            version = entry["version"]
            if version != subscriber.last + 1:
                subscriber.out_of_order += 1
            subscriber.last = max(subscriber.last, version)
            subscriber.received += 1
            sent = entry["changes"][0]["new"]["sent"]
            if window.wall0 <= sent < window.wall1:
                subscriber.delays.append((now - sent) * 1000)


async def scenario_d(target: Target, window: Window, name: str) -> dict[str, Any]:
    async with target.client(2) as client:
        await create(client, name, {})
    opened = await asyncio.wait_for(
        asyncio.gather(*(subscribe(target, name) for _ in range(SUBSCRIBERS)), return_exceptions=True), 3 * TIMEOUT
    )
    subscribers = [s for s in opened if isinstance(s, Subscriber)]
    if len(subscribers) < SUBSCRIBERS:
        await asyncio.gather(*(s.websocket.close() for s in subscribers), return_exceptions=True)
        raise RuntimeError(f"subscribing: {next(s for s in opened if not isinstance(s, Subscriber))!r}")
    start = subscribers[0].last
    listeners = [asyncio.ensure_future(listen(subscriber, window)) for subscriber in subscribers]
    tally = Tally()
    meter = CpuMeter(target.server_pid)
    versions: list[int] = [start]

    async def write(pool: asyncio.Queue[Send], n: int) -> None:
        send = await pool.get()  # a free connection: writes leave on time even when one is slow
        try:
            sent = time.perf_counter()
            body = orjson.dumps({"value": {"sent": time.time(), "n": n}})
            status, answer = await send("PUT", f"/api/v1/contexts/{name}/keys/tick", body)
        except (httpx.HTTPError, OSError, ValueError, asyncio.TimeoutError) as error:
            tally.failed(f"{type(error).__name__}: {error}")
            return
        finally:
            pool.put_nowait(send)
        if status != 200:
            tally.failed(f"{status} {answer[:150]!r}")
            return
        versions.append(orjson.loads(answer)["version"])
        tally.acks += 1
        if window.inside(sent):
            tally.measured += 1

    try:
        async with senders(target, WRITER_CONNECTIONS) as sends:
            pool: asyncio.Queue[Send] = asyncio.Queue()
            for send in sends:
                pool.put_nowait(send)
            window.open()
            metering = asyncio.ensure_future(meter_window(window, meter))
            began = time.perf_counter()
            writes: list[asyncio.Future[None]] = []
            while (now := time.perf_counter()) < window.t1:
                due = began + len(writes) / WRITE_RATE
                if due > now:
                    await asyncio.sleep(due - now)
                writes.append(asyncio.ensure_future(write(pool, len(writes) + 1)))
            await asyncio.wait_for(asyncio.gather(*writes), 2 * TIMEOUT)
            await asyncio.wait_for(metering, TIMEOUT)
        last = max(versions)
        deadline = time.perf_counter() + TIMEOUT
        while any(s.last < last for s in subscribers) and time.perf_counter() < deadline:
            await asyncio.sleep(0.01)
    finally:
        await asyncio.gather(*(s.websocket.close() for s in subscribers), return_exceptions=True)
        await asyncio.wait_for(asyncio.gather(*listeners, return_exceptions=True), TIMEOUT)
    expected = last - start
    short = sum(1 for s in subscribers if s.received != expected or s.last != last)
    disordered = sum(s.out_of_order for s in subscribers)
    delays = [delay for s in subscribers for delay in s.delays]
    tally.latencies = delays
    problems = []
    if short:
        problems.append(f"{short} subscribers missed versions")
    if disordered:
        problems.append(f"{disordered} out of order")
    result = summary(name, window, tally, meter.shares, unit="writes/s", check="; ".join(problems) or "ok")
    result["deliveries"] = len(delays)
    result["expected_deliveries"] = tally.measured * SUBSCRIBERS
    return result


RUNNERS: dict[str, Callable[[Target, Window, str], Awaitable[dict[str, Any]]]] = {
    "a": scenario_a,
    "b": scenario_b,
    "c": scenario_c,
    "d": scenario_d,
}


async def drive(target: Target, scenarios: list[str], repeat: int, warmup: float, seconds: float) -> None:
    for scenario in scenarios:
        for round_ in range(repeat):
            name = f"bench-{scenario}-{round_}"
            result = await RUNNERS[scenario](target, Window(warmup, seconds), name)
            print(json.dumps({"scenario": scenario, "round": round_, **result}), flush=True)


# -- the baseline -------------------------------------------------------------------------------


def raw_sqlite(path: Path, seconds: float) -> dict[str, Any]:
    """One connection, one INSERT and one COMMIT per write, WAL and synchronous=FULL."""
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute("PRAGMA journal_mode = WAL")
        connection.execute("PRAGMA synchronous = FULL")
        connection.execute("CREATE TABLE writes (id INTEGER PRIMARY KEY, key TEXT, value TEXT, at REAL)")
        latencies: list[float] = []
        began = time.perf_counter()
        end = began + seconds
        n = 0
        while (start := time.perf_counter()) < end:
            n += 1
            connection.execute("BEGIN")
            connection.execute("INSERT INTO writes (key, value, at) VALUES (?, ?, ?)", (f"k{n % 50}", str(n), start))
            connection.execute("COMMIT")
            latencies.append((time.perf_counter() - start) * 1000)
        elapsed = time.perf_counter() - began
    finally:
        connection.close()
    return {"rate": len(latencies) / elapsed, **latency(latencies)}


def writes_per_commit(path: Path) -> dict[str, float]:
    """Per context: the changes written over the distinct commit times (one per group commit)."""
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = connection.execute(
            "SELECT context, COUNT(*), COUNT(DISTINCT at) FROM shared_changes GROUP BY context"
        ).fetchall()
    finally:
        connection.close()
    return {name: count / commits for name, count, commits in rows if commits}


# -- the coordinator ----------------------------------------------------------------------------


class ServerProcess:
    """``f0 serve`` in a process of its own; ``stop()`` always ends it."""

    def __init__(self, store_url: str, token: str) -> None:
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            [sys.executable, "-m", "framework0", "serve", "--port", "0", "--store", store_url],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "F0_TOKEN": token},
        )
        self._seen: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line)
            self._seen.put(line)
        self._seen.put(None)

    def wait_ready(self, timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self._seen.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                break
            found = READY.search(line)
            if found:
                return found.group(1)
        raise RuntimeError("f0 serve did not start:\n" + "".join(self.lines))

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def run_driver(url: str, token: str, pid: int, args: argparse.Namespace, scenarios: list[str]) -> list[dict[str, Any]]:
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--driver",
        url,
        "--server-pid",
        str(pid),
        "--scenario",
        ",".join(scenarios),
        "--seconds",
        str(args.seconds),
        "--warmup",
        str(args.warmup),
        "--repeat",
        str(args.repeat),
        "--in-flight",
        str(args.in_flight),
        *(["--httpx"] if args.httpx else []),
    ]
    budget = len(scenarios) * args.repeat * (args.warmup + args.seconds + 6 * TIMEOUT) + 60
    done = subprocess.run(
        command,
        stdout=subprocess.PIPE,
        text=True,
        timeout=budget,
        env={**os.environ, "F0_TOKEN": token},
        check=False,
    )
    results = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0:
        print(f"the driver failed (exit {done.returncode}); figures so far are below", file=sys.stderr)
    return results


def median_of(rows: list[dict[str, Any]], key: str) -> float:
    values = [row[key] for row in rows if isinstance(row.get(key), (int, float))]
    return statistics.median(values) if values else float("nan")


def report(
    baseline: dict[str, Any], results: list[dict[str, Any]], per_commit: dict[str, float], args: Any, load: float
) -> None:
    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, SQLite {sqlite3.sqlite_version}, "
        f"load average {load:.2f} before the run, {args.warmup:g} s warm-up + {args.seconds:g} s measured, "
        f"median of {args.repeat}"
    )
    client = "one httpx.AsyncClient" if args.httpx else "raw keep-alive connections"
    print(f"HTTP load: {client}; c) keeps {args.in_flight} batches in flight per connection")
    print("latency in ms; CPU as a share of one core: server event loop / server other threads / driver")
    header = f"{'scenario':<38}{'rate':>9} {'unit':<10}{'p50':>7}{'p99':>8}{'max':>8}{'w/commit':>9}  {'CPU':<15} check"
    print(header)
    print(
        f"{'raw sqlite3: 1 INSERT+COMMIT per write':<38}{baseline['rate']:>9.0f} {'writes/s':<10}"
        f"{baseline['p50']:>7.2f}{baseline['p99']:>8.2f}{baseline['max']:>8.2f}{1:>9.1f}"
    )
    for scenario in SCENARIOS:
        rows = [row for row in results if row["scenario"] == scenario]
        if not rows:
            continue
        cpu = "/".join(f"{median_of(rows, key):.0%}" for key in ("cpu_loop", "cpu_other", "cpu_driver"))
        commit = statistics.median(per_commit.get(row["context"], float("nan")) for row in rows)
        checks = sorted({row["check"] for row in rows})
        errors = sum(row["errors"] for row in rows)
        first = next((row["first_error"] for row in rows if row["first_error"]), "?")
        check = ", ".join(checks) + (f"; {errors} errors (first: {first})" if errors else "")
        print(
            f"{TITLES[scenario]:<38}{median_of(rows, 'rate'):>9.0f} {rows[0]['unit']:<10}"
            f"{median_of(rows, 'p50'):>7.2f}{median_of(rows, 'p99'):>8.2f}{median_of(rows, 'max'):>8.2f}"
            f"{commit:>9.1f}  {cpu:<15} {check}"
        )
        if scenario == "d":
            got, expected = median_of(rows, "deliveries"), median_of(rows, "expected_deliveries")
            print(f"{'':<4}(latency = send -> received by a subscriber: {got:.0f} of {expected:.0f} deliveries)")
    rows = [row for row in results if row["scenario"] == "a"]
    if rows and baseline["rate"]:
        ratio = median_of(rows, "rate") / baseline["rate"]
        print(f"group commit: a) acknowledges {ratio:.2f}x the writes/s of the raw one-commit-per-write baseline")
    print("aims: a) >= 2,000 writes/s, c) >= 20,000 changes/s, p99 < 50 ms; d) p99 < 50 ms")


def coordinate(args: argparse.Namespace, scenarios: list[str]) -> None:
    import secrets

    load = os.getloadavg()[0]
    folder = Path(tempfile.mkdtemp(prefix="f0-bench-server-"))
    server: ServerProcess | None = None
    try:
        baseline = raw_sqlite(folder / "raw.db", args.seconds)
        token = secrets.token_urlsafe(32)
        database = folder / "bench.db"
        server = ServerProcess(f"sqlite:///{database}", token)
        url = server.wait_ready()
        results = run_driver(url, token, server.process.pid, args, scenarios)
        server.stop()
        report(baseline, results, writes_per_commit(database), args, load)
        if server.process.returncode not in (0, -signal.SIGTERM):
            print(f"the server exited with {server.process.returncode}:\n{''.join(server.lines)}", file=sys.stderr)
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="measured seconds per scenario")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds of load before measuring")
    parser.add_argument("--scenario", default="all", help="a, b, c, d, all, or a list like a,c")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each scenario (medians are shown)")
    parser.add_argument("--in-flight", type=int, default=IN_FLIGHT, help="c): batches in flight per connection")
    parser.add_argument("--httpx", action="store_true", help="HTTP load through one httpx.AsyncClient (pool of 50)")
    parser.add_argument("--driver", metavar="URL", help=argparse.SUPPRESS)  # internal: drive the server at URL
    parser.add_argument("--server-pid", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    scenarios = list(SCENARIOS) if args.scenario == "all" else args.scenario.split(",")
    unknown = [s for s in scenarios if s not in SCENARIOS]
    if unknown or args.seconds <= 0 or args.warmup < 0 or args.repeat < 1 or args.in_flight < 1:
        parser.error(
            f"--scenario is a, b, c, d or all (not {args.scenario}); --seconds > 0; --repeat, --in-flight >= 1"
        )
    if args.driver:
        target = Target(args.driver, os.environ["F0_TOKEN"], args.server_pid, args.httpx, args.in_flight)
        asyncio.run(drive(target, scenarios, args.repeat, args.warmup, args.seconds))
    else:
        coordinate(args, scenarios)


if __name__ == "__main__":
    main()
