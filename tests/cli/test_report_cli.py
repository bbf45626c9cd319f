"""``f0 report RUN -o FILE``: one self-contained HTML file of a stored run, or a one-line error."""

from __future__ import annotations

import html
import json
import re
import resource
import subprocess
import sys
from pathlib import Path

import pytest
from tests.helpers import F0_TIMEOUT_S, environment, invoke

import framework0
from framework0.recipe.loader import load_recipe_text

RECIPE = """\
test_meta: {test_id: REPORT-CLI}
steps:
  - {name: greet, uses: hello_world}
  - {name: mark, uses: set_context, args: {values: {note: "</script><script>alert(2)</script>"}}, depends_on: [greet]}
"""


@pytest.fixture
def recorded(tmp_path: Path) -> tuple[str, str]:
    store = f"sqlite:///{tmp_path}/runs.db"
    result = framework0.run(load_recipe_text(RECIPE), store=store)
    return result.run_id, store


def f0(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return invoke(*args)


def test_the_report_is_one_html_file_with_the_run_in_it(tmp_path: Path, recorded: tuple[str, str]) -> None:
    run_id, store = recorded
    target = tmp_path / "report.html"

    result = f0("report", run_id[:6], "-o", target, "--store", store)

    assert result.returncode == 0, result.stderr
    assert result.stdout == f"wrote {target} ({target.stat().st_size / 1024:.1f} KiB): run {run_id}, 2 steps\n"
    page = target.read_text(encoding="utf-8")
    assert page.lower().startswith("<!doctype html>")
    assert run_id in page and "REPORT-CLI" in page


def test_the_report_loads_nothing_from_elsewhere(tmp_path: Path, recorded: tuple[str, str]) -> None:
    run_id, store = recorded
    target = tmp_path / "report.html"
    assert f0("report", run_id, "-o", target, "--store", store).returncode == 0
    page = target.read_text(encoding="utf-8")

    assert re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page) is None
    policy = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]*)"', page)
    assert policy is not None and html.unescape(policy.group(1)).startswith("default-src 'none'")


def test_a_value_cannot_close_the_data_block(tmp_path: Path, recorded: tuple[str, str]) -> None:
    run_id, store = recorded
    target = tmp_path / "report.html"
    assert f0("report", run_id, "-o", target, "--store", store).returncode == 0
    page = target.read_text(encoding="utf-8")

    assert "<script>alert(2)" not in page
    data = re.search(r'<script type="application/json" id="f0-view">(.*?)</script>', page, re.S)
    assert data is not None
    assert json.loads(data.group(1))["context"]["values"]["note"] == "</script><script>alert(2)</script>"


def test_an_unknown_run_is_one_line_and_writes_nothing(tmp_path: Path, recorded: tuple[str, str]) -> None:
    _, store = recorded
    target = tmp_path / "report.html"

    result = f0("report", "nosuchrun", "-o", target, "--store", store)

    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "no run 'nosuchrun'" in result.stderr
    assert not target.exists()


def test_a_missing_folder_is_one_line(tmp_path: Path, recorded: tuple[str, str]) -> None:
    run_id, store = recorded

    result = f0("report", run_id, "-o", tmp_path / "nowhere" / "report.html", "--store", store)

    missing = tmp_path / "nowhere"
    assert result.returncode == 2
    assert result.stderr == f"error: cannot write {missing / 'report.html'}: the folder {missing} does not exist\n"


def test_a_failed_write_keeps_the_earlier_file(tmp_path: Path, recorded: tuple[str, str]) -> None:
    run_id, store = recorded
    target = tmp_path / "report.html"
    target.write_text("earlier", encoding="utf-8")

    def small_files() -> None:  # a report is over 100 KiB: its write fails (EFBIG), as on a full disk
        resource.setrlimit(resource.RLIMIT_FSIZE, (65536, 65536))

    # not measured: under that limit coverage could not write its data file either
    unmeasured = {key: value for key, value in environment().items() if not key.startswith("COVERAGE_")}
    result = subprocess.run(
        [sys.executable, "-m", "framework0", "report", run_id, "-o", str(target), "--store", store],
        capture_output=True,
        text=True,
        env=unmeasured,
        timeout=F0_TIMEOUT_S,
        preexec_fn=small_files,
        check=False,
    )

    assert result.returncode == 2
    assert result.stderr.startswith(f"error: cannot write {target}: File too large")
    assert result.stderr.count("\n") == 1
    assert target.read_text(encoding="utf-8") == "earlier"
    assert [path.name for path in tmp_path.iterdir() if path.name.startswith(".report.html")] == []
