"""An ``Analysis`` as people and programs read it: text for a terminal, JSON, CSV (one table) and
XLSX (openpyxl, one sheet per table). Each returns what is written; the caller writes it."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import asdict, fields
from datetime import datetime, timezone
from typing import Any

from framework0.analysis.analyze import Analysis, RecipeStats, StepStats
from framework0.durations import format_duration

#: the tables an export holds, by the name ``--table`` and the sheets use
TABLES = ("recipes", "steps", "findings")

_FINDING_COLUMNS = ("kind", "recipe", "step", "metric", "summary", "runs")


def to_json(analysis: Analysis) -> str:
    return json.dumps(analysis.to_dict(), indent=2, allow_nan=False)


def rows(analysis: Analysis, table: str) -> tuple[list[str], list[list[Any]]]:
    """One table as a header and rows of plain values (numbers stay numbers)."""
    if table == "recipes":
        return _dataclass_rows(RecipeStats, analysis.recipes)
    if table == "steps":
        return _dataclass_rows(StepStats, analysis.steps)
    if table == "findings":
        header = [*_FINDING_COLUMNS, "evidence"]
        return header, [
            [
                finding.kind,
                finding.recipe,
                finding.step or "",
                finding.metric,
                finding.summary,
                " ".join(finding.runs),
                json.dumps(dict(finding.evidence), allow_nan=False),
            ]
            for finding in analysis.findings
        ]
    raise ValueError(f"no table {table!r}; the tables are {', '.join(TABLES)}")


def to_csv(analysis: Analysis, table: str = "steps") -> str:
    header, body = rows(analysis, table)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([["" if value is None else value for value in row] for row in body])
    return out.getvalue()


def to_xlsx(analysis: Analysis) -> bytes:
    """A workbook with a sheet per table (Recipes, Steps, Findings), a frozen header row each."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    book.remove(book.active)  # type: ignore[arg-type]
    for table in TABLES:
        sheet = book.create_sheet(table.capitalize())
        header, body = rows(analysis, table)
        sheet.append(header)
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        for row in body:
            sheet.append([_cell(value) for value in row])
        sheet.freeze_panes = "A2"
        for column, name in zip(sheet.columns, header, strict=True):
            width = max(len(name), *(len(str(cell.value or "")) for cell in column[1:200])) if body else len(name)
            sheet.column_dimensions[column[0].column_letter].width = min(80, width + 2)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def to_text(analysis: Analysis) -> str:
    """The report for a terminal: each recipe's line, the findings in order, then the step table."""
    lines: list[str] = []
    if not analysis.runs:
        return "no runs recorded that match\n"
    for recipe in analysis.recipes:
        lines.append(_recipe_line(recipe))
    lines.append("")
    if analysis.findings:
        count = len(analysis.findings)
        lines.append(f"{count} finding{'s' if count != 1 else ''}, most important first:")
        for index, finding in enumerate(analysis.findings, 1):
            lines.append(f"{index}. [{finding.kind.replace('_', ' ')}] {finding.summary}")
    else:
        lines.append("no findings: no regression, change point, anomaly or flaky step stands out from the noise")
    lines.append("")
    table = [
        ("RECIPE", "STEP", "RUNS", "OK", "P50", "P95", "TREND", "CPU P50", "MEM P50", "RETRIES", "CACHED", "FLAKY")
    ]
    for step in analysis.steps:
        table.append(
            (
                step.recipe,
                step.step,
                str(step.runs),
                percent_text(step.success_rate),
                duration_text(step.duration_p50_s),
                duration_text(step.duration_p95_s),
                trend_text(step.trend),
                duration_text(step.cpu_p50_s),
                memory_text(step.peak_memory_p50_bytes),
                str(step.retries),
                str(step.cache_hits),
                f"{step.flaky_rate:.0%}" if step.flaky_runs else "-",
            )
        )
    widths = [max(len(row[column]) for row in table) for column in range(len(table[0]))]
    for row in table:
        lines.append("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    return "\n".join(lines) + "\n"


def _recipe_line(recipe: RecipeStats) -> str:
    counts = f"{recipe.succeeded} succeeded, {recipe.failed} failed" + (
        f", {recipe.other} cancelled or running" if recipe.other else ""
    )
    since = datetime.fromtimestamp(recipe.first_run_at, tz=timezone.utc).strftime("%Y-%m-%d")
    until = datetime.fromtimestamp(recipe.last_run_at, tz=timezone.utc).strftime("%Y-%m-%d")
    return (
        f"{recipe.recipe}: {recipe.runs} run{'s' if recipe.runs != 1 else ''} from {since} to {until} ({counts}), "
        f"success {percent_text(recipe.success_rate)}, duration p50 {duration_text(recipe.duration_p50_s)} "
        f"p95 {duration_text(recipe.duration_p95_s)}, trend {trend_text(recipe.trend)}"
    )


def _dataclass_rows(kind: type, items: Sequence[Any]) -> tuple[list[str], list[list[Any]]]:
    header = [field.name for field in fields(kind)]
    return header, [list(asdict(item).values()) for item in items]


def _cell(value: Any) -> Any:
    """A value a sheet can hold: text without the control characters XLSX cannot store."""
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    return ILLEGAL_CHARACTERS_RE.sub("?", value) if isinstance(value, str) else value


def percent_text(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def duration_text(value: float | None) -> str:
    return "-" if value is None else format_duration(value)


def memory_text(value: float | None) -> str:
    return "-" if value is None else f"{value / (1024 * 1024):.0f} MiB"


def trend_text(change: float) -> str:
    if change == 0:
        return "stable"
    return f"{change:+.0%}"
