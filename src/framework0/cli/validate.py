"""``f0 validate``: check recipes without running anything."""

from __future__ import annotations

import sys

import click

from framework0.cli.options import PathArgument, debug_option
from framework0.errors import one_line_name


@click.command()
@click.argument("recipes", nargs=-1, required=True, type=PathArgument("a recipe file"))
@debug_option
def validate(recipes: tuple[str, ...], debug: bool) -> None:
    """Check each RECIPE and print every error as FILE:LINE:COL: message.

    \b
    Example:
      f0 validate recipes/*.yaml
    Exit status: 0 when all are valid, 2 otherwise.
    """
    from framework0.cli.options import command_config
    from framework0.errors import RecipeError
    from framework0.recipe.loader import load_recipe

    config = command_config()
    max_bytes, compiled = config.max_recipe_bytes, config.recipe_cache_folder()
    errors = 0
    for path in recipes:
        try:
            recipe = load_recipe(path, max_bytes=max_bytes, compiled=compiled)
        except RecipeError as error:
            for diagnostic in error.diagnostics:
                click.echo(str(diagnostic), err=True)
            errors += len(error.diagnostics)
        else:
            count = len(recipe.steps)
            click.echo(f"{one_line_name(str(path))}: ok ({count} step{'' if count == 1 else 's'})")
    if errors:
        click.echo(f"{errors} error{'s' if errors != 1 else ''}", err=True)
        sys.exit(2)
