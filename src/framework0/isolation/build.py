"""Packing a recipe: its closure (``closure``) written as one reproducible archive (``archive``),
with the wheels of its requirements (``wheels``) when asked."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from framework0.isolation.closure import Closure, Unresolved, resolve_closure
from framework0.isolation.manifest import Manifest


@dataclass(frozen=True, slots=True)
class Package:
    """A package written by ``isolate``: where it is, its manifest, the imports that could not be
    followed (dynamic ones; add what they load with ``add``), and the fingerprint of the key that
    signed it (None when unsigned)."""

    path: Path
    manifest: Manifest
    unresolved: tuple[Unresolved, ...] = ()
    signer: str | None = None


def isolate(
    recipe: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    add: Sequence[str | os.PathLike[str]] = (),
    source_date_epoch: int | None = None,
    environ: Mapping[str, str] | None = None,
    sign: str | os.PathLike[str] | None = None,
    wheels: bool = False,
) -> Package:
    """Pack ``recipe`` with the local code it imports, the files in ``add`` and its pinned
    requirements into ``output`` (``.f0.zip``, ``.zip``, ``.tar.gz`` or ``.tgz``).

    ``source_date_epoch`` fixes the times inside the archive; None takes ``SOURCE_DATE_EPOCH``
    from ``environ`` (this process's environment when None), as reproducible-build tools set it.
    ``sign`` is an Ed25519 private key file (``NAME.key`` from ``f0 isolate keygen``): the package
    then holds ``MANIFEST.sig``. The same inputs, epoch and key give a byte-identical archive.

    ``wheels`` also packs a wheel of every requirement and of everything installing them needs, at
    the versions installed here (``pip wheel``, run with ``environ`` and the epoch; a distribution
    installed from a local folder is built from it), each one a requirement with its hash, so that
    the package installs with no package index. The epoch is then the newest file's time when none
    is given, so that the wheels' own times do not count.
    """
    from framework0.errors import PackageError, one_line_name
    from framework0.isolation.archive import source_date_epoch as epoch_from
    from framework0.isolation.archive import write_package
    from framework0.isolation.signing import key_fingerprint, load_private_key

    if source_date_epoch is None:
        source_date_epoch = epoch_from(os.environ if environ is None else environ)
    # the key first: a wrong key file is reported before the closure is resolved
    signing_key = None if sign is None else load_private_key(sign, package=one_line_name(os.fspath(output)))
    closure = resolve_closure(recipe, add=add)
    requirements = [(entry.name, entry.version, entry.reasons) for entry in closure.requirements]
    with ExitStack() as stack:
        wheel_files: dict[str, Path] | None = None
        if wheels:
            from framework0.isolation.archive import package_format
            from framework0.isolation.wheels import collect_wheels

            # what write_package would refuse is told before pip's seconds of work
            package_format(output)
            if not Path(output).parent.is_dir():
                folder_name = one_line_name(str(Path(output).parent))
                raise PackageError(
                    f"{one_line_name(os.fspath(output))}: cannot write: folder {folder_name!r} does not exist"
                )
            if source_date_epoch is None:
                source_date_epoch = _newest(closure)
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="f0-isolate-wheels-")))
            found = collect_wheels(closure.requirements, folder, source_date_epoch=source_date_epoch, environ=environ)
            requirements = [(wheel.name, wheel.version, wheel.reasons) for wheel in found]
            wheel_files = {wheel.name: wheel.path for wheel in found}
        manifest = write_package(
            Path(output),
            entry=closure.entry,
            recipe=_test_id(recipe),
            files=[(entry.path, entry.source, entry.reasons) for entry in closure.files],
            requirements=requirements,
            source_date_epoch=source_date_epoch,
            wheels=wheel_files,
            signing_key=signing_key,
        )
    signer = None if signing_key is None else key_fingerprint(signing_key)
    return Package(Path(output), manifest, closure.unresolved, signer)


def _newest(closure: Closure) -> int:
    """The newest modification time of the closure's files, as ``write_package`` takes it."""
    from framework0.errors import PackageError, one_line_name

    times = []
    for entry in closure.files:
        try:
            times.append(int(entry.source.stat().st_mtime))
        except OSError as error:
            raise PackageError(
                f"cannot pack {entry.path!r}: cannot read {one_line_name(str(entry.source))}: {error.strerror or error}"
            ) from None
    return min(max(max(times, default=0), 0), 0xFFFFFFFF)


def _test_id(recipe: str | os.PathLike[str]) -> str | None:
    from framework0.recipe.loader import load_recipe

    return load_recipe(recipe).test_id
