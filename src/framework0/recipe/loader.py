"""YAML recipe -> validated ``Recipe``: the shape of every key, includes, params and defaults.

Every problem is collected as a FILE:LINE:COL diagnostic and all of them are raised together, as
one ``RecipeError``, before anything runs. The checks that need the whole recipe (scriptlets,
templates, dependencies, cycles) are in ``framework0.recipe.checks``.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from framework0.errors import Diagnostic, ParamError, RecipeError, Span, did_you_mean
from framework0.recipe.durations import parse_duration
from framework0.recipe.model import PARAM_TYPES, Param, Recipe, RetryPolicy
from framework0.recipe.params import check_value, infer_type, resolve_params
from framework0.recipe.yaml_source import NodePath, YamlDocument, YamlLimits, parse_yaml, read_yaml_file

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
MAX_RECIPE_BYTES_ENV = "F0_MAX_RECIPE_BYTES"


@dataclass(slots=True)
class Site:
    """A node of one YAML document, to report problems at."""

    doc: YamlDocument
    path: NodePath

    def at(self, *more: str | int) -> Site:
        return Site(self.doc, (*self.path, *more))

    def value_span(self) -> Span:
        return self.doc.value_span(self.path)

    def key_span(self) -> Span:
        return self.doc.key_span(self.path)


@dataclass(slots=True)
class RawStep:
    """A step's mapping as written, where it was written, and the defaults it inherits."""

    data: dict[str, Any]
    site: Site
    defaults: dict[str, tuple[Any, Site]]


@dataclass(slots=True)
class Parts:
    """What one recipe file contributes, includes merged in."""

    site: Site
    meta: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Param] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    defaults: dict[str, tuple[Any, Site]] = field(default_factory=dict)
    steps: list[RawStep] = field(default_factory=list)
    files: list[tuple[str, str]] = field(default_factory=list)


class Problems:
    """Collects diagnostics; the loader raises them all at once at the end."""

    def __init__(self) -> None:
        self.found: list[Diagnostic] = []

    def add(self, span: Span, message: str) -> None:
        self.found.append(Diagnostic(span, message))

    def at_value(self, site: Site, message: str) -> None:
        self.add(site.value_span(), message)

    def at_key(self, site: Site, message: str) -> None:
        self.add(site.key_span(), message)

    def mapping(self, value: Any, site: Site, allowed: tuple[str, ...], what: str) -> dict[str, Any] | None:
        """Return ``value`` if it is a mapping, reporting each unknown key with a suggestion."""
        if not isinstance(value, dict):
            self.at_value(site, f"{what} must be a mapping, got {_kind(value)}")
            return None
        for key in value:
            if key not in allowed:
                hint = did_you_mean(str(key), allowed) or f"; allowed: {', '.join(allowed)}"
                self.at_key(site.at(key), f"unknown key {key!r} in {what}{hint}")
        return value

    def typed(self, value: Any, site: Site, kind: type | tuple[type, ...], what: str) -> Any:
        ok = isinstance(value, kind) and not (isinstance(value, bool) and kind in (int, float, (int, float)))
        if not ok:
            name = _TYPE_NAMES.get(kind, "a number") if isinstance(kind, type) else "a number"
            self.at_value(site, f"{what} must be {name}, got {_kind(value)} {value!r}")
            return None
        return value

    def duration(self, value: Any, site: Site, what: str) -> float | None:
        try:
            return parse_duration(value)
        except ValueError as error:
            self.at_value(site, f"{what}: {error}")
            return None

    def string_list(self, value: Any, site: Site, what: str) -> tuple[str, ...]:
        if isinstance(value, str):
            return (value,)
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            self.at_value(site, f"{what} must be a list of strings, got {_kind(value)} {value!r}")
            return ()
        return tuple(value)


_TYPE_NAMES: dict[type, str] = {str: "a string", bool: "true or false", int: "an integer"}


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    return {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), type(value).__name__
    )


def default_limits() -> YamlLimits:
    """The YAML limits, with the size limit read from ``F0_MAX_RECIPE_BYTES`` when set."""
    configured = os.environ.get(MAX_RECIPE_BYTES_ENV)
    if configured and configured.isdigit():
        return YamlLimits(max_bytes=int(configured))
    return YamlLimits()


def read_parts(
    path: Path, problems: Problems, *, limits: YamlLimits, chain: tuple[Path, ...] = (), display: str = ""
) -> Parts | None:
    """Parse one recipe file and its includes into Parts (cached by path and content hash)."""
    doc = read_yaml_file(path, limits=limits, display_name=display or None)
    return parts_of(doc, path.parent, problems, limits=limits, chain=(*chain, path.resolve()))


def parts_of(
    doc: YamlDocument,
    base_dir: Path | None,
    problems: Problems,
    *,
    limits: YamlLimits,
    chain: tuple[Path, ...] = (),
) -> Parts | None:
    root = Site(doc, ())
    data = doc.data
    if data is None:
        problems.add(Span(doc.file, 1, 1), "the recipe is empty; it needs at least 'steps:'")
        return None
    top = problems.mapping(data, root, TOP_KEYS, "the recipe")
    if top is None:
        return None
    parts = Parts(root)
    if "test_meta" in top and "meta" in top:
        problems.at_key(root.at("meta"), "give either 'test_meta' or its alias 'meta', not both")
    meta_key = "test_meta" if "test_meta" in top else "meta"
    if meta_key in top:
        _read_meta(top[meta_key], root.at(meta_key), parts, problems)
    if "params" in top:
        _read_params(top["params"], root.at("params"), parts, problems)
    for key, reader in _OPTION_READERS.items():
        if key in top:
            parts.options[key] = reader(problems, top[key], root.at(key))
    if "defaults" in top:
        defaults = problems.mapping(top["defaults"], root.at("defaults"), DEFAULT_KEYS, "defaults")
        for key, value in (defaults or {}).items():
            if key in DEFAULT_KEYS:
                parts.defaults[key] = (value, root.at("defaults", key))
    if "include" in top:
        for index, name in enumerate(problems.string_list(top["include"], root.at("include"), "include")):
            site = root.at("include", index) if isinstance(top["include"], list) else root.at("include")
            _include(name, site, base_dir, parts, problems, limits=limits, chain=chain)
    if "steps" not in top:
        problems.add(Span(doc.file, 1, 1), "the recipe has no 'steps:'")
    else:
        steps = top["steps"]
        if not isinstance(steps, list):
            problems.at_value(root.at("steps"), f"'steps' must be a list of steps, got {_kind(steps)}")
        else:
            for index, step in enumerate(steps):
                site = root.at("steps", index)
                if problems.mapping(step, site, STEP_KEYS, "a step") is not None:
                    parts.steps.append(RawStep(step, site, {}))
    parts.files.append((doc.file, hashlib.sha256(repr(data).encode()).hexdigest()))
    return parts


def _include(
    name: str,
    site: Site,
    base_dir: Path | None,
    parts: Parts,
    problems: Problems,
    *,
    limits: YamlLimits,
    chain: tuple[Path, ...],
) -> None:
    path = (base_dir or Path.cwd()) / name
    if path.resolve() in chain:
        cycle = " -> ".join(p.name for p in (*chain, path.resolve()))
        problems.at_value(site, f"include cycle: {cycle}")
        return
    if not path.is_file():
        problems.at_value(site, f"included file {name!r} not found (looked for {path})")
        return
    try:
        included = read_parts(path, problems, limits=limits, chain=chain, display=str(path))
    except RecipeError as error:
        problems.found.extend(error.diagnostics)
        return
    if included is None:
        return
    # The including file wins: its params and defaults override, its steps come after.
    parts.params = {**included.params, **parts.params}
    parts.defaults = {**included.defaults, **parts.defaults}
    for step in included.steps:
        step.defaults = {**included.defaults, **step.defaults}
    parts.steps = [*included.steps, *parts.steps]
    parts.files.extend(included.files)


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
        problems.at_value(site, f"'params' must be a mapping of name to default, got {_kind(value)}")
        return
    for name, spec in value.items():
        param_site = site.at(name)
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            problems.at_key(param_site, f"param name {name!r} must be a Python identifier")
            continue
        param = _read_param(name, spec, param_site, problems)
        if param is not None:
            parts.params[name] = param


def _read_param(name: str, spec: Any, site: Site, problems: Problems) -> Param | None:
    span = site.key_span()
    if not isinstance(spec, dict) or not spec.keys() <= set(PARAM_KEYS) or not spec:
        if isinstance(spec, dict) and spec and any(key in PARAM_KEYS for key in spec):
            problems.mapping(spec, site, PARAM_KEYS, f"param {name!r}")
            return None
        return Param(name, infer_type(spec), spec, False, span=span)
    kind = spec.get("type", infer_type(spec.get("default")))
    if kind not in PARAM_TYPES:
        problems.at_value(
            site.at("type"),
            f"param {name!r} has unknown type {kind!r}{did_you_mean(str(kind), PARAM_TYPES)}; "
            f"use one of {', '.join(PARAM_TYPES)}",
        )
        return None
    required = spec.get("required", "default" not in spec)
    if not isinstance(required, bool):
        problems.at_value(site.at("required"), f"param {name!r}: 'required' must be true or false")
        return None
    choices = spec.get("choices")
    if choices is not None and not isinstance(choices, list):
        problems.at_value(site.at("choices"), f"param {name!r}: 'choices' must be a list")
        return None
    description = spec.get("description")
    param = Param(
        name,
        kind,
        spec.get("default"),
        required,
        description if isinstance(description, str) else None,
        tuple(choices) if choices is not None else None,
        span,
    )
    if "default" in spec and spec["default"] is not None:
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
    return problems.duration(value, site, "'timeout'")


_OPTION_READERS: dict[str, Callable[[Problems, Any, Site], Any]] = {
    "sequential": _read_sequential,
    "max_parallel": _read_max_parallel,
    "timeout": _read_timeout,
}


def read_retry(value: Any, site: Site, problems: Problems, base: Mapping[str, Any]) -> RetryPolicy:
    """A RetryPolicy from a ``retry:`` mapping (or a bare number of attempts) over inherited keys."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = {"attempts": value}
    given = problems.mapping(value, site, RETRY_KEYS, "retry") or {}
    merged = {**base, **{key: (given[key], site.at(key)) for key in given if key in RETRY_KEYS}}
    policy: dict[str, Any] = {}
    for key, (raw, where) in merged.items():
        if key == "attempts":
            number = problems.typed(raw, where, int, "retry.attempts")
            if number is not None and number < 1:
                problems.at_value(where, f"retry.attempts must be at least 1, got {number}")
            elif number is not None:
                policy[key] = number
        elif key in ("delay", "max_delay"):
            seconds = problems.duration(raw, where, f"retry.{key}")
            if seconds is not None:
                policy[key] = seconds
        elif key == "backoff":
            factor = problems.typed(raw, where, (int, float), "retry.backoff")
            if factor is not None and factor < 1:
                problems.at_value(where, f"retry.backoff must be 1 or more, got {factor}")
            elif factor is not None:
                policy[key] = float(factor)
        elif key == "jitter":
            share = problems.typed(raw, where, (int, float), "retry.jitter")
            if share is not None and not 0 <= share <= 1:
                problems.at_value(where, f"retry.jitter is a fraction from 0 to 1, got {share}")
            elif share is not None:
                policy[key] = float(share)
        elif key == "retry_on":
            policy[key] = problems.string_list(raw, where, "retry.retry_on")
    return RetryPolicy(**policy)


def retry_base(defaults: Mapping[str, tuple[Any, Site]], problems: Problems) -> dict[str, tuple[Any, Site]]:
    """The retry keys a step inherits from ``defaults.retry``, each with where it was written."""
    if "retry" not in defaults:
        return {}
    value, site = defaults["retry"]
    if isinstance(value, int) and not isinstance(value, bool):
        return {"attempts": (value, site)}
    if not isinstance(value, dict):
        return {}
    return {key: (item, site.at(key)) for key, item in value.items() if key in RETRY_KEYS}


def load_recipe(
    source: str | os.PathLike[str],
    *,
    params: Mapping[str, Any] | None = None,
    params_from_text: bool = False,
    limits: YamlLimits | None = None,
) -> Recipe:
    """Load, check and return a recipe; raise RecipeError listing every problem, or ParamError.

    ``params`` are checked against the recipe's declarations now, so that a bad override is
    reported before anything runs; the runner applies them.
    """
    from framework0.recipe.checks import build_recipe

    path = Path(source)
    problems = Problems()
    parts = read_parts(path, problems, limits=limits or default_limits(), display=str(source))
    recipe = build_recipe(parts, path, problems)
    if params:
        resolve_params(recipe.params, params, from_text=params_from_text)
    return recipe


def load_recipe_text(
    text: str,
    *,
    file: str = "<recipe>",
    base_dir: str | os.PathLike[str] | None = None,
    limits: YamlLimits | None = None,
) -> Recipe:
    """Load a recipe from a string; includes and module imports resolve against ``base_dir``."""
    from framework0.recipe.checks import build_recipe

    problems = Problems()
    limits = limits or default_limits()
    doc = parse_yaml(text, file=file, limits=limits)
    folder = Path(base_dir) if base_dir is not None else None
    parts = parts_of(doc, folder, problems, limits=limits)
    return build_recipe(parts, (folder or Path.cwd()) / file if base_dir is not None else None, problems)
