"""The ``files`` built-in: write text, copy a file or folder, or render a template file to a path."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, model_validator

from framework0.scriptlets.base import BaseScriptlet

if TYPE_CHECKING:
    from framework0.context import Context

# The args each action needs, and the ones it accepts besides ``action`` and ``path``.
_REQUIRED = {"write": ("content",), "copy": ("src",), "render": ("template",)}
_ALLOWED = {"write": {"content"}, "copy": {"src"}, "render": {"template", "vars"}}


class FilesScriptlet(BaseScriptlet):
    """Write, copy or render a file; parent folders are created.

    Args: ``action`` (``write``, ``copy`` or ``render``) and ``path``, the destination. ``write`` takes
    ``content`` (text, written as UTF-8 exactly as given). ``copy`` takes ``src`` (a file, or a folder
    copied recursively; a ``path`` that is an existing folder, or ends with ``/``, receives it inside).
    ``render`` takes ``template`` (the template file's path) and ``vars`` (a mapping); the template
    sees each var by name, the whole mapping as ``vars`` and the context as ``ctx``. Relative paths
    resolve against the working directory. Returns the absolute path written, as a string.
    """

    class Params(BaseScriptlet.Params):
        action: Literal["write", "copy", "render"] = Field(description="What to do: write, copy or render.")
        path: str = Field(description="The destination path (relative to the working directory).")
        content: str | None = Field(default=None, description="write: the text to write.")
        src: str | None = Field(default=None, description="copy: the file or folder to copy.")
        template: str | None = Field(default=None, description="render: the template file's path.")
        vars: dict[str, Any] = Field(default_factory=dict, description="render: the template's variables.")

        @model_validator(mode="after")
        def _args_of_action(self) -> FilesScriptlet.Params:
            missing = [name for name in _REQUIRED[self.action] if getattr(self, name) is None]
            if missing:
                raise ValueError(f"action {self.action!r} needs {' and '.join(map(repr, missing))}")
            given = {name for name in ("content", "src", "template") if getattr(self, name) is not None}
            if self.vars:
                given.add("vars")
            extra = sorted(given - _ALLOWED[self.action])
            if extra:
                raise ValueError(f"action {self.action!r} does not take {', '.join(map(repr, extra))}")
            return self

    def run(self, ctx: Context, params: Params) -> str:
        destination = _absolute(params.path)
        if params.action == "copy":
            assert params.src is not None  # checked by the Params validator
            into = params.path.endswith(("/", "\\")) or destination.is_dir()
            return str(_copy(_absolute(params.src), destination, into=into))
        if params.action == "write":
            assert params.content is not None
            text = params.content
        else:
            assert params.template is not None
            text = _render(_absolute(params.template), params.vars, ctx)
        destination.parent.mkdir(parents=True, exist_ok=True)
        with destination.open("w", encoding="utf-8", newline="") as stream:
            stream.write(text)
        return str(destination)


def _absolute(path: str) -> Path:
    return Path.cwd() / Path(path).expanduser()


def _copy(source: Path, destination: Path, *, into: bool = False) -> Path:
    """Copy a file or folder; ``into`` (a path written with a trailing slash) names a folder to copy into."""
    if into:
        destination.mkdir(parents=True, exist_ok=True)
        destination = destination / source.name
    if source.is_dir():
        shutil.copytree(source, destination, dirs_exist_ok=True)
        return destination
    if not source.exists():
        raise FileNotFoundError(f"src {str(source)!r} does not exist")
    destination.parent.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copy2(source, destination))


def _render(template: Path, variables: dict[str, Any], ctx: Context) -> str:
    if not template.is_file():
        raise FileNotFoundError(f"template {str(template)!r} is not a file")
    from framework0.recipe.templates import render_document

    text = template.read_text(encoding="utf-8")
    namespace = {**variables, "vars": variables, "ctx": ctx.as_dict()}
    return render_document(text, namespace)
