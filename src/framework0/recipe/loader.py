"""YAML recipe -> validated ``Recipe``: reading the files, then the checks that need the whole recipe.

Every problem is collected as a FILE:LINE:COL diagnostic and all of them are raised together, as
one ``RecipeError``, before anything runs. Reading each file (the shape of every key, includes,
params, defaults) is ``framework0.recipe.reading``; the checks over the whole recipe (scriptlets,
templates, dependencies, cycles) are ``framework0.recipe.checks``.

Nothing here reads the environment: the size limit is the ``max_bytes`` argument, which the
caller's configuration fills in (from ``F0_MAX_RECIPE_BYTES``, named by ``MAX_RECIPE_BYTES_ENV``).
"""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from framework0.recipe.checks import Trace, build_recipe
from framework0.recipe.diagnostics import Problems
from framework0.recipe.model import Recipe
from framework0.recipe.params import resolve_params
from framework0.recipe.reading import (
    DEFAULT_KEYS,
    META_KEYS,
    PARAM_KEYS,
    RETRY_KEYS,
    STEP_KEYS,
    TOP_KEYS,
    Reading,
    parts_of,
    read_parts,
)
from framework0.recipe.yaml_source import YamlLimits, parse_yaml

__all__ = [
    "DEFAULT_KEYS",
    "MAX_RECIPE_BYTES_ENV",
    "META_KEYS",
    "PARAM_KEYS",
    "RETRY_KEYS",
    "STEP_KEYS",
    "TOP_KEYS",
    "load_recipe",
    "load_recipe_text",
]

#: the environment variable the configuration reads the recipe size limit from (a number of bytes)
MAX_RECIPE_BYTES_ENV = "F0_MAX_RECIPE_BYTES"


def _limits(limits: YamlLimits | None, max_bytes: int | None) -> YamlLimits:
    """``limits`` (or the defaults), with ``max_bytes`` over its size limit when given."""
    limits = limits or YamlLimits()
    if max_bytes is not None and max_bytes != limits.max_bytes:
        return YamlLimits(max_bytes, limits.max_depth, limits.max_aliases, limits.max_nodes)
    return limits


def load_recipe(
    source: str | os.PathLike[str],
    *,
    params: Mapping[str, Any] | None = None,
    params_from_text: bool = False,
    limits: YamlLimits | None = None,
    max_bytes: int | None = None,
    compiled: str | os.PathLike[str] | None = None,
) -> Recipe:
    """Load, check and return a recipe; raise RecipeError listing every problem, or ParamError.

    ``params`` are checked against the recipe's declarations now, so that a bad override is
    reported before anything runs; the runner applies them. ``max_bytes`` bounds the size of each
    file (includes too); None means the built-in 10 MiB (``YamlLimits.max_bytes``). ``compiled``:
    a folder of compiled recipes (``framework0.recipe.compiled``) to load an unchanged recipe
    from, and to keep this one in; None reads the YAML every time.
    """
    path = Path(source)
    problems = Problems()
    display = os.fspath(source)
    limits = _limits(limits, max_bytes)
    with _paused_gc():
        if compiled is None:
            recipe = build_recipe(read_parts(path, problems, limits=limits, display=display), path, problems)
        else:
            recipe = _load_compiled(Path(compiled), path, display, limits, problems)
    if params:
        resolve_params(recipe.params, params, from_text=params_from_text)
    return recipe


def load_recipe_text(
    text: str,
    *,
    file: str = "<recipe>",
    base_dir: str | os.PathLike[str] | None = None,
    limits: YamlLimits | None = None,
    max_bytes: int | None = None,
) -> Recipe:
    """Load a recipe from a string; includes and module imports resolve against ``base_dir``.

    Without ``base_dir`` they resolve against the working directory and ``Recipe.path`` is None.
    ``max_bytes`` bounds the text and each included file, as for ``load_recipe``.
    """
    problems = Problems()
    limits = _limits(limits, max_bytes)
    folder = Path(base_dir) if base_dir is not None else None
    with _paused_gc():
        doc = parse_yaml(text, file=file, limits=limits)
        parts = parts_of(doc, folder, Reading(problems, limits))
        return build_recipe(parts, folder / file if folder is not None else None, problems)


def _load_compiled(folder: Path, path: Path, display: str, limits: YamlLimits, problems: Problems) -> Recipe:
    """The recipe from its compiled entry in ``folder`` when that is still true, else from its text
    (and its entry written again)."""
    from framework0.recipe import compiled

    recipe = compiled.load(folder, path, display, limits)
    if recipe is None:
        digests: list[tuple[str, str]] = []
        trace = Trace()
        parts = read_parts(path, problems, limits=limits, display=display, digests=digests)
        recipe = build_recipe(parts, path, problems, trace)
        compiled.save(folder, path, display, limits, recipe, digests, trace)
    return recipe


@contextmanager
def _paused_gc() -> Iterator[None]:
    """Pause the cycle collector: loading makes many objects and no cycles, and a big recipe loads
    a third faster without the collections that all those objects would set off."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
