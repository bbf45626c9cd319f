"""The resource monitor reads this process's resident memory without psutil where /proc has it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from framework0.engine.monitor import _psutil_reader, _rss_reader

linux_only = pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="no /proc/self/statm here")


@linux_only
def test_the_proc_reading_agrees_with_psutil() -> None:
    ballast = bytearray(64 * 1024 * 1024)  # 64 MiB resident: well above the noise of either reading
    ballast[::4096] = b"x" * len(ballast[::4096])
    ours, theirs = _rss_reader()(), _psutil_reader()()
    assert ours >= len(ballast)
    assert abs(ours - theirs) < 16 * 1024 * 1024  # psutil's own import grows the process a little


@linux_only
def test_a_run_long_enough_to_be_sampled_does_not_import_psutil(tmp_path: Path) -> None:
    (tmp_path / "nap.yaml").write_text("steps:\n  - {name: nap, uses: sleep, args: {seconds: 0.3}}\n")
    code = (
        "import sys, framework0\n"
        f"result = framework0.run({str(tmp_path / 'nap.yaml')!r}, store=None)\n"
        "assert result.ok and result.steps['nap'].peak_rss_bytes > 0, result\n"
        "print('psutil' in sys.modules)\n"
    )
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.strip() == "False"
