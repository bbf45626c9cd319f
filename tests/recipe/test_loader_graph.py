"""The dependency graph a recipe gives: depends_on, sequential order and cycles."""

from __future__ import annotations

import textwrap

import pytest

from framework0 import RecipeError, load_recipe_text
from framework0.recipe.model import Recipe


def load(text: str) -> Recipe:
    return load_recipe_text(textwrap.dedent(text), file="r.yaml")


def upstream(text: str) -> dict[str, tuple[str, ...]]:
    return {step.name: step.upstream for step in load(text).steps}


def errors(text: str) -> list[str]:
    with pytest.raises(RecipeError) as caught:
        load(text)
    return [str(d) for d in caught.value.diagnostics]


def test_steps_without_dependencies_start_at_once() -> None:
    text = "steps:\n  - {name: a, uses: hello_world}\n  - {name: b, uses: hello_world}\n"
    assert upstream(text) == {"a": (), "b": ()}


def test_depends_on_gives_the_upstream_steps_in_the_order_written() -> None:
    text = """\
    steps:
      - {name: a, uses: hello_world}
      - {name: b, uses: hello_world}
      - {name: c, uses: hello_world, depends_on: [b, a]}
    """
    recipe = load(text)
    assert recipe.step("c").upstream == ("b", "a")
    assert recipe.step("c").depends_on == ("b", "a")


def test_depends_on_may_be_a_single_name_and_may_point_forward() -> None:
    text = "steps:\n  - {name: a, uses: hello_world, depends_on: b}\n  - {name: b, uses: hello_world}\n"
    assert upstream(text) == {"a": ("b",), "b": ()}


def test_a_name_given_twice_in_depends_on_counts_once() -> None:
    text = "steps:\n  - {name: a, uses: hello_world}\n  - {name: b, uses: hello_world, depends_on: [a, a]}\n"
    recipe = load(text)
    assert (recipe.step("b").depends_on, recipe.step("b").upstream) == (("a",), ("a",))


def test_a_cycle_is_named_in_the_direction_work_flows() -> None:
    # b waits for a, c for b and a for c: work would flow a -> b -> c -> a.
    text = """\
    steps:
      - {name: a, uses: hello_world, depends_on: [c]}
      - {name: b, uses: hello_world, depends_on: [a]}
      - {name: c, uses: hello_world, depends_on: [b]}
    """
    assert errors(text) == ["r.yaml:2:12: dependency cycle: a -> b -> c -> a"]


def test_a_cycle_starts_at_its_first_step_in_the_recipe() -> None:
    text = """\
    steps:
      - {name: c, uses: hello_world, depends_on: [b]}
      - {name: a, uses: hello_world, depends_on: [c]}
      - {name: b, uses: hello_world, depends_on: [a]}
    """
    assert errors(text) == ["r.yaml:2:12: dependency cycle: c -> a -> b -> c"]


def test_a_cycle_away_from_the_first_step_is_found() -> None:
    text = """\
    steps:
      - {name: start, uses: hello_world}
      - {name: x, uses: hello_world, depends_on: [start, y]}
      - {name: y, uses: hello_world, depends_on: [x]}
    """
    assert errors(text) == ["r.yaml:3:12: dependency cycle: x -> y -> x"]


def test_a_cycle_through_templates_is_found() -> None:
    text = """\
    steps:
      - {name: a, uses: hello_world, args: {name: "{{ steps.b.output }}"}}
      - {name: b, uses: hello_world, when: "steps.a.status == 'succeeded'"}
    """
    assert errors(text) == ["r.yaml:2:12: dependency cycle: a -> b -> a"]


def test_sequential_orders_steps_by_idx() -> None:
    text = """\
    sequential: true
    steps:
      - {idx: 3, name: c, uses: hello_world}
      - {idx: 1, name: a, uses: hello_world}
      - {idx: 2, name: b, uses: hello_world}
    """
    assert upstream(text) == {"c": ("b",), "a": (), "b": ("a",)}


def test_sequential_puts_steps_without_idx_after_in_list_order() -> None:
    text = """\
    sequential: true
    steps:
      - {name: x, uses: hello_world}
      - {idx: 2, name: b, uses: hello_world}
      - {name: y, uses: hello_world}
      - {idx: 1, name: a, uses: hello_world}
    """
    assert upstream(text) == {"x": ("b",), "b": ("a",), "y": ("x",), "a": ()}


def test_sequential_keeps_depends_on_first_and_adds_no_duplicates() -> None:
    text = """\
    sequential: true
    steps:
      - {name: a, uses: hello_world}
      - {name: b, uses: hello_world}
      - {name: c, uses: hello_world, depends_on: [a, b]}
      - {name: d, uses: hello_world, depends_on: [a]}
    """
    assert upstream(text) == {"a": (), "b": ("a",), "c": ("a", "b"), "d": ("a", "c")}


def test_sequential_false_adds_no_edges() -> None:
    text = "sequential: false\nsteps:\n  - {name: a, uses: hello_world}\n  - {name: b, uses: hello_world}\n"
    recipe = load(text)
    assert (recipe.sequential, recipe.step("b").upstream) == (False, ())


def test_sequential_against_depends_on_is_a_cycle() -> None:
    text = """\
    sequential: true
    steps:
      - {name: a, uses: hello_world, depends_on: [b]}
      - {name: b, uses: hello_world}
    """
    assert errors(text) == ["r.yaml:3:12: dependency cycle: a -> b -> a"]
