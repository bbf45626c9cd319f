"""The installed programs themselves: ``f0``, ``framework0`` and ``python -m framework0`` are one
command (the rest of the command-line contract is tested in process, in tests/cli)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.helpers import F0_TIMEOUT_S, environment

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
BIN = Path(sys.executable).parent


def command(*argv: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``argv`` as a real process in ``cwd``, without the test session's F0_* settings."""
    return subprocess.run(
        list(map(str, argv)),
        cwd=cwd,
        env=environment(),
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=F0_TIMEOUT_S,
        check=False,
    )


def test_f0_framework0_and_python_m_framework0_are_the_same_command(tmp_path: Path) -> None:
    programs = {
        "f0": [str(BIN / "f0")],
        "framework0": [str(BIN / "framework0")],
        "python -m framework0": [sys.executable, "-m", "framework0"],
    }
    versions = {name: command(*program, "--version", cwd=tmp_path) for name, program in programs.items()}
    runs = {
        name: command(*program, "run", EXAMPLES / "quickstart.yaml", "--json", cwd=tmp_path)
        for name, program in programs.items()
    }

    assert {name: process.returncode for name, process in versions.items()} == dict.fromkeys(programs, 0)
    assert len({process.stdout for process in versions.values()}) == 1
    assert "0.1.0" in versions["f0"].stdout
    for name, process in runs.items():
        assert process.returncode == 0, f"{name}: {process.stderr}"
        result = json.loads(process.stdout)
        assert (result["status"], result["steps"]["hello_world"]["output"]) == ("succeeded", "Hello, world!"), name
