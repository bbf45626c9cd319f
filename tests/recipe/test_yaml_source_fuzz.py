"""Property tests: whatever text the YAML reader is given, the only error it raises is RecipeError."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from framework0.errors import RecipeError
from framework0.recipe.yaml_source import YamlDocument, YamlLimits, parse_yaml

RECIPE = """\
name: demo
params:
  n: {type: int, default: 3}
defaults: &defaults
  retries: 2
  timeout: 1.5
steps:
  - name: fetch
    uses: http
    <<: *defaults
    args: {url: "https://example.com", headers: [a, 'b', 3], since: 2024-01-01}
  - name: report
    needs: [fetch]
    uses: shell
    args:
      cmd: |
        echo "{{ params.n }}"
      env: {A: q, B: ~, C: yes}
"""

# YAML indicators, whitespace, and characters libyaml or Python may refuse (controls, BOM, surrogates).
SPECIAL = ":-[]{}&*!|>'\"#%@`,?<=~. \n\t\r0123456789aé\x00\x01\x85\ufeff\ud800"
chars = st.one_of(st.sampled_from(SPECIAL), st.characters())

# Small limits so that the depth, alias and node checks are reached too.
LIMITS = YamlLimits(max_depth=6, max_aliases=3, max_nodes=60)


@st.composite
def mutated_recipes(draw: st.DrawFn) -> str:
    text = RECIPE
    for _ in range(draw(st.integers(min_value=1, max_value=8))):
        at = draw(st.integers(min_value=0, max_value=len(text)))
        op = draw(st.sampled_from(["insert", "delete", "replace"]))
        if op == "insert":
            text = text[:at] + draw(chars) + text[at:]
        elif op == "delete":
            text = text[:at] + text[at + 1 :]
        else:
            text = text[:at] + draw(chars) + text[at + 1 :]
    return text


def parse_or_recipe_error(text: str, limits: YamlLimits) -> None:
    try:
        doc = parse_yaml(text, file="fuzz.yaml", limits=limits)
    except RecipeError as error:
        assert len(error.diagnostics) == 1
        span = error.diagnostics[0].span
        assert span.file == "fuzz.yaml" and span.line >= 1 and span.col >= 1
    else:
        assert isinstance(doc, YamlDocument)
        assert doc.value_span(()).line >= 1


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=chars, max_size=200))
def test_random_text_raises_only_recipe_error(text: str) -> None:
    parse_or_recipe_error(text, YamlLimits())


@settings(max_examples=300, deadline=None)
@given(mutated_recipes())
def test_mutated_recipe_raises_only_recipe_error(text: str) -> None:
    parse_or_recipe_error(text, YamlLimits())


@settings(max_examples=300, deadline=None)
@given(mutated_recipes())
def test_mutated_recipe_under_small_limits_raises_only_recipe_error(text: str) -> None:
    parse_or_recipe_error(text, LIMITS)
