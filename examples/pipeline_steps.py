"""Scriptlets for data_pipeline.yaml: plain functions, found through ``module: pipeline_steps``.

A step's args are checked against each function's signature before the run starts; a parameter
named ``ctx`` receives the run's shared Context. Return values become ``steps.<name>.output``.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from framework0 import Context, scriptlet

PRODUCTS = ("widget", "gadget", "gizmo", "doohickey")


def amount(day: int, row: int) -> int:
    """A made-up but deterministic sale amount, so reruns (and tests) see the same numbers."""
    return 10 + (day * 7 + row * 13) % 50


@scriptlet
def generate_csvs(folder: str, region: str, files: int = 3, rows: int = 5) -> dict[str, Any]:
    """Write ``files`` daily sales CSVs of ``rows`` rows each into ``folder`` (replacing old ones)."""
    target = Path(folder)
    target.mkdir(parents=True, exist_ok=True)
    for old in target.glob("sales-*.csv"):
        old.unlink()
    written = []
    for day in range(1, files + 1):
        path = target / f"sales-{region}-day{day:02d}.csv"
        with path.open("w", encoding="utf-8", newline="") as stream:
            writer = csv.writer(stream)
            writer.writerow(["region", "day", "product", "amount"])
            for row in range(rows):
                writer.writerow([region, day, PRODUCTS[row % len(PRODUCTS)], amount(day, row)])
        written.append(path.name)
    return {"folder": str(target), "files": written}


@scriptlet
def list_csvs(folder: str) -> list[str]:
    """The CSV files in ``folder``, sorted by name: the list the next step fans out over."""
    return sorted(str(path) for path in Path(folder).glob("*.csv"))


@scriptlet
def summarise_csv(path: str) -> dict[str, Any]:
    """Sum one CSV file: its row count, total amount and best-selling product."""
    by_product: dict[str, int] = {}
    rows = 0
    with open(path, encoding="utf-8", newline="") as stream:
        for record in csv.DictReader(stream):
            rows += 1
            by_product[record["product"]] = by_product.get(record["product"], 0) + int(record["amount"])
    best = max(sorted(by_product), key=lambda product: by_product[product]) if by_product else None
    return {"file": Path(path).name, "rows": rows, "total": sum(by_product.values()), "best": best}


@scriptlet
def aggregate(summaries: list[dict[str, Any]], ctx: Context) -> dict[str, Any]:
    """Combine the per-file summaries (in file order) and publish the totals in the context."""
    total = sum(summary["total"] for summary in summaries)
    rows = sum(summary["rows"] for summary in summaries)
    result = {
        "files": [summary["file"] for summary in summaries],
        "daily_totals": [summary["total"] for summary in summaries],
        "rows": rows,
        "total": total,
        "average": round(total / rows, 2) if rows else 0.0,
    }
    ctx.update({"pipeline.total": total, "pipeline.rows": rows})
    return result
