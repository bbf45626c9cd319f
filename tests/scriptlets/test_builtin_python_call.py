from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from framework0.context import ChangeSource, Context, ContextState
from framework0.scriptlets.builtin.python_call import PythonScriptlet


def make_context() -> Context:
    return Context(ContextState(), ChangeSource(node="test", step="s", attempt=1))


def run_call(args: dict[str, Any], ctx: Context | None = None) -> Any:
    ctx = ctx or make_context()
    scriptlet = PythonScriptlet()
    scriptlet.setup(ctx)
    return scriptlet.run(ctx, PythonScriptlet.parse_params(args))


@pytest.fixture
def tasks_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A module in a fresh working directory, importable only because the cwd is searched."""
    name = f"f0_tasks_{uuid.uuid4().hex}"
    (tmp_path / f"{name}.py").write_text(
        "def join(*parts, sep='-'):\n"
        "    return sep.join(parts)\n"
        "\n"
        "def remember(value, ctx):\n"
        "    ctx.set('remembered', value)\n"
        "    return value\n"
        "\n"
        "class Tools:\n"
        "    @staticmethod\n"
        "    def double(x):\n"
        "        return 2 * x\n",
        encoding="utf-8",
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    yield name
    sys.modules.pop(name, None)


def test_python_calls_the_function_with_args_and_kwargs(tasks_module: str) -> None:
    result = run_call({"call": f"{tasks_module}:join", "args": ["a", "b"], "kwargs": {"sep": "+"}})
    assert result == "a+b"


def test_python_injects_ctx_when_the_function_takes_it(tasks_module: str) -> None:
    ctx = make_context()
    assert run_call({"call": f"{tasks_module}:remember", "args": [42]}, ctx) == 42
    assert ctx.get("remembered") == 42


def test_python_follows_a_dotted_attribute(tasks_module: str) -> None:
    assert run_call({"call": f"{tasks_module}:Tools.double", "args": [21]}) == 42


def test_python_refuses_ctx_in_kwargs(tasks_module: str) -> None:
    with pytest.raises(ValueError) as caught:
        run_call({"call": f"{tasks_module}:remember", "kwargs": {"value": 1, "ctx": 2}})
    assert str(caught.value) == f"kwargs of '{tasks_module}:remember' must not set 'ctx': the Context is passed as it"


def test_python_calls_an_installed_module() -> None:
    assert run_call({"call": "os.path:join", "args": ["a", "b"]}) in ("a/b", "a\\b")


def test_python_rejects_a_call_without_a_colon() -> None:
    with pytest.raises(ValidationError) as caught:
        PythonScriptlet.parse_params({"call": "os.path.join"})
    assert "call 'os.path.join' must be in format \"<module>:<function>\"" in str(caught.value)


def test_python_names_a_missing_attribute_and_a_close_match() -> None:
    with pytest.raises(ValueError) as caught:
        run_call({"call": "os.path:joinn"})
    assert str(caught.value) == "module 'os.path' has no attribute 'joinn' (did you mean 'join'?)"


def test_python_names_a_missing_module() -> None:
    with pytest.raises(ValueError) as caught:
        run_call({"call": "f0_no_such_module:run"})
    assert str(caught.value) == (
        "cannot import module 'f0_no_such_module' for call 'f0_no_such_module:run': No module named 'f0_no_such_module'"
    )


def test_python_refuses_an_attribute_that_is_not_callable() -> None:
    with pytest.raises(ValueError) as caught:
        run_call({"call": "os:sep"})
    assert str(caught.value) == "'os:sep' is a str, not a callable"
