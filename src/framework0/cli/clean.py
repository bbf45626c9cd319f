"""``f0 clean --older-than AGE``: delete old runs with everything recorded of them, reclaim the space."""

from __future__ import annotations

import sys
import time
from typing import NamedTuple

import click

from framework0.cli.options import command_config, debug_option, store_option
from framework0.cli.output import size_text
from framework0.cli.runs import RUN_STATUSES, local_time, parse_moment, recipe_name


class OldRun(NamedTuple):
    """A run as ``f0 clean`` weighs it."""

    run_id: str
    test_id: str | None
    recipe_path: str | None
    status: str
    started_at: float
    node: str
    pid: int


#: the tables whose rows are counted, in the order they are reported
TABLES = ("runs", "sessions", "steps", "attempts", "logs", "context_versions", "context_snapshots", "cache")


@click.command()
@click.option(
    "--older-than",
    "older_than",
    required=True,
    metavar="AGE|DATE",
    help="Delete runs started more than AGE ago (30d, 12h, 2w) or before DATE (2026-01-31).",
)
@click.option("--status", type=click.Choice(RUN_STATUSES), help="Only runs with this status.")
@click.option("--dry-run", is_flag=True, help="List the runs that would be deleted; delete nothing.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation (needed when not on a terminal).")
@store_option
@debug_option
def clean(older_than: str, status: str | None, dry_run: bool, yes: bool, store: str | None, debug: bool) -> None:
    """Delete runs started before a moment, with their steps, attempts, logs, context history,
    sessions and cache entries, then give the space back (VACUUM on SQLite). A run that is still
    running is never deleted; one whose runner died is.

    \b
    Examples:
      f0 clean --older-than 30d --dry-run
      f0 clean --older-than 30d --status failed --yes
      f0 clean --older-than 2026-01-01 --store postgresql://f0@db/runs --yes
    """
    from framework0.engine.history import ALIVE, ELSEWHERE, runner_state
    from framework0.errors import UsageError
    from framework0.store import open_store

    before = parse_moment(older_than, option="--older-than", now=time.time())
    # Cleaning writes: it works on the store itself, not through the read-only framework0.history.
    config = command_config(store)
    if config.store is None:
        given = "F0_STORE=none" if config.source("store") == "F0_STORE" else "--store none"
        raise UsageError(f"{given} keeps runs in memory only: there is no store to clean; pass --store URL")
    opened = open_store(config.store, create=False, origin=config.source("store"))
    try:
        old = [OldRun(**row) for row in opened.runs_started_before(before, status=status)]
        states = {run.run_id: runner_state(run._asdict()) for run in old}
        doomed = [run for run in old if states[run.run_id] not in (ALIVE, ELSEWHERE)]
        alive = [run for run in old if states[run.run_id] == ALIVE]
        elsewhere = [run for run in old if states[run.run_id] == ELSEWHERE]
        which = f"started before {local_time(before)}" + (f" with status {status}" if status else "")
        if dry_run:
            click.echo(f"would remove {_count(len(doomed), 'run')} {which}" + (":" if doomed else ""))
            _list(doomed)
        elif not doomed:
            click.echo(f"nothing to remove: no run {which}")
        else:
            if not yes:
                if not sys.stdin.isatty():
                    raise UsageError(
                        f"f0 clean would delete {_count(len(doomed), 'run')} {which}; "
                        "add --yes to confirm, or --dry-run to list them"
                    )
                click.confirm(f"Delete {_count(len(doomed), 'run')} {which}?", abort=True)
            size_before = opened.file_size() if opened.dialect == "sqlite" else None
            counts = opened.delete_runs([run.run_id for run in doomed])
            opened.vacuum()
            opened.close()  # the last connection out checkpoints the WAL into the file, so sizes are final
            rows = sum(counts.get(table, 0) for table in TABLES)
            detail = ", ".join(f"{table} {counts[table]}" for table in TABLES if counts.get(table))
            click.echo(f"removed {_count(len(doomed), 'run')} {which}: {_count(rows, 'row')} ({detail})")
            recorded = f"{size_text(counts['bytes'])} of recorded data"
            size_after = opened.file_size() if size_before is not None else None
            if size_before is not None and size_after is not None:
                click.echo(
                    f"freed {size_text(max(0, size_before - size_after))} on disk: the store's file went from "
                    f"{size_text(size_before)} to {size_text(size_after)} ({recorded})"
                )
            else:
                click.echo(f"freed {recorded} (the database reuses the space)")
        for run in alive:
            click.echo(f"kept run {run.run_id}: it is still running (process {run.pid} on this machine)")
        for run in elsewhere:
            click.echo(
                f"kept run {run.run_id}: it is marked running on {run.node!r}, which cannot be checked from here"
            )
    finally:
        opened.close()


def _list(runs: list[OldRun]) -> None:
    """The runs as aligned columns: id, recipe, status, start."""
    rows = [(run.run_id, recipe_name(run.test_id, run.recipe_path), run.status) for run in runs]
    widths = [max((len(row[column]) for row in rows), default=0) for column in range(3)]
    for row, run in zip(rows, runs, strict=True):
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=True)]
        click.echo(f"  {'  '.join(cells)}  {local_time(run.started_at)}")


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"
