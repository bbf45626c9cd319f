"""``f0 isolate``: pack a recipe into one verifiable archive (signed with ``--sign``); ``verify`` and
``show`` one; ``keygen`` writes the Ed25519 key pair that signs and verifies."""

from __future__ import annotations

import os
from collections.abc import Mapping
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
    SHA-256 manifest, signed if you like; verify a package, or show what is inside it and why.

    \b
    Examples:
      f0 isolate etl.yaml -o etl.f0.zip
      f0 isolate etl.yaml -o etl.tar.gz --add data/regions.csv --explain
      f0 isolate etl.yaml -o etl.f0.zip --wheels   (installs with no package index)
      f0 isolate verify etl.f0.zip
      f0 isolate show etl.f0.zip
      f0 isolate keygen -o team              (writes team.key and team.pub)
      f0 isolate etl.yaml -o etl.f0.zip --sign team.key
      f0 isolate verify etl.f0.zip --key team.pub
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
@click.option(
    "--wheels",
    is_flag=True,
    help="Also pack a wheel of every requirement and of all they need, at the versions installed here "
    "(pip wheel, from its cache or index), so that the package installs with no package index.",
)
@click.option(
    "--sign",
    "sign",
    type=PathArgument("a key file"),
    metavar="KEY",
    help="Sign the package with this Ed25519 private key (NAME.key from `f0 isolate keygen`).",
)
@debug_option
def pack(
    recipe: str, output: str, add: tuple[str, ...], explain: bool, wheels: bool, sign: str | None, debug: bool
) -> None:
    """Pack RECIPE (the default subcommand: `f0 isolate RECIPE -o PKG`).

    The package holds the recipe and its includes, the modules its steps name and the local
    modules those import (found by reading their imports, never by running them), the files
    given with --add, and MANIFEST.json: every file's SHA-256 and size, the requirements pinned to
    the versions installed here, the Python and Framework0 versions. SOURCE_DATE_EPOCH fixes the
    times inside, so the same inputs give the same bytes. With --sign, MANIFEST.sig holds an
    Ed25519 signature of the manifest (and so of everything it hashes); signing is deterministic.
    With --wheels, pip collects a wheel of every requirement and of everything installing them
    needs (Framework0 and its dependencies too), each one a requirement of the package with its
    SHA-256; a distribution installed from a local folder is built from that folder.

    \b
    Examples:
      f0 isolate etl.yaml -o etl.f0.zip --add data/regions.csv --explain
      f0 isolate etl.yaml -o etl.tar.gz --sign team.key
      f0 isolate etl.yaml -o etl.f0.zip --wheels --explain
    """
    from framework0.cli.output import size_text
    from framework0.isolation.build import isolate as build

    package = build(recipe, output, add=add, sign=sign, wheels=wheels)
    for unresolved in package.unresolved:
        click.echo(f"warning: {unresolved} (pack what it loads with --add)", err=True)
    manifest = package.manifest
    if explain:
        for line in explanation(manifest, _wheel_sizes(package.path, manifest)):
            click.echo(line)
    click.echo(
        f"wrote {output} ({size_text(package.path.stat().st_size)}): {_contents(manifest)}, "
        f"digest {manifest.digest[:16]}" + (f", signed by {package.signer}" if package.signer else "")
    )


@isolate.command()
@click.argument("package", type=PathArgument("a package file"))
@click.option(
    "--key",
    "key",
    type=PathArgument("a key file"),
    metavar="PUB",
    help="Also require a valid signature by this Ed25519 public key (NAME.pub from `f0 isolate keygen`).",
)
@debug_option
def verify(package: str, key: str | None, debug: bool) -> None:
    """Check PACKAGE: every member's SHA-256 and size against its manifest, and that nothing in it
    could write outside the folder it is unpacked in. A signed package's signature is always
    checked; with --key it must be signed by that key. Refuses, naming the member; never rewrites.
    Exit status: 0 when it verifies, 2 when it is refused.

    \b
    Examples:
      f0 isolate verify etl.f0.zip
      f0 isolate verify etl.f0.zip --key team.pub
    """
    from framework0.isolation.verify import read_verified_package

    verified = read_verified_package(package, key=key)
    manifest = verified.manifest
    click.echo(
        f"{package}: ok ({_contents(manifest)}, "
        f"digest {manifest.digest}" + (f", signed by {verified.signer}" if verified.signer else "") + ")"
    )


@isolate.command()
@click.argument("package", type=PathArgument("a package file"))
@click.option("--json", "as_json", is_flag=True, help="Print the manifest as JSON.")
@debug_option
def show(package: str, as_json: bool, debug: bool) -> None:
    """List what PACKAGE holds and why each file and requirement is in (it is verified first), and
    who signed it.

    \b
    Examples:
      f0 isolate show etl.f0.zip
      f0 isolate show etl.f0.zip --json
    """
    from framework0.isolation.verify import read_verified_package

    verified = read_verified_package(package)
    manifest = verified.manifest
    if as_json:
        click.echo(manifest.to_json().decode("utf-8"), nl=False)
        return
    header: dict[str, Any] = {
        "recipe": f"{manifest.entry}" + (f" ({manifest.recipe})" if manifest.recipe else ""),
        "built with": f"Python {manifest.python} on {manifest.platform}, Framework0 {manifest.framework0}",
        "digest": manifest.digest,
    }
    if verified.signer is not None:
        header["signature"] = f"ed25519, signed by {verified.signer}"
    for key, value in header.items():
        click.echo(f"{key}: {value}")
    for line in explanation(manifest, _wheel_sizes(package, manifest)):
        click.echo(line)


@isolate.command()
@click.option(
    "-o",
    "--output",
    required=True,
    metavar="NAME",
    help="Write the private key to NAME.key and the public key to NAME.pub.",
)
@debug_option
def keygen(output: str, debug: bool) -> None:
    """Create an Ed25519 key pair to sign packages with: NAME.key (private, PEM, readable by you
    only: sign with `--sign NAME.key`) and NAME.pub (public: hand it out, verify with
    `--key NAME.pub`). Never overwrites a file. Prints the key's fingerprint, the SHA-256 of the
    raw public key, which `verify` and `show` print as the signer.

    \b
    Example:
      f0 isolate keygen -o team
    """
    from framework0.isolation.signing import generate_key, load_public_key

    private, public = generate_key(output)
    click.echo(f"wrote {private} (private key: keep it secret; sign with --sign {private})")
    click.echo(f"wrote {public} (public key: verify with --key {public})")
    click.echo(f"fingerprint {load_public_key(public).fingerprint}")


def explanation(manifest: Any, wheel_sizes: Mapping[str, int] | None = None) -> list[str]:
    """Each file and requirement of ``manifest`` on a line, with why it is in; a requirement packed
    with its wheel also names the wheel, and its size when ``wheel_sizes`` (by member name) has it."""
    from framework0.cli.output import size_text

    sizes = wheel_sizes or {}

    lines = [f"files ({len(manifest.files)}):"]
    for file in manifest.files:
        lines.append(f"  {file.path}  {size_text(file.size)}  sha256:{file.sha256[:12]}")
        lines.extend(f"      <- {reason}" for reason in file.reasons)
    lines.append(f"requirements ({len(manifest.requirements)}):")
    for requirement in manifest.requirements:
        wheel = requirement.wheel
        if wheel is None:
            lines.append(f"  {requirement.name}=={requirement.version}")
        else:
            size = f"  {size_text(sizes[wheel])}" if wheel in sizes else ""
            lines.append(
                f"  {requirement.name}=={requirement.version}  {wheel}{size}  sha256:{requirement.sha256[:12]}"
            )
        lines.extend(f"      <- {reason}" for reason in requirement.reasons)
    return lines


def _contents(manifest: Any) -> str:
    """``2 files, 30 requirements`` (``, 30 wheels`` when it holds wheels)."""
    wheels = sum(requirement.wheel is not None for requirement in manifest.requirements)
    text = f"{_count(len(manifest.files), 'file')}, {_count(len(manifest.requirements), 'requirement')}"
    return text + (f", {_count(wheels, 'wheel')}" if wheels else "")


def _wheel_sizes(package: str | os.PathLike[str], manifest: Any) -> dict[str, int]:
    """The sizes of the wheels in ``package`` (verified), read only when the manifest lists some."""
    if not any(requirement.wheel is not None for requirement in manifest.requirements):
        return {}
    from framework0.isolation.wheels import wheel_sizes

    return wheel_sizes(package)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"
