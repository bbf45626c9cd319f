"""The checks that need the whole recipe: steps, scriptlets, args, templates, dependencies, cycles.

Each step's own keys are checked first (``_Drafter``), then the steps are linked (``_Linker``): their
templates are parsed to find the steps and params they read, which adds dependency edges, their
args are checked against their scriptlet's parameters, and the graph is checked for a cycle.
A step with problems of its own still has its dependencies and templates checked (every error
is reported at once), and its name counts, so that steps naming it get no second, misleading error.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from hashlib import blake2b
from pathlib import Path
from typing import TYPE_CHECKING, Any

from framework0.durations import parse_duration
from framework0.errors import RecipeError, ScriptletError, Span, TemplateError, did_you_mean, short_repr
from framework0.graph.dag import find_cycle_in
from framework0.recipe.diagnostics import Problems, Site, describe
from framework0.recipe.model import TRIGGERS, Recipe, RetryPolicy, Step, new_step
from framework0.recipe.reading import STEP_NAME, Parts, RawStep, read_retry
from framework0.recipe.yaml_source import NodePath
from framework0.scriptlets.registry import (
    ScriptletSpec,
    default_search_path,
    resolve_import,
    resolve_name,
)

if TYPE_CHECKING:
    from framework0.scriptlets.base import BaseScriptlet

TEMPLATE_NAMES = ("params", "steps", "ctx", "run", "recipe")
STEP_FIELDS = ("output", "status")  # what steps.X holds
FOREACH_NAMES = ("item", "index")
JINJA_GLOBALS = ("range", "dict", "true", "false", "none", "True", "False", "None")
_NAMES = frozenset((*TEMPLATE_NAMES, *JINJA_GLOBALS))
_NAMES_IN_FOREACH = _NAMES | frozenset(FOREACH_NAMES)
_NONE: frozenset[str] = frozenset()
_BAD_NAME = "step name {} must start with a letter and hold only letters, digits, _ and -"


@dataclass(slots=True)
class Trace:
    """What a load depended on besides the text of its files (what ``compiled`` checks again): each
    scriptlet resolved, by its ``(uses,)`` or ``(module, function)`` key, and each distinct
    combination of a scriptlet, its static args and its templated arg names that was checked."""

    scriptlets: dict[tuple[str, ...], ScriptletSpec] = dataclass_field(default_factory=dict)
    arg_checks: list[tuple[ScriptletSpec, dict[str, Any], frozenset[str]]] = dataclass_field(default_factory=list)


def build_recipe(parts: Parts | None, path: Path | None, problems: Problems, trace: Trace | None = None) -> Recipe:
    """Turn checked Parts into a Recipe, or raise RecipeError with every problem found; ``trace``
    gets what the recipe depended on beyond its text."""
    if parts is None:
        raise RecipeError(problems.found)
    search_path = default_search_path(path.parent if path is not None else None)
    resolver = ScriptletResolver(search_path)
    drafter = _Drafter(parts, resolver, problems)
    defined: dict[str, Span] = {}  # every well-formed step name, where it is first defined
    drafts: list[_Draft] = []
    duplicates: list[_Draft] = []  # checked like the others, but left out of the graph
    for raw in parts.steps:
        draft = drafter.draft(raw)
        if draft is None:
            continue
        name, span = draft.fields["name"], draft.fields["span"]
        first = defined.setdefault(name, span)
        if first is span:
            drafts.append(draft)
        else:
            where = f"{first.line}:{first.col}" if first.file == span.file else str(first)
            problems.add(span, f"duplicate step name {short_repr(name)} (first defined at {where})")
            duplicates.append(draft)
    linker = _Linker(parts, defined, problems)
    steps = linker.link(drafts, duplicates)
    if problems.found:
        raise RecipeError(problems.found)
    if trace is not None:
        trace.scriptlets.update((key, spec) for key, spec in resolver.cache.items() if type(spec) is ScriptletSpec)
        trace.arg_checks.extend(linker.arg_inputs.values())
    meta = parts.meta
    content = "".join(f"{file}:{digest}" for file, digest in parts.files)
    return Recipe(
        steps=tuple(steps),
        path=path,
        test_id=meta.get("test_id"),
        description=meta.get("description"),
        tags=tuple(meta.get("tags") or ()),
        params=parts.params,
        sequential=bool(parts.options.get("sequential") or False),
        max_parallel=parts.options.get("max_parallel"),
        timeout=parts.options.get("timeout"),
        search_path=search_path,
        content_hash=hashlib.sha256(content.encode()).hexdigest(),
        settings_digest=hashlib.blake2b(
            repr(
                (
                    parts.meta,
                    [(p.name, p.type, p.default, p.required, p.choices) for p in parts.params.values()],
                    parts.options,
                    parts.defaults,
                )
            ).encode(),
            digest_size=8,
        ).hexdigest(),
    )


class ScriptletResolver:
    """Resolves each distinct ``uses``/``module:function`` once per load."""

    def __init__(self, search_path: tuple[str, ...]) -> None:
        self.search_path = search_path
        self.cache: dict[tuple[str, ...], ScriptletSpec | ScriptletError] = {}

    def resolve(self, key: tuple[str, ...]) -> ScriptletSpec:
        found = self.cache.get(key)
        if found is None:
            try:
                if len(key) == 1:
                    found = resolve_name(key[0], search_path=self.search_path)
                else:
                    found = resolve_import(key[0], key[1], search_path=self.search_path)
            except ScriptletError as error:
                found = error
            self.cache[key] = found
        if isinstance(found, ScriptletError):
            raise found
        return found


@dataclass(slots=True)
class _Draft:
    """A step whose own keys are checked: its Step fields so far, where it is, and its args key.

    When ``broken`` (it has problems of its own) a field that is wrong holds None, and ``args``
    holds whatever was written.
    """

    fields: dict[str, Any]
    site: Site
    args_key: str
    broken: bool


class _Drafter:
    """Checks each step's own keys, with the recipe's defaults merged in."""

    def __init__(self, parts: Parts, resolver: ScriptletResolver, problems: Problems) -> None:
        self.defaults = parts.defaults
        self.default_retry = RetryPolicy(**parts.defaults.get("retry", {}))
        self.resolver = resolver
        self.problems = problems
        # What every step starts from: the defaults' timeout, continue_on_error and cache.
        self.inherited: dict[str, Any] = {
            key: parts.defaults[key] for key in ("timeout", "continue_on_error", "cache") if key in parts.defaults
        }

    def draft(self, raw: RawStep) -> _Draft | None:
        """The step's fields, or None when its name is missing or malformed (each problem reported)."""
        data, site, problems = raw.data, raw.site, self.problems
        before = len(problems.found)
        name = data.get("name")
        named = type(name) is str and STEP_NAME.fullmatch(name) is not None
        if name is None:
            problems.at_value(site, "a step needs a 'name'")
        elif not named:
            problems.at_value(site.at("name"), _BAD_NAME.format(short_repr(name)))
        scriptlet = self.scriptlet(data, site)
        args_key = "with" if "with" in data else "args"
        if args_key == "with" and "args" in data:
            problems.at_key(site.at("with"), "give either 'args' or its alias 'with', not both")
        args = data.get(args_key)
        if args is None:
            args = {}
        elif type(args) is not dict:
            message = f"'{args_key}' must be a mapping of arg names to values, got {describe(args)}"
            problems.at_value(site.at(args_key), message)
        fields: dict[str, Any] = {
            "name": name,
            "scriptlet": scriptlet,
            "args": args,
            "span": site.doc.value_span((*site.path, "name")),
            "retry": self.default_retry,
            "digest": blake2b(repr(data).encode(), digest_size=8).hexdigest(),
            **self.inherited,
        }
        if not data.keys() <= _KEYS_WITHOUT_CHECKS:
            for key, value in data.items():
                check = _FIELD_CHECKS.get(key)
                if check is not None:
                    fields[key] = check(self, value, site, key)
        if not named:
            return None
        return _Draft(fields, site, args_key, broken=len(problems.found) > before)

    def scriptlet(self, data: dict[str, Any], site: Site) -> ScriptletSpec | None:
        uses, module, function = data.get("uses"), data.get("module"), data.get("function")
        problems = self.problems
        if uses is not None and (module is not None or function is not None):
            problems.at_key(
                site.at("module" if module is not None else "function"),
                "give either 'uses' or 'module' with 'function', not both",
            )
            return None
        if uses is not None:
            if type(uses) is not str:
                problems.at_value(site.at("uses"), f"'uses' must be a scriptlet name, got {describe(uses)}")
                return None
            key: tuple[str, ...] = (uses,)
            where = "uses"
        elif module is not None or function is not None:
            if module is None or function is None:
                given, needed = ("module", "function") if function is None else ("function", "module")
                problems.at_key(site.at(given), f"'{given}' needs '{needed}' too: give both, or 'uses' alone")
                return None
            if type(module) is not str or type(function) is not str:
                wrong = "module" if type(module) is not str else "function"
                problems.at_value(site.at(wrong), f"'{wrong}' must be a name, got {describe(data[wrong])}")
                return None
            key = (module, function)
            where = "module"
        else:
            problems.at_value(site, "a step needs 'uses: NAME' or 'module:' with 'function:' to say what it runs")
            return None
        try:
            return self.resolver.resolve(key)
        except ScriptletError as error:
            if where == "module" and str(module).strip() and error.scriptlet != module:
                where = "function"  # the module imported: the function is missing or not a scriptlet
            problems.at_value(site.at(where), str(error))
            return None

    # Checks of the step keys that become Step fields as they are (name, args, uses: see ``draft``).

    def idx(self, value: Any, site: Site, key: str) -> Any:
        return value if type(value) is int else self.problems.typed(value, site.at(key), int, "'idx'")

    def description(self, value: Any, site: Site, key: str) -> Any:
        return value if type(value) is str else self.problems.typed(value, site.at(key), str, "'description'")

    def flag(self, value: Any, site: Site, key: str) -> Any:
        return value if type(value) is bool else self.problems.typed(value, site.at(key), bool, f"'{key}'")

    def timeout(self, value: Any, site: Site, key: str) -> Any:
        try:
            seconds = parse_duration(value)
        except ValueError as error:
            self.problems.at_value(site.at(key), f"'timeout': {error}")
            return None
        if seconds <= 0:
            self.problems.at_value(site.at(key), f"'timeout' must be more than 0, got {short_repr(value)}")
            return None
        return seconds

    def retry(self, value: Any, site: Site, key: str) -> Any:
        given = read_retry(value, site.at(key), self.problems)
        if given is None:
            return None
        inherited = self.defaults.get("retry", {})
        return RetryPolicy(**{**inherited, **given}) if given else self.default_retry

    def depends_on(self, value: Any, site: Site, key: str) -> Any:
        if type(value) is list and all(type(name) is str for name in value):
            return tuple(dict.fromkeys(value))
        names = self.problems.string_list(value, site.at(key), "'depends_on'")
        return tuple(dict.fromkeys(names)) if names is not None else None

    def trigger(self, value: Any, site: Site, key: str) -> Any:
        if value in TRIGGERS and type(value) is str:
            return value
        hint = did_you_mean(str(value), TRIGGERS) or f"; use one of {', '.join(TRIGGERS)}"
        self.problems.at_value(site.at(key), f"unknown trigger {short_repr(value)}{hint}")
        return None

    def foreach(self, value: Any, site: Site, key: str) -> Any:
        if type(value) is not list and not _is_template(value):
            example = "{{ params.files }}"
            message = f"'foreach' must be a list or a template that gives one, like {example!r}, got {describe(value)}"
            self.problems.at_value(site.at(key), message)
        return value

    def when(self, value: Any, site: Site, key: str) -> Any:
        if type(value) is not bool and type(value) is not str:
            message = f"'when' must be true, false or an expression, got {describe(value)}"
            self.problems.at_value(site.at(key), message)
        return value


_FIELD_CHECKS = {
    "idx": _Drafter.idx,
    "description": _Drafter.description,
    "continue_on_error": _Drafter.flag,
    "cache": _Drafter.flag,
    "timeout": _Drafter.timeout,
    "retry": _Drafter.retry,
    "depends_on": _Drafter.depends_on,
    "trigger": _Drafter.trigger,
    "foreach": _Drafter.foreach,
    "when": _Drafter.when,
}


#: the step keys checked in ``draft`` itself, so that a step with no others skips the loop above
_KEYS_WITHOUT_CHECKS = frozenset(("name", "uses", "module", "function", "args", "with"))


def _is_template(value: Any) -> bool:
    return type(value) is str and ("{{" in value or "{%" in value)


def _strings(value: Any, path: NodePath) -> Iterator[tuple[str, NodePath]]:
    """Every string inside ``value`` (nested lists and mappings), with its path below the step."""
    if type(value) is str:
        yield value, path
    elif type(value) is dict:
        for key, item in value.items():
            yield from _strings(item, (*path, key))
    elif type(value) is list:
        for index, item in enumerate(value):
            yield from _strings(item, (*path, index))


class _Linker:
    """Checks templates and args, adds the edges they and ``sequential`` imply, and finds cycles."""

    def __init__(self, parts: Parts, defined: dict[str, Span], problems: Problems) -> None:
        self.parts = parts
        self.defined = defined
        self.order = {name: index for index, name in enumerate(defined)}
        self.problems = problems
        self.arg_checks: dict[tuple[Any, ...], list[tuple[str | None, str]]] = {}
        #: what each of ``arg_checks`` was worked out from: (scriptlet, static args, templated names)
        self.arg_inputs: dict[tuple[Any, ...], tuple[ScriptletSpec, dict[str, Any], frozenset[str]]] = {}
        self.step_hints: dict[str, str] = {}

    def step_hint(self, name: str) -> str:
        """``did_you_mean`` among the step names, worked out once per unknown name (it is slow for many)."""
        hint = self.step_hints.get(name)
        if hint is None:
            hint = self.step_hints[name] = did_you_mean(name, self.defined)
        return hint

    def link(self, drafts: list[_Draft], duplicates: Sequence[_Draft] = ()) -> list[Step]:
        upstream: dict[str, list[str]] = {}
        for draft in drafts:
            upstream[draft.fields["name"]] = self.edges(draft)
            self.check_args(draft)
        for draft in duplicates:  # a second step of the same name: its own errors are reported too
            self.edges(draft)
            self.check_args(draft)
        if self.parts.options.get("sequential"):
            # Each step also waits for the one before it: by idx, then steps without idx, in list order.
            order = sorted(drafts, key=lambda draft: (draft.fields.get("idx") is None, draft.fields.get("idx") or 0))
            for before, after in zip(order, order[1:], strict=False):
                deps = upstream[after.fields["name"]]
                if before.fields["name"] not in deps:
                    deps.append(before.fields["name"])
        self.check_cycles(drafts, upstream)
        if self.problems.found or any(draft.broken for draft in drafts):
            return []
        return [new_step(draft.fields, tuple(upstream[draft.fields["name"]])) for draft in drafts]

    def edges(self, draft: _Draft) -> list[str]:
        """The steps ``draft`` waits for: its depends_on in order, then the steps its templates read."""
        fields, site = draft.fields, draft.site
        name = fields["name"]
        deps: list[str] = []
        for dep in fields.get("depends_on") or ():
            if dep == name:
                self.problems.at_value(site.at("depends_on"), f"step {short_repr(name)} cannot depend on itself")
            elif dep not in self.defined:
                hint = self.step_hint(dep)
                self.problems.at_value(
                    site.at("depends_on"), f"step {short_repr(name)} depends on unknown step {short_repr(dep)}{hint}"
                )
            else:
                deps.append(dep)
        if not fields["args"] and type(fields.get("when")) is not str and fields.get("foreach") is None:
            fields["templated_args"] = _NONE  # no template to read: the usual no-arg step
            fields["reads_context"] = False
            return deps
        reads = _TemplateReader(self, draft)
        fields["templated_args"] = frozenset(reads.templated_args) if reads.templated_args else _NONE
        fields["reads_context"] = reads.reads_context
        if reads.steps:
            for dep in sorted(reads.steps - set(deps), key=self.order.__getitem__):
                deps.append(dep)
        return deps

    def check_cycles(self, drafts: list[_Draft], upstream: dict[str, list[str]]) -> None:
        cycle = find_cycle_in(upstream)  # in recipe order, each step's upstream known and distinct
        if cycle is None:
            return
        # find_cycle lists each step before the one it waits for; show the way work flows instead,
        # from the step that comes first in the recipe.
        flow = cycle[:0:-1]
        first = min(range(len(flow)), key=lambda index: self.order[flow[index]])
        flow = [*flow[first:], *flow[:first]]
        sites = {draft.fields["name"]: draft.site for draft in drafts}
        message = f"dependency cycle: {' -> '.join([*flow, flow[0]])}"
        self.problems.at_value(sites[flow[0]].at("name"), message)

    def check_args(self, draft: _Draft) -> None:
        """Check the args known before the run against the scriptlet's parameters."""
        fields, site, args_key = draft.fields, draft.site, draft.args_key
        spec: ScriptletSpec | None = fields["scriptlet"]
        args = fields["args"]
        if spec is None or type(args) is not dict:
            return
        templated: frozenset[str] = fields["templated_args"]
        static = {key: value for key, value in args.items() if key not in templated} if templated else args
        # Steps often share a scriptlet and the same static args: check each combination once.
        key = (spec.scriptlet, tuple(sorted(templated)), repr(static))
        found = self.arg_checks.get(key)
        if found is None:
            found = self.arg_checks[key] = arg_problems(spec, static, templated)
            self.arg_inputs[key] = (spec, static, templated)
        for arg, problem in found:
            message = f"step {short_repr(fields['name'])}: {problem}"
            if arg is None or arg not in args:
                self.problems.at_value(site.at(args_key) if args else site.at("name"), message)
            elif problem.startswith("unknown arg"):
                self.problems.at_key(site.at(args_key, arg), message)  # the name is wrong: point at it
            else:
                self.problems.at_value(site.at(args_key, arg), message)


def arg_problems(
    spec: ScriptletSpec, static: dict[str, Any], templated: frozenset[str]
) -> list[tuple[str | None, str]]:
    """What is wrong with a step's args: ``(arg or None, message)`` pairs, as ``check_args`` gives them."""
    scriptlet: type[BaseScriptlet] = spec.scriptlet
    try:
        model = scriptlet.params_model()
    except Exception as error:
        return [(None, f"scriptlet {spec.name!r} has unusable params: {type(error).__name__}: {error}")]
    if model is None:
        given = sorted({*static, *templated})
        return [(None, f"scriptlet {spec.name!r} takes no args, got {short_repr(given)}")] if given else []
    from framework0.scriptlets.params import check_args

    found = check_args(model, static, templated)
    if templated:
        # check_args leaves out whole-args problems while some args are templated; a required arg
        # that is not given at all is missing whatever the templates give, though.
        for name, info in model.model_fields.items():
            arg = info.alias or name
            if info.is_required() and arg not in static and arg not in templated:
                found.append((None, f"missing required arg {short_repr(arg)}"))
    if templated or found:
        return found
    try:
        scriptlet().validate(scriptlet.parse_params(static))
    except Exception as error:
        return [(None, f"args rejected: {error}")]
    return []


def _template_error(error: TemplateError, text: str) -> str:
    """``template error: MESSAGE (at column C of 'TEXT')``; a multi-line template gets its line instead."""
    message = str(error).rstrip(".")
    if "\n" in text.strip():
        return f"template error: {message} (at line {error.line}, column {error.col} of the template)"
    snippet = text if len(text) <= 60 else text[:57] + "..."
    return f"template error: {message} (at column {error.col} of {snippet!r})"


class _TemplateReader:
    """Checks one step's templates and collects what they read."""

    def __init__(self, linker: _Linker, draft: _Draft) -> None:
        self.linker = linker
        self.site = draft.site
        self.name: str = draft.fields["name"]
        self.in_foreach = draft.fields.get("foreach") is not None
        self.steps: set[str] = set()
        self.templated_args: set[str] = set()
        self.reads_context = False
        fields = draft.fields
        spec: ScriptletSpec | None = fields["scriptlet"]
        expression_args = spec.scriptlet.expression_args if spec is not None else frozenset()
        args = fields["args"] if type(fields["args"]) is dict else {}
        for arg, value in args.items():
            # A plain string is the usual case: skip the generator.
            strings: Iterable[tuple[str, NodePath]] = (
                ((value, (arg,)),) if type(value) is str else _strings(value, (arg,))
            )
            for text, path in strings:
                if arg in expression_args:
                    self.templated_args.add(arg)
                    self.check(text, (draft.args_key, *path), expression=True)
                elif "{{" in text or "{%" in text:
                    self.templated_args.add(arg)
                    self.check(text, (draft.args_key, *path), expression=False)
        when = fields.get("when")
        if type(when) is str:
            self.check(when, ("when",), expression=True, foreach_names=False)
        foreach = fields.get("foreach")
        if type(foreach) is str:
            self.check(foreach, ("foreach",), expression=False, foreach_names=False)
        elif type(foreach) is list:
            for text, path in _strings(foreach, ("foreach",)):
                if _is_template(text):
                    self.check(text, path, expression=False, foreach_names=False)

    def check(self, text: str, path: NodePath, *, expression: bool, foreach_names: bool = True) -> None:
        """Parse one template (or expression) and check every name, step and param it reads."""
        from framework0.recipe import templates  # only recipes with templates pay for it

        problems = self.linker.problems
        try:
            refs = templates.expression_references(text) if expression else templates.references(text)
        except TemplateError as error:
            problems.at_value(self.site.at(*path), _template_error(error, text))
            return
        if refs.dynamic_steps:
            problems.at_value(
                self.site.at(*path),
                "read other steps by a constant name, steps.NAME or steps['NAME']: with a computed name "
                "the step gets no dependency and could run before the step it reads",
            )
        in_foreach = self.in_foreach and foreach_names
        unknown = refs.names - (_NAMES_IN_FOREACH if in_foreach else _NAMES)
        for name in sorted(unknown) if unknown else ():
            if name in FOREACH_NAMES:
                message = (
                    f"{short_repr(name)} is only defined in the args of a step with 'foreach'"
                    if not self.in_foreach
                    else f"{short_repr(name)} is only defined in the args, not in 'when' or 'foreach'"
                )
            else:
                choices = [*TEMPLATE_NAMES, *(FOREACH_NAMES if in_foreach else ())]
                message = (
                    f"unknown name {short_repr(name)} in template{did_you_mean(name, choices)}; "
                    f"templates read {', '.join(choices)}"
                )
            problems.at_value(self.site.at(*path), message)
        declared = self.linker.parts.params
        for param in sorted(refs.params) if not refs.params <= declared.keys() else ():
            if param not in declared:
                hint = did_you_mean(param, declared)
                problems.at_value(self.site.at(*path), f"template reads unknown param {short_repr(param)}{hint}")
        defined = self.linker.defined
        for step in sorted(refs.steps) if refs.steps else ():
            if step == self.name:
                message = f"step {short_repr(step)} cannot read its own output in its templates"
                problems.at_value(self.site.at(*path), message)
            elif step not in defined:
                hint = self.linker.step_hint(step)
                problems.at_value(self.site.at(*path), f"template reads unknown step {short_repr(step)}{hint}")
            else:
                self.steps.add(step)
        for step, field in sorted(refs.step_fields) if refs.step_fields else ():
            if field not in STEP_FIELDS and step in defined:
                fields = " and ".join(repr(name) for name in STEP_FIELDS)
                message = f"template reads steps.{step}.{field}: a step has {fields}{did_you_mean(field, STEP_FIELDS)}"
                problems.at_value(self.site.at(*path), message)
        if "ctx" in refs.names:
            self.reads_context = True
