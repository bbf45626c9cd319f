"""What ``f0 run`` shows while a run goes: a live rich display on a terminal, plain lines otherwise.

Both are event-bus subscribers; nothing else reports progress.
"""

from __future__ import annotations

import threading
import time
from typing import IO, Any

from framework0.durations import format_duration
from framework0.engine.result import RunResult
from framework0.errors import one_line_name
from framework0.events import AttemptFinished, Event, Notice, RunStarted, StepFinished, StepStarted

ICONS = {
    "succeeded": "✓",
    "failed": "✗",
    "skipped": "-",
    "cached": "=",
    "cancelled": "!",
    "pending": "·",
}


def _preview(value: Any, width: int = 60) -> str:
    import json

    text = value if isinstance(value, str) else json.dumps(value, default=str)
    text = text.replace("\n", "\\n")
    return text if len(text) <= width else text[: width - 1] + "…"


class NoticePrinter:
    """Prints the run's notices (``Notice`` events: a store failure, Ctrl-C being handled, a risky
    setting) on ``stream``, one line each, as ``level: text``."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream

    def __call__(self, event: Event) -> None:
        if type(event) is Notice:
            # after Ctrl-C the terminal shows ^C: start a line of its own
            lead = "\n" if event.level == "interrupted" else ""
            self.stream.write(f"{lead}{event.level}: {event.text}\n")
            self.stream.flush()


class PlainProgress:
    """One line per finished step and per retry, for logs and pipes."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.lock = threading.Lock()

    def __call__(self, event: Event) -> None:
        if isinstance(event, StepFinished):
            line = f"{ICONS.get(event.status, '?')} {event.step} {event.status}"
            if event.status in ("succeeded", "failed", "cancelled"):
                line += f" in {format_duration(event.duration_s)}"
            if event.error is not None:
                line += f": {event.error.type}: {event.error.message}"
        elif isinstance(event, AttemptFinished) and event.will_retry_in_s is not None:
            error = f"{event.error.type}: {event.error.message}" if event.error else "failed"
            item = f"[{event.item}]" if event.item is not None else ""
            line = (
                f"↻ {event.step}{item} attempt {event.attempt} {error}; "
                f"retrying in {format_duration(event.will_retry_in_s)}"
            )
        elif isinstance(event, RunStarted):
            name = one_line_name(event.test_id or event.recipe_path or "recipe")
            count = len(event.steps)
            line = f"▶ {name}: {count} step{'' if count == 1 else 's'} (run {event.run_id})"
        else:
            return
        with self.lock:
            self.stream.write(line + "\n")

    def close(self) -> None:
        self.stream.flush()


class LiveProgress:
    """A rich live panel: counts by status, elapsed time and the steps running now."""

    def __init__(self, stream: IO[str], *, force_terminal: bool | None = None) -> None:
        from rich.console import Console
        from rich.live import Live

        self.console = Console(file=stream, force_terminal=force_terminal)
        self.lock = threading.Lock()
        self.total = 0
        self.counts: dict[str, int] = {}
        self.running: dict[str, float] = {}
        self.started = time.monotonic()
        self.title = ""
        self.live = Live(console=self.console, refresh_per_second=8, transient=True, get_renderable=self.render)
        self.live.start()

    def __call__(self, event: Event) -> None:
        with self.lock:
            if isinstance(event, RunStarted):
                self.total = len(event.steps)
                self.title = event.test_id or event.recipe_path or "recipe"
            elif isinstance(event, StepStarted):
                self.running[event.step] = time.monotonic()
            elif isinstance(event, StepFinished):
                self.running.pop(event.step, None)
                self.counts[event.status] = self.counts.get(event.status, 0) + 1
                if event.status == "failed" and event.error is not None:
                    self.live.console.print(
                        f"[red]✗ {event.step}[/red]: {event.error.type}: {event.error.message}", markup=True
                    )
            elif isinstance(event, AttemptFinished) and event.will_retry_in_s is not None:
                error = event.error.message if event.error else "failed"
                self.live.console.print(
                    f"[yellow]↻ {event.step}[/yellow] attempt {event.attempt}: {error}; "
                    f"retrying in {format_duration(event.will_retry_in_s)}",
                    markup=True,
                    highlight=False,
                )

    def render(self) -> Any:
        from rich.table import Table
        from rich.text import Text

        with self.lock:
            done = sum(self.counts.values())
            elapsed = time.monotonic() - self.started
            table = Table.grid(padding=(0, 1))
            counts = "  ".join(
                f"{ICONS[status]} {self.counts[status]} {status}" for status in ICONS if self.counts.get(status)
            )
            table.add_row(
                Text(f"▶ {self.title}", style="bold"),
                Text(f"{done}/{self.total} done"),
                Text(format_duration(elapsed)),
                Text(counts),
            )
            now = time.monotonic()
            for name, since in list(self.running.items())[:8]:
                table.add_row(Text(f"  ⠿ {name}", style="cyan"), Text(f"running {format_duration(now - since)}"))
            if len(self.running) > 8:
                table.add_row(Text(f"  … and {len(self.running) - 8} more running"))
            return table

    def close(self) -> None:
        self.live.stop()


def make_progress(stream: IO[str], *, live: bool) -> PlainProgress | LiveProgress:
    return LiveProgress(stream) if live else PlainProgress(stream)


def print_summary(result: RunResult, stream: IO[str], *, max_steps: int = 30, debug: bool = False) -> None:
    """The run's steps (or, for big runs, the counts and the failures) and its final status."""
    counts: dict[str, int] = {}
    for step in result.steps.values():
        counts[step.status] = counts.get(step.status, 0) + 1
    lines: list[str] = []
    shown = (
        result.steps.values()
        if len(result.steps) <= max_steps
        else [step for step in result.steps.values() if step.status == "failed"]
    )
    width = max((len(step.name) for step in shown), default=0)
    for step in shown:
        duration = format_duration(step.duration_s) if step.duration_s is not None else ""
        detail = ""
        if step.error is not None:
            detail = f"{step.error.type}: {step.error.message}"
        elif step.status in ("succeeded", "cached") and step.output is not None:
            detail = f"→ {_preview(step.output)}"
        elif step.reason:
            detail = step.reason
        retries = f" ({step.attempts} attempts)" if step.attempts > 1 else ""
        lines.append(f"  {ICONS.get(step.status, '?')} {step.name:<{width}}  {duration:>7}{retries}  {detail}".rstrip())
    name = one_line_name(result.test_id or result.recipe_path or "recipe")
    tally = ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "no steps"
    took = format_duration(result.session_duration_s)
    if result.session_started_at is not None and result.session_started_at > result.started_at:
        took += f" this session, {format_duration(result.duration_s)} since the run first started"
    lines.append(f"{name} {result.status} in {took}: {tally} (run {result.run_id})")
    if result.error is not None and result.status != "succeeded":
        lines.append(f"  {result.error.message}")
    if debug:
        for step in result.steps.values():
            if step.error is not None and step.error.traceback:
                lines.append(f"--- traceback of step {step.name!r} ---\n{step.error.traceback.rstrip()}")
    stream.write("\n".join(lines) + "\n")
    stream.flush()
