"""Writes the benchmark recipes: fan-outs and chains of no-op steps."""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent


def fan_out(count: int) -> str:
    lines = ["test_meta: {test_id: BENCH-FANOUT}", "steps:"]
    for index in range(count):
        lines.append(f"  - {{name: s{index}, module: noop_steps, function: noop}}")
    return "\n".join(lines) + "\n"


def chain(count: int) -> str:
    lines = ["test_meta: {test_id: BENCH-CHAIN}", "steps:"]
    for index in range(count):
        after = f", depends_on: [s{index - 1}]" if index else ""
        lines.append(f"  - {{name: s{index}, module: noop_steps, function: noop{after}}}")
    return "\n".join(lines) + "\n"


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    (folder / "noop_steps.py").write_text((HERE / "noop_steps.py").read_text(encoding="utf-8"), encoding="utf-8")
    return path
