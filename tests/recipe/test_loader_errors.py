"""Every kind of recipe error, as the user sees it: FILE:LINE:COL: message, all of them at once."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from framework0 import RecipeError, load_recipe, load_recipe_text


def errors(text: str, base_dir: Path | None = None) -> list[str]:
    """The diagnostics of loading ``text`` as r.yaml, each as the CLI prints it."""
    with pytest.raises(RecipeError) as caught:
        load_recipe_text(textwrap.dedent(text), file="r.yaml", base_dir=base_dir)
    assert str(caught.value) == "\n".join(str(d) for d in caught.value.diagnostics)
    return [str(diagnostic) for diagnostic in caught.value.diagnostics]


def error(text: str, base_dir: Path | None = None) -> str:
    """The one diagnostic of loading ``text``."""
    found = errors(text, base_dir)
    assert len(found) == 1, found
    return found[0]


# -- all at once -------------------------------------------------------------------------------------


def test_five_different_errors_are_reported_together_in_file_order() -> None:
    found = errors(
        """\
        max_parallel: "x"
        steps:
          - name: a
            uses: hello_wrld
            timeout: soon
          - name: b
            uses: hello_world
            nmae: x
            depends_on: [c]
          - name: a
            uses: hello_world
        """
    )
    assert found == [
        "r.yaml:1:15: 'max_parallel' must be an integer, got a string 'x'",
        "r.yaml:4:11: unknown scriptlet 'hello_wrld' (did you mean 'hello_world'?); "
        "run 'f0 scriptlets list' to see them all",
        "r.yaml:5:14: 'timeout': expected a duration like 500ms, 30s, 5m, 1h or a number of seconds, got 'soon'",
        "r.yaml:8:5: unknown key 'nmae' in a step (did you mean 'name'?)",
        "r.yaml:9:17: step 'b' depends on unknown step 'c'",
        "r.yaml:10:11: duplicate step name 'a' (first defined at 3:11)",
    ]


def test_a_step_with_an_error_of_its_own_still_has_its_dependencies_checked() -> None:
    found = errors(
        """\
        steps:
          - name: a
            uses: hello_world
            retry: {attempts: many}
            depends_on: [nope]
        """
    )
    assert found == [
        "r.yaml:4:23: retry.attempts must be an integer, got a string 'many'",
        "r.yaml:5:17: step 'a' depends on unknown step 'nope'",
    ]


def test_a_broken_step_is_not_reported_again_by_the_steps_that_name_it() -> None:
    found = errors(
        """\
        steps:
          - name: a
            uses: hello_wrld
          - name: b
            uses: hello_world
            depends_on: [a]
            args: {name: "{{ steps.a.output }}"}
        """
    )
    assert found == [
        "r.yaml:3:11: unknown scriptlet 'hello_wrld' (did you mean 'hello_world'?); "
        "run 'f0 scriptlets list' to see them all"
    ]


def test_the_cli_prints_every_diagnostic_and_the_count(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from framework0.cli.main import cli

    recipe = tmp_path / "r.yaml"
    recipe.write_text("steps:\n  - name: a\n    uses: hello_world\n    nmae: x\n    timeout: -1s\n")
    result = CliRunner().invoke(cli, ["validate", str(recipe)])
    assert result.exit_code == 2
    assert result.output.splitlines() == [
        f"{recipe}:4:5: unknown key 'nmae' in a step (did you mean 'name'?)",
        f"{recipe}:5:14: 'timeout': a duration cannot be negative, got '-1s'",
        "2 errors",
    ]


# -- YAML ----------------------------------------------------------------------------------------------


def test_bad_yaml_is_reported_where_the_parser_stopped() -> None:
    assert error("steps:\n  - name: a\n    uses: [hello_world\n") == (
        "r.yaml:4:1: invalid YAML: did not find expected ',' or ']'"
    )


def test_bad_yaml_in_a_file_names_the_file(tmp_path: Path) -> None:
    recipe = tmp_path / "r.yaml"
    recipe.write_text("steps:\n  - name: a\n   uses: x\n")
    with pytest.raises(RecipeError) as caught:
        load_recipe(recipe)
    assert [str(d) for d in caught.value.diagnostics] == [
        f"{recipe}:3:4: invalid YAML: did not find expected '-' indicator"
    ]


def test_an_empty_recipe_needs_steps() -> None:
    assert error("# nothing here\n") == "r.yaml:1:1: the recipe is empty; it needs at least 'steps:'"


def test_a_recipe_without_steps_says_so() -> None:
    assert error("test_meta: {test_id: X}\n") == "r.yaml:1:1: the recipe has no 'steps:'"


def test_a_recipe_that_is_not_a_mapping_says_what_it_is() -> None:
    assert error("- name: a\n") == "r.yaml:1:1: the recipe must be a mapping, got a list [{'name': 'a'}]"


def test_steps_must_be_a_list() -> None:
    assert error("steps:\n  a: {uses: hello_world}\n") == (
        "r.yaml:2:3: 'steps' must be a list of steps, got a mapping {'a': {'uses': 'hello_world'}}"
    )


def test_each_step_must_be_a_mapping() -> None:
    assert error("steps:\n  - hello_world\n") == "r.yaml:2:5: a step must be a mapping, got a string 'hello_world'"


# -- unknown keys ----------------------------------------------------------------------------------------


def test_unknown_top_level_key_suggests_the_closest() -> None:
    assert error("stpes: []\n") == "r.yaml:1:1: unknown key 'stpes' in the recipe (did you mean 'steps'?)"


def test_unknown_step_key_suggests_the_closest() -> None:
    text = """\
    steps:
      - name: a
        uses: hello_world
        nmae: x
    """
    assert error(text) == "r.yaml:4:5: unknown key 'nmae' in a step (did you mean 'name'?)"


def test_unknown_key_without_a_close_match_lists_the_allowed_keys() -> None:
    text = "steps:\n  - name: a\n    uses: hello_world\n    colour: red\n"
    assert error(text) == (
        "r.yaml:4:5: unknown key 'colour' in a step; allowed: idx, name, description, uses, module, function, "
        "args, with, foreach, depends_on, when, retry, timeout, continue_on_error, cache, trigger"
    )


def test_unknown_retry_key_suggests_the_closest() -> None:
    text = "steps:\n  - name: a\n    uses: hello_world\n    retry: {attempts: 2, dela: 1s}\n"
    assert error(text) == "r.yaml:4:26: unknown key 'dela' in retry (did you mean 'delay'?)"


def test_unknown_test_meta_key_suggests_the_closest() -> None:
    text = "test_meta:\n  test_di: X-1\nsteps: [{name: s, uses: hello_world}]\n"
    assert error(text) == "r.yaml:2:3: unknown key 'test_di' in test_meta (did you mean 'test_id'?)"


def test_unknown_param_key_suggests_the_closest() -> None:
    text = "params:\n  batch: {type: int, defualt: 3}\nsteps: [{name: s, uses: hello_world}]\n"
    assert error(text) == "r.yaml:2:22: unknown key 'defualt' in param 'batch' (did you mean 'default'?)"


def test_unknown_defaults_key_suggests_the_closest() -> None:
    text = "defaults:\n  timout: 5m\nsteps: [{name: s, uses: hello_world}]\n"
    assert error(text) == "r.yaml:2:3: unknown key 'timout' in defaults (did you mean 'timeout'?)"


def test_test_meta_and_its_alias_together_are_an_error() -> None:
    text = "test_meta: {test_id: A}\nmeta: {test_id: B}\nsteps: [{name: s, uses: hello_world}]\n"
    assert error(text) == "r.yaml:2:1: give either 'test_meta' or its alias 'meta', not both"


def test_args_and_its_alias_with_together_are_an_error() -> None:
    text = "steps:\n  - name: a\n    uses: hello_world\n    args: {name: x}\n    with: {name: y}\n"
    assert error(text) == "r.yaml:5:5: give either 'args' or its alias 'with', not both"


# -- wrong types -----------------------------------------------------------------------------------------


def test_max_parallel_must_be_an_integer() -> None:
    assert (
        error('max_parallel: "x"\nsteps: [{name: s, uses: hello_world}]\n')
        == "r.yaml:1:15: 'max_parallel' must be an integer, got a string 'x'"
    )


def test_max_parallel_must_be_at_least_one() -> None:
    assert (
        error("max_parallel: 0\nsteps: [{name: s, uses: hello_world}]\n")
        == "r.yaml:1:15: 'max_parallel' must be at least 1, got 0"
    )


def test_sequential_must_be_a_boolean() -> None:
    assert (
        error("sequential: 3\nsteps: [{name: s, uses: hello_world}]\n")
        == "r.yaml:1:13: 'sequential' must be true or false, got an integer 3"
    )


def test_run_timeout_must_be_a_duration() -> None:
    assert error("timeout: soon\nsteps: [{name: s, uses: hello_world}]\n") == (
        "r.yaml:1:10: 'timeout': expected a duration like 500ms, 30s, 5m, 1h or a number of seconds, got 'soon'"
    )


def test_retry_attempts_must_be_at_least_one() -> None:
    text = "steps:\n  - name: a\n    uses: hello_world\n    retry: {attempts: 0}\n"
    assert error(text) == "r.yaml:4:23: retry.attempts must be at least 1, got 0"


def test_retry_given_as_a_bare_number_of_attempts_is_checked_too() -> None:
    text = "steps:\n  - name: a\n    uses: hello_world\n    retry: 0\n"
    assert error(text) == "r.yaml:4:12: retry.attempts must be at least 1, got 0"


def test_retry_backoff_and_jitter_are_checked() -> None:
    text = "steps:\n  - name: a\n    uses: hello_world\n    retry: {backoff: 0.5, jitter: 2, retry_on: 3}\n"
    assert errors(text) == [
        "r.yaml:4:22: retry.backoff must be 1 or more, got 0.5",
        "r.yaml:4:35: retry.jitter is a fraction from 0 to 1, got 2",
        "r.yaml:4:48: retry.retry_on must be a list of strings, got an integer 3",
    ]


def test_retry_must_be_a_mapping_or_a_number() -> None:
    text = "steps:\n  - name: a\n    uses: hello_world\n    retry: often\n"
    assert error(text) == "r.yaml:4:12: retry must be a mapping, got a string 'often'"


def test_step_timeout_must_be_a_duration() -> None:
    text = "steps:\n  - name: a\n    uses: hello_world\n    timeout: 5 minutes\n"
    assert error(text) == (
        "r.yaml:4:14: 'timeout': expected a duration like 500ms, 30s, 5m, 1h or a number of seconds, got '5 minutes'"
    )


def test_step_flags_and_idx_and_description_are_typed() -> None:
    text = """\
    steps:
      - name: a
        uses: hello_world
        idx: first
        description: 3
        continue_on_error: "yes"
        cache: 1
    """
    assert errors(text) == [
        "r.yaml:4:10: 'idx' must be an integer, got a string 'first'",
        "r.yaml:5:18: 'description' must be a string, got an integer 3",
        "r.yaml:6:24: 'continue_on_error' must be true or false, got a string 'yes'",
        "r.yaml:7:12: 'cache' must be true or false, got an integer 1",
    ]


def test_depends_on_must_be_a_list_of_names() -> None:
    text = "steps:\n  - name: a\n    uses: hello_world\n    depends_on: {b: 1}\n"
    assert error(text) == "r.yaml:4:17: 'depends_on' must be a list of strings, got a mapping {'b': 1}"


def test_args_must_be_a_mapping() -> None:
    text = "steps:\n  - name: a\n    uses: hello_world\n    args: [x]\n"
    assert error(text) == "r.yaml:4:11: 'args' must be a mapping of arg names to values, got a list ['x']"


def test_when_must_be_a_boolean_or_an_expression() -> None:
    text = "steps:\n  - name: a\n    uses: hello_world\n    when: 1\n"
    assert error(text) == "r.yaml:4:11: 'when' must be true, false or an expression, got an integer 1"


def test_foreach_must_be_a_list_or_a_template() -> None:
    text = "steps:\n  - name: a\n    uses: hello_world\n    foreach: a, b\n"
    assert error(text) == (
        "r.yaml:4:14: 'foreach' must be a list or a template that gives one, like '{{ params.files }}', "
        "got a string 'a, b'"
    )


def test_unknown_trigger_suggests_the_closest() -> None:
    text = "steps:\n  - name: a\n    uses: hello_world\n    trigger: allways\n"
    assert error(text) == "r.yaml:4:14: unknown trigger 'allways' (did you mean 'always'?)"


# -- names and dependencies ------------------------------------------------------------------------------


def test_duplicate_step_names_name_the_first_position() -> None:
    text = """\
    steps:
      - name: fetch
        uses: hello_world
      - name: fetch
        uses: hello_world
    """
    assert error(text) == "r.yaml:4:11: duplicate step name 'fetch' (first defined at 2:11)"


def test_a_step_needs_a_name() -> None:
    assert error("steps:\n  - uses: hello_world\n") == "r.yaml:2:5: a step needs a 'name'"


def test_step_names_are_identifiers() -> None:
    text = "steps:\n  - name: 1st step\n    uses: hello_world\n"
    assert error(text) == (
        "r.yaml:2:11: step name '1st step' must start with a letter and hold only letters, digits, _ and -"
    )


def test_unknown_dependency_suggests_the_closest_step() -> None:
    text = """\
    steps:
      - name: fetch
        uses: hello_world
      - name: load
        uses: hello_world
        depends_on: [fecth]
    """
    assert error(text) == "r.yaml:6:17: step 'load' depends on unknown step 'fecth' (did you mean 'fetch'?)"


def test_a_step_cannot_depend_on_itself() -> None:
    text = "steps:\n  - name: a\n    uses: hello_world\n    depends_on: [a]\n"
    assert error(text) == "r.yaml:4:17: step 'a' cannot depend on itself"


# -- what a step runs ------------------------------------------------------------------------------------


def test_unknown_scriptlet_suggests_the_closest() -> None:
    text = "steps:\n  - name: a\n    uses: shel\n"
    assert error(text) == (
        "r.yaml:3:11: unknown scriptlet 'shel' (did you mean 'shell'?); run 'f0 scriptlets list' to see them all"
    )


def test_uses_and_module_together_are_an_error() -> None:
    text = "steps:\n  - name: a\n    uses: hello_world\n    module: mypkg.steps\n    function: f\n"
    assert error(text) == "r.yaml:4:5: give either 'uses' or 'module' with 'function', not both"


def test_a_step_needs_uses_or_module() -> None:
    text = "steps:\n  - name: a\n    args: {x: 1}\n"
    assert error(text) == "r.yaml:2:5: a step needs 'uses: NAME' or 'module:' with 'function:' to say what it runs"


def test_module_needs_function() -> None:
    text = "steps:\n  - name: a\n    module: mypkg.steps\n"
    assert error(text) == "r.yaml:3:5: 'module' needs 'function' too: give both, or 'uses' alone"


def test_function_needs_module() -> None:
    text = "steps:\n  - name: a\n    function: run\n"
    assert error(text) == "r.yaml:3:5: 'function' needs 'module' too: give both, or 'uses' alone"


def test_a_module_that_cannot_be_imported_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    text = "steps:\n  - name: a\n    module: f0_test_no_such_module\n    function: run\n"
    assert error(text, base_dir=tmp_path) == (
        "r.yaml:3:13: cannot import module 'f0_test_no_such_module': No module named 'f0_test_no_such_module' "
        f"(searched {tmp_path.resolve()} and the installed packages)"
    )


def test_a_module_that_fails_on_import_is_reported(tmp_path: Path) -> None:
    (tmp_path / "f0_test_broken_module.py").write_text("raise RuntimeError('no database')\n")
    text = "steps:\n  - name: a\n    module: f0_test_broken_module\n    function: run\n"
    assert error(text, base_dir=tmp_path) == (
        "r.yaml:3:13: importing module 'f0_test_broken_module' failed: RuntimeError: no database"
    )


def test_a_missing_function_is_reported_at_its_own_line_with_the_closest_name(tmp_path: Path) -> None:
    (tmp_path / "f0_test_greetings.py").write_text("def greet(name: str) -> str:\n    return name\n")
    text = "steps:\n  - name: a\n    module: f0_test_greetings\n    function: gret\n"
    assert error(text, base_dir=tmp_path) == (
        "r.yaml:4:15: module 'f0_test_greetings' has no attribute 'gret' (did you mean 'greet'?)"
    )


def test_a_function_that_is_not_a_scriptlet_is_refused_at_its_own_line(tmp_path: Path) -> None:
    (tmp_path / "f0_test_constants.py").write_text("LIMIT = 3\n")
    text = "steps:\n  - name: a\n    function: LIMIT\n    module: f0_test_constants\n"
    assert error(text, base_dir=tmp_path) == (
        "r.yaml:3:15: 'f0_test_constants:LIMIT' is an int, not a BaseScriptlet subclass or a function"
    )


# -- args ------------------------------------------------------------------------------------------------


def test_an_unknown_arg_is_reported_at_its_key_with_a_suggestion() -> None:
    text = "steps:\n  - name: a\n    uses: hello_world\n    args:\n      nmae: x\n"
    assert error(text) == "r.yaml:5:7: step 'a': unknown arg 'nmae' (did you mean 'name'?)"


def test_an_unknown_templated_arg_is_reported_too() -> None:
    text = "steps:\n  - name: a\n    uses: hello_world\n    args:\n      nmae: '{{ run.id }}'\n"
    assert error(text) == "r.yaml:5:7: step 'a': unknown arg 'nmae' (did you mean 'name'?)"


def test_a_missing_required_arg_is_reported_at_the_step_name() -> None:
    text = "steps:\n  - name: nap\n    uses: sleep\n"
    assert error(text) == "r.yaml:2:11: step 'nap': missing required arg 'seconds'"


def test_a_missing_required_arg_is_reported_at_the_args() -> None:
    text = "steps:\n  - name: nap\n    uses: sleep\n    with: {secs: 1}\n"
    assert errors(text) == [
        "r.yaml:4:11: step 'nap': missing required arg 'seconds'",
        "r.yaml:4:12: step 'nap': unknown arg 'secs' (did you mean 'seconds'?)",
    ]


def test_an_arg_of_the_wrong_type_is_reported_at_its_value() -> None:
    text = "steps:\n  - name: a\n    uses: set_context\n    args:\n      values: [a, b]\n"
    assert error(text) == "r.yaml:5:15: step 'a': arg 'values': Input should be a valid dictionary (got ['a', 'b'])"


def test_a_templated_arg_is_not_type_checked_before_the_run() -> None:
    text = "params: {v: {a: 1}}\nsteps:\n  - name: a\n    uses: set_context\n    args: {values: '{{ params.v }}'}\n"
    recipe = load_recipe_text(text, file="r.yaml")
    assert recipe.steps[0].templated_args == frozenset({"values"})


def test_a_missing_required_arg_is_reported_when_another_arg_is_templated(tmp_path: Path) -> None:
    (tmp_path / "f0_test_adder.py").write_text("def add(a: int, b: int) -> int:\n    return a + b\n")
    text = "steps:\n  - name: a\n    module: f0_test_adder\n    function: add\n    args: {a: '{{ run.id }}'}\n"
    assert error(text, base_dir=tmp_path) == "r.yaml:5:11: step 'a': missing required arg 'b'"


def test_a_required_arg_given_by_a_template_is_not_missing(tmp_path: Path) -> None:
    (tmp_path / "f0_test_adder2.py").write_text("def add(a: int, b: int) -> int:\n    return a + b\n")
    text = "steps:\n  - name: a\n    module: f0_test_adder2\n    function: add\n    args: {a: 1, b: '{{ 2 }}'}\n"
    assert load_recipe_text(text, file="r.yaml", base_dir=tmp_path).steps[0].templated_args == frozenset({"b"})


def test_a_function_scriptlet_without_params_takes_no_args(tmp_path: Path) -> None:
    (tmp_path / "f0_test_noargs.py").write_text("def ping():\n    return 'pong'\n")
    text = "steps:\n  - name: a\n    module: f0_test_noargs\n    function: ping\n    args: {x: 1}\n"
    assert error(text, base_dir=tmp_path) == "r.yaml:5:11: step 'a': scriptlet 'ping' takes no args, got ['x']"


def test_a_scriptlet_validate_that_rejects_the_args_is_reported(tmp_path: Path) -> None:
    (tmp_path / "f0_test_validating.py").write_text(
        textwrap.dedent(
            """\
            from framework0 import BaseScriptlet

            class Resize(BaseScriptlet):
                class Params(BaseScriptlet.Params):
                    width: int

                def validate(self, params):
                    if params.width % 2:
                        raise ValueError("width must be even")

                def run(self, ctx, params):
                    return params.width
            """
        )
    )
    text = "steps:\n  - name: a\n    module: f0_test_validating\n    function: Resize\n    args: {width: 3}\n"
    assert error(text, base_dir=tmp_path) == "r.yaml:5:11: step 'a': args rejected: width must be even"


# -- templates -------------------------------------------------------------------------------------------


def test_a_template_syntax_error_says_where_in_the_template() -> None:
    text = "steps:\n  - name: a\n    uses: hello_world\n    args: {name: '{{ params.x + }}'}\n"
    assert error(text) == (
        "r.yaml:4:18: template error: unexpected 'end of print statement' (at column 15 of '{{ params.x + }}')"
    )


def test_a_syntax_error_in_a_multi_line_template_gives_its_line() -> None:
    text = "steps:\n  - name: a\n    uses: hello_world\n    args:\n      name: |\n        hello\n        {{ x }\n"
    assert error(text) == "r.yaml:5:13: template error: unexpected '}' (at line 2, column 6 of the template)"


def test_a_when_expression_syntax_error_is_reported() -> None:
    text = "steps:\n  - name: a\n    uses: hello_world\n    when: 'params.x =='\n"
    assert error(text) == (
        "r.yaml:4:11: template error: unexpected 'end of print statement' (at column 12 of 'params.x ==')"
    )


def test_a_template_naming_an_unknown_step_suggests_the_closest() -> None:
    text = """\
    steps:
      - name: fetch
        uses: hello_world
      - name: load
        uses: hello_world
        args: {name: "{{ steps.fecth.output }}"}
    """
    assert error(text) == "r.yaml:6:18: template reads unknown step 'fecth' (did you mean 'fetch'?)"


def test_a_template_naming_an_unknown_param_suggests_the_closest() -> None:
    text = "params: {region: eu}\nsteps:\n  - name: a\n    uses: hello_world\n    args: {name: '{{ params.regoin }}'}\n"
    assert error(text) == "r.yaml:5:18: template reads unknown param 'regoin' (did you mean 'region'?)"


def test_a_template_naming_an_unknown_name_lists_the_known_ones() -> None:
    text = "steps:\n  - name: a\n    uses: hello_world\n    args: {name: '{{ param.region }}'}\n"
    assert error(text) == (
        "r.yaml:4:18: unknown name 'param' in template (did you mean 'params'?); "
        "templates read params, steps, ctx, run, recipe"
    )


def test_item_outside_foreach_is_an_error() -> None:
    text = "steps:\n  - name: a\n    uses: hello_world\n    args: {name: '{{ item }}'}\n"
    assert error(text) == "r.yaml:4:18: 'item' is only defined in the args of a step with 'foreach'"


def test_item_in_the_when_of_a_foreach_step_is_an_error() -> None:
    text = "steps:\n  - name: a\n    uses: hello_world\n    foreach: [1, 2]\n    when: 'item > 1'\n"
    assert error(text) == "r.yaml:5:11: 'item' is only defined in the args, not in 'when' or 'foreach'"


def test_a_step_cannot_read_its_own_output() -> None:
    text = "steps:\n  - name: a\n    uses: hello_world\n    args: {name: '{{ steps.a.output }}'}\n"
    assert error(text) == "r.yaml:4:18: step 'a' cannot read its own output in its templates"


def test_an_error_in_a_nested_arg_is_reported_at_the_nested_value() -> None:
    text = """\
    steps:
      - name: a
        uses: set_context
        args:
          values:
            region: eu
            where: ["{{ steps.nope.output }}"]
    """
    assert error(text) == "r.yaml:7:17: template reads unknown step 'nope'"


def test_the_assert_that_arg_is_checked_as_an_expression() -> None:
    text = 'steps:\n  - name: a\n    uses: assert\n    args: {that: ["params.x == 1", "1 +"]}\n'
    assert errors(text) == [
        "r.yaml:4:19: template reads unknown param 'x'",
        "r.yaml:4:36: template error: unexpected 'end of print statement' (at column 4 of '1 +')",
    ]


# -- huge values are cut short in messages, and odd file names are quoted ---------------------------


def test_a_huge_value_is_cut_short_in_every_message() -> None:
    big = "9" * 4000
    found = errors(
        f"""\
        params:
          {"-" + "p" * 1000}: 1
        steps:
          - name: {big}
            uses: hello_world
          - name: b
            uses: hello_world
            timeout: {big}
            trigger: {"x" * 5000}
            depends_on: [{"y" * 5000}]
        """
    )
    assert found == [
        "r.yaml:2:3: param name '-" + "p" * 55 + "... must be a Python identifier",
        "r.yaml:4:11: step name " + "9" * 57 + "... must start with a letter and hold only letters, digits, _ and -",
        "r.yaml:8:14: 'timeout': a duration must be finite, got " + "9" * 57 + "...",
        "r.yaml:9:14: unknown trigger '" + "x" * 56 + "...; use one of on_success, always",
        "r.yaml:10:17: step 'b' depends on unknown step '" + "y" * 56 + "...",
    ]


def test_an_int_too_large_to_print_is_a_recipe_error_wherever_it_is() -> None:
    for where in ("params: {n: %s}\n", "steps: [{name: %s, uses: hello_world}]\n", "timeout: %s\n"):
        text = where % ("0x" + "f" * 5000)
        assert error(text + ("steps: [{name: a, uses: hello_world}]\n" if "steps" not in text else "")) == (
            f"r.yaml:1:{text.index('0x') + 1}: integer '0x" + "f" * 54 + "... is too large (more than 4300 digits); "
            "quote it to use it as text"
        )


def test_a_recipe_file_name_with_a_newline_is_quoted_in_its_messages(tmp_path: Path) -> None:
    recipe = tmp_path / "my\nrecipe.yaml"
    recipe.write_text("steps: [{name: a, uses: nope}]\n")
    with pytest.raises(RecipeError) as caught:
        load_recipe(recipe)
    (line,) = str(caught.value).splitlines()
    assert line == f"{str(recipe)!r}:1:25: unknown scriptlet 'nope'; run 'f0 scriptlets list' to see them all"


# -- what f0 validate used to miss (issue 13, item 16) ----------------------------------------------------


def test_a_duplicate_step_still_has_its_own_errors_reported() -> None:
    found = errors(
        """\
        steps:
          - name: a
            uses: hello_world
          - name: a
            uses: hello_world
            args: {nmae: x, name: "{{ steps.zz.output }}"}
            when: "params.q"
            depends_on: [nope]
        """
    )
    assert found == [
        "r.yaml:4:11: duplicate step name 'a' (first defined at 2:11)",
        "r.yaml:6:12: step 'a': unknown arg 'nmae' (did you mean 'name'?)",
        "r.yaml:6:27: template reads unknown step 'zz'",
        "r.yaml:7:11: template reads unknown param 'q'",
        "r.yaml:8:17: step 'a' depends on unknown step 'nope'",
    ]


def test_renaming_a_duplicate_step_reports_the_same_errors_but_the_duplicate() -> None:
    text = """\
        steps:
          - {name: a, uses: hello_world}
          - {name: a, uses: hello_wrld, timeout: soon, args: {x: "{{ nope }}"}, trigger: allways}
        """
    renamed = errors(text.replace("name: a, uses: hello_wrld", "name: b, uses: hello_wrld"))
    assert errors(text) == ["r.yaml:3:12: duplicate step name 'a' (first defined at 2:12)", *renamed]
    assert len(renamed) == 4


@pytest.mark.parametrize(
    ("that", "message"),
    [
        (
            "steps.latency.outptu > 1",
            "template reads steps.latency.outptu: a step has 'output' and 'status' (did you mean 'output'?)",
        ),
        (
            "steps['latency'].stat == 'x'",
            "template reads steps.latency.stat: a step has 'output' and 'status' (did you mean 'status'?)",
        ),
        ("{{ steps.latency.results }}", "template reads steps.latency.results: a step has 'output' and 'status'"),
        ("steps.nope.output > 1", "template reads unknown step 'nope'"),
        ("params.nope", "template reads unknown param 'nope'"),
        (
            "steps.latency.output >",
            "template error: unexpected 'end of print statement' (at column 23 of 'steps.latency.output >')",
        ),
    ],
)
def test_assert_that_expressions_are_checked_like_templates(that: str, message: str) -> None:
    text = f"""\
        steps:
          - {{name: latency, uses: hello_world}}
          - name: check
            uses: assert
            args: {{that: ["steps.latency.status == 'succeeded'", "{that}"]}}
        """
    assert errors(text) == [f"r.yaml:5:58: {message}"]


def test_a_step_attribute_other_than_output_or_status_is_an_error_in_any_template() -> None:
    text = """\
        steps:
          - {name: a, uses: hello_world}
          - {name: b, uses: hello_world, args: {name: "{{ steps.a.ouput.x }}"}, when: "steps.a.outputs"}
        """
    assert errors(text) == [
        "r.yaml:3:47: template reads steps.a.ouput: a step has 'output' and 'status' (did you mean 'output'?)",
        "r.yaml:3:79: template reads steps.a.outputs: a step has 'output' and 'status' (did you mean 'output'?)",
    ]


def test_reading_a_whole_step_or_its_output_and_status_is_fine() -> None:
    text = """\
        steps:
          - {name: a, uses: hello_world}
          - name: b
            uses: assert
            args: {that: ["steps.a.output.x is defined or true", "steps.a['status']", "steps.a|length == 2"]}
        """
    assert [step.name for step in load_recipe_text(textwrap.dedent(text), file="r.yaml").steps] == ["a", "b"]


def test_an_empty_list_of_steps_is_an_error() -> None:
    assert error("steps: []\n") == "r.yaml:1:8: the recipe has no steps; add at least one under 'steps:'"


def test_an_empty_list_of_steps_is_fine_when_an_include_brings_steps(tmp_path: Path) -> None:
    (tmp_path / "common.yaml").write_text("steps: [{name: a, uses: hello_world}]\n")
    (tmp_path / "r.yaml").write_text("include: [common.yaml]\nsteps: []\n")
    assert [step.name for step in load_recipe(tmp_path / "r.yaml").steps] == ["a"]


def test_a_diagnostic_line_is_at_most_1000_characters_of_message() -> None:
    from framework0.errors import Diagnostic, Span

    line = str(Diagnostic(Span("r.yaml", 1, 2), "x" * 5000))
    assert line == "r.yaml:1:2: " + "x" * 997 + "..."
    assert str(Diagnostic(Span("a\tb.yaml", 3, 4), "m")) == "'a\\tb.yaml':3:4: m"
    assert str(Diagnostic(Span("ünïcode name.yaml", 3, 4), "m")) == "ünïcode name.yaml:3:4: m"
