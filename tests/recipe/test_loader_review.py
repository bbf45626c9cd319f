"""Recipes that looked valid but failed at run time, or crashed, now refused before anything runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from framework0 import ParamError, RecipeError, load_recipe


def errors_of(tmp_path: Path, text: str, **files: str) -> list[str]:
    for name, body in files.items():
        (tmp_path / name).write_text(body)
    (tmp_path / "r.yaml").write_text(text)
    with pytest.raises(RecipeError) as caught:
        load_recipe(tmp_path / "r.yaml")
    return [d.message for d in caught.value.diagnostics]


def test_a_module_that_calls_sys_exit_on_import_is_reported_not_obeyed(tmp_path: Path) -> None:
    messages = errors_of(
        tmp_path,
        "steps: [{name: a, module: exits_on_import, function: f}, {name: b, uses: nosuch}]\n",
        **{"exits_on_import.py": "import sys\nsys.exit(0)\n\ndef f():\n    return 1\n"},
    )
    assert messages[0].startswith("importing module 'exits_on_import' called sys.exit(0)")
    assert messages[1].startswith("unknown scriptlet 'nosuch'")


def test_a_step_read_by_a_computed_name_is_refused(tmp_path: Path) -> None:
    messages = errors_of(
        tmp_path,
        "params: {which: a}\nsteps:\n  - {name: a, uses: hello_world}\n"
        '  - {name: b, uses: hello_world, args: {name: "{{ steps[params.which].output }}"}}\n',
    )
    assert messages == [
        "read other steps by a constant name, steps.NAME or steps['NAME']: with a computed name the step gets "
        "no dependency and could run before the step it reads"
    ]


def test_a_timeout_of_zero_is_refused(tmp_path: Path) -> None:
    messages = errors_of(tmp_path, "timeout: 0\nsteps: [{name: a, uses: hello_world, timeout: 0s}]\n")
    assert messages == ["'timeout' must be more than 0, got 0", "'timeout' must be more than 0, got '0s'"]


def test_a_default_timeout_of_zero_is_refused(tmp_path: Path) -> None:
    messages = errors_of(tmp_path, "defaults: {timeout: 0}\nsteps: [{name: a, uses: hello_world}]\n")
    assert messages == ["'defaults.timeout' must be more than 0, got 0"]


def test_a_template_that_loads_another_template_is_refused_at_load_time(tmp_path: Path) -> None:
    messages = errors_of(tmp_path, "steps: [{name: a, uses: hello_world, args: {name: \"{% include 'x' %}\"}}]\n")
    assert len(messages) == 1 and "{% include %} is not available" in messages[0]


@pytest.mark.parametrize(("default", "problem"), [(".nan", "is not a finite number"), ("2001-01-01", "is a date")])
def test_a_param_default_that_is_not_json_is_refused(tmp_path: Path, default: str, problem: str) -> None:
    messages = errors_of(tmp_path, f"params: {{x: {default}}}\nsteps: [{{name: a, uses: hello_world}}]\n")
    assert len(messages) == 1 and messages[0].startswith("param 'x': ") and problem in messages[0]


def test_nan_on_the_command_line_is_text_for_an_any_param_and_refused_for_a_list(tmp_path: Path) -> None:
    (tmp_path / "r.yaml").write_text("params: {a: null, l: []}\nsteps: [{name: s, uses: hello_world}]\n")
    recipe = load_recipe(tmp_path / "r.yaml", params={"a": "NaN"}, params_from_text=True)
    assert recipe.params["a"].type == "any"
    with pytest.raises(ParamError):
        load_recipe(tmp_path / "r.yaml", params={"l": "[1, Infinity"}, params_from_text=True)
