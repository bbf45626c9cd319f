"""``f0 bench``: run a recipe N times, report its timings, and compare them with a saved baseline: a
performance gate for CI (exit 1 when a step got significantly slower past the threshold)."""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from framework0.cli.options import PathArgument, command_config, debug_option, store_option

if TYPE_CHECKING:
    from framework0.analysis.bench import BenchReport, Samples
    from framework0.config import Config
    from framework0.history import Baseline
    from framework0.recipe.model import Recipe

#: exit status when a step got slower than the baseline (as a failed run's)
EXIT_REGRESSION = 1
#: the longest baseline name (the store's column)
MAX_NAME = 200


@click.command()
@click.argument("recipe", type=PathArgument("a recipe file"))
@click.option("-n", "--runs", type=click.IntRange(min=2), default=10, show_default=True, help="Runs measured.")
@click.option(
    "--warmup", type=click.IntRange(min=0), default=1, show_default=True, help="Runs before those, not measured."
)
@click.option("--save-baseline", metavar="NAME", help="Keep these timings in the store as baseline NAME.")
@click.option("--baseline", metavar="NAME", help="Compare with the saved baseline NAME; exit 1 on a regression.")
@click.option(
    "--threshold",
    type=click.FloatRange(min=0, min_open=True),
    default=0.1,
    show_default=True,
    help="The smallest slowdown that fails the gate (0.1: 10% slower), when it is also significant.",
)
@click.option("-p", "--param", "params", multiple=True, metavar="KEY=VALUE", help="Override a param; repeatable.")
@click.option(
    "--executor",
    type=click.Choice(["local", "process", "dask"]),
    default="local",
    show_default=True,
    help="Where steps run: threads (local), worker processes (process) or a Dask cluster (dask).",
)
@click.option("--max-parallel", type=click.IntRange(min=1), help="At most this many steps at once.")
@click.option("--json", "as_json", is_flag=True, help="Print the timings and the comparison as JSON.")
@store_option
@debug_option
def bench(
    recipe: str,
    runs: int,
    warmup: int,
    save_baseline: str | None,
    baseline: str | None,
    threshold: float,
    params: tuple[str, ...],
    executor: str,
    max_parallel: int | None,
    as_json: bool,
    store: str | None,
    debug: bool,
) -> None:
    """Run RECIPE --runs times (after --warmup runs) and report each step's and the whole run's
    median and spread. With --baseline NAME, compare with a baseline saved earlier with
    --save-baseline NAME: per step the change of the median with a 95% bootstrap interval and
    Mann-Whitney U (adjusted over the steps), and exit 1 when a step got slower by --threshold or
    more. Each run is recorded in the store like any run; cached outputs are not used.

    \b
    Examples:
      f0 bench etl.yaml -n 20 --save-baseline main
      f0 bench etl.yaml -n 20 --baseline main --threshold 0.15
      f0 bench etl.yaml -n 5 -p region=eu --json
    Exit status: 0 no regression, 1 a step got slower (or a run failed), 2 bad input.
    """
    from framework0.errors import UsageError
    from framework0.recipe.loader import load_recipe
    from framework0.recipe.params import parse_assignments

    for option, name in (("--save-baseline", save_baseline), ("--baseline", baseline)):
        if name is not None and not 0 < len(name) <= MAX_NAME:
            raise UsageError(f"{option} needs a name of 1 to {MAX_NAME} characters, got {len(name)}")
    if save_baseline and baseline:
        raise UsageError("give --save-baseline NAME or --baseline NAME, not both: save one run, compare the next")
    try:
        from framework0.analysis.bench import Samples, report
    except ImportError as error:
        raise UsageError(f"f0 bench needs {error.name}: pip install 'framework0[analysis]'") from error
    config = command_config(store, executor=executor, max_parallel=max_parallel, use_cache=False)
    if (save_baseline or baseline) and config.store is None:
        raise UsageError("baselines are kept in the store: --store none (or F0_STORE=none) keeps none")
    overrides = parse_assignments(params)
    loaded = load_recipe(
        recipe,
        params=overrides,
        params_from_text=True,
        max_bytes=config.max_recipe_bytes,
        compiled=config.recipe_cache_folder(),
    )
    key = loaded.test_id or str(Path(loaded.path or recipe).resolve())
    saved = _saved_baseline(config, key, baseline) if baseline else None

    samples = measure(
        loaded, config, overrides, runs=runs, warmup=warmup, show_progress=not as_json and sys.stderr.isatty()
    )
    compared = Samples.from_dict(saved.samples) if saved is not None else None
    result = report(samples, compared, threshold=threshold)
    if save_baseline:
        _save_baseline(config, key, save_baseline, samples, runs=runs, executor=executor, params=params)
    if as_json:
        document = {"recipe": key, "runs": runs, "warmup": warmup, **result.to_dict()}
        if saved is not None:
            document["baseline"] = {"name": saved.name, "created_at": saved.created_at, "runs": saved.runs}
        click.echo(json.dumps(document, indent=2, allow_nan=False))
    else:
        click.echo(render(result, key=key, runs=runs, warmup=warmup, saved=saved))
        if save_baseline:
            click.echo(f"saved baseline {save_baseline!r} of {key}: {runs} runs")
    if result.regressions:
        sys.exit(EXIT_REGRESSION)


def _saved_baseline(config: Config, key: str, name: str) -> Baseline:
    import framework0.history
    from framework0.errors import UsageError

    with framework0.history.open(config=config) as history:
        found = history.baseline(key, name)
        if found is None:
            names = history.baseline_names(key)
            saved = f"; saved: {', '.join(names)}" if names else "; none is saved"
            raise UsageError(
                f"no baseline {name!r} of {key} in the store{saved} (f0 bench RECIPE --save-baseline NAME saves one)"
            )
    return found


def _save_baseline(
    config: Config, key: str, name: str, samples: Samples, *, runs: int, executor: str, params: tuple[str, ...]
) -> None:
    from framework0 import __version__
    from framework0.store import open_store

    environment = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "framework0": __version__,
        "node": platform.node(),
        "cpus": os.cpu_count(),
        "executor": executor,
        "params": list(params),
    }
    store = open_store(config.store, origin=config.source("store"))
    try:
        store.save_baseline(
            {
                "recipe": key,
                "name": name,
                "created_at": time.time(),
                "runs": runs,
                "samples": json.dumps(samples.to_dict()),
                "environment": json.dumps(environment),
            }
        )
    finally:
        store.close()


def measure(
    recipe: Recipe, config: Config, params: Mapping[str, str], *, runs: int, warmup: int, show_progress: bool
) -> Samples:
    """Run ``recipe`` with ``params`` (as given on the command line) ``warmup + runs`` times; the
    seconds of the last ``runs``, whole and per step (steps that succeeded: a skipped step did no
    work). A run that fails stops the bench."""
    from framework0 import api
    from framework0.analysis.bench import Samples
    from framework0.errors import Framework0Error, RunInterrupted

    whole: list[float] = []
    steps: dict[str, list[float]] = {}
    with _progress(warmup + runs, show_progress) as advance:
        for number in range(1, warmup + runs + 1):
            result = api.execute(recipe, config, params=params, params_from_text=True)
            if result.status == "cancelled":  # Ctrl-C: the run stopped its steps and was recorded
                raise RunInterrupted(
                    f"interrupted in run {number} of {warmup + runs} (f0 runs show {result.run_id}); "
                    "no timing was reported and no baseline saved"
                )
            failed = next((step for step in result.steps.values() if step.status == "failed"), None)
            if result.status != "succeeded" or failed is not None:  # (a tolerated failure too)
                why = (
                    f" (step {failed.name}: {failed.error.type}: {failed.error.message})"
                    if failed and failed.error
                    else ""
                )
                raise Framework0Error(  # exit 1, as a failed run's
                    f"run {number} of {warmup + runs} failed{why}; a benchmark needs runs whose steps succeed: "
                    f"f0 runs show {result.run_id}"
                )
            advance()
            if number <= warmup:
                continue
            whole.append(result.duration_s)
            for name, step in result.steps.items():
                if step.status == "succeeded" and step.duration_s is not None:
                    steps.setdefault(name, []).append(step.duration_s)
    return Samples(tuple(whole), {name: tuple(values) for name, values in steps.items()})


def _progress(total: int, show: bool) -> Any:
    """A context manager giving ``advance()``: a rich progress bar on a terminal, else nothing."""
    from contextlib import contextmanager

    @contextmanager
    def bar() -> Any:
        if not show:
            yield lambda: None
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        with Progress(
            TextColumn("bench"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), transient=True
        ) as progress:
            task = progress.add_task("runs", total=total)
            advance: Callable[[], None] = lambda: progress.advance(task)  # noqa: E731
            yield advance

    return bar()


def render(result: BenchReport, *, key: str, runs: int, warmup: int, saved: Baseline | None) -> str:
    """The bench's timings, then the comparison with the baseline."""
    from framework0.durations import format_duration

    lines = [f"bench {key}: {runs} runs measured after {warmup} warm-up run{'' if warmup == 1 else 's'}"]
    table: list[tuple[str, ...]] = [("STEP", "MEDIAN", "IQR", "MIN", "MAX")]
    for timing in result.timings:
        table.append(
            (
                timing.step or "(whole run)",
                format_duration(timing.median_s),
                format_duration(timing.iqr_s),
                format_duration(timing.min_s),
                format_duration(timing.max_s),
            )
        )
    lines += _aligned(table)
    if saved is None:
        return "\n".join(lines)
    when = datetime.fromtimestamp(saved.created_at, tz=timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    host = saved.environment.get("node") or "?"
    lines += ["", f"against baseline {saved.name!r} ({saved.runs} runs, saved {when} on {host}):"]
    table = [("STEP", "BASELINE", "NOW", "CHANGE", "95% INTERVAL", "P (ADJ.)", "VERDICT")]
    for change in result.changes:
        if change.ratio is None:
            table.append((change.step or "(whole run)", "-", "-", "-", "-", "-", change.verdict))
            continue
        assert change.baseline_median_s is not None and change.median_s is not None
        assert change.ratio_low is not None and change.ratio_high is not None and change.p_adjusted is not None
        table.append(
            (
                change.step or "(whole run)",
                format_duration(change.baseline_median_s),
                format_duration(change.median_s),
                f"{change.ratio - 1:+.0%}",
                f"{change.ratio_low - 1:+.0%} .. {change.ratio_high - 1:+.0%}",
                f"{change.p_adjusted:.2g}",
                change.verdict,
            )
        )
    lines += _aligned(table)
    slower = [change.step or "the whole run" for change in result.regressions]
    if slower:
        by = f"{result.threshold:.0%}"
        lines.append(f"{len(slower)} slower than the baseline by {by} or more, significantly: {', '.join(slower)}")
    else:
        lines.append(f"no step slower than the baseline by {result.threshold:.0%} or more, significantly")
    return "\n".join(lines)


def _aligned(table: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(row[column]) for row in table) for column in range(len(table[0]))]
    return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in table]
