"""Options several commands share."""

from __future__ import annotations

import click

debug_option = click.option("--debug", is_flag=True, help="Show tracebacks of errors.")
