"""Recipe YAML -> ``Parts``: the shape of every key, includes, params and defaults.

Every problem is collected as a FILE:LINE:COL diagnostic in ``Problems``; the checks that need the
whole recipe (scriptlets, templates, dependencies, cycles) come after, in ``framework0.recipe.checks``.

Includes: ``include: [a.yaml, b.yaml]`` merges each file's params, defaults and steps into the
recipe, in order: a later file wins over an earlier one and the including file wins over all of
them (``defaults.retry`` is merged key by key). The merged defaults apply to every step, included
ones too. Included steps come first. A file included twice (a diamond) is read once.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from framework0.errors import ParamError, RecipeError, Span, did_you_mean, short_repr
from framework0.recipe.diagnostics import Problems, Site, describe
from framework0.recipe.model import PARAM_TYPES, Param
from framework0.recipe.params import check_value, infer_type
from framework0.recipe.yaml_source import YamlDocument, YamlLimits, read_yaml_file

TOP_KEYS = (
    "test_meta",
    "meta",
    "params",
    "sequential",
    "max_parallel",
    "timeout",
    "defaults",
    "include",
    "steps",
)
META_KEYS = ("test_id", "description", "tags", "owner")
PARAM_KEYS = ("type", "default", "description", "choices", "required")
DEFAULT_KEYS = ("retry", "timeout", "continue_on_error", "cache")
RETRY_KEYS = ("attempts", "delay", "backoff", "max_delay", "jitter", "retry_on")
STEP_KEYS = (
    "idx",
    "name",
    "description",
    "uses",
    "module",
    "function",
    "args",
    "with",
    "foreach",
    "depends_on",
    "when",
    "retry",
    "timeout",
    "continue_on_error",
    "cache",
    "trigger",
)
STEP_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")
PARAM_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
#: how many files deep includes may go (main.yaml includes a.yaml, which includes b.yaml, ...)
MAX_INCLUDE_DEPTH = 50

_STEP_KEY_SET = frozenset(STEP_KEYS)


@dataclass(slots=True)
class RawStep:
    """A step's mapping as written, and where it was written."""

    data: dict[str, Any]
    site: Site


@dataclass(slots=True)
class Parts:
    """What one recipe file contributes, includes merged in.

    ``defaults`` holds checked values: ``timeout`` in seconds, ``continue_on_error`` and ``cache``
    as booleans, ``retry`` as a mapping of RetryPolicy fields.
    """

    site: Site
    meta: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Param] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    defaults: dict[str, Any] = field(default_factory=dict)
    steps: list[RawStep] = field(default_factory=list)
    files: list[tuple[str, str]] = field(default_factory=list)

    def merge(self, other: Parts) -> None:
        """Merge ``other`` over this: its params and defaults win, its steps come after."""
        self.params.update(other.params)
        retry = {**self.defaults.get("retry", {}), **other.defaults.get("retry", {})}
        self.defaults.update(other.defaults)
        if retry:
            self.defaults["retry"] = retry
        self.steps.extend(other.steps)
        self.files.extend(other.files)


@dataclass(slots=True)
class Reading:
    """The state of one load: limits, problems, and the files read so far."""

    problems: Problems
    limits: YamlLimits
    seen: set[Path] = field(default_factory=set)
    #: (path, SHA-256 of its bytes) of every file read, when the caller asks (a compiled recipe's key)
    digests: list[tuple[str, str]] | None = None


def read_parts(
    path: Path,
    problems: Problems,
    *,
    limits: YamlLimits,
    display: str = "",
    digests: list[tuple[str, str]] | None = None,
) -> Parts | None:
    """Parse one recipe file and its includes into Parts; None when it is not a recipe at all.
    ``digests`` gets the path and SHA-256 of every file read."""
    doc = read_yaml_file(path, limits=limits, display_name=display or None, digests=digests)
    reading = Reading(problems, limits, digests=digests)
    chain = (_resolved(path),)
    reading.seen.update(chain)
    return parts_of(doc, path.parent, reading, chain)


def parts_of(doc: YamlDocument, base_dir: Path | None, reading: Reading, chain: tuple[Path, ...] = ()) -> Parts | None:
    """What ``doc`` and its includes contribute; an included file (``len(chain) > 1``) needs no steps."""
    problems = reading.problems
    root = Site(doc, ())
    data = doc.data
    fragment = len(chain) > 1
    if data is None:
        if not fragment:
            problems.add(Span(doc.file, 1, 1), "the recipe is empty; it needs at least 'steps:'")
        return None
    top = problems.mapping(data, root, TOP_KEYS, "the recipe")
    if top is None:
        return None
    own = Parts(root)
    if "test_meta" in top and "meta" in top:
        problems.at_key(root.at("meta"), "give either 'test_meta' or its alias 'meta', not both")
    meta_key = "test_meta" if "test_meta" in top else "meta"
    if meta_key in top:
        _read_meta(top[meta_key], root.at(meta_key), own, problems)
    if "params" in top:
        _read_params(top["params"], root.at("params"), own, problems)
    for key, reader in _OPTION_READERS.items():
        if key in top:
            value = reader(problems, top[key], root.at(key))
            if value is not None:
                own.options[key] = value
    if "defaults" in top:
        own.defaults = _read_defaults(top["defaults"], root.at("defaults"), problems)
    if "steps" not in top:
        if not fragment and top.keys() <= set(TOP_KEYS):  # else an unknown key was likely meant to be 'steps'
            problems.add(Span(doc.file, 1, 1), "the recipe has no 'steps:'")
    else:
        _read_steps(top["steps"], root.at("steps"), own, problems)
    own.files.append((doc.file, hashlib.sha256(repr(data).encode()).hexdigest()))
    if "include" not in top:
        return _with_steps(own, top, root, problems, fragment)
    # Included files first, each over the ones before it, then this file over all of them.
    parts = Parts(root, meta=own.meta, options=own.options)
    before = len(problems.found)
    names = problems.string_list(top["include"], root.at("include"), "'include'") or ()
    for index, name in enumerate(names):
        site = root.at("include", index) if isinstance(top["include"], list) else root.at("include")
        included = _include(name, site, base_dir, reading, chain)
        if included is not None:
            parts.merge(included)
    parts.merge(own)
    # An include that could not be read may have held the steps: say nothing more about them then.
    return _with_steps(parts, top, root, problems, fragment or len(problems.found) > before)


def _with_steps(parts: Parts, top: dict[str, Any], root: Site, problems: Problems, skip: bool) -> Parts:
    """``parts``, after reporting a recipe whose ``steps: []`` leaves it (includes merged) without a step."""
    if not skip and top.get("steps") == [] and not parts.steps:
        problems.at_value(root.at("steps"), "the recipe has no steps; add at least one under 'steps:'")
    return parts


def _read_steps(steps: Any, site: Site, parts: Parts, problems: Problems) -> None:
    if not isinstance(steps, list):
        problems.at_value(site, f"'steps' must be a list of steps, got {describe(steps)}")
        return
    for index, step in enumerate(steps):
        step_site = site.at(index)
        if not isinstance(step, dict):
            problems.at_value(step_site, f"a step must be a mapping, got {describe(step)}")
            continue
        if not step.keys() <= _STEP_KEY_SET:
            for key in step:
                if key not in _STEP_KEY_SET:
                    problems.unknown_key(key, step_site, STEP_KEYS, "a step")
        parts.steps.append(RawStep(step, step_site))


def _resolved(path: Path) -> Path:
    try:
        return path.resolve()
    except (OSError, RuntimeError):
        return path.absolute()


def _include(name: str, site: Site, base_dir: Path | None, reading: Reading, chain: tuple[Path, ...]) -> Parts | None:
    problems = reading.problems
    if not name.strip() or "\x00" in name:
        problems.at_value(site, f"'include' needs a file name, got {short_repr(name)}")
        return None
    path = (base_dir or Path.cwd()) / name
    resolved = _resolved(path)
    if resolved in chain:
        cycle = " -> ".join(p.name for p in (*chain[chain.index(resolved) :], resolved))
        problems.at_value(site, f"include cycle: {cycle}")
        return None
    if resolved in reading.seen:
        return None  # already merged in through another include
    if len(chain) > MAX_INCLUDE_DEPTH:
        names = [p.name for p in (*chain, resolved)]
        shown = " -> ".join([*names[:3], "...", *names[-2:]])
        problems.at_value(site, f"include chain deeper than {MAX_INCLUDE_DEPTH} files ({shown})")
        return None
    try:
        found = path.is_file()
    except OSError:
        found = False
    if not found:
        problems.at_value(site, f"included file {short_repr(name)} not found (looked for {short_repr(str(path), 200)})")
        return None
    reading.seen.add(resolved)
    try:
        doc = read_yaml_file(path, limits=reading.limits, display_name=str(path), digests=reading.digests)
    except RecipeError as error:
        problems.found.extend(error.diagnostics)
        return None
    return parts_of(doc, path.parent, reading, (*chain, resolved))


def _read_meta(value: Any, site: Site, parts: Parts, problems: Problems) -> None:
    meta = problems.mapping(value, site, META_KEYS, "test_meta")
    if meta is None:
        return
    for key in ("test_id", "description", "owner"):
        if key in meta:
            text = meta[key]
            if isinstance(text, (int, float)) and not isinstance(text, bool):
                text = str(text)
            parts.meta[key] = problems.typed(text, site.at(key), str, f"test_meta.{key}")
    if "tags" in meta:
        parts.meta["tags"] = problems.string_list(meta["tags"], site.at("tags"), "test_meta.tags")


def _read_params(value: Any, site: Site, parts: Parts, problems: Problems) -> None:
    if not isinstance(value, dict):
        problems.at_value(site, f"'params' must be a mapping of name to default, got {describe(value)}")
        return
    for name, spec in value.items():
        param_site = site.at(name)
        if not isinstance(name, str) or not PARAM_NAME.fullmatch(name):
            problems.at_key(param_site, f"param name {short_repr(name)} must be a Python identifier")
            continue
        param = _read_param(name, spec, param_site, problems)
        if param is not None:
            parts.params[name] = param


def _not_json(value: Any) -> str | None:
    """Why a default cannot be a run param (params are JSON, like everything a run records), or None."""
    import datetime
    import math

    if isinstance(value, (datetime.date, datetime.datetime)):
        return f"{short_repr(value)} is a date; quote it to use it as text"
    if isinstance(value, float) and not math.isfinite(value):
        return f"{short_repr(value)} is not a finite number"
    if isinstance(value, list):
        return next((p for p in map(_not_json, value) if p), None)
    if isinstance(value, dict):
        return next((p for p in map(_not_json, value.values()) if p), None)
    return None


def _read_param(name: str, spec: Any, site: Site, problems: Problems) -> Param | None:
    """A param from its short form (the default) or its long form (a mapping of PARAM_KEYS)."""
    span = site.key_span()
    # A mapping is the long form when it uses a param key; else it is a mapping default.
    if not isinstance(spec, dict) or not spec or not any(key in PARAM_KEYS for key in spec):
        problem = _not_json(spec)
        if problem:
            problems.at_value(site, f"param {short_repr(name)}: {problem}")
            return None
        return Param(name, infer_type(spec), spec, False, span=span)
    if not spec.keys() <= set(PARAM_KEYS):
        problems.mapping(spec, site, PARAM_KEYS, f"param {short_repr(name)}")
        return None
    choices = spec.get("choices")
    if choices is not None and (not isinstance(choices, list) or not choices):
        problems.at_value(site.at("choices"), f"param {short_repr(name)}: 'choices' must be a non-empty list")
        return None
    example = spec["default"] if spec.get("default") is not None else choices[0] if choices else None
    kind = spec.get("type", infer_type(example))
    if not isinstance(kind, str) or kind not in PARAM_TYPES:
        hint = did_you_mean(kind, PARAM_TYPES) if isinstance(kind, str) else ""
        problems.at_value(
            site.at("type"),
            f"param {short_repr(name)} has unknown type {short_repr(kind)}{hint}; use one of {', '.join(PARAM_TYPES)}",
        )
        return None
    required = spec.get("required", "default" not in spec)
    if not isinstance(required, bool):
        problems.at_value(site.at("required"), f"param {short_repr(name)}: 'required' must be true or false")
        return None
    description = spec.get("description")
    if description is not None and not isinstance(description, str):
        problems.at_value(site.at("description"), f"param {short_repr(name)}: 'description' must be a string")
        return None
    param = Param(name, kind, None, required, description, None, span)
    for index, choice in enumerate(choices or ()):
        try:
            check_value(param, choice)
        except ParamError:
            problems.at_value(
                site.at("choices", index),
                f"param {short_repr(name)} is of type {kind!r}: choice {short_repr(choice)} is not",
            )
            return None
    param = Param(name, kind, spec.get("default"), required, description, tuple(choices) if choices else None, span)
    if spec.get("default") is not None:
        try:
            check_value(param, spec["default"])
        except ParamError as error:
            problems.at_value(site.at("default"), f"default of {error}")
            return None
    return param


def _read_sequential(problems: Problems, value: Any, site: Site) -> Any:
    return problems.typed(value, site, bool, "'sequential'")


def _read_max_parallel(problems: Problems, value: Any, site: Site) -> Any:
    number = problems.typed(value, site, int, "'max_parallel'")
    if number is not None and number < 1:
        problems.at_value(site, f"'max_parallel' must be at least 1, got {number}")
        return None
    return number


def _read_timeout(problems: Problems, value: Any, site: Site) -> Any:
    seconds = problems.duration(value, site, "'timeout'")
    if seconds is not None and seconds <= 0:
        problems.at_value(site, f"'timeout' must be more than 0, got {short_repr(value)}")
        return None
    return seconds


_OPTION_READERS: dict[str, Callable[[Problems, Any, Site], Any]] = {
    "sequential": _read_sequential,
    "max_parallel": _read_max_parallel,
    "timeout": _read_timeout,
}


def _read_defaults(value: Any, site: Site, problems: Problems) -> dict[str, Any]:
    """The checked ``defaults:`` (see Parts); each problem is reported once, here."""
    given = problems.mapping(value, site, DEFAULT_KEYS, "defaults") or {}
    defaults: dict[str, Any] = {}
    if "retry" in given:
        retry = read_retry(given["retry"], site.at("retry"), problems, "defaults.retry")
        if retry is not None:
            defaults["retry"] = retry
    if "timeout" in given:
        timeout = problems.duration(given["timeout"], site.at("timeout"), "defaults.timeout")
        if timeout is not None and timeout <= 0:
            message = f"'defaults.timeout' must be more than 0, got {short_repr(given['timeout'])}"
            problems.at_value(site.at("timeout"), message)
        elif timeout is not None:
            defaults["timeout"] = timeout
    for key in ("continue_on_error", "cache"):
        if key in given:
            flag = problems.typed(given[key], site.at(key), bool, f"defaults.{key}")
            if flag is not None:
                defaults[key] = flag
    return defaults


def read_retry(value: Any, site: Site, problems: Problems, what: str = "retry") -> dict[str, Any] | None:
    """The RetryPolicy fields a ``retry:`` mapping (or a bare number of attempts) gives; None if invalid.

    Only the keys written are returned, so that a step's retry can be merged over the defaults'.
    """
    bare = isinstance(value, int) and not isinstance(value, bool)
    if bare:
        value = {"attempts": value}

    def where(key: str) -> Site:
        return site if bare else site.at(key)

    given = problems.mapping(value, site, RETRY_KEYS, what)
    if given is None:
        return None
    before = len(problems.found)
    policy: dict[str, Any] = {}
    for key, raw in given.items():
        if key == "attempts":
            number = problems.typed(raw, where(key), int, f"{what}.attempts")
            if number is not None and number < 1:
                problems.at_value(where(key), f"{what}.attempts must be at least 1, got {number}")
            policy[key] = number
        elif key in ("delay", "max_delay"):
            policy[key] = problems.duration(raw, where(key), f"{what}.{key}")
        elif key == "backoff":
            factor = problems.number(raw, where(key), f"{what}.backoff")
            if factor is not None and factor < 1:
                problems.at_value(where(key), f"{what}.backoff must be 1 or more, got {raw}")
            policy[key] = factor
        elif key == "jitter":
            share = problems.number(raw, where(key), f"{what}.jitter")
            if share is not None and not 0 <= share <= 1:
                problems.at_value(where(key), f"{what}.jitter is a fraction from 0 to 1, got {raw}")
            policy[key] = share
        elif key == "retry_on":
            policy[key] = problems.string_list(raw, where(key), f"{what}.retry_on")
    return None if len(problems.found) > before else policy
