"""Options several commands share."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click
from click.core import ParameterSource

F = TypeVar("F", bound=Callable[..., Any])


if TYPE_CHECKING:
    from framework0.config import Config

if TYPE_CHECKING:
    _ParamType = click.ParamType[str]
else:  # click < 8.2 has no generic ParamType
    _ParamType = click.ParamType


class PathArgument(_ParamType):
    """A file (or with ``folder=True`` a folder) the command reads; the wrong kind is refused in one
    line, ``DIR: is a directory, not a recipe file`` (click.Path would print its usage block)."""

    def __init__(self, what: str, *, folder: bool = False) -> None:
        self.what = what
        self.folder = folder
        self.name = "folder" if folder else "file"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        import os

        from framework0.errors import UsageError

        path = str(os.fspath(value))
        if not self.folder and os.path.isdir(path):
            raise UsageError(f"{path}: is a directory, not {self.what}")
        if self.folder and os.path.exists(path) and not os.path.isdir(path):
            raise UsageError(f"{path}: is a file, not {self.what}")
        return path


DEBUG_KEY = "framework0.debug"


def _remember_debug(ctx: click.Context, _param: click.Parameter, value: bool) -> bool:
    # ctx.meta is shared by every context of one invocation, so the group's error handler sees it.
    if value:
        ctx.meta[DEBUG_KEY] = True
    return value


debug_option = click.option(
    "--debug", is_flag=True, callback=_remember_debug, help="Show tracebacks of errors and failed steps."
)


store_option = click.option(
    "--store",
    metavar="URL",
    envvar="F0_STORE",
    help="Where runs are recorded: a SQLAlchemy URL (sqlite:///runs.db, postgresql://user@host/db). "
    "Default: $F0_STORE, else .framework0/framework0.db here.",
)


def command_config(store: str | None = None, **flags: Any) -> Config:
    """The settings a command runs with: the environment's (``Config.from_environ``), overridden by
    the flags given on the command line (``None`` means not given); ``--store none`` keeps runs in
    memory only, as ``F0_STORE=none`` does."""
    import os

    from framework0.config import Config

    config = Config.from_environ(os.environ)
    changes: dict[str, Any] = {
        name: (value, "--" + name.replace("_", "-")) for name, value in flags.items() if value is not None
    }
    if store:
        context = click.get_current_context(silent=True)
        given = context is not None and context.get_parameter_source("store") is not ParameterSource.ENVIRONMENT
        changes["store"] = (None if store.lower() == "none" else store, "--store" if given else "F0_STORE")
    return config.replace(**changes) if changes else config


def running_options(function: F) -> F:
    """The options of every command that runs steps (f0 run, f0 resume): params, where and how
    many steps run, the result's forms, the cache and the store."""
    for option in reversed(
        (
            click.option(
                "-p", "--param", "params", multiple=True, metavar="KEY=VALUE", help="Override a param; repeatable."
            ),
            click.option(
                "--executor",
                type=click.Choice(["local", "process", "dask"]),
                default="local",
                show_default=True,
                help="Where steps run: threads (local), worker processes (process) or a Dask cluster (dask).",
            ),
            click.option(
                "--dask-scheduler",
                metavar="ADDRESS",
                help="With --executor dask: the cluster's scheduler (tcp://HOST:8786). "
                "Default: $F0_DASK_SCHEDULER, else a local cluster sized to this machine.",
            ),
            click.option("--max-parallel", type=click.IntRange(min=1), help="At most this many steps at once."),
            click.option("--json", "as_json", is_flag=True, help="Print the run result as JSON on stdout."),
            click.option(
                "--junit", metavar="FILE", type=click.Path(), help="Also write JUnit XML, one test case per step."
            ),
            click.option("--no-cache", is_flag=True, help="Run cache: true steps even when an earlier output fits."),
            store_option,
            debug_option,
        )
    ):
        function = option(function)
    return function
