"""The common subset of YAML that recipes are written in, read line by line without PyYAML.

libyaml hands over every node as event objects with two marks each, which costs more per step
than everything else loading does, and importing PyYAML costs milliseconds of every ``f0 run``.
Most recipes use only block mappings and sequences, one-line flow collections (``{name: a, uses:
b}``, ``[x, y]``), one-line plain scalars, quoted strings without escapes, literal block scalars
(``|``, ``|-``) and comments: this module reads exactly that, with the same data and the same
source positions as the event builder in ``yaml_source``, and gives up (returns None) at the
first thing outside it, so that the event builder reads the document instead. It never reports
an error: an invalid document is outside the subset, and the event builder says what is wrong.

What is outside: non-ASCII text, tabs, carriage returns and control characters; anchors,
aliases, tags and merge keys; folded (``>``) and keep (``|+``) block scalars, explicit
indentation, lines of only spaces in a block scalar; plain scalars holding '#', starting with an
indicator or spanning lines, dates and sexagesimal numbers; ':', ',', brackets and braces in a
plain scalar of a flow collection; quoted strings with escapes or spanning lines; flow
collections spanning lines; empty values (null written as nothing); anything but a block mapping
as the whole document; several documents; more nesting or nodes than allowed. The differential
tests (``tests/recipe/test_yaml_subset.py``) hold the two readers to the same result.
"""

from __future__ import annotations

import math
import re
from typing import Any

Mark = tuple[int, int]
"""A 0-based line and column, as PyYAML's marks give them."""

_Path = tuple[Any, ...]

_OUTSIDE = re.compile(r"[^\n\x20-\x7e]")
# Plain scalars: a conservative first character, then words of safe characters separated by
# spaces. In a flow collection no ':', ',', brackets or braces; in a block, ':' followed by a word
# character (``http://x``) and ',', brackets and braces are text too. '#' is never (a comment).
_FIRST = r"(?:[A-Za-z0-9_/$(~]|[-.+](?=[A-Za-z0-9_./]))"
# Written as what they leave out: the text is printable ASCII and line breaks (``_OUTSIDE``).
_IN_FLOW = r"[^ #:\\,\[\]{}?\n]"
_IN_BLOCK = r"(?:[^ #:\\\n]|:(?=[^ #:\\\n]))"
_PLAIN = re.compile(rf"{_FIRST}{_IN_BLOCK}*(?: +{_IN_BLOCK}+)*")
_FLOW_PLAIN = re.compile(rf"{_FIRST}{_IN_FLOW}*(?: +{_IN_FLOW}+)*")
_QUOTED = r"\"[^\"\\]*\"|'[^']*'"
_ENTRY = re.compile(rf"({_PLAIN.pattern}|{_QUOTED}):(?: +|$)")
_SCALAR = rf"{_PLAIN.pattern}|{_QUOTED}"
_FLOW_SCALAR = rf"{_FLOW_PLAIN.pattern}|{_QUOTED}"
#: one ``key: value`` of a flow mapping whose key and value are scalars, and what follows it
_FLOW_PAIR = re.compile(rf"({_FLOW_SCALAR}): +({_FLOW_SCALAR}) *(?:, *|(\}}))")
#: one scalar item of a flow sequence, and what follows it
_FLOW_ITEM = re.compile(rf"({_FLOW_SCALAR}) *(?:, *|(\]))")
_END = re.compile(r"(?: +(?:#.*)?)?$")
#: a whole line's ``key: value`` of a block mapping whose value is a scalar, a comment after it allowed
_BLOCK_PAIR = re.compile(rf"({_PLAIN.pattern}|{_QUOTED}): +({_SCALAR})(?: +(?:#.*)?)?$")
_KEY_TYPES = (str, int, float, bool, type(None))


class _Outside(Exception):
    """The document leaves the subset: the event builder reads it."""


def read_subset(
    text: str, *, max_depth: int, max_nodes: int
) -> tuple[Any, dict[_Path, Mark], dict[_Path, Mark]] | None:
    """``(data, value marks, key marks)`` of a block-mapping document in the subset, else None."""
    if _OUTSIDE.search(text) is not None:
        return None
    try:
        return _Reader(text, max_depth, max_nodes).document()
    except (_Outside, IndexError, ValueError):  # ValueError: a scalar int() or float() refused
        return None


# YAML 1.1's implicit types of a plain scalar, as PyYAML's SafeLoader resolves and constructs them
# (its resolver's patterns, tried in its order; sexagesimal numbers and dates are left to it).
_BOOLS = {
    **dict.fromkeys(("yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"), True),
    **dict.fromkeys(("no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"), False),
}
_NULLS = frozenset(("~", "null", "Null", "NULL"))
_FLOAT = re.compile(
    r"[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?"
    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)"
)
_INT = re.compile(r"[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+")
_TIMESTAMP = re.compile(r"[0-9][0-9][0-9][0-9]-")
_NUMBER_FIRST = frozenset("-+0123456789.")
_LONGEST_NUMBER = 100  # longer ones (up to 4,300 digits are allowed) are left to the event builder


def plain_value(text: str) -> Any:
    """The value of a plain scalar of the subset: null, a bool, an int, a float or the text itself.

    Raises ``_Outside`` for what the event builder must judge (a date, a very long number).
    """
    if text in _BOOLS:
        return _BOOLS[text]
    if text in _NULLS:
        return None
    if text[0] not in _NUMBER_FIRST:
        return text
    if len(text) > _LONGEST_NUMBER or ":" in text or _TIMESTAMP.match(text) is not None:
        raise _Outside  # a long number, a sexagesimal one (1:30 is 90) or a date
    if _FLOAT.fullmatch(text) is not None:
        value = text.replace("_", "").lower()
        sign = -1 if value[0] == "-" else 1
        if value[0] in "+-":
            value = value[1:]
        if value == ".inf":
            return sign * math.inf
        if value == ".nan":
            return math.nan
        return sign * float(value)
    if _INT.fullmatch(text) is not None:
        value = text.replace("_", "")
        sign = -1 if value[0] == "-" else 1
        if value[0] in "+-":
            value = value[1:]
        if value == "0":
            return 0
        if value.startswith("0b"):
            return sign * int(value[2:], 2)
        if value.startswith("0x"):
            return sign * int(value[2:], 16)
        if value[0] == "0":
            return sign * int(value, 8)
        return sign * int(value)
    return text


class _Reader:
    def __init__(self, text: str, max_depth: int, max_nodes: int) -> None:
        lines: list[tuple[int, int, str]] = []
        self.text_lines = text_lines = text.split("\n")
        for number, raw in enumerate(text_lines):
            content = raw.lstrip(" ")
            if content and content[0] != "#":
                lines.append((number, len(raw) - len(content), raw))
        self.lines = lines
        self.scalars: dict[str, Any] = {}
        self.max_depth = max_depth
        self.max_nodes = max_nodes
        self.nodes = 0
        self.value_marks: dict[_Path, Mark] = {}
        self.key_marks: dict[_Path, Mark] = {}

    def document(self) -> tuple[Any, dict[_Path, Mark], dict[_Path, Mark]]:
        lines = self.lines
        if not lines:
            raise _Outside
        number, indent, raw = lines[0]
        if raw.startswith(("---", "..."), indent) or _ENTRY.match(raw, indent) is None:
            raise _Outside
        data, end = self.mapping(0, indent, (), 0)
        if end != len(lines) or self.nodes > self.max_nodes:
            raise _Outside
        return data, self.value_marks, self.key_marks

    def block(self, index: int, path: _Path, depth: int) -> tuple[Any, int]:
        """The collection that starts on line ``index`` at its indentation."""
        _, indent, raw = self.lines[index]
        if _is_item(raw, indent):
            return self.sequence(index, indent, path, depth)
        if _ENTRY.match(raw, indent) is not None:
            return self.mapping(index, indent, path, depth)
        raise _Outside

    def mapping(self, index: int, column: int, path: _Path, depth: int) -> tuple[dict[Any, Any], int]:
        """A block mapping whose first key is on line ``index`` at ``column``, the others below it."""
        if depth >= self.max_depth:
            raise _Outside
        lines, key_marks = self.lines, self.key_marks
        count = len(lines)
        number = lines[index][0]
        self.value_marks[path] = (number, column)
        self.nodes += 1
        mapping: dict[Any, Any] = {}
        position = column
        scalars, scalar = self.scalars, self.scalar
        while True:
            number, indent, raw = lines[index]
            pair = _BLOCK_PAIR.match(raw, position)
            if pair is not None:  # the usual case: a scalar value on the key's line
                key_text, value_text = pair.groups()
                key = scalars[key_text] if key_text in scalars else scalar(key_text)
                if type(key) not in _KEY_TYPES or key in mapping:
                    raise _Outside
                key_path = (*path, key)
                key_marks[key_path] = (number, position)
                self.value_marks[key_path] = (number, pair.start(2))
                mapping[key] = scalars[value_text] if value_text in scalars else scalar(value_text)
                self.nodes += 2
                index += 1
                if index == count:
                    return mapping, index
                _, indent, raw = lines[index]
                if indent < column:
                    return mapping, index
                if indent > column or _is_item(raw, indent):
                    raise _Outside
                position = indent
                continue
            entry = _ENTRY.match(raw, position)
            if entry is None:
                raise _Outside
            key = scalars[entry.group(1)] if entry.group(1) in scalars else scalar(entry.group(1))
            if type(key) not in _KEY_TYPES or key in mapping:
                raise _Outside
            key_path = (*path, key)
            key_marks[key_path] = (number, position)
            self.nodes += 1
            start = entry.end()
            index += 1
            value: Any
            if start < len(raw) and raw[start] == "|":
                value, index = self.literal(raw, start, number, column, key_path)
            elif start < len(raw) and raw[start] != "#":
                value, end = self.inline(raw, start, number, key_path, depth + 1)
                if end != len(raw) and _END.match(raw, end) is None:
                    raise _Outside
            elif index < count and lines[index][1] > column:
                value, index = self.block(index, key_path, depth + 1)
            elif index < count and lines[index][1] == column and _is_item(lines[index][2], column):
                value, index = self.sequence(index, column, key_path, depth + 1)
            else:
                raise _Outside  # an empty value
            mapping[key] = value
            if index == count:
                return mapping, index
            _, indent, raw = lines[index]
            if indent < column:
                return mapping, index
            if indent > column or _is_item(raw, indent):
                raise _Outside
            position = indent

    def sequence(self, index: int, column: int, path: _Path, depth: int) -> tuple[list[Any], int]:
        """A block sequence whose items start with ``-`` at ``column``, from line ``index`` on."""
        if depth >= self.max_depth:
            raise _Outside
        lines = self.lines
        count = len(lines)
        self.value_marks[path] = (lines[index][0], column)
        self.nodes += 1
        sequence: list[Any] = []
        while True:
            number, _, raw = lines[index]
            start = column + 2
            while start < len(raw) and raw[start] == " ":
                start += 1
            if start >= len(raw) or raw[start] == "#" or _is_item(raw, start):
                raise _Outside  # an item on the lines below, or a nested compact sequence
            item_path = (*path, len(sequence))
            value: Any
            if raw[start] == "|":
                value, index = self.literal(raw, start, number, column, item_path)
            elif raw[start] not in "{[" and _ENTRY.match(raw, start) is not None:
                value, index = self.mapping(index, start, item_path, depth + 1)
            else:
                value, end = self.inline(raw, start, number, item_path, depth + 1)
                if end != len(raw) and _END.match(raw, end) is None:
                    raise _Outside
                index += 1
            sequence.append(value)
            if index == count:
                return sequence, index
            _, indent, raw = lines[index]
            if indent == column and (raw.startswith("- ", indent) or len(raw) == indent + 1 and raw[indent] == "-"):
                continue
            if indent <= column:
                return sequence, index
            raise _Outside

    def literal(self, raw: str, start: int, number: int, parent: int, path: _Path) -> tuple[str, int]:
        """A literal block scalar (``|`` or ``|-``) whose header is ``raw[start:]`` on line ``number``,
        its lines indented more than ``parent``; returns it and the index of the next line to read."""
        header = raw[start + 1 :]
        strip = header.startswith("-")
        if _END.match(header, 1 if strip else 0) is None:
            raise _Outside  # '+' (keep), an explicit indentation, or text after the '|'
        text_lines = self.text_lines
        end = number + 1
        indent = 0
        body: list[str] = []
        while end < len(text_lines):
            line = text_lines[end]
            content = line.lstrip(" ")
            if not content:
                if line or not body:
                    raise _Outside  # a line of spaces, or an empty line before the first
                body.append(line)
            else:
                if not indent:
                    indent = len(line) - len(content)
                    if indent <= parent:
                        raise _Outside  # an empty block scalar
                elif len(line) - len(content) < indent:
                    break
                body.append(line[indent:])
            end += 1
        while body and not body[-1]:
            body.pop()
        last = number + len(body)
        if not body or last == len(text_lines) - 1:
            raise _Outside  # empty, or its last line has no line break (its end is the document's)
        self.value_marks[path] = (number, start)
        self.nodes += 1
        lines, index = self.lines, self.index_after(number)
        while index < len(lines) and lines[index][0] <= last:
            index += 1
        return "\n".join(body) + ("" if strip else "\n"), index

    def index_after(self, number: int) -> int:
        """The index in ``lines`` of the first line after line ``number``."""
        lines = self.lines
        low, high = 0, len(lines)
        while low < high:
            middle = (low + high) // 2
            if lines[middle][0] <= number:
                low = middle + 1
            else:
                high = middle
        return low

    def inline(self, raw: str, start: int, number: int, path: _Path, depth: int) -> tuple[Any, int]:
        """The one-line value at ``raw[start]``: a flow collection or a scalar, and where it ends."""
        char = raw[start]
        if char == "{" or char == "[":
            return self.flow(raw, start, number, path, depth)
        self.value_marks[path] = (number, start)
        self.nodes += 1
        return self.scalar_at(raw, start)

    def scalar_at(self, raw: str, start: int, plain: re.Pattern[str] = _PLAIN) -> tuple[Any, int]:
        char = raw[start]
        if char == '"' or char == "'":
            end = raw.find(char, start + 1)
            if end < 0:
                raise _Outside
            text = raw[start + 1 : end]
            if (char == '"' and "\\" in text) or raw.startswith(char, end + 1):
                raise _Outside  # an escape, or '' inside a single-quoted string
            return text, end + 1
        match = plain.match(raw, start)
        if match is None:
            raise _Outside
        return self.scalar(match.group()), match.end()

    def scalar(self, text: str) -> Any:
        """The value of a plain or quoted scalar's source text (a key's, or one from ``_PLAIN``);
        each distinct text is worked out once."""
        scalars = self.scalars
        if text in scalars:
            return scalars[text]
        first = text[0]
        value = text[1:-1] if first == '"' or first == "'" else plain_value(text)
        scalars[text] = value
        return value

    def flow(self, raw: str, start: int, number: int, path: _Path, depth: int) -> tuple[Any, int]:
        """A flow mapping or sequence that opens at ``raw[start]`` and closes on the same line."""
        if depth >= self.max_depth:
            raise _Outside
        self.value_marks[path] = (number, start)
        self.nodes += 1
        value_marks, key_marks = self.value_marks, self.key_marks
        scalars, scalar = self.scalars, self.scalar
        is_mapping = raw[start] == "{"
        close, simple = ("}", _FLOW_PAIR) if is_mapping else ("]", _FLOW_ITEM)
        position = _skip(raw, start + 1)
        result: Any = {} if is_mapping else []
        if raw[position] == close:
            return result, position + 1
        while True:
            found = simple.match(raw, position)
            if found is not None:  # the usual case: a scalar entry, one match
                if is_mapping:
                    key_text, value_text, closed = found.groups()
                    key = scalars[key_text] if key_text in scalars else scalar(key_text)
                    if type(key) not in _KEY_TYPES or key in result:
                        raise _Outside
                    item_path = (*path, key)
                    key_marks[item_path] = (number, position)
                    value_marks[item_path] = (number, found.start(2))
                    result[key] = scalars[value_text] if value_text in scalars else scalar(value_text)
                    self.nodes += 2
                else:
                    value_text, closed = found.groups()
                    item_path = (*path, len(result))
                    value_marks[item_path] = (number, position)
                    result.append(scalars[value_text] if value_text in scalars else scalar(value_text))
                    self.nodes += 1
                position = found.end()
                if closed:
                    return result, position
                if raw[position] in ",]}":
                    raise _Outside  # a trailing or doubled comma
                continue
            if is_mapping:
                key_start = position
                if raw[position] in "{[":
                    raise _Outside
                key, position = self.scalar_at(raw, position, _FLOW_PLAIN)
                if type(key) not in _KEY_TYPES or key in result or not raw.startswith(": ", position):
                    raise _Outside
                item_path = (*path, key)
                key_marks[item_path] = (number, key_start)
                self.nodes += 1
                position = _skip(raw, position + 2)
            else:
                item_path = (*path, len(result))
            char = raw[position]
            if char == "{" or char == "[":
                value, position = self.flow(raw, position, number, item_path, depth + 1)
            else:
                value_marks[item_path] = (number, position)
                self.nodes += 1
                value, position = self.scalar_at(raw, position, _FLOW_PLAIN)
            if is_mapping:
                result[key] = value
            else:
                result.append(value)
            position = _skip(raw, position)
            char = raw[position]
            if char == close:
                return result, position + 1
            if char != ",":
                raise _Outside
            position = _skip(raw, position + 1)
            if raw[position] in ",]}":
                raise _Outside  # a trailing or doubled comma


def _skip(raw: str, position: int) -> int:
    while raw[position] == " ":
        position += 1
    return position


def _is_item(raw: str, indent: int) -> bool:
    """Whether the line's content at ``indent`` is a block sequence item (``- ...`` or a lone ``-``)."""
    return raw.startswith("-", indent) and (len(raw) == indent + 1 or raw[indent + 1] == " ")
