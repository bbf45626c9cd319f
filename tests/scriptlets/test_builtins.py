from __future__ import annotations

import subprocess
import sys

import pytest

from framework0.scriptlets.registry import BUILTINS, resolve_name


@pytest.mark.parametrize("name", sorted(BUILTINS))
def test_every_built_in_resolves_and_documents_itself(name: str) -> None:
    spec = resolve_name(name)
    assert spec.origin == "built-in"
    assert spec.description
    model = spec.scriptlet.params_model()
    assert model is not None
    undocumented = [field for field, info in model.model_fields.items() if not info.description]
    assert undocumented == []


def test_loading_every_built_in_imports_neither_httpx_nor_jinja2() -> None:
    code = (
        "import sys\n"
        "from framework0.scriptlets.registry import BUILTINS, resolve_name\n"
        "for name in BUILTINS: resolve_name(name)\n"
        "print(sorted(m for m in ('httpx', 'jinja2') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
