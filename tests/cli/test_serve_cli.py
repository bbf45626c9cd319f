"""``f0 serve`` without the server extra: one line that says what to install, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from tests.helpers import environment, one_line_error

# runs the f0 command line with one module (and its submodules) made impossible to import, as if
# it were not installed
WITHOUT_MODULE = """\
import sys

blocked = sys.argv.pop(1)


class NotInstalled:
    def find_spec(self, name, path=None, target=None):
        if name == blocked or name.startswith(blocked + "."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, NotInstalled())
sys.argv[0] = "f0"
from framework0.cli.main import main

main()
"""


def f0_without(module: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", WITHOUT_MODULE, module, *args],
        cwd=cwd,
        env=environment({"F0_TOKEN": "a-token-long-enough-for-the-server-0123456789"}),
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("module", ["websockets", "uvicorn", "fastapi", "starlette", "orjson"])
def test_serve_without_a_server_dependency_says_what_to_install(tmp_path: Path, module: str) -> None:
    process = f0_without(module, "serve", "--port", "0", "--store", f"sqlite:///{tmp_path / 'runs.db'}", cwd=tmp_path)
    assert one_line_error(process) == f"error: f0 serve needs {module}: pip install 'framework0[server]'"
    assert not (tmp_path / "runs.db").exists()


def test_a_run_on_a_context_server_without_websockets_says_what_to_install(tmp_path: Path) -> None:
    (tmp_path / "recipe.yaml").write_text('steps:\n  - name: a\n    uses: shell\n    args: {cmd: "true"}\n')
    process = f0_without(
        "websockets", "run", "recipe.yaml", "--context-server", "http://127.0.0.1:9", "--context", "x", cwd=tmp_path
    )
    assert one_line_error(process) == "error: --context-server needs websockets: pip install 'framework0[server]'"
