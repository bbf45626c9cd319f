"""``f0 init``: a starter recipe and scriptlet module that run as they are."""

from __future__ import annotations

from pathlib import Path

import click

from framework0.cli.options import PathArgument

RECIPE = """\
# A starter recipe: run it with  f0 run {recipe}
test_meta:
  test_id: STARTER-001
  description: A first recipe - edit me
params:
  name: world                  # override with  f0 run {recipe} -p name=you
steps:
  - name: greet
    uses: hello_world
    args: {{name: "{{{{ params.name }}}}"}}
  - name: shout
    module: steps               # steps.py, next to this file
    function: shout
    args: {{text: "{{{{ steps.greet.output }}}}"}}
  - name: check
    uses: assert
    args:
      that:
        - steps.shout.output.endswith('!')
        - ctx['greeted'] == params.name
"""

STEPS = '''\
"""Scriptlets for {recipe}: plain functions (or BaseScriptlet subclasses)."""

from framework0 import Context, scriptlet


@scriptlet
def shout(text: str, ctx: Context) -> str:
    """Upper-case the text and remember how long it was."""
    ctx.set("shout.length", len(text))
    return text.upper()
'''


@click.command()
@click.argument("directory", default=".", type=PathArgument("a folder", folder=True))
@click.option("--name", default="recipe.yaml", show_default=True, help="File name of the recipe.")
def init(directory: str, name: str) -> None:
    """Create a starter recipe and a scriptlet module in DIRECTORY (default: here).

    \b
    Example:
      f0 init my-project && f0 run my-project/recipe.yaml
    """
    from framework0.errors import UsageError

    if not name or Path(name).name != name or name in ("steps.py", ".", ".."):
        raise UsageError(f"--name {name!r}: give a file name like recipe.yaml, without a folder (and not steps.py)")
    folder = Path(directory)
    files = {folder / name: RECIPE.format(recipe=name), folder / "steps.py": STEPS.format(recipe=name)}
    existing = [str(path) for path in files if path.exists()]
    if existing:
        raise UsageError(f"not overwriting {', '.join(existing)}; choose another folder or --name")
    folder.mkdir(parents=True, exist_ok=True)
    for path, text in files.items():
        path.write_text(text, encoding="utf-8")
        click.echo(f"created {path}")
    click.echo(f"next: f0 run {folder / name}")
