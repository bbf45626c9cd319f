"""``f0 analyze --format html``: the analysis as one self-contained page: the findings, then per
recipe its figures and a chart of each series over its runs (the whole run, each step's duration
and peak memory) with the findings marked, then the step table.

Like the run report, the file opens from disk: its styles are inlined and a ``<meta>``
Content-Security-Policy allows exactly those by hash; it has no script at all (the charts are SVG,
their hover values SVG titles), so nothing runs and nothing is requested.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from framework0.analysis.analyze import Analysis
from framework0.analysis.export import duration_text, memory_text, percent_text, trend_text
from framework0.viz.charts import series_chart
from framework0.viz.pages import _asset, _render, inline_policy

_STYLES = ("f0.css", "analysis.css")


def render_analysis(analysis: Analysis) -> str:
    """``analysis`` as one HTML file that opens offline."""
    styles = [_asset(name) for name in _STYLES]
    policy = inline_policy(styles, [])
    return _render(
        "analysis.html",
        analysis=analysis,
        recipes=[_recipe_section(analysis, recipe.recipe) for recipe in analysis.recipes],
        steps=[_step_row(step) for step in analysis.steps],
        inline_styles=styles,
        inline_scripts=[],
        policy=policy,
        csrf="",
        live=False,
        report=True,
    )


def _recipe_section(analysis: Analysis, recipe: str) -> dict[str, Any]:
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
    return {
        "name": recipe,
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
