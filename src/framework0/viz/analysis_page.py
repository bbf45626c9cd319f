"""The run history of recipes as a page: the findings, then per recipe a status strip of its last
runs, its figures, a chart of each series over its runs (the whole run, each step's duration and
peak memory) with the findings marked and its flaky steps, then the step table.

Two ways to show it: ``render_analysis`` makes ``f0 analyze --format html``'s one self-contained
file (styles inlined and allowed by hash, opened from disk), ``render_recipe_page`` the dashboard's
page of one recipe (``/recipes/KEY``: its runs link to their pages). Neither has a script: the
charts are SVG, their hover values SVG titles.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from framework0.analysis.analyze import Analysis
from framework0.analysis.export import duration_text, memory_text, percent_text, trend_text
from framework0.analysis.series import display_names, recipe_key
from framework0.viz.charts import series_chart
from framework0.viz.pages import _asset, _render, _static_url, inline_policy

if TYPE_CHECKING:
    from framework0.history import RunSummary

_STYLES = ("f0.css", "analysis.css")

#: the runs a status strip shows, newest on the right
STRIP_RUNS = 100

ICONS = {"succeeded": "✓", "failed": "✗", "cancelled": "!", "running": "…"}


def render_analysis(analysis: Analysis, runs: Sequence[RunSummary] = ()) -> str:
    """``analysis`` (of ``runs``, for the status strips) as one HTML file that opens offline."""
    styles = [_asset(name) for name in _STYLES]
    return _render(
        "analysis.html",
        analysis=analysis,
        heading="Run history analysis",
        recipes=_sections(analysis, runs, links=False),
        steps=[_step_row(step) for step in analysis.steps],
        inline_styles=styles,
        inline_scripts=[],
        policy=inline_policy(styles, []),
        csrf="",
        live=False,
        report=True,
    )


def render_recipe_page(analysis: Analysis, runs: Sequence[RunSummary], *, csrf: str) -> str:
    """The dashboard's page of one recipe's run history (``analysis`` of its ``runs``)."""
    name = analysis.recipes[0].recipe if analysis.recipes else "recipe"
    return _render(
        "analysis.html",
        analysis=analysis,
        heading=name,
        recipes=_sections(analysis, runs, links=True),
        steps=[_step_row(step) for step in analysis.steps],
        assets={"styles": [_static_url(name) for name in _STYLES], "scripts": []},
        csrf=csrf,
        live=False,
        report=False,
    )


def recipe_url(test_id: str | None, recipe_path: str | None) -> str:
    """The dashboard's page of a recipe's run history."""
    return "/recipes/" + quote(recipe_key(test_id, recipe_path), safe="")


def _sections(analysis: Analysis, runs: Sequence[RunSummary], *, links: bool) -> list[dict[str, Any]]:
    keys = {recipe_key(run.test_id, run.recipe_path): (run.test_id, run.recipe_path) for run in runs}
    names = display_names((key, test_id, path) for key, (test_id, path) in keys.items())
    by_name: dict[str, list[RunSummary]] = {}
    for run in runs:
        by_name.setdefault(names[recipe_key(run.test_id, run.recipe_path)], []).append(run)
    return [
        _recipe_section(analysis, recipe.recipe, by_name.get(recipe.recipe, []), links=links)
        for recipe in analysis.recipes
    ]


def _strip(runs: Sequence[RunSummary], *, links: bool) -> list[dict[str, str]]:
    """The last runs, oldest first, as the cells of a status strip."""
    newest = sorted(runs, key=lambda run: run.started_at)[-STRIP_RUNS:]
    cells = []
    for run in newest:
        duration = "running" if run.duration_s is None else duration_text(run.duration_s)
        cells.append(
            {
                "run_id": run.run_id,
                "status": run.status,
                "icon": ICONS.get(run.status, "?"),
                "label": f"run {run.run_id}: {run.status}, {_moment(run.started_at)}, {duration}",
                "href": f"/runs/{run.run_id}" if links else "",
            }
        )
    return cells


def _recipe_section(analysis: Analysis, recipe: str, runs: Sequence[RunSummary], *, links: bool) -> dict[str, Any]:
    stats = next(one for one in analysis.recipes if one.recipe == recipe)
    charts = []
    for series in analysis.series:
        if series.recipe != recipe or not series.values:
            continue
        marked = [
            finding
            for finding in analysis.findings
            if (finding.recipe, finding.step, finding.metric) == (series.recipe, series.step, series.metric)
        ]
        subject = "the whole run" if series.step is None else f"step {series.step}"
        what = "duration" if series.metric == "duration" else "peak memory"
        label = f"{recipe}: {what} of {subject} over {len(series.values)} runs"
        charts.append(
            {
                "title": f"{'Whole run' if series.step is None else series.step} · {what}",
                "step": series.step or "",
                "metric": series.metric,
                "findings": len(marked),
                "svg": series_chart(series, marked, label=label),
            }
        )
    flaky = [
        {
            "step": finding.step or "",
            "rate": f"{finding.evidence['rate']:.1%}",
            "count": len(finding.runs),
            "finished": finding.evidence["finished_runs"],
            "runs": [{"run_id": run, "href": f"/runs/{run}" if links else ""} for run in finding.runs[:10]],
            "more": max(0, len(finding.runs) - 10),
        }
        for finding in analysis.findings
        if finding.kind == "flaky" and finding.recipe == recipe
    ]
    return {
        "name": recipe,
        "strip": _strip(runs, links=links),
        "flaky": flaky,
        "runs": stats.runs,
        "succeeded": stats.succeeded,
        "failed": stats.failed,
        "success": percent_text(stats.success_rate),
        "p50": duration_text(stats.duration_p50_s),
        "p95": duration_text(stats.duration_p95_s),
        "trend": trend_text(stats.trend),
        "since": _day(stats.first_run_at),
        "until": _day(stats.last_run_at),
        "charts": charts,
    }


def _step_row(step: Any) -> dict[str, str]:
    return {
        "recipe": step.recipe,
        "step": step.step,
        "runs": str(step.runs),
        "success": percent_text(step.success_rate),
        "p50": duration_text(step.duration_p50_s),
        "p95": duration_text(step.duration_p95_s),
        "trend": trend_text(step.trend),
        "cpu": duration_text(step.cpu_p50_s),
        "memory": memory_text(step.peak_memory_p50_bytes),
        "retries": str(step.retries),
        "cached": str(step.cache_hits),
        "flaky": f"{step.flaky_rate:.0%}" if step.flaky_runs else "-",
    }


def _day(moment: float) -> str:
    return datetime.fromtimestamp(moment, tz=timezone.utc).strftime("%Y-%m-%d")


def _moment(moment: float) -> str:
    return datetime.fromtimestamp(moment, tz=timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
