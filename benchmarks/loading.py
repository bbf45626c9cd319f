"""Loading a recipe (parse + validate) per step, against the thread-pool scheduler's floor per step.

`load_recipe` of generated recipes, in microseconds per step: the no-op fan-out the scheduler
benchmark runs (one-line flow mappings, `module: noop_steps, function: noop`) at 1,000 and 10,000
steps; the same 10,000 steps written as block mappings; and 10,000 `hello_world` steps with a
templated arg, chained in groups of ten (the startup benchmark's `big.yaml`). The floor is
`bare_scheduler` from `scheduler.py` running the 10,000-step fan-out, measured in the same
process. The issue's aim: loading at most half the floor per step (a ratio of 0.5 or less).
Each recipe is measured twice: read from its text (`load_recipe(path)`: parse and every check),
and again from its compiled entry (`load_recipe(path, compiled=FOLDER)` once the entry is written:
what `f0 run` does with an unchanged recipe; the files are hashed, the scriptlets resolved and
the args checked again, the YAML is not read).

Each figure is a median of `--repeat` loads after one warm-up, the cycle collector on as in
`f0 run`. With `--before DIR`, a second source tree (DIR/src/framework0, e.g. an export of an
older commit) is measured too, in its own processes taking turns with this tree's, so that both
columns come from the same run of this script.

    python benchmarks/loading.py [--repeat 7] [--before DIR]
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from recipes import fan_out, write  # noqa: E402

STEPS = 10_000


def block_fan_out(count: int) -> str:
    lines = ["test_meta:", "  test_id: BENCH-FANOUT", "steps:"]
    for index in range(count):
        lines += [f"  - name: s{index}", "    module: noop_steps", "    function: noop"]
    return "\n".join(lines) + "\n"


def templated(count: int) -> str:
    lines = ["params: {n: 1}", "steps:"]
    for index in range(count):
        after = f", depends_on: [s{index - 1}]" if index % 10 else ""
        lines.append(f'  - {{name: s{index}, uses: hello_world, args: {{name: "x{{{{ params.n }}}}"}}{after}}}')
    return "\n".join(lines) + "\n"


RECIPES: dict[str, tuple[int, Callable[[], str]]] = {
    "fan-out 1,000 (flow)": (1_000, lambda: fan_out(1_000)),
    "fan-out 10,000 (flow)": (STEPS, lambda: fan_out(STEPS)),
    "fan-out 10,000 (block)": (STEPS, lambda: block_fan_out(STEPS)),
    "templated 10,000": (STEPS, lambda: templated(STEPS)),
}


def timed(call: Callable[[], object]) -> tuple[float, float]:
    """Wall and CPU seconds (this process's, all threads) of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    call()
    return time.perf_counter() - wall, time.process_time() - cpu


def measure(folder: Path, repeat: int) -> dict[str, float]:
    """µs per step, wall and CPU, for each recipe and for the floor, in this process (the child's side)."""
    from scheduler import bare_scheduler

    from framework0.recipe.loader import load_recipe

    supports_compiled = "compiled" in inspect.signature(load_recipe).parameters  # (an older tree: no)
    figures: dict[str, float] = {}
    entries = Path(tempfile.mkdtemp(prefix="f0-compiled-"))
    for label, (count, text) in RECIPES.items():
        path = write(folder, f"{label.split()[0]}-{count}-{label.split()[-1].strip('()')}.yaml", text())
        load_recipe(path)  # warm-up: imports, and the scriptlet module
        times = [timed(partial(load_recipe, path)) for _ in range(repeat)]
        figures[label] = statistics.median(wall for wall, _ in times) / count * 1e6
        figures[label + " cpu"] = statistics.median(cpu for _, cpu in times) / count * 1e6
        if supports_compiled:
            load_recipe(path, compiled=entries)  # writes the entry
            times = [timed(partial(load_recipe, path, compiled=entries)) for _ in range(repeat)]
            figures[label + ", compiled"] = statistics.median(wall for wall, _ in times) / count * 1e6
            figures[label + ", compiled cpu"] = statistics.median(cpu for _, cpu in times) / count * 1e6
    upstream: dict[str, list[str]] = {f"s{index}": [] for index in range(STEPS)}
    bare_scheduler(upstream)
    times = [timed(partial(bare_scheduler, upstream)) for _ in range(repeat)]
    figures["floor"] = statistics.median(wall for wall, _ in times) / STEPS * 1e6
    figures["floor cpu"] = statistics.median(cpu for _, cpu in times) / STEPS * 1e6
    return figures


def child(source: Path, folder: Path, repeat: int) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(source / "src")}
    command = [sys.executable, __file__, "--child", "--folder", str(folder), "--repeat", str(repeat)]
    output = subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout
    figures: dict[str, float] = json.loads(output)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--rounds", type=int, default=3, help="processes per tree, taking turns")
    parser.add_argument("--before", type=Path, help="another source tree to measure alongside")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.folder, args.repeat)))
        return
    folder = Path(tempfile.mkdtemp(prefix="f0-loading-"))
    trees = {"this tree": ROOT, **({"before": args.before.resolve()} if args.before else {})}
    rounds: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
    for _ in range(args.rounds):
        for name, source in trees.items():
            rounds[name].append(child(source, folder, args.repeat))
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs; µs per step, median of {args.rounds} processes")
    print(f"x {args.repeat} loads each; the floor is the bare thread-pool scheduler on a {STEPS:,}-step fan-out;")
    print("wall clock, then CPU time (all threads: a busy machine stretches wall time, not CPU time);")
    print("ratios are to the floor's median over all processes (last line)")
    header = "".join(f"{name:>11}{'/ floor':>8}{'cpu':>7}{'/ floor':>8}" for name in trees)
    print(f"{'recipe':<34}{header}")
    # One floor for every column: the same scheduler code ran in every process, so pooling its
    # figures keeps one noisy process from moving a tree's ratios.
    floors = {
        suffix: statistics.median(figures["floor" + suffix] for runs in rounds.values() for figures in runs)
        for suffix in ("", " cpu")
    }
    labels = [name for recipe in RECIPES for name in (recipe, recipe + ", compiled")]
    for label in [*labels, "floor"]:
        cells = ""
        for name in trees:
            for suffix, width in (("", 11), (" cpu", 7)):
                if label + suffix not in rounds[name][0]:
                    cells += f"{'-':>{width}}{'':>8}"
                    continue
                value = statistics.median(figures[label + suffix] for figures in rounds[name])
                ratio = f"{value / floors[suffix]:>8.2f}" if label != "floor" else " " * 8
                cells += f"{value:>{width}.1f}{ratio}"
        print(f"{label:<34}{cells}")
    print(f"{'floor, all processes':<34}{floors['']:>11.1f}{'':>8}{floors[' cpu']:>7.1f}")


if __name__ == "__main__":
    main()
