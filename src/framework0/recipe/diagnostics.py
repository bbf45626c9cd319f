"""Where a recipe's problems are: a node of a YAML document, and the collection of FILE:LINE:COL diagnostics.

Reading (``framework0.recipe.reading``) and the whole-recipe checks (``framework0.recipe.checks``)
both report through these, so that every problem of a load is raised together, as one ``RecipeError``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from framework0.durations import parse_duration
from framework0.errors import Diagnostic, Span, did_you_mean, short_repr
from framework0.recipe.yaml_source import NodePath, YamlDocument


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
            self.at_value(site, f"{what} must be a mapping, got {describe(value)}")
            return None
        for key in value:
            if key not in allowed:
                self.unknown_key(key, site, allowed, what)
        return value

    def unknown_key(self, key: Any, site: Site, allowed: tuple[str, ...], what: str) -> None:
        hint = did_you_mean(str(key), allowed) or f"; allowed: {', '.join(allowed)}"
        self.at_key(site.at(key), f"unknown key {short_repr(key)} in {what}{hint}")

    def typed(self, value: Any, site: Site, kind: type, what: str) -> Any:
        """``value`` if it is of ``kind`` (str, bool or int; a bool is not an int), else report it and return None."""
        if isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
            return value
        self.at_value(site, f"{what} must be {_TYPE_NAMES[kind]}, got {describe(value)}")
        return None

    def number(self, value: Any, site: Site, what: str) -> float | None:
        """``value`` as a finite float if it is a number, else report it and return None."""
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            try:
                number = float(value)
            except OverflowError:
                number = math.inf
            if math.isfinite(number):
                return number
        self.at_value(site, f"{what} must be a number, got {describe(value)}")
        return None

    def duration(self, value: Any, site: Site, what: str) -> float | None:
        try:
            return parse_duration(value)
        except ValueError as error:
            self.at_value(site, f"{what}: {error}")
            return None

    def string_list(self, value: Any, site: Site, what: str) -> tuple[str, ...] | None:
        """A string or a list of strings, as a tuple; else report it and return None."""
        if isinstance(value, str):
            return (value,)
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            self.at_value(site, f"{what} must be a list of strings, got {describe(value)}")
            return None
        return tuple(value)


_TYPE_NAMES: dict[type, str] = {str: "a string", bool: "true or false", int: "an integer"}


def describe(value: Any) -> str:
    """A value for a message, with what it is: ``a string 'x'``, ``an integer 3``, ``a list [1, 2]``."""
    if value is None:
        return "nothing (null)"
    kind = {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "a list", dict: "a mapping"}
    return f"{kind.get(type(value), type(value).__name__)} {short_repr(value)}"
