"""What the loader learns from templates: the steps they read become dependencies."""

from __future__ import annotations

import textwrap

import pytest

from framework0 import RecipeError, load_recipe_text
from framework0.recipe.model import Recipe

HEAD = """\
params: {region: eu, files: [a, b]}
steps:
  - {name: a, uses: hello_world}
  - {name: b, uses: hello_world}
"""


def load(steps: str) -> Recipe:
    return load_recipe_text(HEAD + textwrap.indent(textwrap.dedent(steps), "  "), file="r.yaml")


def test_a_template_in_args_that_reads_a_step_adds_the_edge() -> None:
    recipe = load("- {name: c, uses: hello_world, args: {name: '{{ steps.a.output }}'}}\n")
    assert recipe.step("c").upstream == ("a",)


def test_reading_a_step_by_item_syntax_adds_the_edge_too() -> None:
    recipe = load("- {name: c, uses: hello_world, args: {name: \"{{ steps['a'].status }}\"}}\n")
    assert recipe.step("c").upstream == ("a",)


def test_a_when_that_reads_a_step_adds_the_edge() -> None:
    recipe = load("- {name: c, uses: hello_world, when: \"steps.b.status == 'succeeded'\"}\n")
    assert recipe.step("c").upstream == ("b",)


def test_a_foreach_that_reads_a_step_adds_the_edge() -> None:
    recipe = load("- {name: c, uses: hello_world, foreach: '{{ steps.a.output }}', args: {name: '{{ item }}'}}\n")
    assert recipe.step("c").upstream == ("a",)


def test_a_template_inside_a_foreach_list_adds_the_edge() -> None:
    recipe = load("- {name: c, uses: hello_world, foreach: [x, '{{ steps.b.output }}']}\n")
    assert recipe.step("c").upstream == ("b",)


def test_a_template_deep_in_an_arg_adds_the_edge() -> None:
    recipe = load("- {name: c, uses: set_context, args: {values: {k: ['{{ steps.b.output }}']}}}\n")
    assert (recipe.step("c").upstream, recipe.step("c").templated_args) == (("b",), frozenset({"values"}))


def test_explicit_depends_on_comes_first_then_template_reads_in_recipe_order() -> None:
    steps = """\
    - name: c
      uses: hello_world
      depends_on: [b]
      args: {name: "{{ steps.b.output }} {{ steps.a.output }}"}
    """
    assert load(steps).step("c").upstream == ("b", "a")


def test_a_step_read_twice_is_one_edge() -> None:
    steps = """\
    - name: c
      uses: hello_world
      when: "steps.a.status == 'succeeded'"
      args: {name: "{{ steps.a.output }}{{ steps.a.output }}"}
    """
    assert load(steps).step("c").upstream == ("a",)


def test_params_ctx_and_run_add_no_edges() -> None:
    recipe = load("- {name: c, uses: hello_world, args: {name: '{{ params.region }}{{ ctx.k }}{{ run.id }}'}}\n")
    assert recipe.step("c").upstream == ()


def test_templated_args_lists_only_the_args_holding_templates() -> None:
    recipe = load("- {name: c, uses: shell, args: {cmd: 'ls {{ params.region }}', check: false, env: {A: x}}}\n")
    assert recipe.step("c").templated_args == frozenset({"cmd"})


def test_an_expression_arg_is_templated_even_without_braces() -> None:
    recipe = load("- {name: c, uses: assert, args: {that: \"steps.a.output == 'Hello, world!'\", message: plain}}\n")
    step = recipe.step("c")
    assert (step.templated_args, step.upstream) == (frozenset({"that"}), ("a",))


def test_a_step_without_templates_has_no_templated_args() -> None:
    step = load("- {name: c, uses: hello_world, args: {name: plain}}\n").step("c")
    assert (step.templated_args, step.reads_context) == (frozenset(), False)


def test_reading_ctx_in_args_sets_reads_context() -> None:
    assert load("- {name: c, uses: hello_world, args: {name: '{{ ctx.greeted }}'}}\n").step("c").reads_context


def test_reading_ctx_in_when_sets_reads_context() -> None:
    assert load("- {name: c, uses: hello_world, when: 'ctx.ready'}\n").step("c").reads_context


def test_params_alone_do_not_read_the_context() -> None:
    assert not load("- {name: c, uses: hello_world, args: {name: '{{ params.region }}'}}\n").step("c").reads_context


def test_names_a_template_binds_itself_are_not_unknown() -> None:
    steps = "- {name: c, uses: hello_world, args: {name: '{% for f in params.files %}{{ f }}{% endfor %}'}}\n"
    assert load(steps).step("c").templated_args == frozenset({"name"})


def test_item_and_index_are_known_in_the_args_of_a_foreach_step() -> None:
    steps = "- {name: c, uses: hello_world, foreach: '{{ params.files }}', args: {name: '{{ index }}: {{ item }}'}}\n"
    assert load(steps).step("c").foreach == "{{ params.files }}"


def test_template_args_are_kept_as_written() -> None:
    step = load("- {name: c, uses: hello_world, args: {name: '{{ params.region }}'}}\n").step("c")
    assert step.args == {"name": "{{ params.region }}"}


LONG_SUM = "+".join(["1"] * 1000)


@pytest.mark.parametrize(
    "step",
    [
        "{name: c, uses: hello_world, args: {name: '{{ %s }}'}}",
        "{name: c, uses: hello_world, when: '%s > 1'}",
        "{name: c, uses: hello_world, foreach: '{{ [%s] }}'}",
        "{name: c, uses: assert, args: {that: '%s > 1'}}",
        "{name: c, uses: assert, args: {that: ['true', '%s']}}",
    ],
    ids=["args", "when", "foreach", "assert", "assert-list"],
)
def test_a_too_deeply_nested_template_is_a_recipe_error_at_its_place(step: str) -> None:
    with pytest.raises(RecipeError) as caught:
        load("- " + step % LONG_SUM + "\n")
    (diagnostic,) = caught.value.diagnostics
    quote = step.rindex("'", 0, step.index("%s"))  # the string holding the template starts there
    assert (diagnostic.span.line, diagnostic.span.col) == (5, len("  - ") + quote + 1)
    assert diagnostic.message.startswith("template error: template too deeply nested (more than 50 levels) (at ")
