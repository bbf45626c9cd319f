"""Read latency of the context server: one `f0 serve` on SQLite, and two on one PostgreSQL.

Each case reads back to back over one keep-alive connection (httpx) and reports the median and
p99 latency of a key read (``GET .../keys/k0``) and of a whole-context read (``GET
/api/v1/contexts/NAME``, 20 keys), measured in the driver. Cases:

- ``sqlite``: one server on SQLite, nothing else writing;
- ``pg-quiet``: two servers on one PostgreSQL, reads on B, nothing writing;
- ``pg-busy``: the same while a writer on server A PUTs another key of the context back to back
  (B's copy is then often behind the store).

    python benchmarks/context_reads.py [--reads 2000] [--case sqlite,pg-quiet,pg-busy]

PostgreSQL is ``$F0_TEST_POSTGRES`` (default postgresql://postgres@127.0.0.1:5432/test); each run
uses a schema of its own, dropped afterwards. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "server"))
sys.path.insert(0, str(HERE.parent / "tests" / "store"))

from servers import Server, new_token, server_process  # type: ignore[import-not-found]  # noqa: E402
from store_backends import postgres_schema, sqlite_url  # type: ignore[import-not-found]  # noqa: E402

CONTEXT = "bench"
KEYS = 20


def fill(server: Server) -> None:
    with server.client() as client:
        client.post(f"/api/v1/contexts/{CONTEXT}/changes", json={"set": {f"k{i}": i for i in range(KEYS)}})


def measure(server: Server, path: str, reads: int) -> dict[str, float]:
    times = []
    with server.client() as client:
        for _ in range(50):  # warm up
            client.get(path)
        for _ in range(reads):
            start = time.perf_counter()
            response = client.get(path)
            times.append((time.perf_counter() - start) * 1000)
            assert response.status_code == 200, response.text
    times.sort()
    return {"p50": statistics.median(times), "p99": times[int(len(times) * 0.99) - 1]}


def writer(server: Server, stop: threading.Event, count: list[int]) -> None:
    with server.client() as client:
        while not stop.is_set():
            client.put(f"/api/v1/contexts/{CONTEXT}/keys/w", json={"value": count[0]})
            count[0] += 1


def report(case: str, reader: Server, reads: int, extra: str = "") -> None:
    key = measure(reader, f"/api/v1/contexts/{CONTEXT}/keys/k0", reads)
    whole = measure(reader, f"/api/v1/contexts/{CONTEXT}", reads)
    print(
        f"{case:9} key read p50 {key['p50']:.2f} ms p99 {key['p99']:.2f} ms | "
        f"context read p50 {whole['p50']:.2f} ms p99 {whole['p99']:.2f} ms{extra}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reads", type=int, default=2000)
    parser.add_argument("--case", default="sqlite,pg-quiet,pg-busy")
    args = parser.parse_args()
    cases = args.case.split(",")
    if "sqlite" in cases:
        with tempfile.TemporaryDirectory() as folder, server_process(sqlite_url(Path(folder) / "s.db")) as server:
            fill(server)
            report("sqlite", server, args.reads)
    if "pg-quiet" in cases or "pg-busy" in cases:
        token = new_token()
        with postgres_schema() as url, server_process(url, token=token) as a, server_process(url, token=token) as b:
            fill(a)
            if "pg-quiet" in cases:
                report("pg-quiet", b, args.reads)
            if "pg-busy" in cases:
                stop, count = threading.Event(), [0]
                thread = threading.Thread(target=writer, args=(a, stop, count))
                thread.start()
                started = time.monotonic()
                try:
                    report("pg-busy", b, args.reads, extra="")
                finally:
                    stop.set()
                    thread.join()
                print(f"          (the writer on A: {count[0] / (time.monotonic() - started):.0f} writes/s)")


if __name__ == "__main__":
    main()
