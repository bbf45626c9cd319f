"""``f0 schema``: the recipe JSON Schema."""

from __future__ import annotations

import json

import click


@click.command()
def schema() -> None:
    """Print the recipe JSON Schema, for editors (e.g. VS Code's yaml.schemas).

    \b
    Example:
      f0 schema > .framework0/recipe.schema.json
    """
    from framework0.recipe.schema import recipe_schema

    click.echo(json.dumps(recipe_schema(), indent=2))
