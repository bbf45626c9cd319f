"""Running the real ``f0`` command in a subprocess, as a user would, for the CLI tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def environment(env: dict[str, str] | None = None) -> dict[str, str]:
    """This process's environment without its F0_* settings (the test session's store), plus ``env``."""
    kept = {key: value for key, value in os.environ.items() if not key.startswith("F0_")}
    return {**kept, **(env or {})}


def f0(*args: str | Path, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m framework0 ARGS`` in ``cwd``; F0_* settings come only from ``env``."""
    return subprocess.run(
        [sys.executable, "-m", "framework0", *map(str, args)],
        cwd=cwd,
        env=environment(env),
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
        check=False,
    )


def one_line_error(process: subprocess.CompletedProcess[str]) -> str:
    """The one line a refused command printed on stderr (it exited 2, printed nothing else)."""
    assert process.returncode == 2, process.stdout + process.stderr
    assert process.stdout == ""
    lines = process.stderr.splitlines()
    assert len(lines) == 1, process.stderr
    assert "Traceback" not in process.stderr
    return lines[0]
