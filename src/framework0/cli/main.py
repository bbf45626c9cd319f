"""The ``f0`` command: a lazy group of subcommands, one module each, and one error handler.

Subcommands are imported only when invoked, so ``f0 run`` pays for nothing it does not use.
Intentional errors print one line each and exit with their class's code; ``--debug`` (or
``F0_DEBUG=1``) adds the traceback. Anything unexpected says so and how to see more.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

import click

from framework0.cli.options import DEBUG_KEY, debug_option

COMMANDS: dict[str, str] = {
    "analyze": "framework0.cli.analyze:analyze",
    "bench": "framework0.cli.bench:bench",
    "clean": "framework0.cli.clean:clean",
    "context": "framework0.cli.context:context",
    "explain": "framework0.cli.explain:explain",
    "graph": "framework0.cli.graph:graph",
    "init": "framework0.cli.init:init",
    "isolate": "framework0.cli.isolate:isolate",
    "logs": "framework0.cli.logs:logs",
    "report": "framework0.cli.report:report",
    "resume": "framework0.cli.resume:resume",
    "run": "framework0.cli.run:run",
    "runs": "framework0.cli.runs:runs",
    "schema": "framework0.cli.schema:schema",
    "serve": "framework0.cli.serve:serve",
    "scriptlets": "framework0.cli.scriptlets:scriptlets",
    "validate": "framework0.cli.validate:validate",
}
SUMMARIES: dict[str, str] = {
    "analyze": "Find regressions, change points, anomalies and flaky steps in the run history.",
    "bench": "Run a recipe N times; compare its timings with a saved baseline (a CI gate).",
    "clean": "Delete old runs, their logs and context history.",
    "context": "Show a run's context at any version, its history, or a diff.",
    "explain": "Say why a step ran, was skipped, was cached or ran again.",
    "graph": "Draw the DAG of a recipe (mermaid, dot, svg or html).",
    "init": "Create a starter recipe and scriptlet.",
    "isolate": "Pack a recipe and what it needs into one verifiable archive.",
    "logs": "Show the output and log lines of a run's steps.",
    "report": "Write one self-contained HTML report of a run.",
    "resume": "Continue a failed or interrupted run under the same id.",
    "run": "Run a recipe.",
    "runs": "List recorded runs, or show one.",
    "schema": "Print the recipe JSON Schema, for editors.",
    "serve": "Serve the dashboard, shared contexts and runs (HTTP, WebSocket).",
    "scriptlets": "List and describe the scriptlets recipes can use.",
    "validate": "Check recipes; report every error as FILE:LINE:COL.",
}


#: the status a shell reports for a program that SIGPIPE stopped (128 + 13)
EXIT_BROKEN_PIPE = 141


def stdout_gone() -> None:
    """Point standard output at the null device: the reader has gone, and what is still buffered
    (flushed again at exit) must not fail once more."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # no file descriptor (a test's captured stream)
        pass


def debug_enabled(ctx: click.Context | None = None) -> bool:
    """``--debug`` anywhere on the command line, or ``F0_DEBUG=1``."""
    if os.environ.get("F0_DEBUG", "") not in ("", "0"):
        return True
    return ctx is not None and bool(ctx.meta.get(DEBUG_KEY))


class LazyGroup(click.Group):
    """Imports a subcommand's module only when that subcommand runs (or its help is shown)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module, _, attr = target.partition(":")
        command: click.Command = getattr(importlib.import_module(module), attr)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, SUMMARIES[name]) for name in sorted(COMMANDS)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def invoke(self, ctx: click.Context) -> Any:
        from framework0.errors import Framework0Error, RecipeError

        try:
            done = super().invoke(ctx)
            sys.stdout.flush()  # now, so that a reader gone is noticed here (below)
            return done
        except Framework0Error as error:
            if debug_enabled(ctx):
                import traceback

                traceback.print_exc()
            if isinstance(error, RecipeError):
                for diagnostic in error.diagnostics:
                    click.echo(str(diagnostic), err=True)
                count = len(error.diagnostics)
                click.echo(f"{count} error{'s' if count != 1 else ''}; nothing was run", err=True)
            else:
                click.echo(f"error: {error}", err=True)
            sys.exit(error.exit_code)
        except (click.exceptions.Exit, click.ClickException, click.Abort, SystemExit):
            raise
        except BrokenPipeError:  # f0 ... | head: the reader has gone; stop quietly, as Unix tools do
            stdout_gone()
            sys.exit(EXIT_BROKEN_PIPE)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)
        except Exception as error:
            if debug_enabled(ctx):
                import traceback

                traceback.print_exc()
            click.echo(f"internal error: {type(error).__name__}: {error} (run with --debug for details)", err=True)
            sys.exit(1)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="framework0", prog_name="f0")
@debug_option
def cli(debug: bool) -> None:
    """Framework0: run YAML recipes of Python scriptlets as a parallel DAG.

    \b
    Example:
      f0 run examples/quickstart.yaml
    """


def main() -> None:
    """The console entry point of ``f0``, ``framework0`` and ``python -m framework0``."""
    for stream in (sys.stdout, sys.stderr):
        # A console that cannot show ✓ or → (Windows cp1252) gets a replacement, not a crash.
        if hasattr(stream, "reconfigure") and (stream.encoding or "").lower().replace("-", "") != "utf8":
            stream.reconfigure(errors="replace")
    try:
        cli(prog_name="f0")
    finally:
        # A command that exits with a status of its own (f0 run: the run's) keeps it when its reader
        # has gone; flushing here, not at exit, keeps Python from printing a traceback about it.
        try:
            sys.stdout.flush()
        except BrokenPipeError:
            stdout_gone()
        except (OSError, ValueError, AttributeError):
            pass
