"""Context history storage: deltas plus a snapshot every N versions, against a full snapshot per version.

One step builds a 10,000-key context (version 1), then makes 1,000 more versions with ``ctx.update``,
each changing 100 keys (1%). The run goes through the real path (Runner, event bus, store writer)
into a fresh SQLite store. The baseline stores the same 1,001 versions as one row each holding the
whole context as compact JSON, in a second SQLite file. Then ~50 versions are rebuilt with
``framework0.store.context_history.context_at`` (the versions just before each snapshot, the worst
case, among them) and checked against the truth. Prints bytes, ratios and rebuild times; nothing is
asserted. Targets: deltas <= 2% of the baseline, any version rebuilt in < 10 ms.

    python benchmarks/context_storage.py [--every 100] [--every 50 ...] [--keys 10000] [--versions 1000] [--keep]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
import zlib
from pathlib import Path
from typing import Any, NamedTuple

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))

import framework0
from framework0.context import Context
from framework0.events.bus import EventBus
from framework0.events.types import ContextChanged
from framework0.store import open_store
from framework0.store.context_history import context_at
from framework0.store.schema import context_snapshots, context_versions

SAMPLE = 50
REPEAT = 3

RECIPE = """\
test_meta: {{test_id: BENCH-CONTEXT}}
steps:
  - name: churn
    module: context_storage
    function: churn
    args: {{size: {keys}, versions: {versions}, changed: {changed}}}
"""


def _value(rng: random.Random, index: int) -> Any:
    """A metric-like value: an int, a float with 3 decimals or a short string, by key."""
    kind = index % 3
    if kind == 0:
        return rng.randrange(1_000_000)
    if kind == 1:
        return round(rng.uniform(0, 1000), 3)
    return f"v-{rng.getrandbits(32):08x}"


def key_names(keys: int) -> list[str]:
    return [f"service{index // 100:03d}.metric{index % 100:02d}" for index in range(keys)]


def churn(ctx: Context, size: int, versions: int, changed: int) -> int:
    """The benchmark's step: ``size`` keys in one version, then ``versions`` updates of ``changed`` keys."""
    rng = random.Random(20240611)
    names = key_names(size)
    ctx.update({name: _value(rng, index) for index, name in enumerate(names)})
    for _ in range(versions):
        ctx.update({names[index]: _value(rng, index) for index in rng.sample(range(size), changed)})
    return versions + 1


class Measured(NamedTuple):
    every: int
    versions: int
    snapshots: int
    run_s: float
    delta_bytes: int
    snapshot_bytes: int
    store_file: int
    full_bytes: int
    full_zlib_bytes: int
    full_file: int
    rebuild_median_ms: float
    rebuild_max_ms: float
    rebuild_max_best_ms: float
    worst_version: int
    sampled: int
    longest: int


def record(folder: Path, every: int, keys: int, versions: int, changed: int, *, keep: bool = False) -> Measured:
    recipe_path = folder / f"context-{every}.yaml"
    recipe_path.write_text(RECIPE.format(keys=keys, versions=versions, changed=changed), encoding="utf-8")
    url = f"sqlite:///{folder}/deltas-{every}.db"
    events: list[ContextChanged] = []
    bus = EventBus()
    bus.subscribe(lambda event: events.append(event) if type(event) is ContextChanged else None)
    recipe = framework0.load_recipe(recipe_path)
    started = time.perf_counter()
    result = framework0.run(recipe, bus=bus, store=url, snapshot_every=every)
    run_s = time.perf_counter() - started
    assert result.status == "succeeded", result.error

    store = open_store(url)
    run_id = result.run_id
    with store.engine.connect() as connection:
        delta_bytes = connection.execute(
            sa.select(sa.func.sum(sa.func.length(context_versions.c.changes))).where(
                context_versions.c.run_id == run_id
            )
        ).scalar_one()
        snapshot_versions = [
            row[0]
            for row in connection.execute(
                sa.select(context_snapshots.c.version)
                .where(context_snapshots.c.run_id == run_id)
                .order_by(context_snapshots.c.version)
            )
        ]
        snapshot_bytes = connection.execute(
            sa.select(sa.func.sum(sa.func.length(context_snapshots.c.data))).where(context_snapshots.c.run_id == run_id)
        ).scalar_one()
    store.vacuum()
    last = len(events)

    # the worst cases: the version just before each snapshot (or the last version), then spread the rest
    worst = {version - 1 for version in snapshot_versions if version > 1} | {last}
    others = sorted(set(range(last + 1)) - worst)
    sample = sorted(worst | set(random.Random(7).sample(others, max(0, min(len(others), SAMPLE - len(worst))))))
    starts = [0, *snapshot_versions]
    longest = max(version - max(s for s in starts if s <= version) for version in range(last + 1))

    full_bytes, full_zlib_bytes, truth = store_full_snapshots(folder / f"full-{every}.db", events, set(sample))
    full_file = (folder / f"full-{every}.db").stat().st_size
    if not keep:
        (folder / f"full-{every}.db").unlink()
    events.clear()
    # what is left lives until the end, as in ``f0 run``: keep it out of the collections timed below
    gc.collect()
    gc.freeze()

    context_at(store, run_id, last)  # warm-up: imports, statement cache
    timings: dict[int, list[float]] = {version: [] for version in sample}
    for _ in range(REPEAT):  # rounds over the sample, so that a noisy moment hits few versions
        for version in sample:
            started = time.perf_counter()
            got_version, data = context_at(store, run_id, version)
            timings[version].append((time.perf_counter() - started) * 1000)
            assert got_version == version and data == truth[version], f"version {version} rebuilt wrongly"
    store.close()  # the last connection checkpoints the WAL into the file
    store_file = sum(path.stat().st_size for path in folder.glob(f"deltas-{every}.db*"))
    gc.unfreeze()
    first = {version: times[0] for version, times in timings.items()}
    best = {version: min(times) for version, times in timings.items()}
    worst_version = max(best, key=lambda version: best[version])
    return Measured(
        every=every,
        versions=last,
        snapshots=len(snapshot_versions),
        run_s=run_s,
        delta_bytes=delta_bytes,
        snapshot_bytes=snapshot_bytes,
        store_file=store_file,
        full_bytes=full_bytes,
        full_zlib_bytes=full_zlib_bytes,
        full_file=full_file,
        rebuild_median_ms=statistics.median(first.values()),
        rebuild_max_ms=max(first.values()),
        rebuild_max_best_ms=best[worst_version],
        worst_version=worst_version,
        sampled=len(sample),
        longest=longest,
    )


def store_full_snapshots(
    path: Path, events: list[ContextChanged], keep: set[int]
) -> tuple[int, int, dict[int, dict[str, Any]]]:
    """The baseline: one row per version with the whole context as compact JSON. Returns its payload
    bytes, what zlib (level 1, as the store's snapshots) would make of them, and the kept versions."""
    connection = sqlite3.connect(path)
    connection.execute("CREATE TABLE full_snapshots (version INTEGER PRIMARY KEY, data TEXT NOT NULL)")
    data: dict[str, Any] = {}
    truth: dict[int, dict[str, Any]] = {0: {}} if 0 in keep else {}
    payload = compressed = 0
    for event in events:
        for change in event.changes:
            if change.op == "delete":
                data.pop(change.key, None)
            else:
                data[change.key] = change.new
        version = event.changes[0].version
        text = json.dumps(data, separators=(",", ":"), sort_keys=True)
        payload += len(text)
        compressed += len(zlib.compress(text.encode(), 1))
        connection.execute("INSERT INTO full_snapshots VALUES (?, ?)", (version, text))
        if version in keep:
            truth[version] = dict(data)
    connection.commit()
    connection.execute("VACUUM")
    connection.close()
    return payload, compressed, truth


def megabytes(count: int) -> str:
    return f"{count / 1e6:,.2f} MB"


def report(m: Measured) -> None:
    ours = m.delta_bytes + m.snapshot_bytes
    print(f"\nsnapshot every {m.every} versions: {m.versions:,} versions, {m.snapshots} snapshots, run {m.run_s:.2f} s")
    print(f"  longest replay    {m.longest:>12} deltas after a snapshot")
    if m.longest >= m.every:
        print(
            f"  note: fewer snapshots than one per {m.every} versions: the writer takes one per batch that"
            " crosses a multiple, and under load a batch holds many versions"
        )
    print(f"  deltas            {megabytes(m.delta_bytes):>12}")
    print(f"  snapshots (zlib)  {megabytes(m.snapshot_bytes):>12}")
    print(f"  history payload   {megabytes(ours):>12}   store file {megabytes(m.store_file)}")
    print(f"  full JSON / ver.  {megabytes(m.full_bytes):>12}   file {megabytes(m.full_file)}")
    print(f"  payload ratio     {ours / m.full_bytes:>12.2%}   (target <= 2%)")
    print(f"  file ratio        {m.store_file / m.full_file:>12.2%}")
    zlib_full = megabytes(m.full_zlib_bytes)
    print(f"  vs zlib full      {ours / m.full_zlib_bytes:>12.2%}   (full snapshots compressed, zlib-1: {zlib_full})")
    print(
        f"  rebuild           median {m.rebuild_median_ms:.2f} ms, max {m.rebuild_max_ms:.2f} ms over "
        f"{m.sampled} versions; slowest version {m.worst_version}: {m.rebuild_max_best_ms:.2f} ms "
        f"(best of {REPEAT})   (target < 10 ms)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--every", type=int, action="append", help="Snapshot interval(s) to measure (default 100).")
    parser.add_argument("--keys", type=int, default=10_000)
    parser.add_argument("--versions", type=int, default=1_000)
    parser.add_argument("--changed", type=int, default=100, help="Keys changed per version.")
    parser.add_argument("--keep", action="store_true", help="Keep the database files (the baseline is ~300 MB).")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="f0-bench-context-"))
    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs; {args.keys:,} keys, "
        f"{args.versions:,} versions of {args.changed} changed keys; files in {folder}"
    )
    try:
        for every in args.every or [100]:
            report(record(folder, every, args.keys, args.versions, args.changed, keep=args.keep))
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
