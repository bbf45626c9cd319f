"""Tests of the safe, position-keeping YAML reader used for recipe files."""

from __future__ import annotations

import dataclasses
import datetime
import pathlib
import time

import pytest
import yaml

import framework0.recipe.yaml_source as yaml_source
from framework0.errors import RecipeError, Span
from framework0.recipe.yaml_source import YamlLimits, parse_yaml, read_yaml_file

needs_libyaml = pytest.mark.skipif(not yaml.__with_libyaml__, reason="message text is libyaml's")


def error_of(text: str, limits: YamlLimits | None = None) -> str:
    with pytest.raises(RecipeError) as caught:
        parse_yaml(text, file="r.yaml", limits=limits or YamlLimits())
    assert len(caught.value.diagnostics) == 1
    return str(caught.value)


# --- data -------------------------------------------------------------------------------------------


def test_plain_scalars_get_their_yaml_types() -> None:
    text = "i: 42\nf: 1.5\nt: true\nn: ~\ns: hello\nd: 2024-01-02\nts: 2024-01-02 03:04:05\nhex: 0x1F\n"
    data = parse_yaml(text, file="r.yaml").data
    assert data == {
        "i": 42,
        "f": 1.5,
        "t": True,
        "n": None,
        "s": "hello",
        "d": datetime.date(2024, 1, 2),
        "ts": datetime.datetime(2024, 1, 2, 3, 4, 5),
        "hex": 31,
    }


def test_quoted_scalars_stay_text() -> None:
    assert parse_yaml("a: '42'\nb: \"true\"\nc: '~'\n", file="r.yaml").data == {"a": "42", "b": "true", "c": "~"}


def test_standard_explicit_tags_are_allowed() -> None:
    data = parse_yaml("a: !!str 1\nb: !!float 2\nc: !!map {x: 1}\nd: !!seq [1]\n", file="r.yaml").data
    assert data == {"a": "1", "b": 2.0, "c": {"x": 1}, "d": [1]}


def test_mappings_keep_insertion_order() -> None:
    assert list(parse_yaml("z: 1\na: 2\nm: 3\n", file="r.yaml").data) == ["z", "a", "m"]


def test_nested_lists_and_mappings() -> None:
    data = parse_yaml("steps:\n  - name: a\n    args: {x: [1, 2]}\n", file="r.yaml").data
    assert data == {"steps": [{"name": "a", "args": {"x": [1, 2]}}]}


def test_empty_text_is_none() -> None:
    assert parse_yaml("", file="r.yaml").data is None


def test_text_of_only_comments_is_none() -> None:
    assert parse_yaml("# nothing here\n\n# still nothing\n", file="r.yaml").data is None


def test_merge_and_value_indicators_are_text_outside_keys() -> None:
    assert parse_yaml("- <<\n- =\n", file="r.yaml").data == ["<<", "="]


# --- spans ------------------------------------------------------------------------------------------


def test_value_span_is_one_based() -> None:
    doc = parse_yaml("name: demo\n", file="r.yaml")
    assert doc.value_span(("name",)) == Span("r.yaml", 1, 7)


def test_key_span_points_at_the_key() -> None:
    doc = parse_yaml("a: 1\n  # comment\nlong_key:   2\n", file="r.yaml")
    assert doc.key_span(("long_key",)) == Span("r.yaml", 3, 1)


def test_spans_of_nested_paths() -> None:
    doc = parse_yaml("steps:\n  - name: a\n  - name: b\n    args: {x: 1}\n", file="r.yaml")
    assert doc.value_span(("steps", 1)) == Span("r.yaml", 3, 5)
    assert doc.key_span(("steps", 1, "args")) == Span("r.yaml", 4, 5)
    assert doc.value_span(("steps", 1, "args", "x")) == Span("r.yaml", 4, 15)


def test_span_of_root_is_where_the_document_starts() -> None:
    assert parse_yaml("\n\n  [1, 2]\n", file="r.yaml").value_span(()) == Span("r.yaml", 3, 3)


def test_value_span_falls_back_to_nearest_ancestor() -> None:
    doc = parse_yaml("a:\n  b: {c: 1}\n", file="r.yaml")
    assert doc.value_span(("a", "b", "missing", 7)) == Span("r.yaml", 2, 6)


def test_value_span_falls_back_to_line_1_col_1() -> None:
    assert parse_yaml("", file="r.yaml").value_span(("x",)) == Span("r.yaml", 1, 1)


def test_key_span_of_a_list_item_falls_back_to_value_span() -> None:
    doc = parse_yaml("- a\n- b\n", file="r.yaml")
    assert doc.key_span((1,)) == Span("r.yaml", 2, 3)


def test_has_follows_keys_and_indexes() -> None:
    doc = parse_yaml("a: [x, {b: null}]\n", file="r.yaml")
    assert doc.has(("a", 1, "b"))
    assert not doc.has(("a", 2))
    assert not doc.has(("a", 0, "b"))
    assert not doc.has(("z",))


def test_alias_value_span_is_the_alias() -> None:
    doc = parse_yaml("a: &x {k: 1}\nb: *x\n", file="r.yaml")
    assert doc.value_span(("b", "k")) == Span("r.yaml", 2, 4)


# --- keys -------------------------------------------------------------------------------------------


def test_duplicate_key_is_an_error_at_the_second_key() -> None:
    assert error_of("name: a\nuses: x\nname: b\n") == "r.yaml:3:1: duplicate key 'name' (first at 1:1)"


def test_keys_that_compare_equal_are_duplicates() -> None:
    assert error_of("1: a\ntrue: b\n") == "r.yaml:2:1: duplicate key true (first at 1:1)"


def test_mapping_as_key_is_an_error() -> None:
    assert error_of("? {a: 1}\n: x\n") == (
        "r.yaml:1:3: a mapping key must be a string, number, boolean or null, not a mapping"
    )


def test_list_as_key_is_an_error() -> None:
    assert error_of("{[1, 2]: x}\n") == (
        "r.yaml:1:2: a mapping key must be a string, number, boolean or null, not a list"
    )


def test_date_as_key_is_an_error() -> None:
    assert error_of("2024-01-01: x\n") == (
        "r.yaml:1:1: a mapping key must be a string, number, boolean or null, not a date; quote it to use it as text"
    )


# --- tags -------------------------------------------------------------------------------------------


def test_python_object_apply_tag_is_refused_and_runs_nothing(tmp_path: pathlib.Path) -> None:
    marker = tmp_path / "ran"
    message = error_of(f'!!python/object/apply:os.system ["touch {marker}"]\n')
    assert message == "r.yaml:1:1: tag '!!python/object/apply:os.system' is not allowed: recipes are data"
    assert not marker.exists()


def test_python_object_tag_is_refused() -> None:
    assert error_of("a: !!python/object:os.system x\n") == (
        "r.yaml:1:4: tag '!!python/object:os.system' is not allowed: recipes are data"
    )


def test_python_name_tag_is_refused() -> None:
    assert error_of("a: !!python/name:os.system\n") == (
        "r.yaml:1:4: tag '!!python/name:os.system' is not allowed: recipes are data"
    )


def test_custom_tag_is_refused() -> None:
    assert error_of("a: !foo {x: 1}\n") == "r.yaml:1:4: tag '!foo' is not allowed: recipes are data"


@pytest.mark.parametrize("tag", ["!!binary", "!!set", "!!omap"])
def test_safe_but_non_plain_tags_are_refused(tag: str) -> None:
    assert error_of(f"a: {tag} x\n") == f"r.yaml:1:4: tag '{tag}' is not allowed: recipes are data"


def test_invalid_explicit_int_is_an_error() -> None:
    assert error_of("a: !!int abc\n") == "r.yaml:1:4: 'abc' is not a valid !!int"


def test_invalid_implicit_timestamp_is_an_error() -> None:
    assert error_of("when: 2024-13-45\n") == (
        "r.yaml:1:7: '2024-13-45' is not a valid !!timestamp (month must be in 1..12); quote it to use it as text"
    )


# --- anchors, aliases and merge keys -----------------------------------------------------------------


def test_alias_shares_the_anchored_value() -> None:
    data = parse_yaml("a: &x [1, 2]\nb: *x\n", file="r.yaml").data
    assert data == {"a": [1, 2], "b": [1, 2]}
    assert data["a"] is data["b"]


def test_unknown_alias_is_an_error() -> None:
    assert error_of("a: *nope\n") == "r.yaml:1:4: unknown alias '*nope'"


def test_alias_inside_its_own_anchor_is_an_error() -> None:
    assert error_of("a: &x [1, *x]\n") == "r.yaml:1:11: alias '*x' is inside the node it refers to"


def test_more_aliases_than_the_limit_is_an_error() -> None:
    text = "a: &x 1\n" + "".join(f"k{i}: *x\n" for i in range(4))
    assert parse_yaml(text, file="r.yaml", limits=YamlLimits(max_aliases=4)).data["k3"] == 1
    assert error_of(text + "k4: *x\n", YamlLimits(max_aliases=4)) == (
        "r.yaml:6:5: more than 4 aliases (*name) in one document"
    )


def test_billion_laughs_is_refused_fast() -> None:
    lines = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for previous, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{previous}"] * 9) + "]")
    started = time.perf_counter()
    message = error_of("\n".join(lines) + "\n")
    assert time.perf_counter() - started < 0.5
    assert message == "r.yaml:7:16: document expands to more than 2000000 nodes (alias bomb?)"


def test_merge_key_copies_entries_and_explicit_keys_win() -> None:
    data = parse_yaml("base: &b {x: 1, y: 1}\nstep:\n  y: 2\n  <<: *b\n", file="r.yaml").data
    assert data["step"] == {"x": 1, "y": 2}


def test_merge_key_list_prefers_earlier_sources() -> None:
    text = "a: &a {x: a}\nb: &b {x: b, y: b}\nc:\n  <<: [*a, *b]\n"
    assert parse_yaml(text, file="r.yaml").data["c"] == {"x": "a", "y": "b"}


def test_merged_entry_key_span_is_the_merge_key() -> None:
    doc = parse_yaml("a: &a {x: 1}\nc:\n  <<: *a\n", file="r.yaml")
    assert doc.key_span(("c", "x")) == Span("r.yaml", 3, 3)
    assert doc.value_span(("c", "x")) == Span("r.yaml", 3, 7)


def test_merge_of_a_scalar_is_an_error() -> None:
    assert error_of("a: &a 1\nb:\n  <<: *a\n") == (
        "r.yaml:3:7: the merge key '<<' needs a mapping or a list of mappings"
    )


def test_quoted_merge_key_is_an_ordinary_key() -> None:
    assert parse_yaml("'<<': {x: 1}\n", file="r.yaml").data == {"<<": {"x": 1}}


# --- structure and syntax ---------------------------------------------------------------------------


def test_depth_at_the_limit_is_allowed() -> None:
    assert parse_yaml("a:\n  b: [1]\n", file="r.yaml", limits=YamlLimits(max_depth=3)).data == {"a": {"b": [1]}}


def test_depth_over_the_limit_is_an_error_at_the_deep_node() -> None:
    assert error_of("a:\n  b: [1]\n", YamlLimits(max_depth=2)) == "r.yaml:2:6: nesting is deeper than 2 levels"


def test_default_depth_limit_is_64() -> None:
    assert parse_yaml("[" * 64 + "]" * 64, file="r.yaml").has((0,) * 63)
    assert error_of("[" * 65 + "]" * 65) == "r.yaml:1:65: nesting is deeper than 64 levels"


def test_100000_deep_document_is_a_recipe_error_not_recursion_error() -> None:
    with pytest.raises(RecipeError):
        parse_yaml("[" * 100_000, file="r.yaml")


@needs_libyaml
def test_syntax_error_points_at_the_problem() -> None:
    assert error_of("a: b\nc\n: d\n") == "r.yaml:3:1: invalid YAML: could not find expected ':'"


@needs_libyaml
def test_unclosed_flow_list_is_a_syntax_error() -> None:
    assert error_of("a: [1, 2\n") == "r.yaml:2:1: invalid YAML: did not find expected ',' or ']'"


def test_second_document_is_refused() -> None:
    assert error_of("a: 1\n---\nb: 2\n") == "r.yaml:2:1: only one YAML document is allowed"


@needs_libyaml
def test_control_character_is_an_error_at_its_position() -> None:
    assert error_of("éé: x\x01\n") == (
        "r.yaml:1:6: invalid YAML: unacceptable character #x0001: control characters are not allowed"
    )


def test_lone_surrogate_is_an_error_at_its_position() -> None:
    with pytest.raises(RecipeError) as caught:
        parse_yaml("a: 1\nb: x\ud800\n", file="r.yaml")
    assert caught.value.diagnostics[0].span == Span("r.yaml", 2, 5)


def test_pure_python_parser_gives_the_same_data_and_spans(monkeypatch: pytest.MonkeyPatch) -> None:
    text = "a: &a {x: 1}\nsteps:\n  - <<: *a\n    name: é\n    when: 2024-01-02\n"
    fast = parse_yaml(text, file="r.yaml")
    monkeypatch.setattr(yaml_source, "_LOADER", yaml.SafeLoader)
    slow = parse_yaml(text, file="r.yaml")
    assert slow.data == fast.data
    assert slow.value_span(("steps", 0, "when")) == fast.value_span(("steps", 0, "when"))
    assert slow.key_span(("steps", 0, "x")) == fast.key_span(("steps", 0, "x")) == Span("r.yaml", 3, 5)


def test_text_over_the_size_limit_is_an_error() -> None:
    assert error_of("a: 12345\n", YamlLimits(max_bytes=8)) == (
        "r.yaml:1:1: text is 9 bytes; the limit is 8 bytes (set F0_MAX_RECIPE_BYTES to raise it)"
    )


# --- files ------------------------------------------------------------------------------------------


def test_read_yaml_file_uses_the_path_as_the_name(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text("a: 1\n", encoding="utf-8")
    doc = read_yaml_file(path)
    assert (doc.data, doc.file) == ({"a": 1}, str(path))


def test_read_yaml_file_uses_the_display_name(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text("a: 1\n", encoding="utf-8")
    assert read_yaml_file(path, display_name="recipes/r.yaml").value_span(("a",)) == Span("recipes/r.yaml", 1, 4)


def test_read_yaml_file_accepts_a_bom(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_bytes(b"\xef\xbb\xbfa: 1\n")
    doc = read_yaml_file(path, display_name="r.yaml")
    assert (doc.data, doc.key_span(("a",))) == ({"a": 1}, Span("r.yaml", 1, 1))


def test_file_over_the_size_limit_is_refused_before_reading(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_text("a: " + "x" * 3000 + "\n", encoding="utf-8")
    with pytest.raises(RecipeError) as caught:
        read_yaml_file(path, limits=YamlLimits(max_bytes=2048), display_name="big.yaml")
    assert str(caught.value) == (
        "big.yaml:1:1: file is 2.9 KiB; the limit is 2.0 KiB (set F0_MAX_RECIPE_BYTES to raise it)"
    )


def test_file_size_message_uses_mib_for_large_sizes() -> None:
    assert yaml_source._too_big("file", 12 * 1024 * 1024, 10 * 1024 * 1024) == (
        "file is 12.0 MiB; the limit is 10.0 MiB (set F0_MAX_RECIPE_BYTES to raise it)"
    )


def test_invalid_utf8_is_an_error_at_the_bad_byte(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_bytes(b"a: 1\nb\xc3\xa9: x\xff\n")
    with pytest.raises(RecipeError) as caught:
        read_yaml_file(path, display_name="r.yaml")
    assert str(caught.value) == "r.yaml:2:6: file is not valid UTF-8: invalid start byte (byte 0xff)"


def test_missing_file_is_an_error(tmp_path: pathlib.Path) -> None:
    with pytest.raises(RecipeError) as caught:
        read_yaml_file(tmp_path / "nope.yaml", display_name="nope.yaml")
    assert str(caught.value) == "nope.yaml:1:1: no such file"


def test_directory_is_an_error(tmp_path: pathlib.Path) -> None:
    with pytest.raises(RecipeError) as caught:
        read_yaml_file(tmp_path, display_name="recipes")
    assert str(caught.value) == "recipes:1:1: is a directory, not a recipe file"


def test_errors_in_a_file_carry_its_display_name(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text("a: 1\na: 2\n", encoding="utf-8")
    with pytest.raises(RecipeError) as caught:
        read_yaml_file(path, display_name="r.yaml")
    assert str(caught.value) == "r.yaml:2:1: duplicate key 'a' (first at 1:1)"


# -- huge values: refused or cut short in the message, never printed whole ------------------------------


def test_an_int_of_more_than_4300_digits_is_refused_with_a_short_message() -> None:
    assert error_of("n: " + "1" * 100_000 + "\n") == (
        "r.yaml:1:4: integer '" + "1" * 56 + "... is too large (more than 4300 digits); quote it to use it as text"
    )


def test_a_hex_int_of_more_than_4300_digits_is_refused_too() -> None:
    assert error_of("n: 0x" + "f" * 4000 + "\n") == (
        "r.yaml:1:4: integer '0x" + "f" * 54 + "... is too large (more than 4300 digits); quote it to use it as text"
    )


def test_an_int_of_4300_digits_is_read() -> None:
    assert parse_yaml("n: " + "9" * 4300 + "\n", file="r.yaml").data == {"n": int("9" * 4300)}


def test_a_huge_duplicate_key_is_cut_in_the_message() -> None:
    key = "k" * 100_000
    assert error_of(f"? {key}\n: 1\n? {key}\n: 2\n") == "r.yaml:3:3: duplicate key '" + "k" * 56 + "... (first at 1:3)"


def test_a_file_name_with_a_newline_is_quoted_so_the_message_stays_one_line() -> None:
    with pytest.raises(RecipeError) as caught:
        parse_yaml("a: [\n", file="bad\nname.yaml")
    assert str(caught.value).startswith("'bad\\nname.yaml':2:1: invalid YAML: ")
    assert "\n" not in str(caught.value)


def test_a_span_made_by_the_reader_equals_a_span_made_by_its_class() -> None:
    assert {field.name for field in dataclasses.fields(Span)} == {"file", "line", "col"}
    assert yaml_source._new_span("r.yaml", 2, 3) == Span("r.yaml", 2, 3)
    assert hash(yaml_source._new_span("r.yaml", 2, 3)) == hash(Span("r.yaml", 2, 3))
