"""BaseScriptlet, its lazily created Params model, the @scriptlet decorator and function scriptlets."""

from __future__ import annotations

import inspect
import subprocess
import sys
from typing import Any

import pydantic
import pytest
from typing_extensions import assert_type

from framework0 import BaseScriptlet, Context, scriptlet
from framework0.context import ChangeSource, ContextState
from framework0.scriptlets.base import MARKER, FunctionScriptlet, function_scriptlet


def make_context() -> Context:
    return Context(ContextState(), ChangeSource(node="test", step="s", attempt=1))


class Greet(BaseScriptlet):
    """Greets someone.

    A second paragraph that listings leave out.
    """

    class Params(BaseScriptlet.Params):
        name: str = "world"
        times: int = 1

    def run(self, ctx: Context, params: Params) -> str:
        return f"Hello, {params.name}!" * params.times


@pytest.mark.parametrize(
    ("hook", "parameters"),
    [
        ("validate", ["self", "params"]),
        ("setup", ["self", "ctx"]),
        ("run", ["self", "ctx", "params"]),
        ("teardown", ["self", "ctx", "error"]),
    ],
)
def test_lifecycle_hooks_have_the_documented_signatures(hook: str, parameters: list[str]) -> None:
    assert list(inspect.signature(getattr(BaseScriptlet, hook)).parameters) == parameters


def test_run_is_the_only_abstract_hook() -> None:
    assert BaseScriptlet.__abstractmethods__ == frozenset({"run"})


def test_a_subclass_without_run_cannot_be_instantiated() -> None:
    class NoRun(BaseScriptlet):
        pass

    with pytest.raises(TypeError, match="abstract"):
        NoRun()  # type: ignore[abstract]


def test_the_default_hooks_do_nothing() -> None:
    ctx = make_context()
    greet = Greet()
    greet.validate(Greet.parse_params({}))
    greet.setup(ctx)
    greet.teardown(ctx, None)
    greet.teardown(ctx, RuntimeError("boom"))
    assert ctx.history() == []


def test_base_params_is_a_pydantic_model() -> None:
    assert issubclass(BaseScriptlet.Params, pydantic.BaseModel)


def test_a_params_subclass_declares_typed_args_with_defaults() -> None:
    params = Greet.parse_params({"name": "Ada", "times": "2"})
    assert isinstance(params, Greet.Params)
    assert (params.name, params.times) == ("Ada", 2)
    assert Greet().run(make_context(), params) == "Hello, Ada!Hello, Ada!"
    assert Greet.parse_params({}).name == "world"


def test_params_model_of_a_subclass_is_its_params() -> None:
    assert Greet.params_model() is Greet.Params


def test_params_forbid_unknown_args() -> None:
    with pytest.raises(pydantic.ValidationError) as raised:
        Greet.parse_params({"nme": "Ada"})
    assert [(e["type"], e["loc"]) for e in raised.value.errors()] == [("extra_forbidden", ("nme",))]


def test_params_reject_a_value_of_the_wrong_type() -> None:
    with pytest.raises(pydantic.ValidationError) as raised:
        Greet.parse_params({"times": "many"})
    assert [(e["type"], e["loc"]) for e in raised.value.errors()] == [("int_parsing", ("times",))]


def test_an_unknown_class_attribute_is_still_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="^type object 'BaseScriptlet' has no attribute 'Parameters'$"):
        BaseScriptlet.Parameters  # noqa: B018


def run_python(code: str) -> str:
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_importing_the_base_module_does_not_import_pydantic() -> None:
    code = "import sys\nimport framework0.scriptlets.base\nprint('pydantic' in sys.modules)\n"
    assert run_python(code) == "False"


def test_touching_base_params_imports_pydantic() -> None:
    code = (
        "import sys\n"
        "from framework0.scriptlets.base import BaseScriptlet\n"
        "BaseScriptlet.Params\n"
        "print('pydantic' in sys.modules)\n"
    )
    assert run_python(code) == "True"


def test_bare_decorator_keeps_the_function_callable_and_marks_it() -> None:
    @scriptlet
    def add(a: int, b: int) -> int:
        return a + b

    assert add(1, 2) == 3
    assert_type(add(1, 2), int)
    assert getattr(add, MARKER) == "add"


def test_decorator_with_a_name_keeps_the_function_callable_and_marks_it_with_the_name() -> None:
    @scriptlet(name="add")
    def plus(a: int, b: int) -> int:
        return a + b

    assert plus(1, 2) == 3
    assert_type(plus(1, 2), int)
    assert plus.__name__ == "plus"
    assert getattr(plus, MARKER) == "add"


def test_function_scriptlet_takes_the_name_from_the_decorator() -> None:
    @scriptlet(name="add")
    def plus(a: int, b: int) -> int:
        return a + b

    assert function_scriptlet(plus).name == "add"
    assert function_scriptlet(plus, name="sum").name == "sum"


def test_function_scriptlet_of_an_undecorated_function_is_named_after_it() -> None:
    def add(a: int, b: int) -> int:
        return a + b

    wrapped = function_scriptlet(add)
    assert issubclass(wrapped, FunctionScriptlet)
    assert wrapped.name == "add"


def test_function_scriptlet_builds_params_from_annotations_and_defaults() -> None:
    def load(ctx: Context, path: str, batch: int = 100, verbose=False) -> None:  # type: ignore[no-untyped-def, unused-ignore]
        pass

    model = function_scriptlet(load).params_model()
    assert model is not None
    fields = {
        name: (info.annotation, "required" if info.is_required() else info.default)
        for name, info in model.model_fields.items()
    }
    assert fields == {"path": (str, "required"), "batch": (int, 100), "verbose": (Any, False)}


def test_function_params_validate_and_coerce_args() -> None:
    def add(a: int, b: int) -> int:
        return a + b

    params = function_scriptlet(add).parse_params({"a": "3", "b": 4})
    assert (params.a, params.b) == (3, 4)


def test_function_params_reject_unknown_and_missing_args() -> None:
    def add(a: int, b: int) -> int:
        return a + b

    with pytest.raises(pydantic.ValidationError) as raised:
        function_scriptlet(add).parse_params({"a": 1, "c": 2})
    assert sorted((e["type"], e["loc"]) for e in raised.value.errors()) == [
        ("extra_forbidden", ("c",)),
        ("missing", ("b",)),
    ]


def test_function_scriptlet_runs_the_function_with_its_args() -> None:
    def add(a: int, b: int) -> int:
        return a + b

    wrapped = function_scriptlet(add)
    assert wrapped().run(make_context(), wrapped.parse_params({"a": "3", "b": 4})) == 7


def test_function_scriptlet_injects_ctx_instead_of_taking_it_from_args() -> None:
    def remember(ctx: Context, value: int) -> int:
        ctx.set("remembered", value)
        return value * 2

    wrapped = function_scriptlet(remember)
    ctx = make_context()
    with pytest.raises(pydantic.ValidationError, match="ctx"):
        wrapped.parse_params({"ctx": 1, "value": 1})
    assert wrapped().run(ctx, wrapped.parse_params({"value": 21})) == 42
    assert ctx.get("remembered") == 21


def test_function_without_params_has_no_model_and_parses_to_none() -> None:
    def ping() -> str:
        return "pong"

    wrapped = function_scriptlet(ping)
    assert wrapped.params_model() is None
    assert wrapped.parse_params({}) is None
    assert wrapped().run(make_context(), None) == "pong"


def test_function_taking_only_ctx_has_no_params_and_gets_the_context() -> None:
    def count_keys(ctx: Context) -> int:
        return len(ctx.as_dict())

    wrapped = function_scriptlet(count_keys)
    ctx = make_context()
    ctx.set("a", 1)
    assert wrapped.params_model() is None
    assert wrapped().run(ctx, wrapped.parse_params({})) == 1


def test_function_without_params_rejects_args_with_a_clear_message() -> None:
    def ping() -> str:
        return "pong"

    with pytest.raises(ValueError, match=r"^takes no args, got \['a', 'b'\]$"):
        function_scriptlet(ping).parse_params({"b": 2, "a": 1})


def test_function_scriptlet_refuses_what_is_not_callable() -> None:
    from framework0.errors import ScriptletError

    with pytest.raises(ScriptletError, match=r"^42 is not callable$"):
        function_scriptlet(42)  # type: ignore[arg-type]


def test_describe_gives_the_first_paragraph_of_a_class_docstring() -> None:
    assert Greet.describe() == "Greets someone."


def test_describe_joins_the_lines_of_the_first_paragraph_of_a_function_docstring() -> None:
    def load() -> None:
        """Load a file
        into the table.

        Details nobody lists.
        """

    assert function_scriptlet(load).describe() == "Load a file into the table."


def test_describe_of_a_function_without_a_docstring_is_empty() -> None:
    def bare() -> None:
        pass

    assert function_scriptlet(bare).describe() == ""


def test_describe_of_a_subclass_without_a_docstring_is_empty_not_the_base_docstring() -> None:
    class Bare(BaseScriptlet):
        def run(self, ctx: Context, params: Any) -> None:
            pass

    assert Bare.describe() == ""


def test_a_scriptlet_without_params_takes_no_args_and_needs_no_pydantic() -> None:
    code = (
        "import sys\n"
        "from framework0.scriptlets.base import BaseScriptlet\n"
        "class Bare(BaseScriptlet):\n"
        "    def run(self, ctx, params):\n"
        "        return 1\n"
        "assert Bare.params_model() is None and Bare.parse_params({}) is None\n"
        "print('pydantic' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
