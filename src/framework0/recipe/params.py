"""Run params: checking values against their declarations, and reading ``-p KEY=VALUE`` overrides."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from typing import Any

from framework0.errors import ParamError, did_you_mean, short_repr
from framework0.recipe.model import Param

_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def infer_type(value: Any) -> str:
    """The param type a default value implies (``any`` for None)."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "dict"
    return "any"


def check_value(param: Param, value: Any) -> Any:
    """Return ``value`` if it fits the param's type (an int is a fine float), else raise ParamError."""
    kind = param.type
    ok = (
        kind == "any"
        or (kind == "bool" and isinstance(value, bool))
        or (kind == "int" and isinstance(value, int) and not isinstance(value, bool))
        or (kind == "float" and _is_finite_number(value))
        or (kind == "str" and isinstance(value, str))
        or (kind == "list" and isinstance(value, list))
        or (kind == "dict" and isinstance(value, dict))
    )
    if not ok:
        raise ParamError(
            f"param {short_repr(param.name)} must be {_article(kind)}, got {short_repr(value)}", param=param.name
        )
    if kind == "float" and isinstance(value, int):
        value = float(value)
    if isinstance(value, (list, dict, float)):
        _check_data(param.name, value)
    if param.choices is not None and value not in param.choices:
        allowed = ", ".join(short_repr(choice) for choice in param.choices)
        raise ParamError(
            f"param {short_repr(param.name)} must be one of {allowed}, got {short_repr(value)}", param=param.name
        )
    return value


#: as deep as a recipe's YAML may nest (YamlLimits.max_depth)
MAX_PARAM_DEPTH = 64


def _check_data(name: str, value: Any) -> None:
    """Refuse what JSON cannot hold (NaN, infinities) and nesting deeper than a recipe may have."""
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            raise ParamError(_not_finite(name, repr(item)), param=name)
        if isinstance(item, (list, dict)):
            if depth >= MAX_PARAM_DEPTH:
                raise ParamError(_TOO_DEEP.format(short_repr(name), MAX_PARAM_DEPTH), param=name)
            stack.extend((inner, depth + 1) for inner in (item.values() if isinstance(item, dict) else item))


_TOO_DEEP = "param {} is nested deeper than {} levels"


def _not_finite(name: str, number: str) -> str:
    number = number if len(number) <= 40 else number[:37] + "..."
    return f"param {short_repr(name)} holds {number}, which is not a finite number (JSON has no NaN or infinity)"


def _is_finite_number(value: Any) -> bool:
    """An int or float that is a finite float (so not NaN, an infinity, or an int too large for a float)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def coerce_text(param: Param, text: str) -> Any:
    """Convert a command-line string to the param's type: ``-p batch=50`` gives the int 50."""
    kind = param.type
    try:
        if kind == "str":
            return text
        if kind == "int":
            digits = text.strip().lstrip("+-").replace("_", "")
            if digits.isdigit() and len(digits) > _MAX_DIGITS:
                size = f"an integer of {len(digits)} digits; at most {_MAX_DIGITS} are allowed"
                raise ParamError(f"param {short_repr(param.name)} is {size}", param=param.name)
            return int(text)
        if kind == "float":
            number = float(text)
            if not math.isfinite(number):
                raise ValueError(text)
            return number
        if kind == "bool":
            lowered = text.strip().lower()
            if lowered in _TRUE:
                return True
            if lowered in _FALSE:
                return False
            raise ValueError(text)
        if kind in ("list", "dict", "any"):
            return _parse_structured(text, kind, param.name)
    except _NotFinite as error:
        raise ParamError(_not_finite(param.name, error.number), param=param.name) from None
    except _TooDeep:
        raise ParamError(_TOO_DEEP.format(short_repr(param.name), MAX_PARAM_DEPTH), param=param.name) from None
    except (ValueError, RecursionError):
        pass
    hint = f" (JSON, like {_EXAMPLES[kind]})" if kind in _EXAMPLES else ""
    raise ParamError(
        f"param {short_repr(param.name)} must be {_article(kind)}{hint}, got {short_repr(text)}", param=param.name
    )


_MAX_DIGITS = 4300  # Python's own limit on reading an int from text (sys.int_info.default_max_str_digits)
_EXAMPLES = {"list": '["a", "b"]', "dict": '{"key": "value"}'}


class _NotFinite(ValueError):
    """A number JSON cannot hold, as written (``1e999``, ``NaN``, ``-Infinity``, YAML's ``.inf``)."""

    def __init__(self, number: str) -> None:
        super().__init__(number)
        self.number = number


class _TooDeep(ValueError):
    pass


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise _NotFinite(text)
    return number


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")  # Python's extension: as text, or YAML's flow style


def _parse_structured(text: str, kind: str, name: str) -> Any:
    """JSON; for a list or dict also YAML's flow style (``[a, b]``, ``{k: v}``), if it gives JSON data."""
    try:
        value = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except _NotFinite:
        raise
    except RecursionError:
        raise _TooDeep(text) from None
    except ValueError:  # not JSON
        if kind == "any":
            return text
        if _nesting(text) > MAX_PARAM_DEPTH:
            raise _TooDeep(text) from None
        from framework0.errors import RecipeError
        from framework0.recipe.yaml_source import parse_yaml

        try:
            value = parse_yaml(text, file="-p").data
        except RecipeError:
            raise ValueError(text) from None
        try:
            _check_data(name, value)
            json.dumps(value, allow_nan=False)
        except ParamError as error:
            number = _first_non_finite(value)
            if number is not None:
                raise _NotFinite(number) from None
            raise _TooDeep(text) from error
        except (TypeError, ValueError):
            raise ValueError(text) from None
    if kind == "list" and not isinstance(value, list):
        raise ValueError(text)
    if kind == "dict" and not isinstance(value, dict):
        raise ValueError(text)
    _check_data(name, value)
    return value


def _nesting(text: str) -> int:
    """How deep the brackets of ``text`` go, counting those in strings too (an upper bound)."""
    deepest = depth = 0
    for char in text:
        if char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def _first_non_finite(value: Any) -> str | None:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            return repr(item)
        if isinstance(item, (list, dict)):
            stack.extend(reversed(list(item.values() if isinstance(item, dict) else item)))
    return None


def parse_assignments(pairs: Iterable[str]) -> dict[str, str]:
    """``["region=eu", "batch=50"]`` -> ``{"region": "eu", "batch": "50"}``."""
    values: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ParamError(f"params are given as KEY=VALUE, got {short_repr(pair)}")
        values[key.strip()] = value
    return values


def resolve_params(
    declared: Mapping[str, Param],
    overrides: Mapping[str, Any] | None = None,
    *,
    from_text: bool = False,
) -> dict[str, Any]:
    """The run's param values: defaults, then overrides (strings from the CLI when ``from_text``)."""
    overrides = overrides or {}
    for name in overrides:
        if name not in declared:
            known = ", ".join(declared) or "none"
            raise ParamError(
                f"unknown param {short_repr(name)}{did_you_mean(name, declared)}; the recipe's params are: {known}",
                param=name,
            )
    values: dict[str, Any] = {}
    for name, param in declared.items():
        if name in overrides:
            raw = overrides[name]
            value = coerce_text(param, raw) if from_text and isinstance(raw, str) else raw
            values[name] = check_value(param, value)
        elif param.required:
            raise ParamError(
                f"param {short_repr(name)} is required: give it with -p {name}=VALUE or params={{{name!r}: ...}}",
                param=name,
            )
        else:
            values[name] = param.default
    return values


def _article(kind: str) -> str:
    names = {"int": "an int", "float": "a float", "bool": "a bool (true/false)", "str": "a string"}
    return names.get(kind, f"a {kind}")
