"""Options several commands share."""

from __future__ import annotations

import click

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
