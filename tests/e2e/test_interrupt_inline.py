"""Ctrl-C reaches a step that the inline executor runs on the caller's own thread."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from tests.helpers import eventually

pytestmark = pytest.mark.skipif(os.name != "posix", reason="sends SIGINT, as a terminal's Ctrl-C does on POSIX")

SCRIPT = """
import pathlib, sys, textwrap, time
import framework0

STEPS = '''
import pathlib, time

def spin(started: str) -> str:
    pathlib.Path(started).write_text("yes")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # pure Python: a Ctrl-C lands at once
        pass
    return "spun"
'''
folder = pathlib.Path(sys.argv[1])
(folder / "spin_steps.py").write_text(STEPS)
recipe = framework0.load_recipe_text(
    "steps: [{name: a, module: spin_steps, function: spin, args: {started: '%s'}}]" % (folder / "started"),
    file="t.yaml",
    base_dir=folder,
)
result = framework0.run(recipe, executor="inline", store=None)
print(result.status, result.steps["a"].status)
"""


def test_ctrl_c_stops_a_step_running_on_the_inline_executor(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(SCRIPT), str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )

    def started() -> bool:
        assert process.poll() is None, process.communicate()
        return (tmp_path / "started").exists()

    eventually(started, "the step to start")
    sent = time.monotonic()
    process.send_signal(signal.SIGINT)
    try:
        stdout, stderr = process.communicate(timeout=30)
    finally:
        process.kill()

    assert stdout.split() == ["cancelled", "cancelled"], stderr
    assert time.monotonic() - sent < 30  # well before the step's 60 s, even on a loaded machine
