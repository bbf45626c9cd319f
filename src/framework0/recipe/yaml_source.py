"""Safe YAML reading for recipes: plain data plus a 1-based source span for every node.

A document in the common subset that ``yaml_subset`` reads (most recipes) is read there, without
PyYAML, which is then not even imported. Any other is built from PyYAML's event stream by an
iterative builder, so no input can run code, recurse too deep or expand without bound, and every
failure is one ``RecipeError`` at a source position.
"""

from __future__ import annotations

import codecs
import datetime
import hashlib
import pathlib
import stat
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from framework0.errors import RecipeError, Span, short_repr
from framework0.recipe.yaml_subset import read_subset

if TYPE_CHECKING:
    import yaml

NodePath = tuple[str | int, ...]
"""Keys and list indexes from the document root to a node; ``()`` is the root."""

_Path = tuple[Any, ...]
# path -> a PyYAML mark or a (line, column) tuple (both 0-based), turned into a Span on demand
_Spans = dict[_Path, Any]

#: the PyYAML loader class, chosen when first needed (see ``_loader``): libyaml's when available
_LOADER: type[yaml.SafeLoader] | type[yaml.CSafeLoader] | None = None
_PREFIX = "tag:yaml.org,2002:"
_STR = _PREFIX + "str"
_MAP = _PREFIX + "map"
_SEQ = _PREFIX + "seq"
_TIMESTAMP = _PREFIX + "timestamp"
_INT = _PREFIX + "int"
_MAX_INT_DIGITS = 4300
_INT_LIMIT = 10**_MAX_INT_DIGITS

_ROOT, _IN_SEQ, _IN_MAP = 0, 1, 2
_NEED_KEY: Any = object()  # the next node in a mapping is a key
_MERGE: Any = object()  # the pending key is the YAML 1.1 merge key '<<'
_MISSING: Any = object()


def _loader() -> type[yaml.SafeLoader] | type[yaml.CSafeLoader]:
    """The PyYAML loader class; importing PyYAML costs a few milliseconds, so only when needed."""
    global _LOADER
    if _LOADER is None:
        import yaml

        _LOADER = yaml.CSafeLoader if yaml.__with_libyaml__ else yaml.SafeLoader
    return _LOADER


@dataclass(frozen=True, slots=True)
class YamlLimits:
    """Bounds on what a recipe file may cost to read."""

    max_bytes: int = 10 * 1024 * 1024  # file/text size
    max_depth: int = 64  # nesting of mappings/sequences
    max_aliases: int = 10_000  # alias (*ref) uses in one document (max_nodes stops alias bombs)
    max_nodes: int = 2_000_000  # total nodes after alias expansion (billion-laughs guard)


class YamlDocument:
    """Parsed YAML data with the source position of every node, looked up by path.

    ``data`` is plain Python (dict, list, str, int, float, bool, None, date, datetime); an alias shares
    the anchored object. ``file`` is the name used in spans.
    """

    __slots__ = ("_key_spans", "_value_spans", "data", "file")

    def __init__(self, data: Any, file: str, value_spans: _Spans, key_spans: _Spans) -> None:
        self.data = data
        self.file = file
        self._value_spans = value_spans
        self._key_spans = key_spans

    def value_span(self, path: NodePath) -> Span:
        """Where the value at ``path`` starts, else its nearest ancestor's start, else line 1 col 1."""
        spans = self._value_spans
        mark = spans.get(path)  # the usual case: the node itself was read
        if mark is not None:
            return self._span(mark)
        for end in range(len(path) - 1, -1, -1):
            mark = spans.get(path[:end])
            if mark is not None:
                return self._span(mark)
        return Span(self.file, 1, 1)

    def key_span(self, path: NodePath) -> Span:
        """Where the key of the mapping entry at ``path`` starts, else ``value_span(path)``."""
        mark = self._key_spans.get(path)
        if mark is None:
            return self.value_span(path)
        return self._span(mark)

    def _span(self, mark: Any) -> Span:
        if type(mark) is tuple:
            return _new_span(self.file, mark[0] + 1, mark[1] + 1)
        return _new_span(self.file, mark.line + 1, mark.column + 1)

    def has(self, path: NodePath) -> bool:
        """Whether ``path`` leads to a value in ``data``."""
        node = self.data
        for part in path:
            if isinstance(node, dict):
                if part not in node:
                    return False
                node = node[part]
            elif isinstance(node, list) and type(part) is int and 0 <= part < len(node):
                node = node[part]
            else:
                return False
        return True


_set_file, _set_line, _set_col = (vars(Span)[name].__set__ for name in ("file", "line", "col"))


def _new_span(file: str, line: int, col: int) -> Span:
    """``Span(file, line, col)``, a third of the time: a frozen dataclass sets each field through
    ``object.__setattr__``, this sets its slots directly (a loader makes one for every step)."""
    span: Span = object.__new__(Span)
    _set_file(span, file)
    _set_line(span, line)
    _set_col(span, col)
    return span


def parse_yaml(text: str, *, file: str, limits: YamlLimits = YamlLimits()) -> YamlDocument:
    """Parse one YAML document of recipe data; raise ``RecipeError`` for anything invalid or too big."""
    size = len(text)  # a lower bound of the UTF-8 size, exact for ASCII; encode only when in doubt
    if size <= limits.max_bytes < size * 4:
        size = len(text.encode("utf-8", "surrogatepass"))
    if size > limits.max_bytes:
        raise RecipeError.at(Span(file, 1, 1), _too_big("text", size, limits.max_bytes))
    found = read_subset(text, max_depth=limits.max_depth, max_nodes=limits.max_nodes)
    if found is None:
        found = _read_events(text, file, limits)
    data, value_spans, key_spans = found
    return YamlDocument(data, file, value_spans, key_spans)


def _read_events(text: str, file: str, limits: YamlLimits) -> tuple[Any, _Spans, _Spans]:
    """``parse_yaml`` through PyYAML's event stream: any document, and every error at its position."""
    import yaml

    try:
        return _build_from_events(text, file, limits)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        span = Span(file, mark.line + 1, mark.column + 1) if mark is not None else Span(file, 1, 1)
        raise RecipeError.at(span, f"invalid YAML: {exc.problem or exc.context or exc}") from None
    except yaml.reader.ReaderError as exc:
        # libyaml reports a byte offset into the UTF-8 text, PyYAML a character offset.
        offset = exc.position
        if _loader() is not yaml.SafeLoader:
            offset = len(text.encode("utf-8", "surrogatepass")[:offset].decode("utf-8", "replace"))
        char = f"#x{exc.character:04x}: " if isinstance(exc.character, int) else ""
        message = f"invalid YAML: unacceptable character {char}{exc.reason}"
        raise RecipeError.at(_span_at(text, offset, file), message) from None
    except UnicodeEncodeError as exc:
        message = f"invalid YAML: character {text[exc.start]!r} is not valid Unicode"
        raise RecipeError.at(_span_at(text, exc.start, file), message) from None
    except (yaml.YAMLError, RecursionError, UnicodeError, ValueError, OverflowError) as exc:
        raise RecipeError.at(Span(file, 1, 1), f"invalid YAML: {exc}") from None


def read_yaml_file(
    path: pathlib.Path,
    *,
    limits: YamlLimits = YamlLimits(),
    display_name: str | None = None,
    digests: list[tuple[str, str]] | None = None,
) -> YamlDocument:
    """Read and parse a UTF-8 recipe file (a BOM is allowed), checking its size before reading it.
    ``digests``, when given, gets ``(path, SHA-256 of the bytes read)``: what a compiled recipe checks."""
    name = str(path) if display_name is None else display_name
    start = Span(name, 1, 1)
    try:
        info = path.stat()
        if stat.S_ISDIR(info.st_mode):
            raise RecipeError.at(start, "is a directory, not a recipe file")
        if info.st_size > limits.max_bytes:
            raise RecipeError.at(start, _too_big("file", info.st_size, limits.max_bytes))
        with path.open("rb") as stream:
            raw = stream.read(limits.max_bytes + 1)  # bounded even if the file grows meanwhile
    except FileNotFoundError:
        raise RecipeError.at(start, "no such file") from None
    except OSError as exc:
        raise RecipeError.at(start, f"cannot read file: {exc.strerror or exc}") from None
    except ValueError as exc:  # e.g. a NUL byte in the path
        raise RecipeError.at(start, f"cannot read file: {exc}") from None
    if len(raw) > limits.max_bytes:
        raise RecipeError.at(start, _too_big("file", len(raw), limits.max_bytes))
    if digests is not None:
        digests.append((str(path), hashlib.sha256(raw).hexdigest()))
    if raw.startswith(codecs.BOM_UTF8):
        raw = raw[len(codecs.BOM_UTF8) :]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line_start = raw.rfind(b"\n", 0, exc.start) + 1
        span = Span(name, raw.count(b"\n", 0, exc.start) + 1, len(raw[line_start : exc.start].decode()) + 1)
        message = f"file is not valid UTF-8: {exc.reason} (byte 0x{raw[exc.start]:02x})"
        raise RecipeError.at(span, message) from None
    return parse_yaml(text, file=name, limits=limits)


def _build_from_events(text: str, file: str, limits: YamlLimits) -> tuple[Any, _Spans, _Spans]:
    """Turn the event stream into data and span tables, one event at a time, with an explicit stack."""
    loader = _loader()(text)
    try:
        return _Builder(loader, file, limits).run()
    finally:
        loader.dispose()


class _Builder:
    """The event loop of ``parse_yaml``; its helpers hold the rare paths out of the hot loop."""

    def __init__(self, loader: yaml.SafeLoader | yaml.CSafeLoader, file: str, limits: YamlLimits) -> None:
        import yaml

        self.scalar_node, self.scalar_event = yaml.ScalarNode, yaml.ScalarEvent
        self.loader = loader
        self.file = file
        self.limits = limits
        self.value_spans: _Spans = {}
        self.key_spans: _Spans = {}
        self.scalars: dict[str, Any] = {}  # plain scalar text -> its value (all immutable)
        self.resolve: Callable[[type[yaml.Node], str, tuple[bool, bool]], str] = loader.resolve
        self.ctors: dict[str, Callable[[yaml.ScalarNode], Any]] = {
            _PREFIX + "null": loader.construct_yaml_null,
            _PREFIX + "bool": loader.construct_yaml_bool,
            _PREFIX + "int": loader.construct_yaml_int,
            _PREFIX + "float": loader.construct_yaml_float,
            _TIMESTAMP: loader.construct_yaml_timestamp,
        }

    def run(self) -> tuple[Any, _Spans, _Spans]:
        get_event: Callable[[], Any] = self.loader.get_event
        value_spans = self.value_spans
        key_spans = self.key_spans
        scalars = self.scalars
        cached = scalars.get
        plain, explicit = self.plain, self.explicit
        limits = self.limits
        max_depth, max_aliases, max_nodes = limits.max_depth, limits.max_aliases, limits.max_nodes
        import yaml

        scalar_event, alias_event = yaml.ScalarEvent, yaml.AliasEvent
        map_start, map_end = yaml.MappingStartEvent, yaml.MappingEndEvent
        seq_start, seq_end = yaml.SequenceStartEvent, yaml.SequenceEndEvent
        stream_end, document_start = yaml.StreamEndEvent, yaml.DocumentStartEvent
        anchors: dict[str, tuple[Any, int] | None] = {}  # None while the anchored node is being built
        stack: list[tuple[Any, ...]] = []
        root: Any = None
        nodes = aliases = 0
        documents = 0
        # The innermost open collection, kept in locals: what it is, its value and path, the pending
        # key and the path of its value (mappings), merge sources, and its anchor, start and mark.
        kind: int = _ROOT
        cont: Any = None
        fpath: _Path = ()
        key: Any = _NEED_KEY
        kpath: _Path = ()
        merges: list[tuple[dict[Any, Any], Any, Any]] | None = None
        anchor: str | None = None
        first_node, start_mark = 0, None

        while True:
            ev = get_event()
            cls = ev.__class__
            if cls is scalar_event:
                tag = ev.tag
                if tag is None or tag == "!":
                    value = ev.value
                    if ev.implicit[0]:
                        v = cached(value, _MISSING)
                        if v is _MISSING:
                            v = scalars[value] = plain(value, ev.start_mark)
                    else:
                        v = value
                else:
                    v = explicit(tag, ev.value, ev.start_mark)
                nodes += 1
                if ev.anchor is not None:
                    anchors[ev.anchor] = (v, 1)
                mark = ev.start_mark
                new = True
            elif cls is map_end or cls is seq_end:
                v = cont
                if merges is not None:
                    v = self.merge(cont, merges, fpath)
                if anchor is not None:
                    anchors[anchor] = (v, nodes - first_node)
                if nodes > max_nodes:
                    raise self.error(start_mark, _too_many_nodes(max_nodes))
                kind, cont, fpath, key, kpath, merges, anchor, first_node, start_mark = stack.pop()
                new = False
            elif cls is map_start or cls is seq_start:
                mark = ev.start_mark
                tag = ev.tag
                if tag is not None and tag != "!" and tag != (_MAP if cls is map_start else _SEQ):
                    raise self.error(mark, _not_allowed(tag))
                if kind == _IN_MAP:
                    if key is _NEED_KEY:
                        raise self.error(mark, _bad_key("a mapping" if cls is map_start else "a list"))
                    path = kpath
                elif kind == _IN_SEQ:
                    path = fpath + (len(cont),)
                else:
                    path = ()
                if len(stack) >= max_depth:
                    raise self.error(mark, f"nesting is deeper than {max_depth} levels")
                value_spans[path] = mark
                nodes += 1
                stack.append((kind, cont, fpath, key, kpath, merges, anchor, first_node, start_mark))
                if cls is map_start:
                    kind, cont = _IN_MAP, {}
                else:
                    kind, cont = _IN_SEQ, []
                fpath, key, merges, anchor = path, _NEED_KEY, None, ev.anchor
                first_node, start_mark = nodes, mark
                if anchor is not None:
                    anchors[anchor] = None
                continue
            elif cls is alias_event:
                mark = ev.start_mark
                target = anchors.get(ev.anchor, _MISSING)
                if target is _MISSING:
                    raise self.error(mark, f"unknown alias {short_repr('*' + ev.anchor)}")
                if target is None:
                    raise self.error(mark, f"alias {short_repr('*' + ev.anchor)} is inside the node it refers to")
                aliases += 1
                if aliases > max_aliases:
                    raise self.error(mark, f"more than {max_aliases} aliases (*name) in one document")
                v, size = target
                nodes += size
                if nodes > max_nodes:
                    raise self.error(mark, _too_many_nodes(max_nodes))
                new = True
            elif cls is stream_end:
                return root, value_spans, key_spans
            elif cls is document_start:
                documents += 1
                if documents > 1:
                    raise self.error(ev.start_mark, "only one YAML document is allowed")
                continue
            else:  # stream start, document end
                continue

            # A complete node `v` (new: a scalar or alias starting at `mark`) goes into its parent.
            if kind == _IN_MAP:
                if key is _NEED_KEY:
                    key, kpath = self.key(v, mark, ev, fpath, cont)
                elif key is _MERGE:
                    merges = self.merge_source(v, mark if new else value_spans[kpath], kpath, merges)
                    key = _NEED_KEY
                else:
                    if new:
                        value_spans[kpath] = mark
                    cont[key] = v
                    key = _NEED_KEY
            elif kind == _IN_SEQ:
                if new:
                    value_spans[fpath + (len(cont),)] = mark
                cont.append(v)
            else:
                if new:
                    value_spans[()] = mark
                root = v

    def plain(self, value: str, mark: Any) -> Any:
        """The value of a plain (unquoted, untagged) scalar, typed by YAML 1.1's implicit rules."""
        tag = self.resolve(self.scalar_node, value, (True, False))
        ctor = self.ctors.get(tag)
        if ctor is None:  # str, and the '<<' and '=' tags, which are text outside a key
            return value
        return self.construct(ctor, tag, value, mark, implicit=True)

    def explicit(self, tag: str, value: str, mark: Any) -> Any:
        """The value of a scalar with an explicit tag, which must be a standard safe one."""
        if tag == _STR:
            return value
        ctor = self.ctors.get(tag)
        if ctor is None:
            raise self.error(mark, _not_allowed(tag))
        return self.construct(ctor, tag, value, mark, implicit=False)

    def construct(
        self, ctor: Callable[[yaml.ScalarNode], Any], tag: str, value: str, mark: Any, *, implicit: bool
    ) -> Any:
        hint = "; quote it to use it as text" if implicit else ""
        # Python reads and prints ints of up to 4,300 digits: a longer one could be neither shown nor stored.
        if tag == _INT and len(value) > _MAX_INT_DIGITS:
            raise self.error(mark, _too_large(value, hint))
        try:
            result = ctor(self.scalar_node(tag, value))
        except Exception as exc:  # PyYAML's constructors fail in several ways (ValueError, KeyError, ...)
            detail = f" ({exc})" if tag == _TIMESTAMP and isinstance(exc, ValueError) else ""
            raise self.error(mark, f"{short_repr(value)} is not a valid {_short(tag)}{detail}{hint}") from None
        if tag == _INT and abs(result) >= _INT_LIMIT:  # 0x... and 0b... take fewer characters than digits
            raise self.error(mark, _too_large(value, hint))
        return result

    def key(self, k: Any, mark: Any, ev: Any, fpath: _Path, cont: dict[Any, Any]) -> tuple[Any, _Path]:
        """Check a mapping key; return what the entry's value is stored under and the value's path."""
        if isinstance(k, (dict, list)):
            raise self.error(mark, _bad_key("a mapping" if isinstance(k, dict) else "a list"))
        if isinstance(k, datetime.date):
            raise self.error(mark, _bad_key("a date") + "; quote it to use it as text")
        path = fpath + (k,)
        if k == "<<" and ev.__class__ is self.scalar_event and ev.tag is None and ev.implicit[0]:
            self.key_spans[path] = mark
            return _MERGE, path
        if k in cont:
            first = self.key_spans[path]
            where = f"{first.line + 1}:{first.column + 1}"
            raise self.error(mark, f"duplicate key {_show_key(k)} (first at {where})")
        self.key_spans[path] = mark
        return k, path

    def merge_source(
        self, v: Any, mark: Any, path: _Path, merges: list[tuple[dict[Any, Any], Any, Any]] | None
    ) -> list[tuple[dict[Any, Any], Any, Any]]:
        """Add the value of a '<<' key (a mapping or a list of mappings) to the mapping's merge sources."""
        merges = [] if merges is None else merges
        key_mark = self.key_spans[path]
        if isinstance(v, dict):
            merges.append((v, key_mark, mark))
            return merges
        if not isinstance(v, list):
            raise self.error(mark, "the merge key '<<' needs a mapping or a list of mappings")
        for i, item in enumerate(v):
            item_mark = self.value_spans.get(path + (i,), mark)
            if not isinstance(item, dict):
                raise self.error(item_mark, "the merge key '<<' needs a mapping or a list of mappings")
            merges.append((item, key_mark, item_mark))
        return merges

    def merge(
        self, explicit: dict[Any, Any], merges: list[tuple[dict[Any, Any], Any, Any]], path: _Path
    ) -> dict[Any, Any]:
        """YAML 1.1 merge: explicit keys win, then earlier sources over later; merged keys come first."""
        out: dict[Any, Any] = {}
        for source, key_mark, value_mark in merges:
            for k, v in source.items():
                if k not in explicit and k not in out:
                    out[k] = v
                    self.key_spans[path + (k,)] = key_mark
                    self.value_spans[path + (k,)] = value_mark
        out.update(explicit)
        return out

    def error(self, mark: Any, message: str) -> RecipeError:
        return RecipeError.at(Span(self.file, mark.line + 1, mark.column + 1), message)


def _span_at(text: str, offset: int, file: str) -> Span:
    """The span of character ``offset`` in ``text``."""
    line_start = text.rfind("\n", 0, offset) + 1
    return Span(file, text.count("\n", 0, offset) + 1, offset - line_start + 1)


def _short(tag: str) -> str:
    return "!!" + tag[len(_PREFIX) :] if tag.startswith(_PREFIX) else tag


def _not_allowed(tag: str) -> str:
    return f"tag {short_repr(_short(tag))} is not allowed: recipes are data"


def _bad_key(what: str) -> str:
    return f"a mapping key must be a string, number, boolean or null, not {what}"


def _show_key(key: Any) -> str:
    if key is None:
        return "null"
    if isinstance(key, bool):
        return "true" if key else "false"
    return short_repr(key)


def _too_large(value: str, hint: str) -> str:
    return f"integer {short_repr(value)} is too large (more than {_MAX_INT_DIGITS} digits){hint}"


def _too_many_nodes(limit: int) -> str:
    return f"document expands to more than {limit} nodes (alias bomb?)"


def _too_big(what: str, size: int, limit: int) -> str:
    return f"{what} is {_size(size)}; the limit is {_size(limit)} (set F0_MAX_RECIPE_BYTES to raise it)"


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} bytes"
    if n < 1024 * 1024:
        return f"{n / 1024:.1f} KiB"
    return f"{n / (1024 * 1024):.1f} MiB"
