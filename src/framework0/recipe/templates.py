"""Recipe templates: Jinja2 in a sandbox with time and size limits, imported only when a template is used."""

from __future__ import annotations

import functools
import re
import threading
import types
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from framework0.errors import TemplateError, TemplateSecurityError
from framework0.recipe.template_limits import (
    DEFAULT_LIMITS,
    STATE,
    Budget,
    Refused,
    TemplateLimits,
    active,
    bounded_range,
    check_binop,
    check_format,
    check_method,
    concat,
    finalize,
    guard_filter,
    loop,
    native,
    tick,
)

if TYPE_CHECKING:
    from jinja2 import Template, nodes
    from jinja2.exceptions import TemplateSyntaxError
    from jinja2.sandbox import ImmutableSandboxedEnvironment

__all__ = [
    "DEFAULT_LIMITS",
    "MAX_TEMPLATE_DEPTH",
    "References",
    "TemplateLimits",
    "evaluate",
    "expression_references",
    "is_template",
    "references",
    "render",
    "render_document",
    "render_value",
]


@dataclass(frozen=True, slots=True)
class References:
    """What a template reads, found by parsing it (nothing is evaluated)."""

    #: step names read as ``steps.X`` or ``steps['X']``
    steps: frozenset[str]
    #: param names read as ``params.X`` or ``params['X']``
    params: frozenset[str]
    #: every name the template reads from its namespace (names it binds itself are left out)
    names: frozenset[str]
    #: ``steps`` is used otherwise: ``steps[name]``, ``steps|length``, ``steps.items()``, ...
    dynamic_steps: bool
    #: ``(step, field)`` for each ``steps.X.field`` or ``steps.X['field']`` read (not a method called on it)
    step_fields: frozenset[tuple[str, str]] = frozenset()


def is_template(value: object) -> bool:
    """True for a string holding ``{{`` or ``{%``; anything else is used as written."""
    return isinstance(value, str) and ("{{" in value or "{%" in value)


@functools.lru_cache(maxsize=4096)
def references(source: str) -> References:
    """The names, steps and params ``source`` reads; syntax errors raise ``TemplateError``."""
    return _references(_parse(source, source, 0))


@functools.lru_cache(maxsize=4096)
def expression_references(expression: str) -> References:
    """``references`` for the input of ``evaluate``: a bare expression or a template."""
    if is_template(expression):
        return references(expression)
    tree = _parse(_EXPR_OPEN + expression + _EXPR_CLOSE, expression, len(_EXPR_OPEN))
    if _single_expression(tree) is None:
        raise TemplateError(_NOT_ONE_EXPRESSION, source=expression)
    return _references(tree)


def render(source: str, namespace: Mapping[str, Any], *, limits: TemplateLimits = DEFAULT_LIMITS) -> Any:
    """Render ``source`` once; a lone ``{{ expression }}`` gives the expression's value, else a string."""
    return _compiled(source, _AUTO).run(namespace, limits)


def render_value(value: Any, namespace: Mapping[str, Any], *, limits: TemplateLimits = DEFAULT_LIMITS) -> Any:
    """Render every template string inside nested dicts, lists and tuples (dict keys are kept).

    Returns ``value`` itself when nothing in it is a template.
    """
    if isinstance(value, str):
        return render(value, namespace, limits=limits) if is_template(value) else value
    if isinstance(value, dict):
        rendered = {key: render_value(item, namespace, limits=limits) for key, item in value.items()}
        return value if all(rendered[key] is item for key, item in value.items()) else rendered
    if isinstance(value, (list, tuple)):
        items = [render_value(item, namespace, limits=limits) for item in value]
        if all(new is old for new, old in zip(items, value, strict=True)):
            return value
        return items if isinstance(value, list) else tuple(items)
    return value


def evaluate(expression: str, namespace: Mapping[str, Any], *, limits: TemplateLimits = DEFAULT_LIMITS) -> Any:
    """The value of a bare expression (``params.x == 1``) or of a template (as ``render``)."""
    mode = _AUTO if is_template(expression) else _EXPRESSION
    return _compiled(expression, mode).run(namespace, limits)


def render_document(text: str, namespace: Mapping[str, Any], *, limits: TemplateLimits = DEFAULT_LIMITS) -> str:
    """Render a whole template file to a string."""
    result: str = _compiled(text, _DOCUMENT).run(namespace, limits)
    return result


# --- compiling -------------------------------------------------------------------------------

#: how deep a template may nest (expressions in expressions, blocks in blocks), and its loops
MAX_TEMPLATE_DEPTH = 50
MAX_TEMPLATE_LOOPS = 16
_TOO_DEEP = f"template too deeply nested (more than {MAX_TEMPLATE_DEPTH} levels)"
_TOO_MANY_LOOPS = f"template too deeply nested (more than {MAX_TEMPLATE_LOOPS} loops inside one another)"

_AUTO, _EXPRESSION, _DOCUMENT = "auto", "expression", "document"
_EXPR_OPEN, _EXPR_CLOSE = "{{ ", " }}"
_NOT_ONE_EXPRESSION = "expected a single expression"
_RESULT = "_f0_result"
_LOOP_FILTER, _CONCAT_FILTER = "f0:loop", "f0:concat"  # not valid filter names in a template
_REMOVED_GLOBALS = frozenset({"lipsum", "cycler", "joiner", "namespace"})
_SPECIAL_NAMES = frozenset({"loop", "caller", "varargs", "kwargs", "self"})
_DICT_METHODS = frozenset(name for name in dir(dict) if not name.startswith("_"))


class _Compiled:
    """A compiled template and how to run it."""

    __slots__ = ("builds", "native", "shift", "source", "template", "text")

    def __init__(self, template: Template, native: bool, builds: bool, source: str, text: str, shift: int) -> None:
        self.template = template
        self.native = native  # the template is one expression, whose value is the result
        self.builds = builds  # ... that may build a list or dict holding an undefined value
        self.source = source  # as the user wrote it
        self.text = text  # as parsed: ``source``, or a bare expression inside ``{{ }}``
        self.shift = shift  # columns added in front of line 1 of ``source``

    def run(self, namespace: Mapping[str, Any], limits: TemplateLimits) -> Any:
        budget = Budget(limits)
        token = STATE.set(budget)
        try:
            context = self.template.new_context({**self.template.globals, **namespace}, shared=True)
            if self.native:
                for _ in self.template.root_render_func(context):
                    pass
                return native(context.vars[_RESULT], budget, self.builds, self.template.environment.undefined)
            parts: list[str] = []
            size = 0
            for part in self.template.root_render_func(context):
                size += len(part)
                if size > limits.max_output_chars:
                    raise Refused(f"output is longer than {limits.max_output_chars} characters")
                budget.tick()
                parts.append(part)
            return "".join(parts)
        except Exception as error:
            raise _convert(error, self) from error
        finally:
            STATE.reset(token)


@functools.lru_cache(maxsize=4096)
def _compiled(source: str, mode: str) -> _Compiled:
    from jinja2 import nodes

    kit = _kit()
    text, shift = (_EXPR_OPEN + source + _EXPR_CLOSE, len(_EXPR_OPEN)) if mode == _EXPRESSION else (source, 0)
    tree = _parse(text, source, shift, cached=False)
    expression = None if mode == _DOCUMENT else _single_expression(tree)
    if expression is None and mode == _EXPRESSION:
        raise TemplateError(_NOT_ONE_EXPRESSION, source=source)
    if expression is not None:  # what Environment.compile_expression does, from the tree parsed above
        store = nodes.Assign(nodes.Name(_RESULT, "store"), expression, lineno=expression.lineno)
        tree = nodes.Template([store], lineno=1)
    tree = kit.guard(tree)
    tree.set_environment(kit.env)
    try:
        template = kit.env.from_string(tree)
    except Exception as error:
        raise _convert(error, _Failed(source, text, shift)) from error
    template.globals = dict(template.globals)  # a plain dict: a new context copies it faster than a ChainMap
    builders = (nodes.List, nodes.Tuple, nodes.Dict, nodes.Filter, nodes.Call)
    builds = expression is not None and any(True for _ in expression.find_all(builders))
    builds = builds or isinstance(expression, builders)
    return _Compiled(template, expression is not None, builds, source, text, shift)


def _parse(text: str, source: str, shift: int, *, cached: bool = True) -> nodes.Template:
    """Parse ``text`` (``source``, maybe inside ``{{ }}``); errors point into ``source``."""
    if cached:
        return _parse_cached(text, source, shift)
    try:
        tree = _kit().env.parse(text)
    except RecursionError:  # Jinja's parser recurses once per bracket or block level, many frames each
        raise TemplateSecurityError(_TOO_DEEP, source=source) from None
    except Exception as error:
        raise _convert(error, _Failed(source, text, shift)) from error
    from jinja2 import nodes

    _check_depth(tree, source)
    for node in tree.find_all((nodes.Import, nodes.FromImport, nodes.Include, nodes.Extends)):
        tag = type(node).__name__.lower().replace("fromimport", "from ... import")
        raise TemplateSecurityError(
            f"template refused: {{% {tag} %}} is not available; templates cannot load other templates",
            source=source,
            line=node.lineno,
        )
    return tree


def _check_depth(tree: nodes.Template, source: str) -> None:
    """Refuse a tree nested deeper than the walks over it (ours, Jinja's compiler, Python's) can go.

    Every later step (finding names, compiling, Python's own compiler) recurses once per level or
    more, and Python's compiler allows only 20 nested loops: refusing here, with the line, keeps
    both ``f0 validate`` and a run from ever ending in a RecursionError.
    """
    from jinja2 import nodes

    stack: list[tuple[nodes.Node, int, int]] = [(tree, 0, 0)]
    while stack:
        node, depth, loops = stack.pop()
        if depth > MAX_TEMPLATE_DEPTH:
            raise TemplateSecurityError(_TOO_DEEP, source=source, line=node.lineno or 1)
        if loops > MAX_TEMPLATE_LOOPS:
            raise TemplateSecurityError(_TOO_MANY_LOOPS, source=source, line=node.lineno or 1)
        inner = loops + 1 if isinstance(node, nodes.For) else loops
        stack.extend((child, depth + 1, inner) for child in node.iter_child_nodes())


@functools.lru_cache(maxsize=4096)
def _parse_cached(text: str, source: str, shift: int) -> nodes.Template:
    return _parse(text, source, shift, cached=False)


def _single_expression(tree: nodes.Template) -> nodes.Expr | None:
    """The expression of a template that is one ``{{ expression }}``, maybe between blanks."""
    from jinja2 import nodes

    if len(tree.body) != 1 or not isinstance(tree.body[0], nodes.Output):
        return None
    found = [node for node in tree.body[0].nodes if not isinstance(node, nodes.TemplateData)]
    blank = all(not node.data.strip() for node in tree.body[0].nodes if isinstance(node, nodes.TemplateData))
    return found[0] if len(found) == 1 and blank else None


def _references(tree: nodes.Template) -> References:
    from jinja2 import nodes

    bound = {node.name for node in tree.find_all(nodes.Name) if node.ctx != "load"}
    read = [node for node in tree.find_all(nodes.Name) if node.ctx == "load" and node.name not in bound]
    found: dict[str, set[str]] = {"steps": set(), "params": set()}
    constant: set[int] = set()
    step_nodes: dict[int, str] = {}  # id of a `steps.X` node -> X
    step_fields: set[tuple[str, str]] = set()
    called = {id(call.node) for call in tree.find_all(nodes.Call)}
    # find_all goes depth first, outer nodes first: keep `steps.X.field` nodes to look at once all `steps.X` are known.
    accesses: list[tuple[nodes.Node, Any]] = []
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        if isinstance(node, nodes.Getattr):
            # `steps.items.output` reads the step named items; `steps.get('a')` calls the method.
            method_call = id(node) in called and node.attr in _DICT_METHODS
            base, key = node.node, None if method_call else node.attr
        elif isinstance(node, nodes.Getitem):
            base, key = node.node, node.arg.value if isinstance(node.arg, nodes.Const) else None
        else:
            continue
        accesses.append((base, key))
        if not isinstance(base, nodes.Name) or base.name not in found or base.name in bound:
            continue
        if isinstance(key, str):
            found[base.name].add(key)
            constant.add(id(base))
            if base.name == "steps":
                step_nodes[id(node)] = key
    for owner, field in accesses:
        step = step_nodes.get(id(owner))
        if step is not None and isinstance(field, str):
            step_fields.add((step, field))
    return References(
        steps=frozenset(found["steps"]),
        params=frozenset(found["params"]),
        names=frozenset(node.name for node in read) - _SPECIAL_NAMES,
        dynamic_steps=any(node.name == "steps" and id(node) not in constant for node in read),
        step_fields=frozenset(step_fields),
    )


# --- the environment ---------------------------------------------------------------------------


class _Kit:
    """The sandbox environment, and the transformation every parsed template goes through."""

    __slots__ = ("env", "guard")

    def __init__(self, env: ImmutableSandboxedEnvironment, guard: Callable[[nodes.Template], nodes.Template]):
        self.env = env
        self.guard = guard


_KIT: _Kit | None = None
_KIT_LOCK = threading.Lock()


def _kit() -> _Kit:
    """The shared sandbox, built on first use so that recipes without templates never import Jinja2."""
    global _KIT
    if _KIT is None:
        with _KIT_LOCK:
            if _KIT is None:
                _KIT = _build_kit()
    return _KIT


def _build_kit() -> _Kit:
    from jinja2 import nodes
    from jinja2.exceptions import SecurityError
    from jinja2.runtime import Context, Macro, StrictUndefined, Undefined
    from jinja2.sandbox import ImmutableSandboxedEnvironment
    from jinja2.visitor import NodeTransformer

    class Sandbox(ImmutableSandboxedEnvironment):
        intercepted_binops = frozenset({"*", "**", "%", "+"})

        def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
            check_binop(active(), operator, left, right)
            return super().call_binop(context, operator, left, right)

        def getattr(self, obj: Any, attribute: str) -> Any:
            tick()
            # Data first: `steps.items` is the step named items and `output.json.keys` a JSON key,
            # not the dict methods of the same names.
            if isinstance(obj, dict) and attribute in obj:
                return obj[attribute]
            return super().getattr(obj, attribute)

        def getitem(self, obj: Any, argument: Any) -> Any:
            tick()
            return super().getitem(obj, argument)

        def unsafe_undefined(self, obj: Any, attribute: str) -> Undefined:
            raise SecurityError(f"access to attribute {attribute!r} of {type(obj).__name__!r} is not allowed")

        def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
            wrapped = super().wrap_str_format(value)
            if wrapped is None:
                return None
            text: str = value.__self__
            is_map = value.__name__ == "format_map"

            def checked(*args: Any, **kwargs: Any) -> str:
                budget = active()
                if is_map and args and isinstance(args[0], Mapping):
                    check_format(budget, text, (), args[0])
                else:
                    check_format(budget, text, args, kwargs)
                result = wrapped(*args, **kwargs)
                budget.spend(len(result))
                return result

            return functools.update_wrapper(checked, wrapped)

        def call(self, context: Context, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
            budget = active()
            if isinstance(obj, types.BuiltinMethodType) and isinstance(obj.__self__, (str, bytes)):
                formatter = self.wrap_str_format(obj)  # Jinja < 3.1.5 does not wrap str.format on access
                if formatter is not None:
                    obj = formatter
                else:
                    args = check_method(budget, obj, args, kwargs)
            result = super().call(context, obj, *args, **kwargs)
            if (
                isinstance(result, (str, bytes, list, tuple, dict))
                and not isinstance(obj, Macro)  # a macro's output was counted as it was made
                and result is not getattr(obj, "__self__", None)
            ):
                budget.spend(len(result))
            return result

    class Strict(StrictUndefined):
        """Undefined values fail on any use, repr() included, with a message naming what is missing."""

        __slots__ = ()
        __repr__ = Undefined._fail_with_undefined_error

        @property
        def _undefined_message(self) -> str:
            return _Missing(self._undefined_hint, self._undefined_obj, self._undefined_name)

    class Guard(NodeTransformer):
        """Routes every ``{% for %}`` iterable and every ``~`` through the budget."""

        def visit_For(self, node: nodes.For) -> nodes.For:  # NodeTransformer's naming
            self.generic_visit(node)
            node.iter = nodes.Filter(node.iter, _LOOP_FILTER, [], [], None, None, lineno=node.lineno)
            return node

        def visit_Concat(self, node: nodes.Concat) -> nodes.Filter:
            self.generic_visit(node)
            items = nodes.List(node.nodes, lineno=node.lineno)
            return nodes.Filter(items, _CONCAT_FILTER, [], [], None, None, lineno=node.lineno)

    env = Sandbox(undefined=Strict, autoescape=False, keep_trailing_newline=True, finalize=finalize)
    for name in _REMOVED_GLOBALS:
        env.globals.pop(name, None)
    env.globals["range"] = bounded_range
    env.filters = {name: guard_filter(name, function) for name, function in env.filters.items()}
    env.filters[_LOOP_FILTER] = loop
    env.filters[_CONCAT_FILTER] = concat
    guard = Guard()

    def apply(tree: nodes.Template) -> nodes.Template:
        result: nodes.Template = guard.visit(tree)
        return result

    return _Kit(env, apply)


# --- errors ------------------------------------------------------------------------------------


class _Missing(str):
    """An undefined-value message that remembers what was missing, to name it better later."""

    hint: str | None
    owner: Any
    name: Any

    def __new__(cls, hint: str | None, owner: Any, name: Any) -> _Missing:
        self = super().__new__(cls, hint or f"{name!r} is undefined")
        self.hint, self.owner, self.name = hint, owner, name
        return self


class _Failed:
    """A template that failed to compile: what ``_convert`` needs to describe the error."""

    __slots__ = ("shift", "source", "text")
    template: None = None

    def __init__(self, source: str, text: str, shift: int) -> None:
        self.source, self.text, self.shift = source, text, shift


def _convert(error: Exception, job: _Compiled | _Failed) -> TemplateError:
    """The ``TemplateError`` to raise for an exception raised while compiling or rendering."""
    from jinja2.exceptions import SecurityError, TemplateSyntaxError, UndefinedError

    if isinstance(error, TemplateError):
        return error
    if isinstance(error, TemplateSyntaxError):
        line, col = _syntax_position(error, job.text)
        if job.shift:  # a bare expression, parsed inside "{{ " and " }}"
            lines = job.source.splitlines() or [""]
            col = max(col - job.shift, 1) if line == 1 else col
            col = min(col, len(lines[min(line, len(lines)) - 1]) + 1)
        message = error.message or "invalid template"
    else:
        line, col = _runtime_line(error, job.template), 1
        message = _describe(error, job)
        if isinstance(error, UndefinedError) and isinstance(error.message, _Missing):
            col = _column_of(str(error.message.name), job.source, line)
    if isinstance(error, (Refused, SecurityError, MemoryError)):
        return TemplateSecurityError(f"template refused: {message}", source=job.source, line=line, col=col)
    return TemplateError(message, source=job.source, line=line, col=col)


def _describe(error: Exception, job: _Compiled | _Failed) -> str:
    from jinja2.exceptions import SecurityError, TemplateRuntimeError, UndefinedError

    if isinstance(error, (Refused, SecurityError)):
        return str(error)
    if isinstance(error, MemoryError):
        return "ran out of memory"
    if isinstance(error, UndefinedError) and isinstance(error.message, _Missing):
        detail = _describe_missing(error.message, job.text)
    elif isinstance(error, RecursionError):
        detail = "recursion is too deep"
    elif isinstance(error, TemplateRuntimeError):
        detail = str(error)
    else:
        detail = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    snippet = job.source if len(job.source) <= 80 else job.source[:77] + "..."
    return f"{detail} (in {snippet!r})"


def _describe_missing(missing: _Missing, text: str) -> str:
    from jinja2.utils import missing as absent

    if missing.hint:
        return missing.hint
    name = missing.name
    if missing.owner is absent:
        if name in _REMOVED_GLOBALS:
            return f"{name!r} is not available in templates"
        return f"{name!r} is undefined"
    owner = _path_to(name, text)
    described = repr(owner) if owner else f"{type(missing.owner).__name__!r} object"
    if not isinstance(name, str):
        return f"{described} has no item {name!r}"
    kind = "key" if isinstance(missing.owner, Mapping) else "attribute"
    return f"{described} has no {kind} {name!r}"


def _path_to(name: Any, text: str) -> str | None:
    """How the template spells the object it read ``name`` from, if it does so in one way only."""
    from jinja2 import nodes

    try:
        tree = _parse_cached(text, text, 0)
    except TemplateError:
        return None
    spellings = set()
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        if isinstance(node, nodes.Getattr):
            key = node.attr
        elif isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
            key = node.arg.value
        else:
            continue
        if key == name and type(key) is type(name):
            spellings.add(_spelling(node.node))
    return spellings.pop() if len(spellings) == 1 else None


def _spelling(node: nodes.Node) -> str | None:
    from jinja2 import nodes

    if isinstance(node, nodes.Name):
        return node.name
    base = _spelling(node.node) if isinstance(node, (nodes.Getattr, nodes.Getitem)) else None
    if base is None:
        return None
    if isinstance(node, nodes.Getattr):
        return f"{base}.{node.attr}"
    if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
        return f"{base}[{node.arg.value!r}]"
    return None


def _runtime_line(error: BaseException, template: Template | None) -> int:
    """The template line of the innermost template frame in ``error``'s traceback."""
    line = 1
    traceback = error.__traceback__
    while traceback is not None and template is not None:
        if traceback.tb_frame.f_code.co_filename == "<template>":
            line = template.get_corresponding_lineno(traceback.tb_lineno)
        traceback = traceback.tb_next
    return line


def _column_of(name: str, source: str, line: int) -> int:
    lines = source.splitlines() or [""]
    text = lines[min(line, len(lines)) - 1]
    return text.find(name) + 1 if name in text else 1


_NEWLINES = re.compile(r"\r\n|\r")


def _syntax_position(error: TemplateSyntaxError, text: str) -> tuple[int, int]:
    """Line and column of a syntax error: parse again, noting where each token starts."""
    from jinja2.exceptions import TemplateSyntaxError
    from jinja2.lexer import Token, TokenStream
    from jinja2.parser import Parser

    env = _kit().env
    plain = _NEWLINES.sub("\n", text)
    starts: dict[int, tuple[Token, int]] = {}  # id of a token -> (token, offset where it starts)
    cursor = [0, 0]  # start of the last raw token, end of the text tokenized so far
    failed: list[bool] = []  # the lexer itself failed

    def raw() -> Iterator[tuple[int, str, str]]:
        try:
            for lineno, kind, value in env.lexer.tokeniter(text, None):
                found = plain.find(value, cursor[1]) if value else -1
                cursor[0] = found if found >= 0 else cursor[1]
                cursor[1] = found + len(value) if found >= 0 else cursor[1]
                yield lineno, kind, value
        except TemplateSyntaxError:
            failed.append(True)
            raise

    def located() -> Iterator[Token]:
        for token in env.lexer.wrap(raw()):
            starts[id(token)] = (token, cursor[0])
            yield token

    try:
        parser = Parser(env, text)
        parser.stream = TokenStream(located(), None, None)
    except Exception:
        return error.lineno, _column_of_quoted(error.message or "", text, error.lineno)
    position = None
    try:
        parser.parse()
    except TemplateSyntaxError:
        current = parser.stream.current
        entry = starts.get(id(current))
        lexed = entry is not None and entry[0] is current and not failed
        position = entry[1] if lexed and entry is not None else cursor[1]
    except Exception:
        position = None
    if position is None:
        return error.lineno, _column_of_quoted(error.message or "", text, error.lineno)
    line = plain.count("\n", 0, position) + 1
    if line != error.lineno:
        return error.lineno, 1
    return line, position - (plain.rfind("\n", 0, position) + 1) + 1


def _column_of_quoted(message: str, text: str, line: int) -> int:
    quoted = re.search(r"'([^']+)'", message)
    return _column_of(quoted.group(1), text, line) if quoted else 1
