"""The registry: built-ins by name, installed plugins by entry point, local code by import path."""

from __future__ import annotations

import importlib
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from framework0.context import ChangeSource, Context, ContextState
from framework0.errors import ScriptletError
from framework0.scriptlets import registry
from framework0.scriptlets.base import BaseScriptlet, FunctionScriptlet
from framework0.scriptlets.builtin.hello_world import HelloWorldScriptlet
from framework0.scriptlets.registry import BUILTINS, import_ref, list_scriptlets, resolve_import, resolve_name


def purge_seed_packages() -> None:
    for name in [name for name in sys.modules if name == "scriptlets" or name.startswith("scriptlets.")]:
        del sys.modules[name]


@pytest.fixture(autouse=True)
def isolated_registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Restore sys.path (the registry adds search paths to it), forget any ``scriptlets`` package
    imported before (pytest's own tests/scriptlets folder is one) and hide installed plugins."""
    saved_path = list(sys.path)
    purge_seed_packages()
    monkeypatch.setattr(registry, "_entry_points", {})
    yield
    sys.path[:] = saved_path
    purge_seed_packages()


def write_module(folder: Path, name: str, source: str) -> None:
    path = folder.joinpath(*name.split(".")).with_suffix(".py")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(source), encoding="utf-8")
    importlib.invalidate_caches()


def run_scriptlet(scriptlet: type[BaseScriptlet], args: dict[str, Any]) -> Any:
    ctx = Context(ContextState(), ChangeSource(node="test", step="s", attempt=1))
    return scriptlet().run(ctx, scriptlet.parse_params(args))


def error_of(call: Any, *args: Any, **kwargs: Any) -> ScriptletError:
    with pytest.raises(ScriptletError) as raised:
        call(*args, **kwargs)
    return raised.value


# built-ins and names


def test_a_built_in_resolves_by_name_with_origin_built_in() -> None:
    spec = resolve_name("hello_world")
    assert (spec.name, spec.ref, spec.origin) == (
        "hello_world",
        "framework0.scriptlets.builtin.hello_world:HelloWorldScriptlet",
        "built-in",
    )
    assert spec.scriptlet is HelloWorldScriptlet
    assert spec.search_path == ()
    assert spec.description == "Greet someone and remember who in the context."


@pytest.mark.parametrize("name", sorted(BUILTINS))
def test_every_built_in_name_resolves_to_its_import_string(name: str) -> None:
    spec = resolve_name(name)
    assert (spec.name, spec.ref, spec.origin) == (name, BUILTINS[name], "built-in")


def test_an_unknown_name_suggests_the_closest_built_in() -> None:
    error = error_of(resolve_name, "shel")
    assert str(error) == "unknown scriptlet 'shel' (did you mean 'shell'?); run 'f0 scriptlets list' to see them all"
    assert error.scriptlet == "shel"


def test_an_unknown_name_without_a_close_match_points_to_the_listing() -> None:
    assert str(error_of(resolve_name, "zzzz")) == "unknown scriptlet 'zzzz'; run 'f0 scriptlets list' to see them all"


def test_a_name_with_a_colon_is_an_import_string(tmp_path: Path) -> None:
    write_module(tmp_path, "reg_colon_steps", "def ping():\n    return 'pong'\n")
    spec = resolve_name("reg_colon_steps:ping", search_path=[str(tmp_path)])
    assert (spec.name, spec.ref, spec.origin, spec.search_path) == (
        "reg_colon_steps:ping",
        "reg_colon_steps:ping",
        "import path",
        (str(tmp_path),),
    )
    assert run_scriptlet(spec.scriptlet, {}) == "pong"


@pytest.mark.parametrize("ref", ["no_colon", ":attr", "module:"])
def test_an_import_string_must_name_a_module_and_an_attribute(ref: str) -> None:
    assert str(error_of(import_ref, ref)) == f'import string {ref!r} must be in format "<module>:<attribute>"'


# import paths


def test_resolve_import_finds_a_base_scriptlet_subclass_in_the_search_path(tmp_path: Path) -> None:
    write_module(
        tmp_path,
        "reg_subclass_steps",
        """
        from framework0 import BaseScriptlet

        class Double(BaseScriptlet):
            class Params(BaseScriptlet.Params):
                n: int

            def run(self, ctx, params):
                return params.n * 2
        """,
    )
    spec = resolve_import("reg_subclass_steps", "Double", search_path=[str(tmp_path)])
    assert (spec.name, spec.ref, spec.origin, spec.search_path) == (
        "Double",
        "reg_subclass_steps:Double",
        "import path",
        (str(tmp_path),),
    )
    assert spec.scriptlet is sys.modules["reg_subclass_steps"].Double
    assert run_scriptlet(spec.scriptlet, {"n": "21"}) == 42


def test_resolve_import_wraps_a_plain_function(tmp_path: Path) -> None:
    write_module(
        tmp_path,
        "reg_function_steps",
        '''
        def add(a: int, b: int) -> int:
            """Add two numbers."""
            return a + b
        ''',
    )
    spec = resolve_import("reg_function_steps", "add", search_path=[str(tmp_path)])
    assert (spec.name, spec.ref, spec.origin) == ("add", "reg_function_steps:add", "import path")
    assert issubclass(spec.scriptlet, FunctionScriptlet)
    assert spec.description == "Add two numbers."
    assert run_scriptlet(spec.scriptlet, {"a": 1, "b": "2"}) == 3


def test_resolve_import_takes_the_name_of_a_decorated_function(tmp_path: Path) -> None:
    write_module(
        tmp_path,
        "reg_decorated_steps",
        """
        from framework0 import scriptlet

        @scriptlet(name="plus")
        def add(a: int, b: int) -> int:
            return a + b
        """,
    )
    spec = resolve_import("reg_decorated_steps", "add", search_path=[str(tmp_path)])
    assert (spec.name, spec.ref) == ("plus", "reg_decorated_steps:add")
    assert run_scriptlet(spec.scriptlet, {"a": 1, "b": 2}) == 3
    assert sys.modules["reg_decorated_steps"].add(1, 2) == 3


def test_resolve_import_of_a_missing_module_names_it_and_the_search_path(tmp_path: Path) -> None:
    error = error_of(resolve_import, "reg_no_such_module", "f", search_path=[str(tmp_path)])
    assert str(error) == (
        "cannot import module 'reg_no_such_module': No module named 'reg_no_such_module' "
        f"(searched {tmp_path} and the installed packages)"
    )
    assert error.scriptlet == "reg_no_such_module"


def test_resolve_import_of_a_module_missing_a_dependency_names_the_dependency(tmp_path: Path) -> None:
    write_module(tmp_path, "reg_needs_dependency", "import reg_not_installed_anywhere\n")
    error = error_of(resolve_import, "reg_needs_dependency", "f", search_path=[str(tmp_path)])
    assert str(error) == (
        "cannot import module 'reg_needs_dependency': No module named 'reg_not_installed_anywhere' "
        f"(searched {tmp_path} and the installed packages)"
    )


def test_resolve_import_of_a_missing_attribute_suggests_a_close_one(tmp_path: Path) -> None:
    write_module(tmp_path, "reg_attribute_steps", "def hello():\n    return 'hi'\n")
    error = error_of(resolve_import, "reg_attribute_steps", "helo", search_path=[str(tmp_path)])
    assert str(error) == "module 'reg_attribute_steps' has no attribute 'helo' (did you mean 'hello'?)"
    assert error.scriptlet == "reg_attribute_steps:helo"


def test_resolve_import_refuses_an_attribute_that_is_not_a_scriptlet(tmp_path: Path) -> None:
    write_module(tmp_path, "reg_value_steps", "GREETING = 'hi'\n")
    error = error_of(resolve_import, "reg_value_steps", "GREETING", search_path=[str(tmp_path)])
    assert str(error) == "'reg_value_steps:GREETING' is a str, not a BaseScriptlet subclass or a function"


def test_resolve_import_refuses_a_class_that_is_not_a_base_scriptlet(tmp_path: Path) -> None:
    write_module(tmp_path, "reg_class_steps", "class Helper:\n    pass\n")
    error = error_of(resolve_import, "reg_class_steps", "Helper", search_path=[str(tmp_path)])
    assert str(error) == "'reg_class_steps:Helper' is a class but not a BaseScriptlet subclass"


def test_resolve_import_refuses_an_abstract_subclass(tmp_path: Path) -> None:
    write_module(
        tmp_path,
        "reg_abstract_steps",
        """
        from framework0 import BaseScriptlet

        class Half(BaseScriptlet):
            def setup(self, ctx):
                pass
        """,
    )
    error = error_of(resolve_import, "reg_abstract_steps", "Half", search_path=[str(tmp_path)])
    assert str(error) == "'reg_abstract_steps:Half' is abstract: implement run(self, ctx, params)"


def test_resolve_import_of_a_module_that_raises_on_import_says_what_it_raised(tmp_path: Path) -> None:
    write_module(tmp_path, "reg_broken_steps", "raise RuntimeError('boom at import')\n")
    error = error_of(resolve_import, "reg_broken_steps", "f", search_path=[str(tmp_path)])
    assert str(error) == "importing module 'reg_broken_steps' failed: RuntimeError: boom at import"
    assert isinstance(error.__cause__, RuntimeError)


# the seed's scriptlets.steps.hello_world


def test_the_seed_module_resolves_to_the_built_in(tmp_path: Path) -> None:
    spec = resolve_import("scriptlets.steps.hello_world", "HelloWorldScriptlet", search_path=[str(tmp_path)])
    assert spec.scriptlet is HelloWorldScriptlet
    assert spec.ref == "framework0.scriptlets.builtin.hello_world:HelloWorldScriptlet"
    assert run_scriptlet(spec.scriptlet, {"name": "seed"}) == "Hello, seed!"


def test_a_users_own_seed_module_wins_over_the_built_in(tmp_path: Path) -> None:
    write_module(tmp_path, "scriptlets.__init__", "")
    write_module(tmp_path, "scriptlets.steps.__init__", "")
    write_module(
        tmp_path,
        "scriptlets.steps.hello_world",
        """
        from framework0 import BaseScriptlet

        class HelloWorldScriptlet(BaseScriptlet):
            def run(self, ctx, params):
                return "mine"
        """,
    )
    spec = resolve_import("scriptlets.steps.hello_world", "HelloWorldScriptlet", search_path=[str(tmp_path)])
    assert spec.scriptlet is not HelloWorldScriptlet
    assert spec.scriptlet.__module__ == "scriptlets.steps.hello_world"
    assert spec.ref == "scriptlets.steps.hello_world:HelloWorldScriptlet"
    assert run_scriptlet(spec.scriptlet, {}) == "mine"


def test_a_users_scriptlets_package_without_steps_still_gets_the_built_in(tmp_path: Path) -> None:
    write_module(tmp_path, "scriptlets.__init__", "")
    write_module(tmp_path, "scriptlets.other", "def f():\n    return 1\n")
    spec = resolve_import("scriptlets.steps.hello_world", "HelloWorldScriptlet", search_path=[str(tmp_path)])
    assert spec.scriptlet is HelloWorldScriptlet


# entry points of installed distributions


def install_distribution(site: Path, *, name: str, package: str, source: str, entry_points: dict[str, str]) -> None:
    """A distribution as pip leaves it: the package next to NAME-1.0.dist-info, on sys.path."""
    write_module(site, f"{package}.__init__", source)
    dist_info = site / f"{name.replace('-', '_')}-1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n", encoding="utf-8")
    lines = "".join(f"{key} = {value}\n" for key, value in entry_points.items())
    (dist_info / "entry_points.txt").write_text(f"[framework0.scriptlets]\n{lines}", encoding="utf-8")
    sys.path.insert(0, str(site))
    importlib.invalidate_caches()


PLUGIN_SOURCE = """
from framework0 import BaseScriptlet

class Greet(BaseScriptlet):
    \"\"\"Greets from a plugin.\"\"\"

    def run(self, ctx, params):
        return "plugin hello"

class Other(BaseScriptlet):
    def run(self, ctx, params):
        return "other"
"""


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Installs ``f0-greet-plugin`` with the entry points greet, hello_world (a clash) and broken."""
    package = f"reg_plugin_{tmp_path.name.replace('-', '_')}"
    install_distribution(
        tmp_path / "site",
        name="f0-greet-plugin",
        package=package,
        source=PLUGIN_SOURCE,
        entry_points={"greet": f"{package}:Greet", "hello_world": f"{package}:Other", "broken": f"{package}:Missing"},
    )
    monkeypatch.setattr(registry, "_entry_points", None)
    return package


def test_an_entry_point_resolves_by_name_with_its_distribution_as_origin(plugin: str) -> None:
    spec = resolve_name("greet")
    assert (spec.name, spec.ref, spec.origin) == ("greet", f"{plugin}:Greet", "entry point (f0-greet-plugin 1.0)")
    assert spec.description == "Greets from a plugin."
    assert run_scriptlet(spec.scriptlet, {}) == "plugin hello"


def test_an_unknown_name_suggests_a_close_entry_point(plugin: str) -> None:
    assert str(error_of(resolve_name, "gret")) == (
        "unknown scriptlet 'gret' (did you mean 'greet'?); run 'f0 scriptlets list' to see them all"
    )


def test_a_built_in_wins_over_an_entry_point_of_the_same_name(plugin: str) -> None:
    spec = resolve_name("hello_world")
    assert (spec.origin, spec.scriptlet) == ("built-in", HelloWorldScriptlet)


def test_list_scriptlets_lists_built_ins_then_entry_points_with_their_origin(plugin: str) -> None:
    listed = [(spec.name, spec.origin) for spec in list_scriptlets().scriptlets]
    assert listed[: len(BUILTINS)] == [(name, "built-in") for name in sorted(BUILTINS)]
    assert ("greet", "entry point (f0-greet-plugin 1.0)") in listed[len(BUILTINS) :]


def test_list_scriptlets_reports_a_plugin_clashing_with_a_built_in(plugin: str) -> None:
    problems = list_scriptlets().problems
    assert (
        "entry point 'hello_world' from f0-greet-plugin 1.0 clashes with the built-in of that name; ignored"
    ) in problems


def test_list_scriptlets_reports_an_entry_point_that_does_not_load(plugin: str) -> None:
    problems = [problem for problem in list_scriptlets().problems if "f0-greet-plugin" in problem]
    assert problems == [
        f"entry point 'broken' from f0-greet-plugin 1.0: module {plugin!r} has no attribute 'Missing'",
        "entry point 'hello_world' from f0-greet-plugin 1.0 clashes with the built-in of that name; ignored",
    ]
