"""Whole-process figures: `f0 run` of the quick start, `f0 run` of a 1,000-step fan-out (each recorded
in the default SQLite store, and again with F0_STORE=none) and `f0 validate` of a 10,000-step recipe,
each a fresh process as a user runs it. Also `python -c pass` as the floor.

    python benchmarks/startup.py [--repeat 11]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from recipes import fan_out, write

ROOT = Path(__file__).resolve().parents[1]


def f0() -> list[str]:
    script = shutil.which("f0", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-m", "framework0"]


def timed(command: list[str], cwd: Path, repeat: int, env: dict[str, str] | None = None) -> float:
    """Median wall seconds of ``repeat`` runs (after one warm-up run that fills the OS caches and,
    for f0 run, creates the store)."""
    subprocess.run(command, cwd=cwd, check=True, capture_output=True, env=env)
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run(command, cwd=cwd, check=True, capture_output=True, env=env)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def big_recipe(count: int) -> str:
    lines = ["params: {n: 1}", "steps:"]
    for index in range(count):
        after = f", depends_on: [s{index - 1}]" if index % 10 else ""
        lines.append(f'  - {{name: s{index}, uses: hello_world, args: {{name: "x{{{{ params.n }}}}"}}{after}}}')
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=11)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="f0-startup-"))
    write(folder, "fanout1000.yaml", fan_out(1_000))
    (folder / "big.yaml").write_text(big_recipe(10_000), encoding="utf-8")
    shutil.copy(ROOT / "examples" / "quickstart.yaml", folder / "quickstart.yaml")
    command = f0()
    # An installed package has its bytecode compiled (pip does it); an editable checkout under
    # PYTHONDONTWRITEBYTECODE=1 would otherwise recompile framework0 on every start.
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "src" / "framework0")], check=True)
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, median of {args.repeat} runs, in seconds")
    rows = [
        ("python -c pass (floor)", [sys.executable, "-c", "pass"]),
        ("f0 run quickstart.yaml", [*command, "run", "quickstart.yaml"]),
        ("f0 run fanout1000.yaml", [*command, "run", "fanout1000.yaml"]),
        ("f0 validate big.yaml (10,000 steps)", [*command, "validate", "big.yaml"]),
    ]
    memory_only = {**os.environ, "F0_STORE": "none"}
    for label, cmd in rows:
        print(f"{label:<40}{timed(cmd, folder, args.repeat):>8.3f}")
        if cmd[-2:-1] == ["run"]:
            print(f"{'  the same, F0_STORE=none (no store)':<40}{timed(cmd, folder, args.repeat, memory_only):>8.3f}")


if __name__ == "__main__":
    main()
