from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from framework0.context import ChangeSource, Context, ContextState
from framework0.scriptlets.builtin.files import FilesScriptlet


def make_context() -> Context:
    return Context(ContextState(), ChangeSource(node="test", step="s", attempt=1))


def run_files(args: dict[str, Any], ctx: Context | None = None) -> Any:
    ctx = ctx or make_context()
    scriptlet = FilesScriptlet()
    scriptlet.setup(ctx)
    return scriptlet.run(ctx, FilesScriptlet.parse_params(args))


def test_write_creates_parent_folders_and_returns_the_path(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "out.txt"
    assert run_files({"action": "write", "path": str(target), "content": "one\ntwo\r\n"}) == str(target)
    assert target.read_bytes() == b"one\ntwo\r\n"


def test_relative_paths_resolve_against_the_working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    written = run_files({"action": "write", "path": "sub/out.txt", "content": "x"})
    assert written == str(tmp_path / "sub" / "out.txt")
    assert (tmp_path / "sub" / "out.txt").read_text(encoding="utf-8") == "x"


def test_copy_copies_a_file_to_a_new_path(tmp_path: Path) -> None:
    (tmp_path / "src.txt").write_text("data", encoding="utf-8")
    target = tmp_path / "deep" / "copy.txt"
    assert run_files({"action": "copy", "src": str(tmp_path / "src.txt"), "path": str(target)}) == str(target)
    assert target.read_text(encoding="utf-8") == "data"


def test_copy_into_an_existing_folder_keeps_the_file_name(tmp_path: Path) -> None:
    (tmp_path / "src.txt").write_text("data", encoding="utf-8")
    (tmp_path / "dest").mkdir()
    written = run_files({"action": "copy", "src": str(tmp_path / "src.txt"), "path": str(tmp_path / "dest")})
    assert written == str(tmp_path / "dest" / "src.txt")


def test_copy_copies_a_folder_recursively(tmp_path: Path) -> None:
    (tmp_path / "tree" / "inner").mkdir(parents=True)
    (tmp_path / "tree" / "inner" / "f.txt").write_text("deep", encoding="utf-8")
    run_files({"action": "copy", "src": str(tmp_path / "tree"), "path": str(tmp_path / "copy")})
    assert (tmp_path / "copy" / "inner" / "f.txt").read_text(encoding="utf-8") == "deep"


def test_copy_of_a_missing_source_names_it(tmp_path: Path) -> None:
    missing = tmp_path / "nope.txt"
    with pytest.raises(FileNotFoundError) as caught:
        run_files({"action": "copy", "src": str(missing), "path": str(tmp_path / "x")})
    assert str(caught.value) == f"src {str(missing)!r} does not exist"


def test_render_fills_a_template_file_with_vars_and_context(tmp_path: Path) -> None:
    pytest.importorskip("framework0.recipe.templates")
    template = tmp_path / "greeting.txt.j2"
    template.write_text("Hello {{ name }} ({{ vars.name }}) from {{ ctx.region }}\n", encoding="utf-8")
    ctx = make_context()
    ctx.set("region", "eu")
    target = tmp_path / "out" / "greeting.txt"
    args = {"action": "render", "template": str(template), "vars": {"name": "Ada"}, "path": str(target)}
    assert run_files(args, ctx) == str(target)
    assert target.read_text(encoding="utf-8") == "Hello Ada (Ada) from eu\n"


def test_render_of_a_missing_template_names_it(tmp_path: Path) -> None:
    missing = tmp_path / "nope.j2"
    with pytest.raises(FileNotFoundError) as caught:
        run_files({"action": "render", "template": str(missing), "path": str(tmp_path / "x")})
    assert str(caught.value) == f"template {str(missing)!r} is not a file"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"action": "write", "path": "x"}, "action 'write' needs 'content'"),
        ({"action": "copy", "path": "x"}, "action 'copy' needs 'src'"),
        ({"action": "render", "path": "x"}, "action 'render' needs 'template'"),
        (
            {"action": "copy", "path": "x", "src": "y", "content": "z"},
            "action 'copy' does not take 'content'",
        ),
        (
            {"action": "write", "path": "x", "content": "z", "vars": {"a": 1}},
            "action 'write' does not take 'vars'",
        ),
    ],
    ids=[
        "write-without-content",
        "copy-without-src",
        "render-without-template",
        "copy-with-content",
        "write-with-vars",
    ],
)
def test_each_action_takes_its_own_args(args: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        FilesScriptlet.parse_params(args)
    assert f"Value error, {message}" in str(caught.value)


def test_an_unknown_action_is_rejected() -> None:
    with pytest.raises(ValidationError, match="Input should be 'write', 'copy' or 'render'"):
        FilesScriptlet.parse_params({"action": "move", "path": "x"})


def test_copy_to_a_path_ending_with_a_slash_copies_into_that_folder(tmp_path: Path) -> None:
    source = tmp_path / "a.txt"
    source.write_text("x")
    written = run_files({"action": "copy", "src": str(source), "path": f"{tmp_path / 'out'}/"})
    assert written == str(tmp_path / "out" / "a.txt")
    assert (tmp_path / "out" / "a.txt").read_text() == "x"
