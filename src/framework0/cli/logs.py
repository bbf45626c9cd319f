"""``f0 logs RUN [STEP]``: what a run's steps printed and logged, from the store; ``--follow`` live."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Mapping
from typing import IO, TYPE_CHECKING, Any

import click

from framework0.cli.options import debug_option, store_option

if TYPE_CHECKING:
    from framework0.store.database import Store

STREAMS = ("stdout", "stderr", "log", "framework")
POLL_EVERY = 0.2  # seconds between looks at the store under --follow
PAGE = 5000  # rows read at a time


@click.command()
@click.argument("run_id", metavar="RUN")
@click.argument("step", required=False)
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines until the run ends.")
@click.option(
    "--stream",
    type=click.Choice(STREAMS),
    help="Only this stream: stdout, stderr, log (logging records) or framework (notes from Framework0).",
)
@store_option
@debug_option
def logs(run_id: str, step: str | None, follow: bool, stream: str | None, store: str | None, debug: bool) -> None:
    """Print the lines RUN's steps wrote (or only STEP's): print output, stderr and logging.

    Each line starts with its step, the foreach item in brackets and the attempt when the step
    was retried, and the stream unless it is stdout: `fetch[2] #1 stderr | text`.

    \b
    Examples:
      f0 logs 3f2a9c
      f0 logs 3f2a9c fetch --stream stderr
      f0 logs 3f2a9c --follow
    Exit status: 0 printed, 2 no such run or step, 130 interrupted.
    """
    from framework0.store import open_store

    opened = open_store(store, create=False)
    try:
        run = opened.find_run(run_id)
        if step is not None:
            check_step(step, [row["name"] for row in opened.steps(run["run_id"])])
        show = Printer(sys.stdout, stream, retried_steps(opened, run["run_id"], step))
        try:
            last = print_stored(opened, run["run_id"], step, show)
            if follow:
                follow_run(opened, run["run_id"], step, show, last)
        except KeyboardInterrupt:
            sys.exit(130)
    finally:
        opened.close()


def check_step(step: str, names: list[str]) -> None:
    from framework0.errors import UsageError, did_you_mean

    if step not in names:
        raise UsageError(f"the run has no step {step!r}{did_you_mean(step, names)}")


def retried_steps(store: Store, run_id: str, step: str | None) -> set[str]:
    """Steps with more than one attempt so far: their lines show the attempt number."""
    return {row["step"] for row in store.attempts(run_id, step) if row["attempt"] > 1}


def print_stored(store: Store, run_id: str, step: str | None, show: Printer, after: int = 0) -> int:
    """Print the lines stored after id ``after``, a page at a time; the last id printed."""
    while rows := store.logs(run_id, step, after=after, limit=PAGE):
        show(rows)
        after = rows[-1]["id"]
    return after


def follow_run(store: Store, run_id: str, step: str | None, show: Printer, last: int) -> None:
    """Print lines as the store receives them until the run has ended and all of them are printed."""
    from framework0.engine.history import ALIVE, ELSEWHERE, GONE, runner_state

    while True:
        state = runner_state(store.find_run(run_id))  # before reading: lines of an ended run are all stored
        printed = print_stored(store, run_id, step, show, last)
        if printed != last:
            last = printed
            continue
        if state == GONE:
            click.echo(f"note: the process running run {run_id} is gone; f0 resume {run_id} continues it", err=True)
        if state not in (ALIVE, ELSEWHERE):
            return
        time.sleep(POLL_EVERY)


class Printer:
    """Writes stored log rows as lines: ``step[item] #attempt stream | text``."""

    def __init__(self, out: IO[str], stream: str | None, retried: set[str]) -> None:
        self.out = out
        self.stream = stream
        self.retried = retried

    def __call__(self, rows: Iterable[Mapping[str, Any]]) -> None:
        for row in rows:
            if self.stream is not None and row["stream"] != self.stream:
                continue
            prefix = self.prefix(row)
            self.out.write("".join(f"{prefix} | {line}\n" for line in row["text"].split("\n")))
        self.out.flush()

    def prefix(self, row: Mapping[str, Any]) -> str:
        from framework0.store.schema_values import NO_ITEM

        name = row["step"] or "(run)"
        if row["item"] != NO_ITEM:
            name += f"[{row['item']}]"
        if row["attempt"] > 1:
            self.retried.add(row["step"])
        if row["step"] in self.retried:
            name += f" #{row['attempt']}"
        if row["stream"] != "stdout":
            name += f" {row['stream']}"
        return name
