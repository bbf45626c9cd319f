"""Charts as inline SVG, drawn here: a series over runs with its axes, units, a hover value on every
point drawn (an SVG ``<title>``, which browsers show as a tooltip), and the findings marked on it.
No script and no style attribute, so a page with a strict Content-Security-Policy shows them."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timezone
from html import escape

from framework0.analysis.findings import Finding
from framework0.analysis.series import Series
from framework0.durations import format_duration

WIDTH, HEIGHT = 720, 210
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 14, 40

#: at most this many points are drawn per chart (every marked run among them); the line still
#: passes through the highest and lowest value of each stretch it stands for
MAX_POINTS = 600


def series_chart(series: Series, findings: Sequence[Finding], *, label: str) -> str:
    """``series`` as an SVG line chart over its runs' start times, with ``findings`` of the same
    series marked: anomalies as large red points, change points as dashed lines, the recent runs of
    a regression or improvement as a shaded band. ``label`` names the chart for screen readers."""
    if not series.values:
        return ""
    scale, unit = _unit(series)
    values = [value / scale for value in series.values]
    times = series.started
    low_t, high_t = times[0], times[-1] if times[-1] > times[0] else times[0] + 1
    top = _nice_top(max(values))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(moment: float) -> float:
        return LEFT + (moment - low_t) / (high_t - low_t) * plot_w

    def y(value: float) -> float:
        return TOP + plot_h - (value / top) * plot_h if top else TOP + plot_h

    index_of = {run: index for index, run in enumerate(series.runs)}
    anomalies = {index_of[f.runs[0]] for f in findings if f.kind == "anomaly" and f.runs[0] in index_of}
    changes = [
        (index_of[f.evidence["changed_at_run"]], f)
        for f in findings
        if f.kind in ("change_point", "regression", "improvement") and f.evidence.get("changed_at_run") in index_of
    ]
    recent = [(index_of[f.runs[-1]], f) for f in findings if f.kind in ("regression", "improvement") and f.runs]
    shown = _sampled(values, anomalies | {index for index, _ in changes} | {index for index, _ in recent})

    parts = [
        f'<svg class="f0-chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(label)}"'
        ' xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(label)}</title>",
    ]
    for index, finding in recent:
        left = x(times[index])
        word = "slower" if finding.kind == "regression" else "faster"
        parts.append(
            f'<rect class="f0-chart-recent f0-chart-{finding.kind}" x="{left:.1f}" y="{TOP}" '
            f'width="{max(1.0, LEFT + plot_w - left):.1f}" height="{plot_h}">'
            f"<title>{escape(finding.summary)}</title></rect>"
        )
        parts.append(f'<text class="f0-chart-note" x="{left + 4:.1f}" y="{TOP + 12}">recent: {word}</text>')
    for tick in _ticks(top):
        level = y(tick)
        parts.append(
            f'<line class="f0-chart-grid" x1="{LEFT}" x2="{LEFT + plot_w}" y1="{level:.1f}" y2="{level:.1f}"/>'
        )
        parts.append(
            f'<text class="f0-chart-tick" x="{LEFT - 6}" y="{level + 4:.1f}" text-anchor="end">{_number(tick)}</text>'
        )
    parts.append(
        f'<text class="f0-chart-axis" transform="translate(14 {TOP + plot_h / 2:.0f}) rotate(-90)" '
        f'text-anchor="middle">{escape(unit)}</text>'
    )
    moments = _time_ticks(low_t, high_t)
    for number, moment in enumerate(moments):
        across = x(moment)
        anchor = "start" if number == 0 else "end" if number == len(moments) - 1 else "middle"
        parts.append(
            f'<line class="f0-chart-axisline" x1="{across:.1f}" x2="{across:.1f}" y1="{TOP + plot_h}" '
            f'y2="{TOP + plot_h + 4}"/>'
        )
        parts.append(
            f'<text class="f0-chart-tick" x="{across:.1f}" y="{TOP + plot_h + 16}" text-anchor="{anchor}">'
            f"{_date(moment, high_t - low_t)}</text>"
        )
    parts.append(
        f'<text class="f0-chart-axis" x="{LEFT + plot_w / 2:.0f}" y="{HEIGHT - 4}" text-anchor="middle">'
        "run start (UTC)</text>"
    )
    parts.append(
        f'<line class="f0-chart-axisline" x1="{LEFT}" x2="{LEFT + plot_w}" y1="{TOP + plot_h}" y2="{TOP + plot_h}"/>'
    )
    for index, finding in changes:
        across = x(times[index])
        parts.append(
            f'<line class="f0-chart-change" x1="{across:.1f}" x2="{across:.1f}" y1="{TOP}" y2="{TOP + plot_h}">'
            f"<title>{escape(finding.summary)}</title></line>"
        )
    points = " ".join(f"{x(times[index]):.1f},{y(values[index]):.1f}" for index in shown)
    parts.append(f'<polyline class="f0-chart-line" points="{points}"/>')
    for index in shown:
        big = index in anomalies
        tip = f"run {series.runs[index]} · {_date(times[index], 0)} · {_value(series, series.values[index])}"
        if big:
            tip += " · anomaly"
        kind = "f0-chart-point f0-chart-anomaly" if big else "f0-chart-point"
        parts.append(
            f'<circle class="{kind}" data-run="{escape(series.runs[index])}" cx="{x(times[index]):.1f}" '
            f'cy="{y(values[index]):.1f}" r="{5 if big else 2.5}"><title>{escape(tip)}</title></circle>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _sampled(values: Sequence[float], keep: set[int]) -> list[int]:
    """The indices drawn: all of them up to MAX_POINTS, else per stretch its lowest and highest
    value, and every index in ``keep``."""
    count = len(values)
    if count <= MAX_POINTS:
        return list(range(count))
    stretch = math.ceil(count / (MAX_POINTS // 2))
    chosen = set(keep)
    for start in range(0, count, stretch):
        part = range(start, min(count, start + stretch))
        chosen.add(min(part, key=values.__getitem__))
        chosen.add(max(part, key=values.__getitem__))
    return sorted(chosen)


def _unit(series: Series) -> tuple[float, str]:
    if series.metric == "peak_memory":
        return 1024 * 1024, "peak memory (MiB)"
    return (0.001, "duration (ms)") if max(series.values) < 1 else (1.0, "duration (s)")


def _value(series: Series, value: float) -> str:
    if series.metric == "peak_memory":
        return f"{value / (1024 * 1024):.1f} MiB"
    return format_duration(value)


def _nice_top(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 x 10^k at or above ``value``, so that the ticks are round."""
    if value <= 0:
        return 1.0
    power = 10.0 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * power:
            return step * power
    return 10 * power


def _ticks(top: float) -> list[float]:
    return [top * share / 4 for share in range(5)]


def _number(value: float) -> str:
    return f"{value:g}" if value >= 1 or value == 0 else f"{value:.2g}"


def _time_ticks(low: float, high: float) -> list[float]:
    if high - low < 300:  # minutes apart (one run, or a few in a row): one label says when
        return [low]
    return [low + (high - low) * share / 4 for share in range(5)]


def _date(moment: float, span: float) -> str:
    when = datetime.fromtimestamp(moment, tz=timezone.utc)
    if span == 0:
        return when.strftime("%Y-%m-%d %H:%M UTC")
    return when.strftime("%m-%d %H:%M" if span < 3 * 86400 else "%Y-%m-%d")
