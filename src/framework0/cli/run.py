"""``f0 run``: run a recipe with live progress; ``--json`` prints the run result instead."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from framework0.cli.options import PathArgument, running_options

if TYPE_CHECKING:
    from framework0.config import Config
    from framework0.engine.result import RunResult
    from framework0.events import EventBus
    from framework0.recipe.model import Recipe


@click.command()
@click.argument("recipe", required=False, type=PathArgument("a recipe file"))
@click.option("--recipe", "recipe_option", type=PathArgument("a recipe file"), help="The recipe (the seed's spelling).")
@click.option("--timeout", help="Stop the whole run after this long (30s, 5m, 1h).")
@click.option(
    "--context-server",
    metavar="URL",
    envvar="F0_CONTEXT_SERVER",
    help="Keep the run's context on this context server (f0 serve), shared live with other runners.",
)
@click.option(
    "--context",
    "context_name",
    metavar="NAME",
    help="The server's context this run uses (default: one named after the run id). Needs --context-server.",
)
@running_options
def run(
    recipe: str | None,
    recipe_option: str | None,
    context_server: str | None,
    context_name: str | None,
    params: tuple[str, ...],
    executor: str,
    dask_scheduler: str | None,
    max_parallel: int | None,
    timeout: str | None,
    as_json: bool,
    junit: str | None,
    no_cache: bool,
    store: str | None,
    debug: bool,
) -> None:
    """Run RECIPE: its steps as a parallel DAG, with retries and timeouts.

    RECIPE may be a recipe package (f0 isolate: .f0.zip, .zip, .tar.gz, .tgz): it is verified,
    extracted into a private staging folder and run in its own virtual environment (built once,
    kept in the user's cache folder), and recorded like any other run.

    \b
    Examples:
      f0 run examples/quickstart.yaml
      f0 run etl.yaml -p region=eu -p batch=50 --json
      f0 run tests.yaml --junit report.xml
      f0 run worker.yaml --context-server http://127.0.0.1:8765 --context shared
      f0 run pipeline.f0.zip -p files=2
    Exit status: 0 succeeded, 1 a step failed, 2 invalid recipe, params or package, 130 interrupted.
    """
    from framework0 import api
    from framework0.cli.options import command_config
    from framework0.durations import parse_duration
    from framework0.errors import UsageError
    from framework0.recipe.loader import load_recipe
    from framework0.recipe.params import parse_assignments

    path = recipe or recipe_option
    if path is None:
        raise UsageError("no recipe given: f0 run RECIPE.yaml (see f0 run --help)")
    if recipe and recipe_option:
        raise UsageError("give the recipe once: as an argument or with --recipe")
    if context_name and not context_server:
        raise UsageError("--context NAME names a context on a context server: add --context-server URL")
    overrides = parse_assignments(params)
    check_junit(junit)
    try:
        run_timeout = parse_duration(timeout) if timeout is not None else None
    except ValueError as error:
        raise UsageError(f"--timeout: {error}") from None
    if run_timeout is not None and run_timeout <= 0:  # it would stop the run before it starts
        raise UsageError(
            f"--timeout: a run timeout must be more than 0, got {run_timeout:g}s; leave it out for no limit"
        )
    config = command_config(
        store,
        executor=executor,
        dask_scheduler=dask_scheduler,
        max_parallel=max_parallel,
        use_cache=False if no_cache else None,
        context_server=context_server,
    )
    # F0_PACKAGE names the package of this run only (f0 run PKG sets it for the run it starts):
    # the processes and runs its steps start are not runs of the package
    os.environ.pop("F0_PACKAGE", None)
    from framework0.isolation.suffixes import is_package

    if is_package(path):
        valued = {
            "--executor": executor,
            "--dask-scheduler": dask_scheduler,
            "--max-parallel": max_parallel,
            "--timeout": timeout,
            "--junit": junit,
            "--context-server": context_server,
            "--context": context_name,
        }
        flags = {"--json": as_json, "--no-cache": no_cache, "--debug": debug}
        arguments = [f"--param={param}" for param in params]
        arguments += [f"{option}={value}" for option, value in valued.items() if value is not None]
        arguments += [flag for flag, given in flags.items() if given]
        sys.exit(run_package(path, arguments, config, debug=debug))
    loaded = load_recipe(
        path,
        params=overrides,
        params_from_text=True,
        max_bytes=config.max_recipe_bytes,
        compiled=config.recipe_cache_folder(),
    )
    import gc

    gc.freeze()  # what is loaded now lives until exit: keep it out of every later collection

    def make(bus: EventBus) -> RunResult:
        return api.execute(
            loaded,
            config,
            params=overrides,
            params_from_text=True,
            bus=bus,
            timeout=run_timeout,
            context_name=context_name,
        )

    from framework0.errors import ServerError

    try:
        execute(make, loaded, as_json=as_json, junit=junit, debug=debug)
    except ServerError as error:
        if error.status == 401 and context_server:
            raise token_refused(context_server) from error
        raise


def run_package(path: str, arguments: list[str], config: Config, *, debug: bool) -> int:
    """Run the recipe package ``path`` with ``arguments`` (f0 run's options, as the user gave them) in
    its environment, recorded in the store ``config`` names, given as an absolute URL; the run's exit
    status. With ``debug`` the staging folder is kept."""
    from framework0.isolation.launch import run_package as launch

    return launch(
        path,
        arguments,
        store=absolute_store(config),
        envs=Path(config.package_envs_folder()),
        environ=os.environ,
        notes=sys.stderr,
        keep=debug,
        extras=run_extras(config),
    )


def run_extras(config: Config) -> list[str]:
    """Framework0's extras a run with ``config`` needs besides its package's requirements."""
    extras = []
    if (config.store or "").startswith(("postgresql", "postgres")):
        extras.append("postgresql")
    if config.executor == "dask":
        extras.append("dask")
    if config.context_server:
        extras.append("server")
    return extras


def absolute_store(config: Config) -> str:
    """The store ``config`` names as a URL that does not depend on the working directory; ``none``
    for runs kept in memory only."""
    from framework0.store.url import sqlite_path, store_url

    if config.store is None:
        return "none"
    url = store_url(config.store, origin=config.source("store"))
    path = sqlite_path(url)
    if path is None or path.is_absolute():
        return url
    scheme, _, rest = url.partition("://")
    query = rest.partition("?")[2]
    return f"{scheme}:///{path.absolute()}" + (f"?{query}" if query else "")


def token_refused(url: str) -> Exception:
    """The server's refusal of the token, said in the command line's terms (the client library's
    own message tells Python callers about ``token=``)."""
    from framework0.client.token import read_token, token_file_default
    from framework0.errors import ServerError

    url, file = url.rstrip("/"), token_file_default()
    if os.environ.get("F0_TOKEN", "").strip():
        return ServerError(
            f"the context server at {url} refused the token in F0_TOKEN: set F0_TOKEN to the token f0 serve "
            "uses (it prints it when it starts)",
            status=401,
        )
    fix = f"set F0_TOKEN to the token f0 serve uses (it prints it when it starts), or write it to {file}"
    if read_token() is None:
        return ServerError(f"the context server at {url} needs a token and none was found: {fix}", status=401)
    return ServerError(f"the context server at {url} refused the token in {file}: {fix}", status=401)


def check_junit(junit: str | None) -> None:
    from framework0.errors import UsageError

    if junit:
        if Path(junit).is_dir():
            raise UsageError(f"--junit {junit}: is a directory; give a file name, e.g. {Path(junit) / 'junit.xml'}")
        folder = Path(junit).resolve().parent
        if not folder.is_dir():
            raise UsageError(f"--junit {junit}: the folder {str(folder)!r} does not exist")


def execute(
    make: Callable[[EventBus], RunResult], loaded: Recipe, *, as_json: bool, junit: str | None, debug: bool
) -> None:
    """Run with a progress display (stderr under --json), print the result, exit with its status."""
    import contextlib

    from framework0.cli.lines import whole_lines
    from framework0.cli.progress import NoticePrinter, make_progress, print_summary
    from framework0.errors import UsageError
    from framework0.events import EventBus

    bus = EventBus()
    live = (sys.stderr if as_json else sys.stdout).isatty()
    # On a terminal the live panel keeps lines whole; in a pipe or a file, whole_lines does.
    shown = contextlib.nullcontext((sys.stdout, sys.stderr)) if live else whole_lines(sys.stdout, sys.stderr)
    with shown as (out, err):
        stream = err if as_json else out
        progress = make_progress(stream, live=live)
        bus.subscribe(progress)
        bus.subscribe(NoticePrinter(err))
        try:
            # Under --json stdout holds only the result: what steps print goes to stderr.
            with contextlib.redirect_stdout(err) if as_json else contextlib.nullcontext():
                result = make(bus)
        finally:
            progress.close()
        if not as_json:
            print_summary(result, stream, debug=debug)
    if as_json:
        sys.stdout.write(result.to_json() + "\n")
    if junit:
        from framework0.viz.junit import junit_xml

        try:
            Path(junit).write_text(junit_xml(result, loaded), encoding="utf-8")
        except OSError as error:
            raise UsageError(f"--junit {junit}: cannot write it: {error.strerror or error}") from None
    if as_json and debug:
        for step in result.steps.values():
            if step.error is not None and step.error.traceback:
                sys.stderr.write(f"--- traceback of step {step.name!r} ---\n{step.error.traceback}")
    sys.exit({"succeeded": 0, "failed": 1, "cancelled": 130}[result.status])
