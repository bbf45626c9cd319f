"""The template sandbox's limits on render time and output size, so no template can hang a run or exhaust memory."""

from __future__ import annotations

import functools
import re
import time
import types
from collections.abc import Callable, ItemsView, Iterator, KeysView, Mapping, Sequence, ValuesView
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, overload


@dataclass(frozen=True, slots=True)
class TemplateLimits:
    """Bounds on one render; going past any of them raises ``TemplateSecurityError``.

    ``max_output_chars`` bounds a rendered string; the strings and lists a render builds along the
    way (output of macros and loops, ``~``, ``+``, ``*``, ``%``, ``format``, ``join``, ...) may total
    four times as much. ``max_sequence`` bounds one ``*`` result, a ``**`` result's digits, and the
    widths and counts given to padding, ``batch`` or ``slice``.
    """

    max_output_chars: int = 1_000_000
    max_seconds: float = 2.0
    max_range: int = 10_000
    max_sequence: int = 100_000


DEFAULT_LIMITS = TemplateLimits()

_WORK_FACTOR = 4


# --- the per-render budget -------------------------------------------------------------------


class Refused(Exception):
    """A limit was reached; reported as ``TemplateSecurityError``."""


class Budget:
    """The deadline and the characters left to build, of the render running in this context."""

    __slots__ = ("deadline", "limits", "work")

    def __init__(self, limits: TemplateLimits) -> None:
        self.limits = limits
        self.deadline = time.monotonic() + limits.max_seconds
        self.work = limits.max_output_chars * _WORK_FACTOR

    def tick(self) -> None:
        if time.monotonic() > self.deadline:
            raise Refused(f"took longer than {self.limits.max_seconds:g}s")

    def afford(self, size: int) -> None:
        if size > self.work:
            total = self.limits.max_output_chars * _WORK_FACTOR
            raise Refused(f"would build more than {total} characters in total")

    def spend(self, size: int) -> None:
        self.afford(size)
        self.work -= size

    def bound(self, value: int, what: str) -> None:
        if value > self.limits.max_sequence:
            raise Refused(f"{what} is larger than the limit of {self.limits.max_sequence}")


STATE: ContextVar[Budget | None] = ContextVar("framework0_template_budget", default=None)


def active() -> Budget:
    """The running render's budget; outside one (Jinja folding constants at compile time) refuse."""
    budget = STATE.get()
    if budget is None:
        raise Refused("evaluated at render time only")
    budget.tick()
    return budget


def tick() -> None:
    budget = STATE.get()
    if budget is not None:
        budget.tick()


_VIEWS = (KeysView, ValuesView, ItemsView)
_ITERATORS = (types.GeneratorType, *_VIEWS)
_SCALARS = frozenset({str, int, float, bool, type(None)})


def _size(value: object, cap: int) -> int:
    """Characters plus items in ``value``, counting shared parts each time; stops once past ``cap``."""
    total = steps = 0
    stack = [value]
    while stack and total <= cap:
        item = stack.pop()
        kind = type(item)
        if kind is str or kind is bytes:
            total += len(item)  # type: ignore[arg-type]
        elif kind in _SCALARS:
            pass
        elif isinstance(item, (list, tuple, set, frozenset)):
            total += len(item)
            if total <= cap:
                stack.extend(item)
        elif isinstance(item, (str, bytes)):
            total += len(item)
        elif isinstance(item, (dict, Mapping)):
            total += len(item)
            if total <= cap:
                stack.extend(item.keys())
                stack.extend(item.values())
        elif isinstance(item, _VIEWS):
            total += len(item)
            if total <= cap:
                stack.extend(item)
        steps += 1
        if steps & 0xFFFF == 0:
            tick()
    return total


def native(value: Any, budget: Budget, builds: bool, undefined: type[Any]) -> Any:
    """An expression's value as handed to the caller: iterators become lists; undefined parts fail."""
    if type(value) in _SCALARS:
        return value
    if not builds:  # a value from the namespace, or a constant
        if isinstance(value, undefined):
            str(value)  # raises the undefined error
        return value
    if isinstance(value, _Range):
        return list(value.range)
    if isinstance(value, _ITERATORS):
        value = list(value)
        budget.spend(len(value))
    stack = [value]
    size = 0
    while stack:
        item = stack.pop()
        if isinstance(item, (list, tuple, dict)):
            size += len(item)
            budget.afford(size)
            stack.extend(item.values() if isinstance(item, dict) else item)
        elif isinstance(item, (str, bytes)):
            size += len(item)
        elif isinstance(item, undefined):
            str(item)  # raises the undefined error
    budget.afford(size)
    return value


class _Range(Sequence[int]):
    """``range()`` in templates: at most ``max_range`` items, and iterating it watches the deadline."""

    __slots__ = ("range",)

    def __init__(self, values: range) -> None:
        self.range = values

    def __len__(self) -> int:
        return len(self.range)

    @overload
    def __getitem__(self, index: int) -> int: ...
    @overload
    def __getitem__(self, index: slice) -> _Range: ...
    def __getitem__(self, index: int | slice) -> int | _Range:
        return _Range(self.range[index]) if isinstance(index, slice) else self.range[index]

    def __iter__(self) -> Iterator[int]:
        for number in self.range:
            tick()
            yield number

    def __contains__(self, value: object) -> bool:
        return value in self.range

    def __reversed__(self) -> Iterator[int]:
        return iter(_Range(self.range[::-1]))

    def __repr__(self) -> str:
        return repr(self.range)


def bounded_range(*args: int) -> _Range:
    values = range(*args)
    budget = STATE.get()
    limit = (budget.limits if budget is not None else DEFAULT_LIMITS).max_range
    if len(values) > limit:
        raise Refused(f"range() of {len(values)} items is larger than the limit of {limit}")
    return _Range(values)


def loop(values: Any) -> Iterator[Any]:
    """What every ``{% for %}`` iterates: its iterable, checking the deadline at each item."""
    return _ticking(values, active())


def _ticking(values: Any, budget: Budget) -> Iterator[Any]:
    for value in values:
        budget.tick()
        yield value


def concat(values: list[Any]) -> str:
    """The ``~`` operator, counting what it builds."""
    budget = active()
    parts = [value if isinstance(value, str) else _stringify(value, budget) for value in values]
    budget.spend(sum(map(len, parts)))
    return "".join(parts)


def _stringify(value: Any, budget: Budget) -> str:
    budget.afford(_size(value, budget.work))
    return str(value)


def finalize(value: Any) -> Any:
    """Every ``{{ }}`` output, also inside macros and ``{% set %}`` blocks, counts against the budget."""
    budget = STATE.get()
    if budget is None:  # a constant folded at compile time
        return value
    text = value if isinstance(value, str) else _stringify(value, budget)
    budget.spend(len(text))
    return text


# --- size checks of operators, filters and str methods ----------------------------------------

_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[#0 +\-]*(\*|\d+)?(?:\.(\*|\d*))?[hlL]?[a-zA-Z%]")
_DIGITS = re.compile(r"\d+")
_LOG10_2 = 0.30103


def check_binop(budget: Budget, operator: str, left: Any, right: Any) -> None:
    is_int = isinstance(left, int) and isinstance(right, int)
    if operator == "**" and is_int and right > 0 and abs(left) > 1:
        digits = int((abs(left).bit_length() - 1) * right * _LOG10_2)
        budget.bound(digits, f"{_number(left)} ** {_number(right)} (about {digits} digits)")
    elif operator == "*" and is_int:
        digits = int((abs(left).bit_length() + abs(right).bit_length()) * _LOG10_2)
        budget.bound(digits, f"{_number(left)} * {_number(right)} (about {digits} digits)")
    elif operator == "*":
        sequence, times = (left, right) if isinstance(right, int) else (right, left)
        if isinstance(times, int) and isinstance(sequence, (str, bytes, list, tuple)) and times > 1:
            size = _size(sequence, budget.limits.max_sequence) * times
            budget.bound(size, f"{type(sequence).__name__!r} * {_number(times)} ({size} items)")
            budget.spend(size)
    elif operator == "+" and isinstance(left, (str, bytes, list, tuple)) and isinstance(right, type(left)):
        budget.spend(len(left) + len(right))
    elif operator == "%" and isinstance(left, str):
        _check_percent(budget, left, right)


def _number(value: int) -> str:
    """``value`` for a message: huge numbers by their size (``str()`` of those may even fail)."""
    return str(value) if value.bit_length() <= 64 else f"a {value.bit_length()}-bit number"


def _check_percent(budget: Budget, text: str, values: Any) -> None:
    """``text % values`` (and the ``format`` filter): bounded widths, bounded result."""
    if isinstance(values, Mapping):
        values = tuple(values.values())
    elif not isinstance(values, tuple):
        values = (values,)
    largest = max((_size(value, budget.work) for value in values), default=0)
    total = len(text)
    for width, precision in _PERCENT_SPEC.findall(text):
        numbers = [int(number) for number in (width, precision) if number.isdigit()]
        if "*" in (width, precision):
            numbers += [value for value in values if isinstance(value, int)]
        for number in numbers:
            budget.bound(number, f"format width {number}")
        total += max([largest, *numbers])
    budget.afford(total)


def check_format(budget: Budget, text: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    """``text.format(...)``: bounded widths, bounded result."""
    import string

    values = [*args, *kwargs.values()]
    largest = max((_size(value, budget.work) for value in values), default=0)
    total = len(text)
    for _, field, spec, _ in string.Formatter().parse(text):
        if field is None:
            continue
        numbers = [int(number) for number in _DIGITS.findall(spec or "")]
        if spec and "{" in spec:
            numbers += [value for value in values if isinstance(value, int)]
        for number in numbers:
            budget.bound(number, f"format width {number}")
        total += max([largest, *numbers])
    budget.afford(total)


def _argument(args: Sequence[Any], kwargs: Mapping[str, Any], index: int, name: str, default: Any) -> Any:
    return args[index] if len(args) > index else kwargs.get(name, default)


def _text_size(value: Any, budget: Budget) -> int:
    return len(value) if isinstance(value, str) else _size(value, budget.work)


def _check_replace(budget: Budget, value: Any, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
    text = value if isinstance(value, (str, bytes)) else str(value)
    old, new = _argument(args, kwargs, 0, "old", ""), _argument(args, kwargs, 1, "new", "")
    count = _argument(args, kwargs, 2, "count", None)
    if isinstance(old, (str, bytes)) and isinstance(new, (str, bytes)):
        found = text.count(old) if old else len(text) + 1  # type: ignore[arg-type]
        if isinstance(count, int) and count >= 0:
            found = min(found, count)
        budget.afford(len(text) + found * max(len(new) - len(old), 0))
    return value


def _check_join(budget: Budget, value: Any, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
    items = value if isinstance(value, (str, list, tuple)) else list(value)
    separator = _argument(args, kwargs, 0, "d", "")
    budget.afford(_size(items, budget.work) + len(items) * len(str(separator)))
    return items


def _check_indent(budget: Budget, value: Any, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
    width = _argument(args, kwargs, 0, "width", 4)
    width = width if isinstance(width, int) else len(str(width))
    budget.bound(width, f"indent width {width}")
    lines = value.count("\n") + 1 if isinstance(value, str) else _text_size(value, budget) + 1
    budget.afford(_text_size(value, budget) + lines * width)
    return value


def _check_wordwrap(budget: Budget, value: Any, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
    width = _argument(args, kwargs, 0, "width", 79)
    wrap = _argument(args, kwargs, 2, "wrapstring", None)
    size = _text_size(value, budget)
    breaks = value.count("\n") if isinstance(value, str) else size
    lines = size // max(width if isinstance(width, int) else 1, 1) + breaks + 1
    budget.afford(size + lines * len(wrap or "\n"))
    return value


def _check_urlize(budget: Budget, value: Any, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
    target = _argument(args, kwargs, 2, "target", None)
    rel = _argument(args, kwargs, 3, "rel", None)
    size = _text_size(value, budget)
    budget.afford(size + (size // 4 + 1) * (64 + len(target or "") + len(rel or "")))
    return value


def _check_format_filter(budget: Budget, value: Any, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
    _check_percent(budget, str(value), kwargs or tuple(args))
    return value


def _check_center(budget: Budget, value: Any, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
    width = _argument(args, kwargs, 0, "width", 80)
    if isinstance(width, int):
        budget.bound(width, f"center width {width}")
        budget.afford(max(width, _text_size(value, budget)))
    return value


def _check_count(name: str, index: int) -> Callable[[Budget, Any, Sequence[Any], Mapping[str, Any]], Any]:
    def check(budget: Budget, value: Any, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
        number = _argument(args, kwargs, index, name, None)
        if isinstance(number, int):
            budget.bound(number, f"{name} {number}")
        return value

    return check


_FilterCheck = Callable[[Budget, Any, Sequence[Any], Mapping[str, Any]], Any]

#: checks run before a filter, for the filters that can build much more than they are given
_FILTER_CHECKS: dict[str, _FilterCheck] = {
    "replace": _check_replace,
    "join": _check_join,
    "indent": _check_indent,
    "wordwrap": _check_wordwrap,
    "urlize": _check_urlize,
    "format": _check_format_filter,
    "center": _check_center,
    "batch": _check_count("linecount", 0),
    "slice": _check_count("slices", 0),
    "tojson": _check_count("indent", 0),
}

#: filters that do not turn their input into a string
_STRUCTURAL_FILTERS = frozenset(
    "abs attr batch count d default dictsort first float groupby int items last length list map max min "
    "random reject rejectattr reverse round select selectattr slice sort sum unique".split()
)


def guard_filter(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    """``function`` checking the deadline, what it is given, and counting the string or list it builds."""
    offset = 0 if getattr(function, "jinja_pass_arg", None) is None else 1
    check = _FILTER_CHECKS.get(name)
    structural = name in _STRUCTURAL_FILTERS

    @functools.wraps(function)  # keeps jinja_pass_arg, so Jinja passes the same first argument
    def guarded(*args: Any, **kwargs: Any) -> Any:
        budget = active()
        value = args[offset] if len(args) > offset else None
        if not structural and not isinstance(value, str):
            budget.afford(_size(value, budget.work))
        if check is not None:
            new = check(budget, value, args[offset + 1 :], kwargs)
            if new is not value:
                args = (*args[:offset], new, *args[offset + 1 :])
                value = new
        result = function(*args, **kwargs)
        if isinstance(result, (str, list, tuple, dict)) and result is not value:
            budget.spend(len(result))
        return result

    return guarded


def check_method(budget: Budget, method: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    """Before a ``str``/``bytes`` method call: bounded widths and counts, bounded result."""
    text = method.__self__
    for value in (*args, *kwargs.values()):
        if isinstance(value, int):
            budget.bound(value, f"argument {value} of {method.__name__}()")
    name = method.__name__
    if name == "replace":
        _check_replace(budget, text, args, kwargs)
    elif name == "join" and args:
        items = list(args[0])
        budget.afford(_size(items, budget.work) + len(items) * len(text))
        args = (items, *args[1:])
    elif name == "expandtabs":
        tabsize = _argument(args, kwargs, 0, "tabsize", 8)
        budget.afford(len(text) + text.count("\t" if isinstance(text, str) else b"\t") * tabsize)
    elif name == "translate" and args and isinstance(args[0], Mapping):
        longest = max((len(value) for value in args[0].values() if isinstance(value, str)), default=1)
        budget.afford(len(text) * max(longest, 1))
    return args
