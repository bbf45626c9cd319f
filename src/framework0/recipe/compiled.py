"""Compiled recipes: a checked recipe kept on disk, so that loading it again skips reading its YAML.

Like Python's ``__pycache__``: an entry holds the recipe as the loader built it, and is used only
while every file it was read from has the same bytes (SHA-256) and the loader's own code is the
same (each module's size and modification time), under the same Python. What depends on code
outside the recipe is done again on every load, as a cold load does it: each scriptlet is
resolved (imported) anew and must be the same one (import string, origin, expression args), and
each distinct combination of scriptlet and static args is checked again (its params model and
its own ``validate``). Anything that differs, and any entry that cannot be read, is a miss: the
recipe is loaded from its text and the entry written again. An entry that cannot be written is
not written; loading never fails because of this cache.

One file per recipe (per path, display name and size limits), written whole and renamed into
place, so that processes loading the same recipe at once each read a whole entry.
"""

from __future__ import annotations

import hashlib
import marshal
import os
import sys
from collections.abc import Callable
from contextlib import suppress
from functools import cache
from pathlib import Path
from typing import Any

from framework0.errors import ScriptletError, Span
from framework0.recipe.checks import ScriptletResolver, Trace, arg_problems
from framework0.recipe.model import Param, Recipe, RetryPolicy, Step
from framework0.recipe.yaml_source import YamlLimits
from framework0.scriptlets.registry import ScriptletSpec, default_search_path

#: bumped whenever what an entry holds changes shape
FORMAT = 1
SUFFIX = ".f0r"

_STEP_FIELDS = tuple(Step.__dataclass_fields__)
_new = object.__new__
_step_setters = [getattr(Step, name).__set__ for name in _STEP_FIELDS]
_span_file, _span_line, _span_col = (getattr(Span, name).__set__ for name in ("file", "line", "col"))


def entry_path(folder: Path, path: Path, display: str, limits: YamlLimits) -> Path:
    """Where the entry of the recipe at ``path`` (shown as ``display``, read under ``limits``) lives."""
    name = repr((str(_absolute(path)), display, _limits_key(limits)))
    return folder / (hashlib.sha256(name.encode()).hexdigest()[:32] + SUFFIX)


def load(folder: Path, path: Path, display: str, limits: YamlLimits) -> Recipe | None:
    """The recipe at ``path`` from its entry in ``folder``, when the entry is there and still true;
    None otherwise (the caller loads it from its text)."""
    try:
        entry = marshal.loads(entry_path(folder, path, display, limits).read_bytes())
        return _rebuild(entry, path, display, limits)
    except (OSError, EOFError, ValueError, TypeError, IndexError, KeyError, ScriptletError):
        return None  # no entry, a torn or foreign one, or a scriptlet that no longer resolves


def save(
    folder: Path,
    path: Path,
    display: str,
    limits: YamlLimits,
    recipe: Recipe,
    digests: list[tuple[str, str]],
    trace: Trace,
) -> None:
    """Write the entry of ``recipe``, loaded from the files in ``digests`` with ``trace``; a recipe
    holding values an entry cannot (dates) or a folder that cannot be written is left uncached."""
    try:
        data = marshal.dumps(_entry(recipe, path, display, limits, digests, trace))
    except ValueError:
        return
    target = entry_path(folder, path, display, limits)
    partial = target.with_name(f"{target.name}.{os.getpid()}.tmp")
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)  # (what is kept here is trusted: yours alone)
        partial.write_bytes(data)
        os.replace(partial, target)
    except OSError:
        with suppress(OSError):
            partial.unlink(missing_ok=True)


def _identity(display: str, path: Path, limits: YamlLimits) -> tuple[Any, ...]:
    """What an entry must have been made under: this format, this loader's code, this Python, this
    file under this name and these limits."""
    return (FORMAT, code_stamp(), sys.version, str(_absolute(path)), display, _limits_key(limits))


def _entry(
    recipe: Recipe,
    path: Path,
    display: str,
    limits: YamlLimits,
    digests: list[tuple[str, str]],
    trace: Trace,
) -> tuple[Any, ...]:
    keys = list(trace.scriptlets)
    index = {id(trace.scriptlets[key]): position for position, key in enumerate(keys)}
    scriptlets = [(key, _spec_identity(trace.scriptlets[key])) for key in keys]
    checks = [(index[id(spec)], static, tuple(sorted(templated))) for spec, static, templated in trace.arg_checks]
    retries: list[RetryPolicy] = []
    files: list[str] = []
    steps = []
    for step in recipe.steps:
        if step.retry not in retries:
            retries.append(step.retry)
        span = step.span
        if span is not None and span.file not in files:
            files.append(span.file)
        values = [getattr(step, name) for name in _STEP_FIELDS]
        values[_STEP_FIELDS.index("scriptlet")] = index[id(step.scriptlet)]
        values[_STEP_FIELDS.index("retry")] = retries.index(step.retry)
        values[_STEP_FIELDS.index("args")] = dict(step.args)
        values[_STEP_FIELDS.index("span")] = None if span is None else (files.index(span.file), span.line, span.col)
        steps.append(tuple(values))
    params = [
        (
            param.name,
            param.type,
            param.default,
            param.required,
            param.description,
            param.choices,
            None if param.span is None else (param.span.file, param.span.line, param.span.col),
        )
        for param in recipe.params.values()
    ]
    return (
        _identity(display, path, limits),
        digests,
        recipe.search_path,
        scriptlets,
        checks,
        (recipe.test_id, recipe.description, recipe.tags, recipe.sequential, recipe.max_parallel, recipe.timeout),
        (recipe.content_hash, recipe.settings_digest),
        params,
        [tuple(getattr(retry, name) for name in RetryPolicy.__dataclass_fields__) for retry in retries],
        files,
        steps,
    )


def _rebuild(entry: Any, path: Path, display: str, limits: YamlLimits) -> Recipe | None:
    (identity, digests, search_path, scriptlets, checks, options, hashes, params, retries, files, rows) = entry
    if identity != _identity(display, path, limits) or not _same_files(digests, limits):
        return None
    if tuple(search_path) != default_search_path(path.parent):
        return None  # another working directory: local modules may resolve elsewhere
    resolver = ScriptletResolver(tuple(search_path))
    specs: list[ScriptletSpec] = []
    for key, identity_then in scriptlets:
        spec = resolver.resolve(tuple(key))
        if _spec_identity(spec) != identity_then:
            return None
        specs.append(spec)
    for position, static, templated in checks:
        if arg_problems(specs[position], static, frozenset(templated)):
            return None  # the scriptlet changed, or its own checks now say no: a cold load says where
    policies = [RetryPolicy(*values) for values in retries]
    test_id, description, tags, sequential, max_parallel, timeout = options
    content_hash, settings_digest = hashes
    return Recipe(
        steps=_steps(rows, specs, policies, files),
        path=path,
        test_id=test_id,
        description=description,
        tags=tuple(tags),
        params={
            name: Param(name, kind, default, required, text, choices, None if span is None else Span(*span))
            for name, kind, default, required, text, choices, span in params
        },
        sequential=sequential,
        max_parallel=max_parallel,
        timeout=timeout,
        search_path=tuple(search_path),
        content_hash=content_hash,
        settings_digest=settings_digest,
    )


def _steps(
    rows: list[tuple[Any, ...]], specs: list[ScriptletSpec], policies: list[RetryPolicy], files: list[str]
) -> tuple[Step, ...]:
    """The steps of an entry, each slot set directly (as ``model.new_step`` does): a recipe of
    10,000 steps is built in a few milliseconds."""
    scriptlet_at, retry_at, span_at = (_STEP_FIELDS.index(name) for name in ("scriptlet", "retry", "span"))
    steps: list[Step] = []
    setters: list[Callable[[Any, Any], None]] = _step_setters
    for row in rows:
        values = list(row)
        values[scriptlet_at] = specs[values[scriptlet_at]]
        values[retry_at] = policies[values[retry_at]]
        where = values[span_at]
        if where is not None:
            span = _new(Span)
            _span_file(span, files[where[0]])
            _span_line(span, where[1])
            _span_col(span, where[2])
            values[span_at] = span
        step = _new(Step)
        for setter, value in zip(setters, values, strict=True):
            setter(step, value)
        steps.append(step)
    return tuple(steps)


def _same_files(digests: list[tuple[str, str]], limits: YamlLimits) -> bool:
    """Whether every file the entry was read from still has the same bytes."""
    for name, digest in digests:
        with open(name, "rb") as stream:
            raw = stream.read(limits.max_bytes + 1)
        if hashlib.sha256(raw).hexdigest() != digest:
            return False
    return True


def _spec_identity(spec: ScriptletSpec) -> tuple[Any, ...]:
    """What a recipe's checks took from a resolved scriptlet, beyond its args checks."""
    return (spec.name, spec.ref, spec.origin, tuple(spec.search_path), tuple(sorted(spec.scriptlet.expression_args)))


def _limits_key(limits: YamlLimits) -> tuple[int, int, int, int]:
    return (limits.max_bytes, limits.max_depth, limits.max_aliases, limits.max_nodes)


def _absolute(path: Path) -> Path:
    try:
        return path.resolve()
    except (OSError, RuntimeError):
        return path.absolute()


@cache
def code_stamp() -> tuple[tuple[str, int, int], ...]:
    """The name, size and modification time of every module whose code decides what a load gives:
    the recipe package, and what it takes scriptlets, errors and graphs from."""
    package = Path(__file__).resolve().parent.parent
    folders = [package / "recipe"]
    files = [package / "errors.py", package / "durations.py", package / "graph" / "dag.py"]
    files += [package / "scriptlets" / name for name in ("registry.py", "base.py", "params.py")]
    stamp: list[tuple[str, int, int]] = []
    for folder in folders:
        files += sorted(folder.glob("*.py"))
    for file in files:
        info = file.stat()
        stamp.append((file.name, info.st_size, info.st_mtime_ns))
    return tuple(stamp)
