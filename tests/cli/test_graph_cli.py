"""``f0 graph``: Mermaid, DOT, SVG and a self-contained HTML page, to standard output or ``-o FILE``."""

from __future__ import annotations

import re
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from tests.helpers import invoke

RECIPE = """\
test_meta: {test_id: GRAPH-CLI}
steps:
  - {name: extract, uses: hello_world}
  - {name: transform, uses: sleep, args: {seconds: 0}, depends_on: [extract]}
  - {name: load, uses: hello_world, depends_on: [transform]}
"""

SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture
def recipe(tmp_path: Path) -> Path:
    path = tmp_path / "etl.yaml"
    path.write_text(RECIPE, encoding="utf-8")
    return path


def f0(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return invoke(*args)


def test_svg_goes_to_standard_output_as_an_svg_document(recipe: Path) -> None:
    result = f0("graph", recipe, "--format", "svg")

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<svg ')
    root = ET.fromstring(result.stdout)
    steps = [node.attrib["data-step"] for node in root.iter(f"{SVG}g") if node.get("class") == "f0-node"]
    assert steps == ["extract", "transform", "load"]
    assert root.attrib["aria-label"].startswith("GRAPH-CLI: 3 steps")


def test_output_writes_the_svg_to_a_file_and_says_so(recipe: Path, tmp_path: Path) -> None:
    target = tmp_path / "etl.svg"
    result = f0("graph", recipe, "--format", "svg", "-o", target)

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"wrote {target} (")
    assert ET.parse(target).getroot().tag == f"{SVG}svg"


def test_html_is_one_offline_page_with_a_content_security_policy(recipe: Path, tmp_path: Path) -> None:
    target = tmp_path / "etl.html"
    result = f0("graph", recipe, "--format", "html", "--output", target)

    assert result.returncode == 0, result.stderr
    page = target.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    policy = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)">', page)
    assert policy is not None
    assert policy.group(1).startswith("default-src 'none'; script-src 'sha256-")
    assert 'data-step="transform"' in page
    assert not re.search(r"<(script|link|img)[^>]*\b(src|href)=", page)


@pytest.mark.parametrize("fmt", ["mermaid", "dot"])
def test_mermaid_and_dot_are_unchanged_and_can_go_to_a_file(recipe: Path, tmp_path: Path, fmt: str) -> None:
    printed = f0("graph", recipe, "--format", fmt)
    written = f0("graph", recipe, "--format", fmt, "-o", tmp_path / "out.txt")

    assert printed.returncode == written.returncode == 0
    assert printed.stdout.startswith("flowchart LR\n" if fmt == "mermaid" else "digraph recipe {\n")
    assert (tmp_path / "out.txt").read_text(encoding="utf-8") == printed.stdout


def test_mermaid_is_the_default(recipe: Path) -> None:
    assert f0("graph", recipe).stdout.startswith("flowchart LR\n")


def test_a_bad_recipe_is_reported_as_file_line_col_without_a_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("steps:\n  - name: a\n    uses: hello_wrld\n", encoding="utf-8")
    target = tmp_path / "bad.svg"
    result = f0("graph", bad, "--format", "svg", "-o", target)

    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines()[0] == (
        f"{bad}:3:11: unknown scriptlet 'hello_wrld' (did you mean 'hello_world'?); "
        "run 'f0 scriptlets list' to see them all"
    )
    assert "Traceback" not in result.stderr
    assert not target.exists()


def test_an_output_in_a_missing_folder_is_one_line_naming_it(recipe: Path, tmp_path: Path) -> None:
    target = tmp_path / "missing" / "etl.html"
    result = f0("graph", recipe, "--format", "html", "-o", target)

    assert result.returncode == 2
    assert result.stderr == f"error: cannot write {target}: the folder {target.parent} does not exist\n"


def test_an_output_that_is_a_folder_is_a_usage_error_naming_it(recipe: Path, tmp_path: Path) -> None:
    result = f0("graph", recipe, "--format", "svg", "-o", tmp_path)

    assert result.returncode == 2
    assert result.stderr == (
        f"error: cannot write {tmp_path}: it is a folder; give a file name, e.g. {tmp_path / 'graph.svg'}\n"
    )


def test_an_unknown_format_lists_the_choices(recipe: Path) -> None:
    result = f0("graph", recipe, "--format", "png")

    assert result.returncode == 2
    assert "'mermaid', 'dot', 'svg', 'html'" in result.stderr
