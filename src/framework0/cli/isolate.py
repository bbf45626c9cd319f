"""``f0 isolate``: pack a recipe into one verifiable archive; ``verify`` and ``show`` one."""

from __future__ import annotations

from typing import Any

import click

from framework0.cli.options import PathArgument, debug_option


class IsolateGroup(click.Group):
    """``f0 isolate RECIPE -o PKG`` packs; ``f0 isolate verify|show PKG`` read a package. Anything
    that is not a subcommand's name goes to ``pack``."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("-h", "--help"):
            args = ["pack", *args]
        return super().parse_args(ctx, args)


@click.group(cls=IsolateGroup)
def isolate() -> None:
    """Pack a recipe, the local code it imports and its pinned requirements into one archive with a
    SHA-256 manifest; verify a package, or show what is inside it and why.

    \b
    Examples:
      f0 isolate etl.yaml -o etl.f0.zip
      f0 isolate etl.yaml -o etl.tar.gz --add data/regions.csv --explain
      f0 isolate verify etl.f0.zip
      f0 isolate show etl.f0.zip
    """


@isolate.command()
@click.argument("recipe", type=PathArgument("a recipe file"))
@click.option(
    "-o", "--output", required=True, metavar="PKG", help="The package to write: PKG.f0.zip, .zip, .tar.gz or .tgz."
)
@click.option(
    "--add",
    "add",
    multiple=True,
    metavar="PATH",
    help="Also pack this file or folder (data the steps read, a module loaded dynamically). Repeatable.",
)
@click.option("--explain", is_flag=True, help="Print why each file and each requirement is in.")
@debug_option
def pack(recipe: str, output: str, add: tuple[str, ...], explain: bool, debug: bool) -> None:
    """Pack RECIPE (the default subcommand: `f0 isolate RECIPE -o PKG`).

    The package holds the recipe and its includes, the modules its steps name and the local
    modules those import (found by reading their imports, never by running them), the files
    given with --add, and MANIFEST.json: every file's SHA-256 and size, the requirements pinned to
    the versions installed here, the Python and Framework0 versions. SOURCE_DATE_EPOCH fixes the
    times inside, so the same inputs give the same bytes.
    """
    from framework0.cli.output import size_text
    from framework0.isolation.build import isolate as build

    package = build(recipe, output, add=add)
    for unresolved in package.unresolved:
        click.echo(f"warning: {unresolved} (pack what it loads with --add)", err=True)
    manifest = package.manifest
    if explain:
        for line in explanation(manifest):
            click.echo(line)
    click.echo(
        f"wrote {output} ({size_text(package.path.stat().st_size)}): {_count(len(manifest.files), 'file')}, "
        f"{_count(len(manifest.requirements), 'requirement')}, digest {manifest.digest[:16]}"
    )


@isolate.command()
@click.argument("package", type=PathArgument("a package file"))
@debug_option
def verify(package: str, debug: bool) -> None:
    """Check PACKAGE: every member's SHA-256 and size against its manifest, and that nothing in it
    could write outside the folder it is unpacked in. Refuses, naming the member; never rewrites.
    Exit status: 0 when it verifies, 2 when it is refused."""
    from framework0.isolation.verify import verify_package

    manifest = verify_package(package)
    click.echo(
        f"{package}: ok ({_count(len(manifest.files), 'file')}, {_count(len(manifest.requirements), 'requirement')}, "
        f"digest {manifest.digest})"
    )


@isolate.command()
@click.argument("package", type=PathArgument("a package file"))
@click.option("--json", "as_json", is_flag=True, help="Print the manifest as JSON.")
@debug_option
def show(package: str, as_json: bool, debug: bool) -> None:
    """List what PACKAGE holds and why each file and requirement is in (it is verified first)."""
    from framework0.isolation.verify import verify_package

    manifest = verify_package(package)
    if as_json:
        click.echo(manifest.to_json().decode("utf-8"), nl=False)
        return
    header: dict[str, Any] = {
        "recipe": f"{manifest.entry}" + (f" ({manifest.recipe})" if manifest.recipe else ""),
        "built with": f"Python {manifest.python} on {manifest.platform}, Framework0 {manifest.framework0}",
        "digest": manifest.digest,
    }
    for key, value in header.items():
        click.echo(f"{key}: {value}")
    for line in explanation(manifest):
        click.echo(line)


def explanation(manifest: Any) -> list[str]:
    """Each file and requirement of ``manifest`` on a line, with why it is in."""
    from framework0.cli.output import size_text

    lines = [f"files ({len(manifest.files)}):"]
    for file in manifest.files:
        lines.append(f"  {file.path}  {size_text(file.size)}  sha256:{file.sha256[:12]}")
        lines.extend(f"      <- {reason}" for reason in file.reasons)
    lines.append(f"requirements ({len(manifest.requirements)}):")
    for requirement in manifest.requirements:
        lines.append(f"  {requirement.name}=={requirement.version}")
        lines.extend(f"      <- {reason}" for reason in requirement.reasons)
    return lines


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"
