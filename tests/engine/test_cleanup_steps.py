"""Cleanup steps (``trigger: always``) are ``finally``: they run after a failure, after the run's
timeout and after Ctrl-C, once the running steps have stopped, within the grace period."""

from __future__ import annotations

import textwrap
import time
from pathlib import Path

import framework0
from framework0 import RunResult

HERE = Path(__file__).parent


def run(text: str, **options) -> RunResult:
    """Run in memory: the run's timeout counts from its start, before a store would be opened."""
    recipe = framework0.load_recipe_text(textwrap.dedent(text), file="t.yaml", base_dir=HERE)
    return framework0.run(recipe, store=None, **options)


def test_a_run_timeout_stops_the_running_steps_then_runs_the_cleanup_steps(tmp_path):
    lock = tmp_path / "lock"
    lock.write_text("held")
    result = run(
        f"""
        timeout: 1
        steps:
          - {{name: slow, module: engine_steps, function: spin, args: {{seconds: 30}}}}
          - {{name: later, module: engine_steps, function: noop, depends_on: [slow]}}
          - name: unlock
            uses: shell
            args: {{cmd: "rm {lock}"}}
            depends_on: [later]
            trigger: always
        """
    )
    assert result.status == "failed"
    assert result.error is not None and result.error.type == "RunTimeout"
    statuses = {name: step.status for name, step in result.steps.items()}
    assert statuses == {"slow": "cancelled", "later": "pending", "unlock": "succeeded"}
    assert not lock.exists()


def test_cleanup_steps_after_a_run_timeout_start_only_once_the_running_steps_have_stopped():
    # 'slow' sits in one C call that a cancellation cannot cut short; 'hold' stops at once, which
    # settles the cleanup step's upstream while 'slow' is still running.
    result = run(
        """
        timeout: 1
        max_parallel: 4
        steps:
          - {name: slow, module: engine_steps, function: block, args: {seconds: 2.5}}
          - {name: hold, module: engine_steps, function: spin, args: {seconds: 60}}
          - {name: later, module: engine_steps, function: noop, depends_on: [hold]}
          - {name: cleanup, module: engine_steps, function: noop, trigger: always, depends_on: [later]}
        """
    )
    slow, cleanup = result.steps["slow"], result.steps["cleanup"]
    assert (result.steps["hold"].status, cleanup.status) == ("cancelled", "succeeded")
    assert slow.finished_at is not None and cleanup.started_at is not None
    assert cleanup.started_at >= slow.finished_at


def test_cleanup_steps_after_a_run_timeout_get_the_grace_period_then_are_stopped():
    started = time.monotonic()
    result = framework0.run(
        framework0.load_recipe_text(
            textwrap.dedent(
                """
                timeout: 1
                steps:
                  - {name: slow, module: engine_steps, function: spin, args: {seconds: 60}}
                  - {name: cleanup, module: engine_steps, function: spin, args: {seconds: 60},
                     depends_on: [slow], trigger: always}
                  - {name: after, module: engine_steps, function: noop, depends_on: [cleanup], trigger: always}
                """
            ),
            file="t.yaml",
            base_dir=HERE,
        ),
        grace_s=0.5,
        store=None,
    )
    assert result.steps["cleanup"].status == "cancelled"
    assert result.steps["after"].status == "pending"
    assert result.steps["after"].reason == "the cleanup time ran out before it started"
    assert time.monotonic() - started < 30


def test_a_cleanup_step_keeps_its_own_timeout_after_a_run_timeout():
    result = run(
        """
        timeout: 1
        steps:
          - {name: slow, module: engine_steps, function: spin, args: {seconds: 60}}
          - {name: cleanup, module: engine_steps, function: spin, args: {seconds: 60},
             depends_on: [slow], trigger: always, timeout: 0.2}
        """,
    )
    cleanup = result.steps["cleanup"]
    assert cleanup.status == "failed"
    assert cleanup.error is not None and cleanup.error.type == "StepTimeout"
