"""``f0 analyze``: what the run history says, per recipe and per step, with findings and exports."""

from __future__ import annotations

import sys
import time

import click

from framework0.cli.options import command_config, debug_option, store_option

FORMATS = ("text", "json", "csv", "xlsx", "html")
TABLES = ("recipes", "steps", "findings")
DEFAULT_SINCE = "30d"


@click.command()
@click.argument("recipe", required=False, metavar="[RECIPE]")
@click.option(
    "--since",
    default=DEFAULT_SINCE,
    show_default=True,
    metavar="AGE|DATE",
    help="Only runs started in the last AGE (30d, 12h, 2w) or since DATE (2026-01-31).",
)
@click.option("--step", metavar="NAME", help="Only this step (the whole-run figures stay).")
@click.option("--format", "output_format", type=click.Choice(FORMATS), default="text", show_default=True)
@click.option(
    "--table",
    type=click.Choice(TABLES),
    default="steps",
    show_default=True,
    help="With --format csv: the table to write (xlsx has a sheet for each).",
)
@click.option(
    "--threshold",
    type=click.FloatRange(min=0, min_open=True),
    default=0.2,
    show_default=True,
    help="The smallest relative change reported as a finding (0.2: 20% slower or faster).",
)
@click.option(
    "--recent",
    type=click.IntRange(min=5),
    help="Compare this many newest runs with the ones before (at least 5, and 8 before them; "
    "default: a fifth of the runs, 5 to 20).",
)
@click.option("-o", "--output", metavar="FILE", help="Write to FILE instead of standard output (xlsx needs it).")
@store_option
@debug_option
def analyze(
    recipe: str | None,
    since: str,
    step: str | None,
    output_format: str,
    table: str,
    threshold: float,
    recent: int | None,
    output: str | None,
    store: str | None,
    debug: bool,
) -> None:
    """Figures and findings over the run history: per recipe and per step, runs, success rate,
    duration p50/p95 and trend, CPU, peak memory, retries and cache hits; then regressions, change
    points, anomalies and flaky steps, most important first, each with its runs and its test.

    RECIPE is a test id or the end of a recipe's path; without it, every recipe in the store.

    \b
    Examples:
      f0 analyze
      f0 analyze ETL-001 --since 7d
      f0 analyze etl.yaml --step load --format json
      f0 analyze --format xlsx -o history.xlsx
      f0 analyze --format html -o analysis.html
    """
    import framework0.history
    from framework0.cli.runs import parse_moment
    from framework0.errors import UsageError

    if output_format == "xlsx" and output is None:
        raise UsageError("--format xlsx writes a workbook: give its file with -o FILE, e.g. -o history.xlsx")
    try:
        from framework0.analysis.analyze import analyze as analyze_runs
        from framework0.analysis.export import to_csv, to_json, to_text, to_xlsx
        from framework0.analysis.findings import Settings
    except ImportError as error:
        raise UsageError(f"f0 analyze needs {error.name}: pip install 'framework0[analysis]'") from error

    name = recipe.removeprefix("./") if recipe else None
    since_at = parse_moment(since, option="--since", now=time.time())
    with framework0.history.open(config=command_config(store)) as history:
        runs = history.list_runs(recipe=name, since=since_at, step_counts=False)
        steps = history.step_runs(recipe=name, since=since_at, step=step)
        if step is not None and runs and not steps:
            known = sorted({record.name for record in history.step_runs(recipe=name, since=since_at)})
            from framework0.errors import did_you_mean

            raise UsageError(
                f"no step {step!r} in these runs{did_you_mean(step, known)}"
                + (f"; their steps: {', '.join(known[:20])}" if known else "")
            )
    if not runs:
        which = f" of {recipe!r}" if recipe else ""
        click.echo(f"no runs{which} started since {since} in the store; f0 runs list shows the recorded runs", err=True)
        if output_format == "text" and output is None:
            return
    analysis = analyze_runs(runs, steps, Settings(threshold=threshold, recent=recent))
    document: str | bytes
    if output_format == "json":
        document = to_json(analysis) + "\n"
    elif output_format == "csv":
        document = to_csv(analysis, table)
    elif output_format == "xlsx":
        document = to_xlsx(analysis)
    elif output_format == "html":
        from framework0.viz.analysis_page import render_analysis

        document = render_analysis(analysis, runs)
    else:
        document = to_text(analysis)
    if output is None:
        assert isinstance(document, str)
        sys.stdout.write(document)
        return
    from framework0.cli.output import size_text, write_output

    example = {
        "text": "analysis.txt",
        "json": "analysis.json",
        "csv": "steps.csv",
        "xlsx": "history.xlsx",
        "html": "analysis.html",
    }
    written = write_output(output, document, example=example[output_format])
    size = len(document.encode() if isinstance(document, str) else document)
    click.echo(f"wrote {written} ({size_text(size)}): {len(analysis.findings)} findings over {analysis.runs} runs")
