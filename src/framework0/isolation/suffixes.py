"""Which paths name a recipe package rather than a recipe: the suffixes ``f0 isolate`` writes.

A module of its own so that ``f0 run`` can tell without importing anything of packages (a test
checks it agrees with ``archive.SUFFIXES``)."""

from __future__ import annotations

import os

#: what a recipe package's name ends with; ``f0 run`` takes anything else for a recipe
PACKAGE_SUFFIXES = (".f0.zip", ".zip", ".tar.gz", ".tgz")


def is_package(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` names a recipe package rather than a recipe, by its suffix."""
    return os.fspath(path).lower().endswith(PACKAGE_SUFFIXES)
