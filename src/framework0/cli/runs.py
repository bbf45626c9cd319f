"""``f0 runs list`` and ``f0 runs show RUN``: the run history the store keeps."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from datetime import datetime
from pathlib import PurePath
from typing import TYPE_CHECKING, Any

import click

from framework0.cli.options import command_config, debug_option, store_option

if TYPE_CHECKING:
    from framework0.engine.result import RunResult
    from framework0.history import History, RunSummary

RUN_STATUSES = ("running", "succeeded", "failed", "cancelled")
DEFAULT_LIMIT = 50
GONE_STATUS = "interrupted (runner gone)"
_WEEKS = re.compile(r"(\d+(?:\.\d+)?)w")


def parse_moment(text: str, *, option: str, now: float) -> float:
    """An epoch time from ``2d`` (that long before ``now``; also ``12h``, ``90m``, ``1w``) or an
    ISO date or date-time (``2026-01-31``, ``2026-01-31T08:00``; local time unless it has an offset)."""
    from framework0.durations import parse_duration
    from framework0.errors import UsageError

    value = text.strip()
    weeks = _WEEKS.fullmatch(value)
    try:
        seconds = float(weeks.group(1)) * 7 * 86400 if weeks else parse_duration(value)
    except ValueError:
        pass
    else:
        return now - seconds
    try:
        moment = datetime.fromisoformat(value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value)
    except ValueError:
        raise UsageError(
            f"{option} {text!r}: expected an age like 30d, 12h or 2w, or an ISO date like 2026-01-31"
        ) from None
    return moment.timestamp()


def local_time(timestamp: float | None) -> str:
    if timestamp is None:
        return ""
    return datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M:%S")


def recipe_name(test_id: str | None, recipe_path: str | None) -> str:
    return test_id or (PurePath(recipe_path).name if recipe_path else "") or "recipe"


def shown_status(run: RunSummary) -> str:
    """The status for people: a run whose runner is gone says so (--json keeps "running")."""
    return GONE_STATUS if run.runner_state() == "gone" else run.status


def tally(counts: Mapping[str, int]) -> str:
    order = ("succeeded", "cached", "failed", "cancelled", "skipped", "running", "pending")
    named = [status for status in order if counts.get(status)] + sorted(set(counts) - set(order))
    return ", ".join(f"{counts[status]} {status}" for status in named) or "no steps"


@click.group()
def runs() -> None:
    """List the recorded runs, or show one: its params, steps, errors and sessions.

    \b
    Examples:
      f0 runs list --since 2d
      f0 runs show 3f2a9c --json
    """


@runs.command("list")
@click.option("--recipe", metavar="NAME", help="Only runs of this recipe: its test_id or its file name.")
@click.option("--status", type=click.Choice(RUN_STATUSES), help="Only runs with this status.")
@click.option("--since", metavar="AGE|DATE", help="Only runs started in the last AGE (2d, 12h) or since DATE.")
@click.option(
    "--limit",
    type=click.IntRange(min=0),
    default=DEFAULT_LIMIT,
    show_default=True,
    help="Show at most this many runs (0: all).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the runs as a JSON list.")
@store_option
@debug_option
def list_command(
    recipe: str | None,
    status: str | None,
    since: str | None,
    limit: int,
    as_json: bool,
    store: str | None,
    debug: bool,
) -> None:
    """The recorded runs, newest first: id, recipe, status, start, duration and step counts.

    \b
    Examples:
      f0 runs list
      f0 runs list --recipe ETL-001 --status failed --since 7d
      f0 runs list --since 2026-01-31 --json
    """
    import framework0.history

    since_at = parse_moment(since, option="--since", now=time.time()) if since is not None else None
    with framework0.history.open(config=command_config(store)) as history:
        rows = history.list_runs(recipe=recipe, status=status, since=since_at, limit=limit + 1 if limit else None)
    more = bool(limit) and len(rows) > limit
    rows = rows[:limit] if limit else rows
    if as_json:
        click.echo(json.dumps([_listed(row) for row in rows], indent=2))
        return
    if not rows:
        click.echo("no runs recorded" + (" that match" if recipe or status or since else ""))
        return
    table = [("RUN", "RECIPE", "STATUS", "STARTED", "DURATION", "STEPS")]
    for row in rows:
        table.append(
            (
                row.run_id,
                recipe_name(row.test_id, row.recipe_path),
                shown_status(row),
                local_time(row.started_at),
                _duration(row.started_at, row.finished_at),
                tally(row.step_counts),
            )
        )
    widths = [max(len(line[column]) for line in table) for column in range(len(table[0]) - 1)]
    for line in table:
        cells = [cell.ljust(width) for cell, width in zip(line[:-1], widths, strict=True)]
        click.echo("  ".join([*cells, line[-1]]))
    if more:
        newest = "the newest run" if limit == 1 else f"the newest {limit} runs"
        click.echo(f"({newest}; --limit N shows more, --limit 0 all)")


def _listed(row: RunSummary) -> dict[str, Any]:
    from framework0.engine.result import iso

    return {
        "run_id": row.run_id,
        "recipe": {"test_id": row.test_id, "path": row.recipe_path},
        "package": row.package,
        "status": row.status,
        "runner_gone": row.runner_state() == "gone",
        "started_at": iso(row.started_at),
        "finished_at": iso(row.finished_at),
        "duration_s": row.duration_s,
        "error": row.error.to_dict() if row.error else None,
        "sessions": row.sessions,
        "steps": dict(row.step_counts),
    }


def _duration(started_at: float, finished_at: float | None) -> str:
    from framework0.durations import format_duration

    return format_duration(finished_at - started_at) if finished_at is not None else "-"


@runs.command("show")
@click.argument("run_id", metavar="RUN")
@click.option("--json", "as_json", is_flag=True, help="Print the run result as JSON (what f0 run --json printed).")
@store_option
@debug_option
def show_command(run_id: str, as_json: bool, store: str | None, debug: bool) -> None:
    """One run: its recipe, params, status, each step (status, attempts, duration, error, why it
    was skipped or cached) and its sessions if it was resumed. RUN may be a unique prefix of the id.

    \b
    Examples:
      f0 runs show 3f2a9c
      f0 runs show 3f2a9c --json > result.json
    """
    import framework0.history

    with framework0.history.open(config=command_config(store)) as history:
        if as_json:
            click.echo(json.dumps(history.result_document(run_id), indent=2, default=str))
            return
        click.echo(_summary(history, history.result(run_id), debug=debug))


def _summary(history: History, result: RunResult, *, debug: bool) -> str:
    from framework0.cli.progress import ICONS
    from framework0.durations import format_duration

    run = history.run(result.run_id)
    state = run.runner_state()
    name = recipe_name(result.test_id, result.recipe_path)
    lines = [f"run {result.run_id}  {name}" + (f"  ({result.recipe_path})" if result.recipe_path else "")]
    if result.package:
        package = result.package
        lines.append(
            f"  package   {package.get('path')} (digest {package.get('digest')}, entry {package.get('entry')})"
        )
    if result.status == "running":
        lines.append(f"  status    {GONE_STATUS if state == 'gone' else 'running'}")
    else:
        lines.append(f"  status    {result.status} in {format_duration(result.duration_s)}")
    lines.append(f"  started   {local_time(result.started_at)}")
    if result.status != "running":
        lines.append(f"  finished  {local_time(result.finished_at)}")
    if result.error is not None:
        lines.append(f"  error     {result.error.type}: {result.error.message}")
    if state == "gone":
        lines.append(
            f"  its runner (process {run.pid} on this machine) is gone; f0 resume {result.run_id} continues it"
        )
    lines.append("params" + ("" if result.params else "  (none)"))
    lines += [f"  {key} = {json.dumps(value, default=str)}" for key, value in result.params.items()]
    lines.append("steps" + ("" if result.steps else "  (none)"))
    width = max((len(step) for step in result.steps), default=0)
    retried = {step.name for step in result.steps.values() if step.attempts > 1}
    earlier = history.attempts(result.run_id) if retried else []
    for step in result.steps.values():
        duration = format_duration(step.duration_s) if step.duration_s is not None else ""
        attempts = f"{step.attempts} attempt{'s' if step.attempts != 1 else ''}" if step.attempts else ""
        items = f"{step.items} item{'' if step.items == 1 else 's'}" if step.items is not None else ""
        head = f"  {ICONS.get(step.status, '▶')} {step.name:<{width}}  {step.status:<9}  {duration:>7}"
        lines.append("  ".join(part for part in (head, attempts, items) if part).rstrip())
        if step.error is not None:
            lines.append(f"      {step.error.type}: {_indented(step.error.message)}")
        elif step.status in ("succeeded", "cached") and step.output is not None:
            lines.append(f"      → {_preview(step.output)}")
        if step.reason:
            lines.append(f"      ({step.reason})")
        for attempt in earlier:
            if attempt.step == step.name and attempt.error and attempt.retry_in_s is not None:
                item = f"[{attempt.item}]" if attempt.item is not None else ""
                lines.append(
                    f"      attempt {attempt.attempt}{item} failed: {attempt.error.type}: "
                    f"{_indented(attempt.error.message)}; retried"
                )
        if debug and step.error is not None and step.error.traceback:
            lines.append(f"      --- traceback ---\n{step.error.traceback.rstrip()}")
    sessions = history.sessions(result.run_id)
    if len(sessions) > 1:
        lines.append("sessions")
        for session in sessions:
            start = f" --from {session.from_step}" if session.from_step else ""
            lines.append(
                f"  {session.session}  {session.kind}{start}  {local_time(session.started_at)}  "
                f"{_duration(session.started_at, session.finished_at)}  {session.status}"
            )
    if result.context:
        lines.append(f"context  {len(result.context)} key{'s' if len(result.context) != 1 else ''}")
    return "\n".join(lines)


def _preview(value: Any, width: int = 70) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    text = text.replace("\n", "\\n")
    return text if len(text) <= width else text[: width - 1] + "…"


def _indented(text: str) -> str:
    return text.replace("\n", "\n        ")
