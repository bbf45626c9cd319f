"""What f0 run shows: plain lines for logs and pipes, a live panel on a terminal, the summary."""

from __future__ import annotations

import io
import textwrap
from pathlib import Path

import framework0
from framework0 import EventBus
from framework0.cli.progress import LiveProgress, PlainProgress, print_summary

HERE = Path(__file__).resolve().parents[1] / "engine"

RECIPE = """
test_meta: {test_id: SHOW-1}
steps:
  - {name: greet, uses: hello_world}
  - {name: flaky, module: engine_steps, function: fail, retry: {attempts: 2, delay: 0}, continue_on_error: true}
  - {name: after, module: engine_steps, function: noop, when: "{{ steps.flaky.status == 'succeeded' }}"}
"""


def run_with(handler) -> framework0.RunResult:
    bus = EventBus()
    bus.subscribe(handler)
    recipe = framework0.load_recipe_text(textwrap.dedent(RECIPE), file="t.yaml", base_dir=HERE)
    return framework0.run(recipe, bus=bus, max_parallel=1)


def test_plain_progress_prints_a_line_per_step_and_per_retry():
    stream = io.StringIO()
    run_with(PlainProgress(stream))
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("▶ SHOW-1: 3 steps (run ")
    assert any(line.startswith("✓ greet succeeded in ") for line in lines)
    assert any(line.startswith("↻ flaky attempt 1 ValueError: boom; retrying in ") for line in lines)
    assert any(line.startswith("✗ flaky failed in ") and line.endswith(": ValueError: boom") for line in lines)
    assert "- after skipped" in lines


def test_the_live_panel_counts_steps_by_status():
    stream = io.StringIO()
    live = LiveProgress(stream, force_terminal=True)
    run_with(live)
    panel = live.render()
    live.close()
    console = live.console
    with console.capture() as capture:
        console.print(panel)
    text = capture.get()
    assert "SHOW-1" in text and "3/3 done" in text
    assert "✓ 1 succeeded" in text and "✗ 1 failed" in text and "- 1 skipped" in text
    assert "boom" in stream.getvalue()


def test_the_summary_lists_steps_with_outputs_and_ends_with_the_run_status():
    result = run_with(lambda event: None)
    stream = io.StringIO()
    print_summary(result, stream)
    lines = stream.getvalue().splitlines()
    assert lines[0].split() == ["✓", "greet"] + lines[0].split()[2:3] + ["→", "Hello,", "world!"]
    assert lines[-1].startswith("SHOW-1 succeeded in ")
    assert "1 failed, 1 skipped, 1 succeeded" in lines[-1]


def test_the_summary_of_a_big_run_shows_only_the_failed_steps():
    result = run_with(lambda event: None)
    stream = io.StringIO()
    print_summary(result, stream, max_steps=1)
    lines = stream.getvalue().splitlines()
    assert [line.split()[1] for line in lines[:-1]] == ["flaky"]
