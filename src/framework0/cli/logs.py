"""``f0 logs RUN [STEP]``: what a run's steps printed and logged, from the store; ``--follow`` live."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable
from typing import IO, TYPE_CHECKING

import click

from framework0.cli.options import command_config, debug_option, store_option

if TYPE_CHECKING:
    from framework0.history import History, LogLine

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
    import framework0.history

    with framework0.history.open(config=command_config(store)) as history:
        found = history.run(run_id).run_id
        if step is not None:
            check_step(step, [record.name for record in history.steps(found)])
        show = Printer(sys.stdout, stream, retried_steps(history, found, step))
        try:
            last = print_stored(history, found, step, show)
            if follow:
                follow_run(history, found, step, show, last)
        except KeyboardInterrupt:
            sys.exit(130)


def check_step(step: str, names: list[str]) -> None:
    from framework0.errors import UsageError, did_you_mean

    if step not in names:
        raise UsageError(f"the run has no step {step!r}{did_you_mean(step, names)}")


def retried_steps(history: History, run_id: str, step: str | None) -> set[str | None]:
    """Steps with more than one attempt so far: their lines show the attempt number."""
    return {attempt.step for attempt in history.attempts(run_id, step) if attempt.attempt > 1}


def print_stored(history: History, run_id: str, step: str | None, show: Printer, after: int = 0) -> int:
    """Print the lines stored after id ``after``, a page at a time; the last id printed."""
    while lines := history.logs(run_id, step, after=after, limit=PAGE):
        show(lines)
        after = lines[-1].id
    return after


def follow_run(history: History, run_id: str, step: str | None, show: Printer, last: int) -> None:
    """Print lines as the store receives them until the run has ended and all of them are printed."""
    while True:
        state = history.run(run_id).runner_state()  # before reading: lines of an ended run are all stored
        printed = print_stored(history, run_id, step, show, last)
        if printed != last:
            last = printed
            continue
        if state == "gone":
            click.echo(f"note: the process running run {run_id} is gone; f0 resume {run_id} continues it", err=True)
        if state not in ("alive", "elsewhere"):
            return
        time.sleep(POLL_EVERY)


class Printer:
    """Writes stored log lines as lines: ``step[item] #attempt stream | text``."""

    def __init__(self, out: IO[str], stream: str | None, retried: set[str | None]) -> None:
        self.out = out
        self.stream = stream
        self.retried = retried

    def __call__(self, lines: Iterable[LogLine]) -> None:
        for line in lines:
            if self.stream is not None and line.stream != self.stream:
                continue
            prefix = self.prefix(line)
            self.out.write("".join(f"{prefix} | {text}\n" for text in line.text.split("\n")))
        self.out.flush()

    def prefix(self, line: LogLine) -> str:
        name = line.step or "(run)"
        if line.item is not None:
            name += f"[{line.item}]"
        if line.attempt > 1:
            self.retried.add(line.step)
        if line.step in self.retried:
            name += f" #{line.attempt}"
        if line.stream != "stdout":
            name += f" {line.stream}"
        return name
