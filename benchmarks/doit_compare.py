"""Whole processes: `f0 run` of a 1,000-step no-op fan-out against doit 0.37 running the same DAG.

Both are fresh processes as a user starts them, so interpreter start-up, imports, reading the
recipe (or dodo.py), the run and recording it all count. Framework0 records into its default
SQLite store (`.framework0/framework0.db` in the benchmark's folder); doit into its default
dependency file (`.doit.db`). Every step is the same no-op function (`benchmarks/noop_steps.py`).
doit is installed into its own virtual environment, `benchmarks/.venv-doit` (created on first
use with `python -m venv` and `pip install doit==0.37.0`), so it never enters the project's.

The two commands run in turn (f0, doit, f0, doit ...) after one warm-up each, and the ratio is
taken pair by pair, so a machine whose speed drifts during the script still gives a fair ratio.
Prints the median wall seconds of each and the median ratio; nothing is asserted.

    python benchmarks/doit_compare.py [--repeat 11] [--steps 1000]
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

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DOIT_VERSION = "0.37.0"
DOIT_VENV = HERE / ".venv-doit"

DODO = '''\
"""The benchmark's fan-out for doit: {count} independent tasks, each the same no-op function."""

from noop_steps import noop


def task_s():
    for index in range({count}):
        yield {{"name": str(index), "actions": [noop], "verbosity": 0}}
'''


def doit_python() -> Path:
    """The Python of doit's own virtual environment, created (with doit installed) when missing."""
    python = DOIT_VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    if not python.exists():
        print(f"creating {DOIT_VENV.relative_to(ROOT)} with doit {DOIT_VERSION} ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(DOIT_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", f"doit=={DOIT_VERSION}"], check=True)
    return python


def f0() -> list[str]:
    script = shutil.which("f0", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-m", "framework0"]


def clean_environment() -> dict[str, str]:
    """This environment without Framework0's settings, so that `f0 run` uses its defaults."""
    return {key: value for key, value in os.environ.items() if not key.startswith("F0_")}


def wall(command: list[str], cwd: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=11)
    parser.add_argument("--steps", type=int, default=1_000)
    args = parser.parse_args()
    python = doit_python()
    folder = Path(tempfile.mkdtemp(prefix="f0-doit-"))
    write(folder, "fanout.yaml", fan_out(args.steps))
    (folder / "dodo.py").write_text(DODO.format(count=args.steps), encoding="utf-8")
    # An installed package has its bytecode compiled (pip does it, for doit too); an editable
    # checkout under PYTHONDONTWRITEBYTECODE=1 would otherwise recompile framework0 on every start.
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "src" / "framework0")], check=True)
    env = clean_environment()
    ours = [*f0(), "run", "fanout.yaml"]
    theirs = [str(python), "-m", "doit", "-f", "dodo.py"]
    wall(ours, folder, env)  # warm-up: OS caches, and the store's tables
    wall(theirs, folder, env)
    pairs = [(wall(ours, folder, env), wall(theirs, folder, env)) for _ in range(args.repeat)]
    f0_median = statistics.median(a for a, _ in pairs)
    doit_median = statistics.median(b for _, b in pairs)
    ratio = statistics.median(a / b for a, b in pairs)
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, {args.steps:,}-step no-op fan-out, ", end="")
    print(f"median of {args.repeat} runs, in seconds")
    print(f"{'f0 run (default SQLite store)':<36}{f0_median:>8.3f}")
    print(f"{f'doit {DOIT_VERSION} (default dep file)':<36}{doit_median:>8.3f}")
    print(f"{'f0 / doit (median of pair ratios)':<36}{ratio:>8.2f}")


if __name__ == "__main__":
    main()
