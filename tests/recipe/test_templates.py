from __future__ import annotations

import subprocess
import sys
import time
from typing import Any

import pytest

from framework0.errors import TemplateError, TemplateSecurityError
from framework0.recipe.templates import (
    References,
    TemplateLimits,
    evaluate,
    expression_references,
    is_template,
    references,
    render,
    render_document,
    render_value,
)

NAMESPACE: dict[str, Any] = {
    "params": {"region": "eu", "count": 3},
    "steps": {"list_files": {"output": {"stdout": "a.csv b.csv\n"}, "status": "succeeded"}},
    "ctx": {"db.url": "{{ 7 * 7 }}"},
    "item": 5,
    "index": 0,
    "run": {"id": "r1", "started_at": "2024-01-01T00:00:00Z"},
    "recipe": {"test_id": "t1"},
}


def refused(source: str, **namespace: Any) -> TemplateSecurityError:
    with pytest.raises(TemplateSecurityError) as caught:
        render(source, {**NAMESPACE, **namespace})
    return caught.value


def failed(source: str) -> TemplateError:
    with pytest.raises(TemplateError) as caught:
        render(source, NAMESPACE)
    assert not isinstance(caught.value, TemplateSecurityError)
    return caught.value


# --- is_template ---


def test_is_template_needs_braces_or_a_statement() -> None:
    assert is_template("ls {{ params.region }}")
    assert is_template("{% if x %}y{% endif %}")
    assert not is_template("ls data")
    assert not is_template(["{{ x }}"])


# --- native values and strings ---


def test_a_lone_expression_gives_a_list() -> None:
    assert render("{{ steps.list_files.output.stdout.split() }}", NAMESPACE) == ["a.csv", "b.csv"]


def test_a_lone_expression_gives_an_int() -> None:
    assert render("{{ params.count + 1 }}", NAMESPACE) == 4


def test_a_lone_expression_gives_none() -> None:
    assert render("{{ none }}", NAMESPACE) is None


def test_a_lone_expression_gives_a_dict() -> None:
    assert render("{{ {'region': params.region} }}", NAMESPACE) == {"region": "eu"}


def test_blanks_around_a_lone_expression_keep_its_value() -> None:
    assert render("  {{ [params.count] }}\n", NAMESPACE) == [3]


def test_text_around_an_expression_gives_a_string() -> None:
    assert render("ls data/{{ params.region }}", NAMESPACE) == "ls data/eu"


def test_two_expressions_give_a_string() -> None:
    assert render("{{ params.count }}{{ params.count }}", NAMESPACE) == "33"


def test_a_range_result_is_a_list() -> None:
    assert render("{{ range(3) }}", NAMESPACE) == [0, 1, 2]


def test_a_filter_generator_result_is_a_list() -> None:
    assert render("{{ range(6)|select('odd') }}", NAMESPACE) == [1, 3, 5]


def test_statements_are_allowed_in_render() -> None:
    assert render("{% for f in steps.list_files.output.stdout.split() %}[{{ f }}]{% endfor %}", NAMESPACE) == (
        "[a.csv][b.csv]"
    )


def test_context_values_are_not_rendered_again() -> None:
    assert render("{{ ctx['db.url'] }}", NAMESPACE) == "{{ 7 * 7 }}"
    assert render("url={{ ctx['db.url'] }}", NAMESPACE) == "url={{ 7 * 7 }}"


def test_a_cached_template_renders_with_each_namespace() -> None:
    assert [render("{{ item * 2 }}", {"item": number}) for number in range(3)] == [0, 2, 4]


# --- undefined values ---


def test_an_undefined_name_is_an_error() -> None:
    error = failed("{{ nope }}")
    assert str(error) == "'nope' is undefined (in '{{ nope }}')"
    assert (error.line, error.col) == (1, 4)


def test_a_missing_key_names_the_path_it_was_read_from() -> None:
    error = failed("{{ steps.list_files.output.missing }}")
    assert str(error) == "'steps.list_files.output' has no key 'missing' (in '{{ steps.list_files.output.missing }}')"
    assert error.col == 28


def test_a_missing_attribute_names_the_path_it_was_read_from() -> None:
    error = failed("x {{ params.region.nope }}")
    assert str(error) == "'params.region' has no attribute 'nope' (in 'x {{ params.region.nope }}')"


def test_an_undefined_value_inside_a_built_list_is_an_error() -> None:
    assert str(failed("{{ [1, nope] }}")) == "'nope' is undefined (in '{{ [1, nope] }}')"


def test_an_undefined_value_printed_inside_a_list_is_an_error() -> None:
    assert str(failed("x {{ [1, nope] }}")) == "'nope' is undefined (in 'x {{ [1, nope] }}')"


def test_the_error_line_is_the_template_line() -> None:
    error = failed("one\ntwo {{ params.region }}\n{{ nope }}")
    assert (error.line, error.col) == (3, 4)


def test_defined_and_default_still_work() -> None:
    assert render("{{ nope is defined }}", NAMESPACE) is False
    assert render("{{ params.nope|default('x') }}", NAMESPACE) == "x"


def test_a_runtime_error_keeps_the_original_as_cause() -> None:
    error = failed("{{ 1 / 0 }}")
    assert str(error) == "ZeroDivisionError: division by zero (in '{{ 1 / 0 }}')"
    assert isinstance(error.__cause__, ZeroDivisionError)


def test_endless_macro_recursion_is_an_error() -> None:
    source = "{% macro m() %}{{ m() }}{% endmacro %}{{ m() }}"
    assert str(failed(source)) == f"recursion is too deep (in {source!r})"


# --- syntax errors ---


def test_a_syntax_error_has_line_and_column() -> None:
    with pytest.raises(TemplateError) as caught:
        references("ls {{ params.region + }}")
    assert str(caught.value) == "unexpected 'end of print statement'"
    assert (caught.value.line, caught.value.col, caught.value.source) == (1, 23, "ls {{ params.region + }}")


def test_a_syntax_error_on_a_later_line_has_its_column() -> None:
    with pytest.raises(TemplateError) as caught:
        render("first\n  {{ a b }}", NAMESPACE)
    assert str(caught.value) == "expected token 'end of print statement', got 'b'"
    assert (caught.value.line, caught.value.col) == (2, 8)


def test_an_unclosed_string_points_at_its_quote() -> None:
    with pytest.raises(TemplateError) as caught:
        references("{{ 'abc }}")
    assert (caught.value.line, caught.value.col) == (1, 4)


def test_an_unclosed_block_points_at_the_end() -> None:
    with pytest.raises(TemplateError) as caught:
        references("a\n{% for x in y %}")
    assert str(caught.value).startswith("Unexpected end of template.")
    assert (caught.value.line, caught.value.col) == (2, 17)


def test_an_unknown_filter_is_a_template_error() -> None:
    with pytest.raises(TemplateError) as caught:
        render("{{ params.region|shout }}", NAMESPACE)
    assert str(caught.value) == "No filter named 'shout'."
    assert (caught.value.line, caught.value.col) == (1, 18)


# --- references ---


def test_references_of_attribute_access() -> None:
    found = references("{{ steps.list_files.output.stdout }} {{ params.region }}")
    assert found == References(
        steps=frozenset({"list_files"}),
        params=frozenset({"region"}),
        names=frozenset({"steps", "params"}),
        dynamic_steps=False,
        step_fields=frozenset({("list_files", "output")}),
    )


def test_references_name_the_fields_read_of_each_step_but_not_methods_called() -> None:
    found = references("{{ steps.a.output }} {{ steps['b']['status'] }} {{ steps.c.outptu }} {{ steps.d.keys() }}")
    assert found.step_fields == frozenset({("a", "output"), ("b", "status"), ("c", "outptu")})


def test_references_of_subscript_access() -> None:
    found = references("{{ steps['list-files'].output }} {{ params['region'] }} {{ ctx['a.b'] }}")
    assert (found.steps, found.params, found.names) == (
        frozenset({"list-files"}),
        frozenset({"region"}),
        frozenset({"steps", "params", "ctx"}),
    )


def test_references_leave_out_names_the_template_binds() -> None:
    found = references("{% for f in item %}{% set n = f %}{{ n }}{{ loop.index }}{% endfor %}{{ run.id }}")
    assert found.names == frozenset({"item", "run"})


def test_references_include_unknown_names() -> None:
    assert references("{{ colour }}").names == frozenset({"colour"})


def test_steps_read_with_a_variable_key_are_dynamic() -> None:
    assert references("{{ steps[params.name].output }}").dynamic_steps


def test_steps_used_as_a_whole_are_dynamic() -> None:
    assert references("{{ steps|length }}").dynamic_steps


def test_a_dict_method_on_steps_is_not_a_step_name() -> None:
    found = references("{{ steps.get('a') }}")
    assert (found.steps, found.dynamic_steps) == (frozenset(), True)


def test_expression_references_of_a_bare_expression() -> None:
    found = expression_references("steps.list_files.status == 'succeeded' and params.region != 'none'")
    assert (found.steps, found.params) == (frozenset({"list_files"}), frozenset({"region"}))


def test_expression_references_of_a_braced_expression() -> None:
    assert expression_references("{{ params.region }}").params == frozenset({"region"})


def test_a_syntax_error_in_a_bare_expression_points_into_it() -> None:
    with pytest.raises(TemplateError) as caught:
        expression_references("params.count ==")
    assert (caught.value.line, caught.value.col, caught.value.source) == (1, 16, "params.count ==")


# --- evaluate and render_value ---


def test_evaluate_a_bare_expression() -> None:
    assert evaluate("params.region != 'none' and params.count > 2", NAMESPACE) is True


def test_evaluate_a_braced_expression() -> None:
    assert evaluate("{{ params.count * 2 }}", NAMESPACE) == 6


def test_evaluate_refuses_more_than_one_expression() -> None:
    with pytest.raises(TemplateError, match="^expected a single expression$"):
        evaluate("params.count }} and item", NAMESPACE)


def test_render_value_renders_nested_templates() -> None:
    value = {"cmd": "ls {{ params.region }}", "files": ["{{ item }}", 7, {"n": "{{ params.count }}"}]}
    assert render_value(value, NAMESPACE) == {"cmd": "ls eu", "files": [5, 7, {"n": 3}]}


def test_render_value_returns_the_same_object_without_templates() -> None:
    value = {"cmd": "ls", "files": ["a", 7, {"n": None}]}
    assert render_value(value, NAMESPACE) is value


def test_render_value_copies_only_what_changed() -> None:
    untouched = ["a", "b"]
    value = {"plain": untouched, "cmd": "{{ params.region }}"}
    rendered = render_value(value, NAMESPACE)
    assert rendered == {"plain": ["a", "b"], "cmd": "eu"}
    assert rendered["plain"] is untouched and value["cmd"] == "{{ params.region }}"


# --- render_document ---


def test_render_document_runs_a_for_loop() -> None:
    text = "regions:\n{% for r in ['eu', 'us'] %}- {{ r }}\n{% endfor %}"
    assert render_document(text, NAMESPACE) == "regions:\n- eu\n- us\n"


def test_render_document_gives_a_string_for_a_lone_expression() -> None:
    assert render_document("{{ params.count }}\n", NAMESPACE) == "3\n"


# --- the sandbox ---


def test_dunder_attributes_are_refused() -> None:
    error = refused("{{ ''.__class__.__mro__ }}")
    assert str(error) == "template refused: access to attribute '__class__' of 'str' is not allowed"


def test_attr_filter_is_refused_dunder_attributes() -> None:
    error = refused("{{ ''|attr('__class__') }}")
    assert str(error) == "template refused: access to attribute '__class__' of 'str' is not allowed"


def test_str_format_cannot_reach_attributes() -> None:
    error = refused("{{ '{0.__class__}'.format(1) }}")
    assert str(error) == "template refused: access to attribute '__class__' of 'int' is not allowed"


def test_str_format_cannot_reach_function_globals() -> None:
    error = refused(
        "{{ ('{0.__globals__}').format(some_function) }}", some_function=test_is_template_needs_braces_or_a_statement
    )
    assert str(error) == "template refused: access to attribute '__globals__' of 'function' is not allowed"


def test_str_format_reached_through_map_is_still_sandboxed() -> None:
    error = refused("{{ (['{0.__class__}']|map(attribute='format')|first)(1) }}")
    assert str(error) == "template refused: access to attribute '__class__' of 'int' is not allowed"


def test_str_format_reached_through_attr_is_still_sandboxed() -> None:
    error = refused("{{ ('{0.__class__}'|attr('format'))(1) }}")
    assert str(error) == "template refused: access to attribute '__class__' of 'int' is not allowed"


def test_format_map_cannot_reach_attributes() -> None:
    error = refused("{{ '{a.__class__}'.format_map({'a': 1}) }}")
    assert str(error) == "template refused: access to attribute '__class__' of 'int' is not allowed"


def test_lipsum_is_not_available() -> None:
    error = failed("{{ lipsum.__globals__ }}")
    assert str(error) == "'lipsum' is not available in templates (in '{{ lipsum.__globals__ }}')"


def test_cycler_is_not_available() -> None:
    assert str(failed("{{ cycler }}")) == "'cycler' is not available in templates (in '{{ cycler }}')"


def test_mutating_a_namespace_value_is_refused() -> None:
    error = refused("{{ params.update({'region': 'us'}) }}")
    assert str(error) == "template refused: access to attribute 'update' of 'dict' is not allowed"
    assert NAMESPACE["params"]["region"] == "eu"


def test_a_huge_range_is_refused() -> None:
    error = refused("{{ range(10**9) }}")
    assert str(error) == "template refused: range() of 1000000000 items is larger than the limit of 10000"


def test_a_huge_string_repetition_is_refused() -> None:
    error = refused("{{ 'a' * 10**9 }}")
    assert str(error) == "template refused: 'str' * 1000000000 (1000000000 items) is larger than the limit of 100000"


def test_a_huge_power_is_refused() -> None:
    # Jinja's ** is left-associative: 10**10**10 is (10**10)**10, a harmless 101-digit number
    error = refused("{{ 10**(10**10) }}")
    assert str(error) == (
        "template refused: 10 ** 10000000000 (about 9030900000 digits) is larger than the limit of 100000"
    )


def test_power_is_left_associative_so_a_chain_stays_small() -> None:
    assert render("{{ 10**10**10 }}", NAMESPACE) == 10**100


def test_a_huge_format_filter_width_is_refused() -> None:
    error = refused("{{ '%1000000000d'|format(1) }}")
    assert str(error) == "template refused: format width 1000000000 is larger than the limit of 100000"


def test_format_filter_cannot_reach_attributes() -> None:
    error = refused("{{ '%s'|format(''.__class__) }}")
    assert str(error) == "template refused: access to attribute '__class__' of 'str' is not allowed"


def test_a_huge_format_width_is_refused() -> None:
    error = refused("{{ '%1000000000d' % 1 }}")
    assert str(error) == "template refused: format width 1000000000 is larger than the limit of 100000"


def test_a_huge_str_format_width_is_refused() -> None:
    error = refused("{{ '{:>1000000000}'.format(1) }}")
    assert str(error) == "template refused: format width 1000000000 is larger than the limit of 100000"


def test_a_huge_padding_is_refused() -> None:
    error = refused("{{ 'x'.center(10**9) }}")
    assert str(error) == "template refused: argument 1000000000 of center() is larger than the limit of 100000"


def test_doubling_a_string_in_a_macro_is_refused() -> None:
    source = "{% macro d(s, n) %}{% if n %}{{ d(s ~ s, n - 1) }}{% endif %}{% endmacro %}{{ d('x', 40) }}"
    assert str(refused(source)) == "template refused: would build more than 4000000 characters in total"


def test_printing_a_list_that_shares_itself_is_refused() -> None:
    source = (
        "{% macro d(s, n) %}{% if n %}{{ d([s, s], n - 1) }}{% else %}{{ s }}{% endif %}{% endmacro %}{{ d(1, 60) }}"
    )
    # Counting up to the limit takes a second or two: a busy machine must not reach the time limit first.
    with pytest.raises(TemplateSecurityError) as caught:
        render(source, NAMESPACE, limits=TemplateLimits(max_seconds=120))
    assert str(caught.value) == "template refused: would build more than 4000000 characters in total"


def test_many_large_strings_are_refused() -> None:
    error = refused("{{ range(10000)|map('center', 100000)|list|length }}")
    assert str(error) == "template refused: would build more than 4000000 characters in total"


# --- limits ---


def test_output_longer_than_the_limit_is_refused() -> None:
    with pytest.raises(TemplateSecurityError, match="^template refused: output is longer than 50 characters$"):
        render_document(
            "{% for i in range(100) %}xx{% endfor %}", NAMESPACE, limits=TemplateLimits(max_output_chars=50)
        )


def test_output_at_the_limit_is_allowed() -> None:
    text = "{% for i in range(25) %}xx{% endfor %}"
    assert render_document(text, NAMESPACE, limits=TemplateLimits(max_output_chars=50)) == "x" * 50


def test_a_nested_loop_stops_at_the_time_limit() -> None:
    text = "{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}"
    started = time.monotonic()
    with pytest.raises(TemplateSecurityError, match=r"^template refused: took longer than 0\.2s$"):
        render_document(text, NAMESPACE, limits=TemplateLimits(max_seconds=0.2))
    assert time.monotonic() - started < 1.0


def test_a_nested_loop_over_data_stops_at_the_time_limit() -> None:
    text = "{% for a in s %}{% for b in s %}{% endfor %}{% endfor %}"
    started = time.monotonic()
    with pytest.raises(TemplateSecurityError, match=r"^template refused: took longer than 0\.2s$"):
        render(text, {"s": "x" * 100_000}, limits=TemplateLimits(max_seconds=0.2))
    assert time.monotonic() - started < 1.0


def test_exponential_macro_calls_stop_at_the_time_limit() -> None:
    text = "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(40) }}"
    started = time.monotonic()
    with pytest.raises(TemplateSecurityError, match=r"^template refused: took longer than 0\.2s$"):
        render(text, NAMESPACE, limits=TemplateLimits(max_seconds=0.2))
    assert time.monotonic() - started < 1.0


def test_a_smaller_range_limit_applies() -> None:
    with pytest.raises(TemplateSecurityError, match="larger than the limit of 5$"):
        render("{{ range(6) }}", NAMESPACE, limits=TemplateLimits(max_range=5))


# --- cost ---


def test_importing_the_module_does_not_import_jinja2() -> None:
    code = "import sys, framework0.recipe.templates as t; t.is_template('{{ x }}'); print('jinja2' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_a_mapping_key_wins_over_the_dict_method_of_the_same_name() -> None:
    assert render("{{ out.items }}", {"out": {"items": [1, 2]}}) == [1, 2]
    assert render("{{ steps.keys.output }}", {"steps": {"keys": {"output": "k"}}}) == "k"


def test_a_step_named_like_a_dict_method_is_a_step_reference() -> None:
    assert references("{{ steps.items.output }}").steps == frozenset({"items"})


# --- nesting limits (no template crashes the loader or the runner with a RecursionError) ---

DEEP_TEMPLATES = {
    "a long sum": "{{ " + "+".join(["1"] * 1000) + " }}",
    "a long attribute chain": "{{ params" + ".x" * 1000 + " }}",
    "nested ifs": "{% if true %}" * 250 + "x" + "{% endif %}" * 250,
    "nested brackets": "{{ " + "[" * 500 + "]" * 500 + " }}",
    "nested parentheses": "{{ " + "(" * 500 + "1" + ")" * 500 + " }}",
}


@pytest.mark.parametrize("source", DEEP_TEMPLATES.values(), ids=DEEP_TEMPLATES.keys())
def test_a_too_deeply_nested_template_is_refused_when_read(source: str) -> None:
    with pytest.raises(TemplateSecurityError) as caught:
        references(source)
    assert str(caught.value) == "template too deeply nested (more than 50 levels)"


@pytest.mark.parametrize("source", DEEP_TEMPLATES.values(), ids=DEEP_TEMPLATES.keys())
def test_a_too_deeply_nested_template_is_refused_when_rendered(source: str) -> None:
    assert str(refused(source)) == "template too deeply nested (more than 50 levels)"


def test_a_too_deeply_nested_bare_expression_is_refused() -> None:
    with pytest.raises(TemplateSecurityError) as caught:
        evaluate("+".join(["1"] * 1000) + " > 1", NAMESPACE)
    assert str(caught.value) == "template too deeply nested (more than 50 levels)"
    with pytest.raises(TemplateSecurityError):
        expression_references("+".join(["1"] * 1000))


def test_a_template_nested_up_to_the_limit_works() -> None:
    assert render("{{ " + "+".join(["1"] * 48) + " }}", NAMESPACE) == 48
    assert render("{% if true %}" * 48 + "x" + "{% endif %}" * 48, NAMESPACE) == "x"
    assert render("{{ " + "[" * 45 + "]" * 45 + " }}", NAMESPACE) == eval("[" * 45 + "]" * 45)


def test_more_than_16_loops_inside_one_another_are_refused() -> None:
    source = "{% for i in [1] %}" * 17 + "x" + "{% endfor %}" * 17
    with pytest.raises(TemplateSecurityError) as caught:
        references(source)
    assert str(caught.value) == "template too deeply nested (more than 16 loops inside one another)"
    assert render("{% for i in [1] %}" * 16 + "x" + "{% endfor %}" * 16, NAMESPACE) == "x"
