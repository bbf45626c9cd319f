"""Recipe params: declaring them (short and long forms) and overriding them as ``f0 run -p`` does."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from framework0 import ParamError, RecipeError, load_recipe, load_recipe_text
from framework0.errors import Span
from framework0.recipe.model import Param
from framework0.recipe.params import resolve_params

STEPS = "steps:\n  - name: a\n    uses: hello_world\n"


def params_of(block: str) -> dict[str, Param]:
    recipe = load_recipe_text("params:\n" + textwrap.indent(textwrap.dedent(block), "  ") + STEPS, file="r.yaml")
    return dict(recipe.params)


def param_errors(block: str) -> list[str]:
    with pytest.raises(RecipeError) as caught:
        load_recipe_text("params:\n" + textwrap.indent(textwrap.dedent(block), "  ") + STEPS, file="r.yaml")
    return [str(d) for d in caught.value.diagnostics]


RECIPE = """\
params:
  region: us
  batch:
    type: int
    default: 100
    description: rows per request
  ratio: 0.5
  dry_run: false
  files: [a.csv]
  options: {verbose: true}
  env: {choices: [dev, prod], default: dev}
  token: {type: str, required: true}
steps:
  - name: a
    uses: hello_world
    args: {name: "{{ params.region }}"}
"""


@pytest.fixture
def recipe_file(tmp_path: Path) -> Path:
    path = tmp_path / "r.yaml"
    path.write_text(RECIPE)
    return path


def overridden(path: Path, **values: str) -> dict[str, Any]:
    """The run's param values for ``-p KEY=VALUE`` overrides, checked by load_recipe first."""
    recipe = load_recipe(path, params=values, params_from_text=True)
    return resolve_params(recipe.params, values, from_text=True)


def override_error(path: Path, **values: Any) -> str:
    with pytest.raises(ParamError) as caught:
        load_recipe(path, params=values, params_from_text=True)
    return str(caught.value)


# -- declaring -----------------------------------------------------------------------------------------


def test_short_form_is_the_default_and_its_type_is_inferred() -> None:
    params = params_of("region: us\nbatch: 100\nratio: 0.5\nflag: false\nfiles: [a]\nopts: {verbose: true}\nany: ~\n")
    assert {name: (p.type, p.default, p.required) for name, p in params.items()} == {
        "region": ("str", "us", False),
        "batch": ("int", 100, False),
        "ratio": ("float", 0.5, False),
        "flag": ("bool", False, False),
        "files": ("list", ["a"], False),
        "opts": ("dict", {"verbose": True}, False),
        "any": ("any", None, False),
    }


def test_long_form_gives_type_default_and_description() -> None:
    params = params_of("batch:\n  type: int\n  default: 100\n  description: rows per request\n")
    assert params["batch"] == Param("batch", "int", 100, False, "rows per request", None, Span("r.yaml", 2, 3))


def test_long_form_infers_the_type_from_the_default() -> None:
    assert params_of("batch: {default: 100}\n")["batch"].type == "int"


def test_long_form_infers_the_type_from_the_choices() -> None:
    param = params_of("env: {choices: [dev, prod]}\n")["env"]
    assert (param.type, param.choices, param.required) == ("str", ("dev", "prod"), True)


def test_long_form_without_default_is_required() -> None:
    param = params_of("token: {type: str}\n")["token"]
    assert (param.required, param.default) == (True, None)


def test_required_can_be_turned_off_without_a_default() -> None:
    param = params_of("token: {type: str, required: false}\n")["token"]
    assert (param.required, param.default) == (False, None)


def test_a_mapping_without_param_keys_is_a_dict_default() -> None:
    param = params_of("db: {host: localhost, port: 5432}\n")["db"]
    assert (param.type, param.default) == ("dict", {"host": "localhost", "port": 5432})


def test_a_default_of_the_wrong_type_is_an_error() -> None:
    assert param_errors("batch: {type: int, default: many}\n") == [
        "r.yaml:2:31: default of param 'batch' must be an int, got 'many'"
    ]


def test_a_default_outside_the_choices_is_an_error() -> None:
    assert param_errors("env: {choices: [dev, prod], default: qa}\n") == [
        "r.yaml:2:40: default of param 'env' must be one of 'dev', 'prod', got 'qa'"
    ]


def test_a_choice_of_the_wrong_type_is_an_error() -> None:
    assert param_errors("env: {type: str, choices: [dev, 2]}\n") == [
        "r.yaml:2:35: param 'env' is of type 'str': choice 2 is not"
    ]


def test_choices_must_be_a_non_empty_list() -> None:
    assert param_errors("env: {type: str, choices: dev}\n") == [
        "r.yaml:2:29: param 'env': 'choices' must be a non-empty list"
    ]


def test_an_unknown_type_suggests_the_closest() -> None:
    assert param_errors("batch: {type: integer, default: 3}\n") == [
        "r.yaml:2:17: param 'batch' has unknown type 'integer' (did you mean 'int'?); "
        "use one of str, int, float, bool, list, dict, any"
    ]


def test_required_must_be_a_boolean() -> None:
    assert param_errors("batch: {type: int, required: sometimes}\n") == [
        "r.yaml:2:32: param 'batch': 'required' must be true or false"
    ]


def test_a_param_name_must_be_an_identifier() -> None:
    assert param_errors("batch-size: 3\n") == ["r.yaml:2:3: param name 'batch-size' must be a Python identifier"]


def test_params_must_be_a_mapping() -> None:
    with pytest.raises(RecipeError) as caught:
        load_recipe_text("params: [region]\n" + STEPS, file="r.yaml")
    assert str(caught.value) == "r.yaml:1:9: 'params' must be a mapping of name to default, got a list ['region']"


# -- overriding (f0 run -p KEY=VALUE) -----------------------------------------------------------------------


def test_an_int_override_is_coerced_from_text(recipe_file: Path) -> None:
    assert overridden(recipe_file, batch="50", token="t")["batch"] == 50


def test_overrides_keep_the_other_defaults(recipe_file: Path) -> None:
    assert overridden(recipe_file, token="t") == {
        "region": "us",
        "batch": 100,
        "ratio": 0.5,
        "dry_run": False,
        "files": ["a.csv"],
        "options": {"verbose": True},
        "env": "dev",
        "token": "t",
    }


def test_a_float_override_accepts_an_int(recipe_file: Path) -> None:
    assert overridden(recipe_file, ratio="1", token="t")["ratio"] == 1.0


@pytest.mark.parametrize(
    ("text", "value"),
    [("true", True), ("yes", True), ("on", True), ("1", True), ("FALSE", False), ("no", False), ("0", False)],
)
def test_bool_overrides_are_parsed(recipe_file: Path, text: str, value: bool) -> None:
    assert overridden(recipe_file, dry_run=text, token="t")["dry_run"] is value


def test_a_list_override_is_json(recipe_file: Path) -> None:
    assert overridden(recipe_file, files='["x.csv", "y.csv"]', token="t")["files"] == ["x.csv", "y.csv"]


def test_a_list_override_may_use_yaml_flow_style(recipe_file: Path) -> None:
    assert overridden(recipe_file, files="[x.csv, y.csv]", token="t")["files"] == ["x.csv", "y.csv"]


def test_a_dict_override_is_json(recipe_file: Path) -> None:
    assert overridden(recipe_file, options='{"verbose": false}', token="t")["options"] == {"verbose": False}


def test_an_unknown_override_suggests_the_closest_param(recipe_file: Path) -> None:
    assert override_error(recipe_file, regoin="eu") == (
        "unknown param 'regoin' (did you mean 'region'?); the recipe's params are: "
        "region, batch, ratio, dry_run, files, options, env, token"
    )


def test_an_override_of_the_wrong_type_is_refused(recipe_file: Path) -> None:
    assert override_error(recipe_file, batch="fifty", token="t") == "param 'batch' must be an int, got 'fifty'"


def test_a_bool_override_that_is_not_a_bool_is_refused(recipe_file: Path) -> None:
    assert override_error(recipe_file, dry_run="maybe", token="t") == (
        "param 'dry_run' must be a bool (true/false), got 'maybe'"
    )


def test_a_list_override_that_is_not_a_list_is_refused_with_an_example(recipe_file: Path) -> None:
    assert override_error(recipe_file, files="a.csv, b.csv", token="t") == (
        "param 'files' must be a list (JSON, like [\"a\", \"b\"]), got 'a.csv, b.csv'"
    )


def test_a_dict_override_that_is_a_list_is_refused(recipe_file: Path) -> None:
    assert override_error(recipe_file, options="[1]", token="t") == (
        "param 'options' must be a dict (JSON, like {\"key\": \"value\"}), got '[1]'"
    )


def test_a_float_override_must_be_finite(recipe_file: Path) -> None:
    assert override_error(recipe_file, ratio="nan", token="t") == "param 'ratio' must be a float, got 'nan'"


def test_an_override_outside_the_choices_is_refused(recipe_file: Path) -> None:
    assert override_error(recipe_file, env="qa", token="t") == "param 'env' must be one of 'dev', 'prod', got 'qa'"


def test_a_missing_required_param_is_reported_when_params_are_given(recipe_file: Path) -> None:
    assert override_error(recipe_file, batch="5") == (
        "param 'token' is required: give it with -p token=VALUE or params={'token': ...}"
    )


def test_python_overrides_are_not_coerced_from_text(recipe_file: Path) -> None:
    with pytest.raises(ParamError) as caught:
        load_recipe(recipe_file, params={"batch": "50", "token": "t"})
    assert str(caught.value) == "param 'batch' must be an int, got '50'"
    assert caught.value.param == "batch"


def test_a_param_error_exits_with_the_usage_code(recipe_file: Path) -> None:
    with pytest.raises(ParamError) as caught:
        load_recipe(recipe_file, params={"nope": "1"}, params_from_text=True)
    assert caught.value.exit_code == 2
