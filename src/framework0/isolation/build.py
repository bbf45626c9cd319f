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
    """A package written by ``isolate``: where it is, its manifest, and the imports that could not be
    followed (dynamic ones; add what they load with ``add``)."""

    path: Path
    manifest: Manifest
    unresolved: tuple[Unresolved, ...] = ()


def isolate(
    recipe: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    add: Sequence[str | os.PathLike[str]] = (),
    source_date_epoch: int | None = None,
    environ: Mapping[str, str] | None = None,
) -> Package:
    """Pack ``recipe`` with the local code it imports, the files in ``add`` and its pinned
    requirements into ``output`` (``.f0.zip``, ``.zip``, ``.tar.gz`` or ``.tgz``).

    ``source_date_epoch`` fixes the times inside the archive; None takes ``SOURCE_DATE_EPOCH``
    from ``environ`` (this process's environment when None), as reproducible-build tools set it.
    The same inputs and epoch give a byte-identical archive.
    """
    from framework0.isolation.archive import source_date_epoch as epoch_from
    from framework0.isolation.archive import write_package

    if source_date_epoch is None:
        source_date_epoch = epoch_from(os.environ if environ is None else environ)
    closure = resolve_closure(recipe, add=add)
    manifest = write_package(
        Path(output),
        entry=closure.entry,
        recipe=_test_id(recipe),
        files=[(entry.path, entry.source, entry.reasons) for entry in closure.files],
        requirements=[(entry.name, entry.version, entry.reasons) for entry in closure.requirements],
        source_date_epoch=source_date_epoch,
    )
    return Package(Path(output), manifest, closure.unresolved)


def _test_id(recipe: str | os.PathLike[str]) -> str | None:
    from framework0.recipe.loader import load_recipe

    return load_recipe(recipe).test_id
