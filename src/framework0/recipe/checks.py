"""The checks that need the whole recipe: steps, scriptlets, args, templates, dependencies, cycles."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from framework0.errors import RecipeError, ScriptletError, Span, TemplateError, did_you_mean
from framework0.graph.dag import build_dag, find_cycle
from framework0.recipe.loader import (
    STEP_NAME,
    Parts,
    Problems,
    RawStep,
    Site,
    read_retry,
    retry_base,
)
from framework0.recipe.model import TRIGGERS, Recipe, RetryPolicy, Step
from framework0.scriptlets.registry import (
    ScriptletSpec,
    default_search_path,
    resolve_import,
    resolve_name,
)

if TYPE_CHECKING:
    from framework0.recipe.templates import References

TEMPLATE_NAMES = ("params", "steps", "ctx", "run", "recipe")
FOREACH_NAMES = ("item", "index")
JINJA_GLOBALS = ("range", "dict", "true", "false", "none", "True", "False", "None")


def build_recipe(parts: Parts | None, path: Path | None, problems: Problems) -> Recipe:
    """Turn checked Parts into a Recipe, or raise RecipeError with every problem found."""
    if parts is None:
        raise RecipeError(problems.found)
    search_path = default_search_path(path.parent if path is not None else None)
    resolver = _ScriptletResolver(search_path)
    steps: list[Step] = []
    names: dict[str, Span] = {}
    sites: dict[str, Site] = {}
    for raw in parts.steps:
        step = _build_step(raw, parts, resolver, problems)
        if step is None:
            continue
        if step.name in names:
            first = names[step.name]
            problems.at_value(
                raw.site.at("name"),
                f"duplicate step name {step.name!r} (first defined at {first.line}:{first.col})",
            )
            continue
        names[step.name] = raw.site.at("name").value_span()
        sites[step.name] = raw.site
        steps.append(step)
    steps = _link(steps, sites, parts, problems)
    if problems.found:
        raise RecipeError(problems.found)
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
    )


class _ScriptletResolver:
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


def _build_step(raw: RawStep, parts: Parts, resolver: _ScriptletResolver, problems: Problems) -> Step | None:
    data, site = raw.data, raw.site
    before = len(problems.found)
    name = data.get("name")
    if name is None:
        problems.at_value(site, "a step needs a 'name'")
    elif not isinstance(name, str) or not STEP_NAME.fullmatch(name):
        problems.at_value(
            site.at("name"),
            f"step name {name!r} must start with a letter and hold only letters, digits, _ and -",
        )
    scriptlet = _scriptlet_of(data, site, resolver, problems)
    if "args" in data and "with" in data:
        problems.at_key(site.at("with"), "give either 'args' or its alias 'with', not both")
    args_key = "with" if "with" in data else "args"
    args = data.get(args_key, {})
    if args is None:
        args = {}
    if not isinstance(args, dict):
        problems.at_value(site.at(args_key), f"'{args_key}' must be a mapping of arg names to values")
        args = {}
    defaults = {**parts.defaults, **raw.defaults}
    fields: dict[str, Any] = {}
    if "idx" in data:
        fields["idx"] = problems.typed(data["idx"], site.at("idx"), int, "'idx'")
    if "description" in data:
        fields["description"] = problems.typed(data["description"], site.at("description"), str, "'description'")
    if "depends_on" in data:
        fields["depends_on"] = problems.string_list(data["depends_on"], site.at("depends_on"), "'depends_on'")
    for key in ("continue_on_error", "cache"):
        if key in data:
            fields[key] = problems.typed(data[key], site.at(key), bool, f"'{key}'")
        elif key in defaults:
            value, where = defaults[key]
            fields[key] = problems.typed(value, where, bool, f"defaults.{key}")
    if "timeout" in data:
        fields["timeout"] = problems.duration(data["timeout"], site.at("timeout"), "'timeout'")
    elif "timeout" in defaults:
        value, where = defaults["timeout"]
        fields["timeout"] = problems.duration(value, where, "defaults.timeout")
    base = retry_base(defaults, problems)
    if "retry" in data:
        fields["retry"] = read_retry(data["retry"], site.at("retry"), problems, base)
    elif base:
        fields["retry"] = read_retry({}, defaults["retry"][1], problems, base)
    if "trigger" in data:
        trigger = data["trigger"]
        if trigger not in TRIGGERS:
            hint = did_you_mean(str(trigger), TRIGGERS) or f"; use one of {', '.join(TRIGGERS)}"
            problems.at_value(site.at("trigger"), f"unknown trigger {trigger!r}{hint}")
        else:
            fields["trigger"] = trigger
    if "foreach" in data:
        foreach = data["foreach"]
        if not isinstance(foreach, list) and not _is_template(foreach):
            problems.at_value(
                site.at("foreach"),
                "'foreach' must be a list or a template that gives one, like '{{ params.files }}'",
            )
        fields["foreach"] = foreach
    if "when" in data:
        when = data["when"]
        if not isinstance(when, (bool, str)):
            problems.at_value(site.at("when"), f"'when' must be true, false or an expression, got {when!r}")
        fields["when"] = when
    if len(problems.found) > before or scriptlet is None or not isinstance(name, str):
        return None
    if fields.get("retry") is None:
        fields.pop("retry", None)
    fields = {key: value for key, value in fields.items() if value is not None}
    return Step(
        name=name,
        scriptlet=scriptlet,
        args=args,
        span=site.at("name").value_span(),
        retry=fields.pop("retry", RetryPolicy()),
        **fields,
    )


def _scriptlet_of(
    data: dict[str, Any], site: Site, resolver: _ScriptletResolver, problems: Problems
) -> ScriptletSpec | None:
    uses, module, function = data.get("uses"), data.get("module"), data.get("function")
    if uses is not None and (module is not None or function is not None):
        problems.at_key(
            site.at("module" if module is not None else "function"),
            "give either 'uses' or 'module' with 'function', not both",
        )
        return None
    if uses is not None:
        if not isinstance(uses, str):
            problems.at_value(site.at("uses"), f"'uses' must be a scriptlet name, got {uses!r}")
            return None
        key: tuple[str, ...] = (uses,)
        where = site.at("uses")
    elif module is not None or function is not None:
        if not isinstance(module, str) or not isinstance(function, str):
            missing = "function" if isinstance(module, str) else "module"
            problems.at_value(site, f"'module' and 'function' go together: this step has no valid {missing!r}")
            return None
        key = (module, function)
        where = site.at("module")
    else:
        problems.at_value(site, "a step needs 'uses: NAME' or 'module:' with 'function:' to say what it runs")
        return None
    try:
        return resolver.resolve(key)
    except ScriptletError as error:
        problems.at_value(where, str(error))
        return None


def _is_template(value: Any) -> bool:
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def _strings(value: Any, site: Site) -> Iterator[tuple[str, Site]]:
    """Every string inside ``value`` (nested lists and mappings), with where it was written."""
    if isinstance(value, str):
        yield value, site
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(item, site.at(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, site.at(index))


def _link(steps: list[Step], sites: dict[str, Site], parts: Parts, problems: Problems) -> list[Step]:
    """Check templates and args, infer edges from templates, add sequential edges, find cycles."""
    known = [step.name for step in steps]
    known_set = set(known)
    upstream: dict[str, list[str]] = {}
    linked: dict[str, dict[str, Any]] = {}
    for step in steps:
        site = sites[step.name]
        refs = _TemplateRefs(step, site, parts, known_set, problems)
        deps: list[str] = []
        for dep in step.depends_on:
            if dep == step.name:
                problems.at_value(site.at("depends_on"), f"step {step.name!r} cannot depend on itself")
            elif dep not in known_set:
                problems.at_value(
                    site.at("depends_on"),
                    f"step {step.name!r} depends on unknown step {dep!r}{did_you_mean(dep, known)}",
                )
            else:
                deps.append(dep)
        deps.extend(sorted(refs.steps - set(deps)))
        upstream[step.name] = deps
        linked[step.name] = {
            "templated_args": frozenset(refs.templated_args),
            "reads_context": refs.reads_ctx,
        }
        _check_args(step, site, refs.templated_args, problems)
    if parts.options.get("sequential"):
        order = sorted(range(len(steps)), key=lambda i: (steps[i].idx is None, steps[i].idx or 0, i))
        for before, after in zip(order, order[1:], strict=False):
            deps = upstream[steps[after].name]
            if steps[before].name not in deps:
                deps.append(steps[before].name)
    dag = build_dag((step.name, upstream[step.name]) for step in steps)
    cycle = find_cycle(dag)
    if cycle is not None:
        # find_cycle walks upstream edges; show the path in the direction work flows.
        path = " -> ".join(reversed(cycle))
        problems.at_value(sites[cycle[0]].at("name"), f"dependency cycle: {path}")
    from dataclasses import replace

    return [replace(step, upstream=tuple(upstream[step.name]), **linked[step.name]) for step in steps]


class _TemplateRefs:
    """Checks one step's templates and collects what they read."""

    def __init__(self, step: Step, site: Site, parts: Parts, known: set[str], problems: Problems) -> None:
        self.steps: set[str] = set()
        self.templated_args: set[str] = set()
        self.reads_ctx = False
        self.step, self.site, self.parts, self.known, self.problems = step, site, parts, known, problems
        expression_args = step.scriptlet.scriptlet.expression_args
        args_key = "with" if site.doc.has((*site.path, "with")) else "args"
        for arg, value in step.args.items():
            for text, where in _strings(value, site.at(args_key, arg)):
                if arg in expression_args:
                    self.templated_args.add(arg)
                    self._check(text, where, expression=True)
                elif _is_template(text):
                    self.templated_args.add(arg)
                    self._check(text, where, expression=False)
        if isinstance(step.when, str):
            self._check(step.when, site.at("when"), expression=True, foreach_names=False)
        if isinstance(step.foreach, str):
            self._check(step.foreach, site.at("foreach"), expression=False, foreach_names=False)
        elif isinstance(step.foreach, list):
            for text, where in _strings(step.foreach, site.at("foreach")):
                if _is_template(text):
                    self._check(text, where, expression=False, foreach_names=False)

    def _check(self, text: str, site: Site, *, expression: bool, foreach_names: bool = True) -> None:
        from framework0.recipe import templates

        try:
            refs: References = templates.expression_references(text) if expression else templates.references(text)
        except TemplateError as error:
            span = site.value_span()
            line = span.line + max(error.line - 1, 0)
            self.problems.add(Span(span.file, line, span.col), f"template error: {error}")
            return
        allowed = set(TEMPLATE_NAMES) | set(JINJA_GLOBALS)
        in_foreach = self.step.foreach is not None and foreach_names
        if in_foreach:
            allowed |= set(FOREACH_NAMES)
        for name in sorted(refs.names - allowed):
            if name in FOREACH_NAMES:
                message = f"{name!r} is only defined in the args of a step with 'foreach'"
            else:
                choices = [*TEMPLATE_NAMES, *(FOREACH_NAMES if in_foreach else ())]
                message = (
                    f"unknown name {name!r} in template{did_you_mean(name, choices)}; "
                    f"templates read {', '.join(choices)}"
                )
            self.problems.at_value(site, message)
        for param in sorted(refs.params - set(self.parts.params)):
            known = list(self.parts.params)
            self.problems.at_value(site, f"template reads unknown param {param!r}{did_you_mean(param, known)}")
        for name in sorted(refs.steps):
            if name == self.step.name:
                self.problems.at_value(site, f"step {name!r} cannot read its own output in its templates")
            elif name not in self.known:
                self.problems.at_value(
                    site, f"template reads unknown step {name!r}{did_you_mean(name, sorted(self.known))}"
                )
            else:
                self.steps.add(name)
        if "ctx" in refs.names:
            self.reads_ctx = True


def _check_args(step: Step, site: Site, templated: set[str], problems: Problems) -> None:
    scriptlet = step.scriptlet.scriptlet
    args_key = "with" if site.doc.has((*site.path, "with")) else "args"
    static = {key: value for key, value in step.args.items() if key not in templated}
    try:
        model = scriptlet.params_model()
    except Exception as error:
        problems.at_value(site.at(args_key), f"scriptlet {step.scriptlet.name!r} has unusable params: {error}")
        return
    if model is None:
        if step.args:
            problems.at_value(
                site.at(args_key), f"scriptlet {step.scriptlet.name!r} takes no args, got {sorted(step.args)}"
            )
        return
    from framework0.scriptlets.params import check_args

    found = check_args(model, static, templated)
    for arg, message in found:
        where = site.at(args_key, arg) if arg is not None and arg in step.args else site.at(args_key)
        if arg is not None and arg in step.args:
            problems.at_key(where, f"step {step.name!r}: {message}")
        else:
            problems.at_value(where if step.args else site.at("name"), f"step {step.name!r}: {message}")
    if not templated and not found:
        try:
            scriptlet().validate(scriptlet.parse_params(static))
        except Exception as error:
            problems.at_value(
                site.at(args_key) if step.args else site.at("name"),
                f"step {step.name!r}: args rejected: {error}",
            )
