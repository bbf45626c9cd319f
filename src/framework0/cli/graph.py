"""``f0 graph``: draw a recipe's DAG as Mermaid, DOT, SVG or a self-contained HTML page."""

from __future__ import annotations

from pathlib import Path

import click

from framework0.cli.options import PathArgument, debug_option

FORMATS = ("mermaid", "dot", "svg", "html")
EXTENSIONS = {"mermaid": "mmd", "dot": "dot", "svg": "svg", "html": "html"}


@click.command()
@click.argument("recipe", type=PathArgument("a recipe file"))
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="mermaid", show_default=True)
@click.option("-o", "--output", type=click.Path(), metavar="FILE", help="Write to FILE instead of standard output.")
@debug_option
def graph(recipe: str, fmt: str, output: str | None, debug: bool) -> None:
    """Draw the dependency graph of RECIPE, left to right.

    \b
    Examples:
      f0 graph etl.yaml                              # Mermaid, for Markdown
      f0 graph etl.yaml --format dot | dot -Tpng > etl.png
      f0 graph etl.yaml --format svg -o etl.svg
      f0 graph etl.yaml --format html -o etl.html    # pan, zoom and find a step; works offline
    """
    from framework0.cli.options import command_config
    from framework0.recipe.loader import load_recipe

    config = command_config()
    loaded = load_recipe(recipe, max_bytes=config.max_recipe_bytes, compiled=config.recipe_cache_folder())
    if fmt == "mermaid":
        from framework0.viz.graph_text import to_mermaid

        text = to_mermaid(loaded)
    elif fmt == "dot":
        from framework0.viz.graph_text import to_dot

        text = to_dot(loaded)
    elif fmt == "svg":
        from framework0.viz.graph_svg import graph_svg, recipe_graph

        title = loaded.test_id or Path(recipe).name
        text = '<?xml version="1.0" encoding="UTF-8"?>\n' + graph_svg(recipe_graph(loaded), title=title) + "\n"
    else:
        from framework0.viz.graph_html import graph_html

        text = graph_html(loaded)
    if output is None:
        click.echo(text, nl=False)
    else:
        from framework0.cli.output import size_text, write_output

        written = write_output(output, text, example=f"graph.{EXTENSIONS[fmt]}")
        count = len(loaded.steps)
        click.echo(
            f"wrote {written} ({size_text(written.stat().st_size)}): the {fmt} graph of {recipe}, "
            f"{count} step{'' if count == 1 else 's'}"
        )
