"""``f0 scriptlets list`` and ``f0 scriptlets show NAME``: what recipes can use."""

from __future__ import annotations

import json

import click

from framework0.cli.options import debug_option


@click.group()
def scriptlets() -> None:
    """List and describe scriptlets: built-ins, installed plugins and import paths.

    \b
    Examples:
      f0 scriptlets list
      f0 scriptlets show shell
      f0 scriptlets show mypkg.steps:load_file
    """


@scriptlets.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@debug_option
def list_command(as_json: bool, debug: bool) -> None:
    """Every scriptlet a recipe can name with ``uses:``, and where it comes from.

    \b
    Example:
      f0 scriptlets list --json
    """
    from framework0.scriptlets.registry import list_scriptlets

    listing = list_scriptlets()
    if as_json:
        rows = [
            {"name": s.name, "origin": s.origin, "ref": s.ref, "description": s.description} for s in listing.scriptlets
        ]
        click.echo(json.dumps({"scriptlets": rows, "problems": listing.problems}, indent=2))
        return
    width = max(len(spec.name) for spec in listing.scriptlets)
    origin_width = max(len(spec.origin) for spec in listing.scriptlets)
    for spec in listing.scriptlets:
        click.echo(f"{spec.name:<{width}}  {spec.origin:<{origin_width}}  {spec.description}")
    for problem in listing.problems:
        click.echo(f"warning: {problem}", err=True)


@scriptlets.command("show")
@click.argument("name")
@debug_option
def show_command(name: str, debug: bool) -> None:
    """The documentation and args of scriptlet NAME (a name, or module:attr).

    \b
    Examples:
      f0 scriptlets show shell
      f0 scriptlets show mypkg.steps:load_file
    """
    import inspect

    from framework0.scriptlets.registry import default_search_path, resolve_name

    spec = resolve_name(name, search_path=default_search_path(None))
    scriptlet = spec.scriptlet
    doc = inspect.getdoc(getattr(scriptlet, "function", scriptlet)) or "(no description)"
    click.echo(f"{spec.name}  ({spec.origin}: {spec.ref})\n")
    click.echo(doc)
    model = scriptlet.params_model()
    click.echo("\nArgs:")
    if model is None or not model.model_fields:
        click.echo("  (none)")
        return
    for field_name, info in model.model_fields.items():
        shown = info.alias or field_name
        kind = getattr(info.annotation, "__name__", None) or str(info.annotation).replace("typing.", "")
        default = "required" if info.is_required() else f"default {info.get_default(call_default_factory=True)!r}"
        description = f": {info.description}" if info.description else ""
        click.echo(f"  {shown} ({kind}, {default}){description}")
