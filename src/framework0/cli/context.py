"""``f0 context show|history|diff``: a stored run's context at any version, its changes, and diffs."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple

import click

from framework0.cli.options import command_config, debug_option, store_option

if TYPE_CHECKING:
    from framework0.context.changes import Change, ChangeSource
    from framework0.history import ContextVersion, History

_PREVIEW = 60


class Side(NamedTuple):
    """One side of a diff: a run (an id or a unique start of one) and a version (None: the newest)."""

    run: str
    version: int | None


def parse_side(text: str, run: str | None = None) -> Side:
    """``RUN``, ``RUN@V``, or with ``run`` given (``--run``) also a plain version ``V`` or ``@V``."""
    from framework0.errors import UsageError

    name, at, version_text = text.rpartition("@")
    if not at:
        if run is not None and text.isdigit():
            return Side(run, int(text))
        return Side(text, None)
    if not name:
        if run is None:
            raise UsageError(f"{text!r} names no run: write RUN@{version_text}, or give the run with --run RUN")
        name = run
    try:
        version = int(version_text)
    except ValueError:
        raise UsageError(
            f"{text!r}: after @ comes a context version number, as in {name}@7 (f0 context history {name})"
        ) from None
    return Side(name, version)


def value_text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def preview(value: Any, width: int = _PREVIEW) -> str:
    text = value_text(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def local_time(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def source_text(source: ChangeSource) -> str:
    """``step#attempt``, ``step[item]#attempt`` for a foreach item, ``-`` outside any step."""
    if source.step is None:
        return "-"
    item = f"[{source.item}]" if source.item is not None else ""
    attempt = f"#{source.attempt}" if source.attempt else ""
    return f"{source.step}{item}{attempt}"


def history_lines(changes: list[Change]) -> list[str]:
    """One line per change: version, local time, step and attempt, key, old -> new."""
    if not changes:
        return []
    version_width = max(len(str(change.version)) for change in changes) + 1
    source_width = max(len(source_text(change.source)) for change in changes)
    key_width = max(len(change.key) for change in changes)
    lines = []
    for change in changes:
        new = "(deleted)" if change.op == "delete" else preview(change.new)
        lines.append(
            f"{'v' + str(change.version):<{version_width}}  {local_time(change.at)}  "
            f"{source_text(change.source):<{source_width}}  {change.key:<{key_width}}  {preview(change.old)} → {new}"
        )
    return lines


def _open(store: str | None) -> History:
    import framework0.history

    return framework0.history.open(config=command_config(store))


@click.group()
def context() -> None:
    """A recorded run's context: at any version, its history of changes, or a diff.

    Every atomic change of the context is a new version (1, 2, ...; version 0 is the empty context
    a run starts with). RUN is a run id from f0 runs list, or a unique start of one (4 characters or more).

    \b
    Examples:
      f0 context show 3fa2c1
      f0 context show 3fa2c1 --at 7 --json
      f0 context history 3fa2c1 db.host
      f0 context diff 3fa2c1@3 3fa2c1@7
      f0 context diff 3fa2c1 9b8e07
    """


@context.command("show", short_help="A run's context at a version, as KEY = VALUE lines.")
@click.argument("run_id", metavar="RUN")
@click.option("--at", "version", type=int, metavar="VERSION", help="The context at this version (default: the last).")
@click.option("--json", "as_json", is_flag=True, help="Print the run id, version and context as JSON.")
@store_option
@debug_option
def show_command(run_id: str, version: int | None, as_json: bool, store: str | None, debug: bool) -> None:
    """The context of run RUN: one KEY = VALUE line per key (values as JSON), sorted by key.

    RUN@VERSION is the same as --at VERSION.

    \b
    Examples:
      f0 context show 3fa2c1
      f0 context show 3fa2c1 --at 7
      f0 context show 3fa2c1@7 --json
    """
    from framework0.errors import UsageError

    side = parse_side(run_id)
    if side.version is not None and version is not None:
        raise UsageError(f"give the version once: {run_id} or --at {version}, not both")
    with _open(store) as history:
        found = history.context(side.run, version if version is not None else side.version)
    data = found.data
    if as_json:
        document = {"run_id": found.run_id, "version": found.version, "latest": found.latest, "context": data}
        click.echo(json.dumps(document, indent=2))
        return
    click.echo(f"run {found.run_id}, context version {found.version} of {found.latest}: {_keys(len(data))}", err=True)
    for key in sorted(data):
        click.echo(f"{key} = {value_text(data[key])}")


@context.command("history", short_help="The changes of a run's context, with old and new values.")
@click.argument("run_id", metavar="RUN")
@click.argument("key", required=False)
@click.option("--since", type=int, default=0, metavar="VERSION", help="Only changes after this version.")
@click.option("--json", "as_json", is_flag=True, help="Print the changes as JSON.")
@store_option
@debug_option
def history_command(run_id: str, key: str | None, since: int, as_json: bool, store: str | None, debug: bool) -> None:
    """The changes of run RUN's context, oldest first (only KEY's when given): version, time, the
    step and attempt that made it (step[item]#attempt; - outside any step), key, old → new.

    \b
    Examples:
      f0 context history 3fa2c1
      f0 context history 3fa2c1 db.host
      f0 context history 3fa2c1 --since 40 --json
    """
    with _open(store) as history:
        run = history.run(run_id)
        changes = history.context_history(run.run_id, key, since=since)
    if as_json:
        document = {
            "run_id": run.run_id,
            "key": key,
            "since": since,
            "latest": run.context_version,
            "changes": [change.to_dict() for change in changes],
        }
        click.echo(json.dumps(document, indent=2))
        return
    if not changes:
        about = f" to {key!r}" if key is not None else ""
        after = f" after version {since}" if since else ""
        click.echo(f"run {run.run_id}: no context changes{about}{after}", err=True)
        return
    for line in history_lines(changes):
        click.echo(line)


@context.command("diff", short_help="What differs between two versions, or two runs.")
@click.argument("first", metavar="A")
@click.argument("second", metavar="B")
@click.option("--run", "run_id", metavar="RUN", help="The run of A and B when they are plain version numbers.")
@click.option("--json", "as_json", is_flag=True, help="Print the differences as JSON.")
@store_option
@debug_option
def diff_command(first: str, second: str, run_id: str | None, as_json: bool, store: str | None, debug: bool) -> None:
    """What differs from context A to context B: keys added (+), removed (-) and changed (~).

    A and B are each RUN (its last version) or RUN@VERSION. With --run RUN they may also be
    plain version numbers of that run. The exit status is 0 whether or not they differ.

    \b
    Examples:
      f0 context diff 3fa2c1@3 3fa2c1@7      # two versions of one run
      f0 context diff --run 3fa2c1 3 7       # the same
      f0 context diff 3fa2c1 9b8e07          # the final contexts of two runs
      f0 context diff 3fa2c1@0 3fa2c1 --json # everything the run wrote
    """
    from framework0.errors import RunNotFound

    sides = [parse_side(first, run_id), parse_side(second, run_id)]
    with _open(store) as history:
        resolved: list[ContextVersion] = []
        for given, side in zip((first, second), sides, strict=True):
            try:
                resolved.append(history.context(side.run, side.version))
            except RunNotFound as error:
                if run_id is None and given.isdigit():
                    raise RunNotFound(
                        f"{error}; to compare versions of one run: f0 context diff RUN@{first} RUN@{second}, "
                        f"or f0 context diff --run RUN {first} {second}"
                    ) from None
                raise
        found = history.context_diff(*resolved)
    if as_json:
        click.echo(json.dumps(found.to_dict(), indent=2))
        return
    click.echo(f"--- {found.a.run_id}@{found.a.version}")
    click.echo(f"+++ {found.b.run_id}@{found.b.version}")
    for key, value in found.added.items():
        click.echo(f"+ {key} = {value_text(value)}")
    for key, value in found.removed.items():
        click.echo(f"- {key} = {value_text(value)}")
    for key, (old, new) in found.changed.items():
        click.echo(f"~ {key}: {value_text(old)} → {value_text(new)}")
    click.echo(_summary(found.added, found.removed, found.changed, total=len(found.b.data)))


def _keys(count: int) -> str:
    return f"{count} key{'s' if count != 1 else ''}"


def _summary(added: Mapping[str, Any], removed: Mapping[str, Any], changed: Mapping[str, Any], *, total: int) -> str:
    count = len(added) + len(removed) + len(changed)
    if not count:
        return f"no differences ({_keys(total)})"
    parts = [f"{len(added)} added", f"{len(removed)} removed", f"{len(changed)} changed"]
    return f"{_keys(count)} differ{'s' if count == 1 else ''}: {', '.join(parts)}"
