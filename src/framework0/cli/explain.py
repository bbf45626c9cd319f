"""``f0 explain RUN STEP``: why a step ran, was skipped, was cached or ran again."""

from __future__ import annotations

import click

from framework0.cli.options import command_config, debug_option, store_option


@click.command()
@click.argument("run_id", metavar="RUN")
@click.argument("step")
@store_option
@debug_option
def explain(run_id: str, step: str, store: str | None, debug: bool) -> None:
    """Say why STEP of run RUN ran, was skipped, was cached or ran again, and for a cache: true step
    that ran, which of its inputs changed: code, an arg, or an upstream step's output.

    \b
    Examples:
      f0 explain 3fa2c1 transform
    """
    import framework0.history

    with framework0.history.open(config=command_config(store)) as history:
        lines = history.explain(run_id, step)
    for line in lines:
        click.echo(line)
