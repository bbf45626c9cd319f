"""The subset reader gives exactly what the event builder gives, or leaves the document to it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from framework0.errors import RecipeError
from framework0.recipe import yaml_source
from framework0.recipe.yaml_source import YamlLimits
from framework0.recipe.yaml_subset import read_subset

ROOT = Path(__file__).resolve().parents[2]
LIMITS = YamlLimits()


def marks(spans: dict[Any, Any]) -> dict[Any, tuple[int, int]]:
    return {path: mark if type(mark) is tuple else (mark.line, mark.column) for path, mark in spans.items()}


def subset(text: str, limits: YamlLimits = LIMITS) -> tuple[Any, ...] | None:
    return read_subset(text, max_depth=limits.max_depth, max_nodes=limits.max_nodes)


def events(text: str, limits: YamlLimits = LIMITS) -> tuple[Any, ...] | None:
    """What the event builder reads, or None when it refuses the text."""
    try:
        return yaml_source._build_from_events(text, "r.yaml", limits)
    except (RecipeError, yaml.YAMLError, ValueError, RecursionError, OverflowError, UnicodeError):
        return None


def assert_same(text: str, limits: YamlLimits = LIMITS) -> bool:
    """The subset's reading equals the event builder's (types, order and marks too); True if it read it."""
    ours = subset(text, limits)
    if ours is None:
        return False
    theirs = events(text, limits)
    assert theirs is not None, f"the subset read a document the event builder refuses: {text!r}"
    assert repr(ours[0]) == repr(theirs[0]), text
    assert marks(ours[1]) == marks(theirs[1]), text
    assert marks(ours[2]) == marks(theirs[2]), text
    return True


IN_SUBSET = [
    "a: 1\n",
    "steps:\n  - {name: s0, module: noop_steps, function: noop}\n  - {name: s1, uses: x, depends_on: [s0]}\n",
    "steps:\n- name: a\n  uses: b\n- name: c\n  args:\n    k: v\n    n: 3\n",
    "# a comment\n\ntest_meta: {test_id: T-1, tags: [a, b]}  # trailing\nsteps:\n  - name: a  # c\n    uses: b\n",
    "params:\n  n: {type: int, default: 3}\n  s: \"x{{ params.n }}\"\n  q: 'single'\n",
    "a:\n  b:\n    c: [1, 2.5, -3, true, yes, ~, null, 0x1F, 1e3, .inf]\n  d: {}\n  e: []\n",
    "a: hello world\nb: 'it is: ok'\nc: \"x # y\"\n1: one\nfalse: f\n",
    "  indented: 1\n  root: 2\n",
    "a: {b: {c: [d, {e: f}]}, g: [ [1], [] ]}\n",
    "steps:\n  - name: a\n    args:\n    - x\n    - y\n  - b\n",
    "a: |\n  x\n  y\nb: 1\n",
    "a: |  # c\n  x\n\n  y\n\nb: |-\n  z\n\n\nc: 1\n",
    "a: |\n  x\n  # not a comment\n    indented: more\n",
    "a:\n- |\n  x\n- |-\n  y\n  z\n- w\n",
    "steps:\n  - name: a\n    args:\n      cmd: |\n        echo hi\n      env: {A: b}\n",
    "k: -1\nm: +2\nn: .5\np: ./path/to/file.txt\nq: a-b_c.d\nr: (x)\ns: ../up\nt: -./x\n",
    'url: http://example.com:8080/a?b=c&d=[e]\nd: the worker\'s logs -> "kept" | not *all* {x}, !y\n',
    "flow: {url: 'http://x', a: b's, c: d->e}\nseq: [it's, a&b, 'c: d']\n",
]

OUTSIDE = [
    "",
    "# only a comment\n",
    "- a\n- b\n",
    "[1, 2]\n",
    "a: &x 1\nb: *x\n",
    "a: !!str 1\n",
    "a: |\n  text",
    "a: |+\n  text\n\n",
    "a: |2\n  text\n",
    "a: |\n\n  text\n",
    "a: |\n  x\n   \n  y\n",
    "a: |\nb: 1\n",
    "a: >\n  text\n",
    "a:\n",
    "a: b\n  c\n",
    'a: "x\\ny"\n',
    "a: 'it''s'\n",
    "a: {b: 1,\n  c: 2}\n",
    "a: 1\na: 2\n",
    "a: 2024-01-01\n",
    "a: é\n",
    "a:\tb\n",
    "a: 1\r\nb: 2\r\n",
    "---\na: 1\n",
    "a: 1\n---\nb: 2\n",
    "<<: {a: 1}\n",
    "a: [1, 2,]\n",
    "a: {b: }\n",
    "a: b: c\n",
    "a: 1\n- b\n",
    "- - a\n",
    "a:\n  - - b\n",
    "a: 'x'y\n",
    "a: x#y\n",
    "a: {b: http://x}\n",
    "a: [b:c]\n",
    "a: [b, {c: d}, e]]\n",
    "a: 1\ntrue: t\n1: one\n",
]


@pytest.mark.parametrize("text", IN_SUBSET)
def test_a_document_in_the_subset_reads_as_the_event_builder_reads_it(text: str) -> None:
    assert assert_same(text)


@pytest.mark.parametrize("text", OUTSIDE)
def test_a_document_outside_the_subset_is_left_to_the_event_builder(text: str) -> None:
    assert subset(text) is None


PLAIN_SCALARS = (
    "0x1F -0x1f 017 -017 0b101 +0b1 0 -0 +0 1_000 +5 -12 0_7 "
    ".5 1. 0. -1.5 +1.5 1_0.5 1e3 1.5e+3 1.5E-3 -.inf +.inf .INF .NaN .nan ._5 1.5e3 "
    "yes Yes YES no NO on On ON off OFF true True TRUE false FALSE y n Y N yEs "
    "~ null Null NULL nul None "
    "2024-01-01 2024-1-1 1234-x 123-45 -x .x +x x_y a.b 1:0 1:30:00 -1:30 1.5:30 a:1 "
    "12345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901"
).split()


@pytest.mark.parametrize("scalar", PLAIN_SCALARS)
def test_a_plain_scalar_has_the_type_yaml_1_1_gives_it(scalar: str) -> None:
    assert_same(f"a: {scalar}\nb: [{scalar}]\nc: {{k: {scalar}}}\n")


@pytest.mark.parametrize("path", sorted([*ROOT.glob("examples/*.yaml"), *ROOT.glob("tests/**/*.yaml")]), ids=str)
def test_the_example_recipes_read_the_same(path: Path) -> None:
    assert_same(path.read_text(encoding="utf-8"))


def test_nesting_deeper_than_the_limit_is_left_to_the_event_builder() -> None:
    limits = YamlLimits(max_depth=2)
    assert assert_same("a:\n  b: 1\n", limits)
    assert subset("a:\n  b: [1]\n", limits) is None


def test_more_nodes_than_the_limit_are_left_to_the_event_builder() -> None:
    assert subset("a: [1, 2, 3, 4]\n", YamlLimits(max_nodes=5)) is None


# Documents of recipe-like data, dumped in block, flow and mixed styles, then cut and changed.
keys = st.sampled_from(["name", "uses", "args", "a", "b c", "1", "true", "on", "x-y", "k_1", "~"])
scalars = st.one_of(
    st.integers(-1000, 1000),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.booleans(),
    st.none(),
    st.text(alphabet="abc XYZ019_-./:#'\"{}[],&*!|>%@`?", max_size=8),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(keys, inner, max_size=3)),
    max_leaves=12,
)
multi_line = st.text(alphabet="ab #:-|\n", min_size=1, max_size=12)
values = st.one_of(values, multi_line)
documents = st.dictionaries(keys, values, min_size=1, max_size=4)


class LiteralDumper(yaml.SafeDumper):
    """Writes strings that span lines as literal block scalars (``|``), as people write them."""


def _literal(dumper: yaml.SafeDumper, text: str) -> yaml.Node:
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style="|" if "\n" in text else None)


LiteralDumper.add_representer(str, _literal)
SPECIAL = ":-[]{}'\"# ,\n abc1"


@settings(max_examples=400, deadline=None)
@given(documents, st.sampled_from([False, True, None]), st.integers(0, 4), st.data())
def test_generated_documents_read_the_same(data: Any, flow: bool | None, edits: int, draw: st.DataObject) -> None:
    text = yaml.dump(data, Dumper=LiteralDumper, default_flow_style=flow, sort_keys=False, width=10_000)
    for _ in range(edits):
        at = draw.draw(st.integers(0, len(text)))
        text = text[:at] + draw.draw(st.sampled_from(SPECIAL)) + text[at + 1 :]
    assert_same(text)
