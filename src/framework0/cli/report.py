"""``f0 report RUN -o report.html``: one self-contained HTML file of a recorded run."""

from __future__ import annotations

import click

from framework0.cli.options import command_config, debug_option, store_option


@click.command()
@click.argument("run_id", metavar="RUN")
@click.option(
    "-o",
    "--output",
    "output",
    metavar="FILE",
    type=click.Path(),
    required=True,
    help="The HTML file to write (it opens from disk, offline).",
)
@store_option
@debug_option
def report(run_id: str, output: str, store: str | None, debug: bool) -> None:
    """Write one self-contained HTML file of run RUN: its graph coloured by step status, the
    timeline of attempts, the step table with outputs and resource figures, logs and the context
    with its history. Nothing is fetched when it opens: send it to anyone.

    \b
    Examples:
      f0 report 3fa2c1 -o report.html
      f0 report 3fa2c1 -o /tmp/run.html --store postgresql://ci-db/framework0
    """
    import framework0.history
    from framework0.cli.output import size_text, write_output
    from framework0.viz.pages import render_report
    from framework0.viz.run_view import run_view

    with framework0.history.open(config=command_config(store)) as history:
        view = run_view(history, run_id)
    written = write_output(output, render_report(view))
    count = len(view["steps"])
    click.echo(
        f"wrote {written} ({size_text(written.stat().st_size)}): run {view['run']['run_id']}, "
        f"{count} step{'' if count == 1 else 's'}"
    )
