"""``f0 graph``: print a recipe's DAG."""

from __future__ import annotations

import click

from framework0.cli.options import debug_option


@click.command()
@click.argument("recipe", type=click.Path(dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["mermaid", "dot"]), default="mermaid", show_default=True)
@debug_option
def graph(recipe: str, fmt: str, debug: bool) -> None:
    """Print the dependency graph of RECIPE.

    \b
    Examples:
      f0 graph etl.yaml                      # Mermaid, for Markdown
      f0 graph etl.yaml --format dot | dot -Tsvg > etl.svg
    """
    from framework0.recipe.loader import load_recipe
    from framework0.viz.graph_text import to_dot, to_mermaid

    loaded = load_recipe(recipe)
    click.echo(to_mermaid(loaded) if fmt == "mermaid" else to_dot(loaded), nl=False)
