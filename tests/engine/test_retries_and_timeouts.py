"""Retries with backoff and retry_on; step and run timeouts that really stop the work."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

import framework0
from framework0 import EventBus, RunResult
from framework0.engine.retry import retry_delay, should_retry
from framework0.events import AttemptFinished, AttemptStarted, Event, LogLines
from framework0.recipe.model import RetryPolicy

HERE = Path(__file__).parent


def run(text: str, **options) -> RunResult:
    recipe = framework0.load_recipe_text(textwrap.dedent(text), file="t.yaml", base_dir=HERE)
    return framework0.run(recipe, **options)


# --- the policy, as pure functions ---------------------------------------------------------------


def test_backoff_grows_exponentially_from_the_delay():
    policy = RetryPolicy(attempts=5, delay=1.0, backoff=2.0, jitter=0.0)
    assert [retry_delay(policy, n, 0.5) for n in (1, 2, 3, 4)] == [1.0, 2.0, 4.0, 8.0]


def test_backoff_is_capped_by_max_delay():
    policy = RetryPolicy(attempts=9, delay=1.0, backoff=10.0, max_delay=30.0, jitter=0.0)
    assert retry_delay(policy, 4, 0.0) == 30.0


def test_jitter_shortens_the_delay_by_at_most_its_fraction():
    policy = RetryPolicy(attempts=3, delay=10.0, jitter=0.2)
    assert retry_delay(policy, 1, 0.0) == 10.0
    assert retry_delay(policy, 1, 0.999) == pytest.approx(8.002)


def test_no_retry_after_the_last_attempt():
    assert not should_retry(RetryPolicy(attempts=3), 3, ("ValueError", "Exception"))
    assert should_retry(RetryPolicy(attempts=3), 2, ("ValueError", "Exception"))


def test_retry_on_matches_the_error_or_any_of_its_base_classes():
    policy = RetryPolicy(attempts=3, retry_on=("OSError",))
    assert should_retry(policy, 1, ("ConnectionError", "OSError", "Exception"))
    assert not should_retry(policy, 1, ("ValueError", "Exception"))


def test_template_errors_are_never_retried():
    assert not should_retry(RetryPolicy(attempts=3), 1, ("TemplateError", "Framework0Error", "Exception"))


# --- retries in a run ------------------------------------------------------------------------------


def test_a_flaky_step_succeeds_on_a_later_attempt(tmp_path):
    result = run(
        f"""
        steps:
          - name: flaky
            module: engine_steps
            function: flaky
            retry: {{attempts: 4, delay: 10ms, backoff: 2, jitter: 0}}
            args: {{counter: "{tmp_path / "n"}", failures: 2}}
        """
    )
    step = result.steps["flaky"]
    assert (step.status, step.attempts, step.output) == ("succeeded", 3, 3)


def test_retries_wait_longer_each_time(tmp_path):
    bus = EventBus()
    waits: list[float | None] = []
    bus.subscribe(lambda e: waits.append(e.will_retry_in_s) if isinstance(e, AttemptFinished) else None)
    run(
        f"""
        steps:
          - name: flaky
            module: engine_steps
            function: flaky
            retry: {{attempts: 4, delay: 20ms, backoff: 3, jitter: 0}}
            args: {{counter: "{tmp_path / "n"}", failures: 3}}
        """,
        bus=bus,
    )
    assert waits == [pytest.approx(0.02), pytest.approx(0.06), pytest.approx(0.18), None]


def test_an_error_not_named_in_retry_on_is_not_retried(tmp_path):
    result = run(
        f"""
        steps:
          - name: flaky
            module: engine_steps
            function: flaky
            retry: {{attempts: 4, retry_on: [ConnectionError]}}
            args: {{counter: "{tmp_path / "n"}", failures: 2, error: ValueError}}
        """
    )
    step = result.steps["flaky"]
    assert (step.status, step.attempts) == ("failed", 1)


def test_defaults_retry_applies_to_every_step(tmp_path):
    result = run(
        f"""
        defaults:
          retry: {{attempts: 3, delay: 0}}
        steps:
          - {{name: flaky, module: engine_steps, function: flaky, args: {{counter: "{tmp_path / "n"}", failures: 2}}}}
        """
    )
    assert result.steps["flaky"].attempts == 3


# --- timeouts --------------------------------------------------------------------------------------


def test_a_step_timeout_stops_python_code_in_a_thread():
    started = time.monotonic()
    result = run("steps: [{name: slow, module: engine_steps, function: spin, args: {seconds: 120}, timeout: 0.3}]")
    step = result.steps["slow"]
    assert step.status == "failed"
    assert step.error is not None and (step.error.type, step.error.message) == ("StepTimeout", "timed out after 0.3s")
    assert time.monotonic() - started < 60  # far below the 120 s (or more) it would take


@pytest.mark.parametrize("executor", ["local", "process"])
def test_a_timeout_swallowed_by_a_weakref_callback_still_stops_the_step_without_a_traceback(executor, tmp_path, capfd):
    log = tmp_path / "log"
    lines: list[str] = []
    bus = EventBus()
    bus.subscribe(lambda event: lines.append(event.text) if isinstance(event, LogLines) else None)
    result = run(
        f"""
        steps:
          - name: slow
            module: engine_steps
            function: spin_in_a_weakref_callback
            args: {{log: "{log}", seconds: 120}}
            timeout: 3
        """,
        # (3 s: the step must be in its callback when its timeout comes; on a busy machine a worker
        # process importing the step's module under coverage took more than 0.3 s)
        executor=executor,
        grace_s=60,  # abandoned after that, the step would never say "cancelled"
        bus=bus,
    )
    step = result.steps["slow"]
    assert step.error is not None and step.error.type == "StepTimeout"
    stages = log.read_text().splitlines()  # the cancel sent again lands in the step's code, here or further
    assert stages in (["in callback", "cancelled"], ["in callback", "callback over", "cancelled"])
    printed = "".join(capfd.readouterr()) + "".join(lines)
    assert "Exception ignored" not in printed and "Traceback" not in printed


#: runs a recipe in a process of its own and prints each step's status, output and error type
IN_A_PROCESS = """
import json, os, sys
import framework0
if __name__ == "__main__":
    recipe = framework0.load_recipe_text(sys.argv[1], file="t.yaml", base_dir=sys.argv[2])
    result = framework0.run(recipe, executor=sys.argv[3], grace_s=60, store=None)
    steps = {name: [s.status, s.output, s.error and s.error.type] for name, s in result.steps.items()}
    print(json.dumps(steps), flush=True)
    os._exit(0)  # an import lock left held would hang the interpreter's exit
"""


def run_in_a_process(recipe: str, executor: str, folder: Path) -> dict[str, list[Any]]:
    script = folder / "run.py"
    script.write_text(IN_A_PROCESS)
    done = subprocess.run(
        [sys.executable, str(script), textwrap.dedent(recipe), str(HERE), executor],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    steps: dict[str, list[Any]] = json.loads(done.stdout)
    return steps


@pytest.mark.parametrize("executor", ["local", "process"])
def test_a_timeout_while_a_step_waits_inside_an_import_leaves_the_import_lock_free(executor, tmp_path):
    recipe = f"""
        max_parallel: 1  # one worker: the step after runs in the same process
        steps:
          - name: importing
            module: engine_steps
            function: import_while_the_import_lock_is_held
            args: {{folder: "{tmp_path}", module: held_{tmp_path.name}, hold_s: 2, seconds: 120}}
            timeout: 0.3
          - name: after
            module: engine_steps
            function: import_in_a_new_thread
            args: {{folder: "{tmp_path}", module: later_{tmp_path.name}}}
            depends_on: [importing]
            trigger: always
        """
    steps = run_in_a_process(recipe, executor, tmp_path)
    assert steps["importing"] == ["failed", None, "StepTimeout"]
    assert steps["after"] == ["succeeded", True, None]  # a lock left held: the import waits for ever


@pytest.mark.parametrize("executor", ["local", "process"])
def test_a_timeout_while_a_step_waits_inside_logging_leaves_the_handler_lock_free(executor, tmp_path):
    recipe = """
        max_parallel: 1  # one worker: the step after runs in the same process
        steps:
          - name: logging
            module: engine_steps
            function: log_while_the_handler_lock_is_held
            args: {hold_s: 2, seconds: 120}
            timeout: 0.3
          - {name: after, module: engine_steps, function: log_in_a_new_thread, depends_on: [logging], trigger: always}
        """
    steps = run_in_a_process(recipe, executor, tmp_path)
    assert steps["logging"] == ["failed", None, "StepTimeout"]
    assert steps["after"] == ["succeeded", True, None]  # a lock left held: logging waits for ever


def test_a_step_timeout_kills_the_subprocess_a_shell_step_started(tmp_path):
    pid_file = tmp_path / "pid"
    result = run(
        f"""
        steps:
          - name: slow
            uses: shell
            timeout: 0.5
            args: {{cmd: "echo $$ > {pid_file}; exec sleep 30"}}
        """
    )
    assert result.steps["slow"].status == "failed"
    pid = int(pid_file.read_text())
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


@pytest.mark.uncovered
def test_a_thread_stuck_in_a_c_call_is_abandoned_after_the_grace_period():
    started = time.monotonic()
    result = run(
        """
        steps:
          - {name: stuck, module: engine_steps, function: block, args: {seconds: 120}, timeout: 0.2}
          - {name: after, module: engine_steps, function: noop, depends_on: [stuck], trigger: always}
        """,
        grace_s=0.3,
    )
    assert result.steps["stuck"].status == "failed"
    assert result.steps["stuck"].error is not None and result.steps["stuck"].error.type == "StepTimeout"
    assert (result.steps["stuck"].duration_s or 0) >= 0.2  # it ran from its start until it was abandoned
    assert result.steps["after"].status == "succeeded"
    assert time.monotonic() - started < 60  # far below the 120 s (or more) it would take


def test_the_process_executor_kills_a_worker_stuck_in_a_c_call_and_keeps_going():
    started = time.monotonic()
    result = run(
        """
        max_parallel: 1
        steps:
          - {name: stuck, module: engine_steps, function: block, args: {seconds: 180}, timeout: 0.5}
          - {name: after, module: engine_steps, function: pid, depends_on: [stuck], trigger: always}
        """,
        executor="process",
        grace_s=0.5,
    )
    assert result.steps["stuck"].error is not None and result.steps["stuck"].error.type == "StepTimeout"
    assert result.steps["after"].status == "succeeded"
    assert time.monotonic() - started < 90  # far below the 180 s it would take unkilled


def test_teardown_runs_when_a_step_times_out(tmp_path):
    log = tmp_path / "log"
    run(
        f"""
        steps:
          - name: slow
            module: engine_steps
            function: Lifecycle
            timeout: 0.3
            args: {{log: "{log}", wait: 30}}
        """
    )
    assert log.read_text().splitlines()[-1] == "teardown:StepCancelled"


def test_a_timed_out_step_is_retried_when_attempts_remain(tmp_path):
    result = run(
        """
        steps:
          - {name: slow, module: engine_steps, function: spin, args: {seconds: 30}, timeout: 0.2, retry: {attempts: 2}}
        """
    )
    assert (result.steps["slow"].attempts, result.steps["slow"].status) == (2, "failed")


def test_a_run_timeout_stops_running_steps_and_fails_the_run():
    started = time.monotonic()
    result = run(
        """
        timeout: 0.5
        steps:
          - {name: slow, module: engine_steps, function: spin, args: {seconds: 120}}
          - {name: later, module: engine_steps, function: noop, depends_on: [slow]}
        """
    )
    assert result.status == "failed"
    assert result.error is not None and result.error.message == "the run timed out after 0.5s"
    assert result.steps["slow"].status == "cancelled"
    assert result.steps["later"].status in ("skipped", "pending")
    assert time.monotonic() - started < 60  # far below the 120 s (or more) it would take


def test_a_finished_run_does_not_wait_for_step_timeouts_to_expire():
    started = time.monotonic()
    run("defaults: {timeout: 300s}\nsteps: [{name: a, module: engine_steps, function: noop}]")
    assert time.monotonic() - started < 60  # far below the 120 s (or more) it would take


def test_a_step_timeout_counts_from_when_the_step_starts_not_from_when_it_was_queued():
    result = run(
        """
        max_parallel: 1
        steps:
          - {name: first, uses: sleep, args: {seconds: 0.5}}
          - {name: queued, uses: sleep, args: {seconds: 0.1}, timeout: 0.4}
        """
    )
    assert result.steps["queued"].status == "succeeded"


def test_a_queued_step_reports_its_real_start_time():
    bus = EventBus()
    starts: dict[str, float] = {}

    def remember(event: Event) -> None:
        if isinstance(event, AttemptStarted):
            starts.setdefault(event.step, event.at)

    bus.subscribe(remember)
    result = run(
        """
        max_parallel: 1
        steps:
          - {name: first, uses: sleep, args: {seconds: 0.2}}
          - {name: second, module: engine_steps, function: noop}
        """,
        bus=bus,
    )
    assert starts["second"] >= (result.steps["first"].finished_at or 0)


def test_a_process_worker_booting_does_not_count_against_the_first_step_timeout(tmp_path, monkeypatch):
    # Every worker takes 4 s to boot (a sitecustomize that sleeps), longer than the 3 s timeout;
    # the steps themselves take 0.1 s, so they pass only if the timeout counts from the worker
    # being ready, however busy the machine is.
    (tmp_path / "sitecustomize.py").write_text("import time\ntime.sleep(4)\n", encoding="utf-8")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    bus = EventBus()
    finished: list[AttemptFinished] = []
    bus.subscribe(lambda event: finished.append(event) if isinstance(event, AttemptFinished) else None)
    result = run(
        """
        max_parallel: 2
        steps:
          - {name: a, uses: sleep, args: {seconds: 0.1}, timeout: 3}
          - {name: b, uses: sleep, args: {seconds: 0.1}, timeout: 3}
        """,
        executor="process",
        bus=bus,
        store=None,
    )
    assert [result.steps[n].status for n in ("a", "b")] == ["succeeded", "succeeded"]
    assert sorted(event.step for event in finished) == ["a", "b"]  # one attempt each, none timed out
    assert (result.duration_s or 0) > 4  # the workers did take longer to boot than the timeout


def test_a_failure_elsewhere_cancels_waiting_retries_and_the_step_keeps_its_error(tmp_path):
    started = time.monotonic()
    result = run(
        f"""
        steps:
          - name: flaky
            module: engine_steps
            function: flaky
            retry: {{attempts: 3, delay: 120s}}
            args: {{counter: "{tmp_path / "n"}", failures: 5}}
          - {{name: other, module: engine_steps, function: fail, args: {{message: broken}}}}
        """
    )
    assert time.monotonic() - started < 60  # far below the 120 s (or more) it would take
    step = result.steps["flaky"]
    assert step.status == "failed"
    assert step.error is not None and (step.error.type, step.error.message) == ("ConnectionError", "failure 1")


def test_the_inline_executor_reports_a_step_that_ran_past_its_timeout():
    result = run("steps: [{name: slow, uses: sleep, args: {seconds: 0.3}, timeout: 0.1}]", executor="inline")
    assert result.steps["slow"].error is not None and result.steps["slow"].error.type == "StepTimeout"
