"""Packing a recipe: its closure (``closure``) written as one reproducible archive (``archive``)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from framework0.isolation.closure import Unresolved, resolve_closure
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
) -> Package:
    """Pack ``recipe`` with the local code it imports, the files in ``add`` and its pinned
    requirements into ``output`` (``.f0.zip``, ``.zip``, ``.tar.gz`` or ``.tgz``).

    ``source_date_epoch`` fixes the times inside the archive; None takes ``SOURCE_DATE_EPOCH``
    from ``environ`` (this process's environment when None), as reproducible-build tools set it.
    ``sign`` is an Ed25519 private key file (``NAME.key`` from ``f0 isolate keygen``): the package
    then holds ``MANIFEST.sig``. The same inputs, epoch and key give a byte-identical archive.
    """
    from framework0.errors import one_line_name
    from framework0.isolation.archive import source_date_epoch as epoch_from
    from framework0.isolation.archive import write_package
    from framework0.isolation.signing import key_fingerprint, load_private_key

    if source_date_epoch is None:
        source_date_epoch = epoch_from(os.environ if environ is None else environ)
    # the key first: a wrong key file is reported before the closure is resolved
    signing_key = None if sign is None else load_private_key(sign, package=one_line_name(os.fspath(output)))
    closure = resolve_closure(recipe, add=add)
    manifest = write_package(
        Path(output),
        entry=closure.entry,
        recipe=_test_id(recipe),
        files=[(entry.path, entry.source, entry.reasons) for entry in closure.files],
        requirements=[(entry.name, entry.version, entry.reasons) for entry in closure.requirements],
        source_date_epoch=source_date_epoch,
        signing_key=signing_key,
    )
    signer = None if signing_key is None else key_fingerprint(signing_key)
    return Package(Path(output), manifest, closure.unresolved, signer)


def _test_id(recipe: str | os.PathLike[str]) -> str | None:
    from framework0.recipe.loader import load_recipe

    return load_recipe(recipe).test_id
