"""Scriptlet lifecycle, the shared context across steps and executors, and per-attempt resource figures."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

import framework0
from framework0 import RunResult
from framework0.context.changes import Change
from framework0.engine.runner import WORKER_LOSSES_ALLOWED, Runner
from framework0.events import ContextChanged

HERE = Path(__file__).parent
EXECUTORS = ["inline", "local", "process"]


def run(text: str, **options) -> RunResult:
    recipe = framework0.load_recipe_text(textwrap.dedent(text), file="t.yaml", base_dir=HERE)
    return framework0.run(recipe, **options)


def test_lifecycle_is_validate_setup_run_teardown(tmp_path):
    log = tmp_path / "log"
    run(f"steps: [{{name: a, module: engine_steps, function: Lifecycle, args: {{log: '{log}'}}}}]")
    # validate runs once at load time (static args) and setup/run/teardown once per attempt
    assert log.read_text().splitlines() == ["validate", "setup", "run", "teardown:None"]


def test_teardown_receives_the_error_of_run_and_every_attempt_gets_a_lifecycle(tmp_path):
    log = tmp_path / "log"
    result = run(
        f"""
        steps:
          - {{name: a, module: engine_steps, function: Lifecycle, retry: 2, args: {{log: '{log}', fail: true}}}}
        """
    )
    assert result.steps["a"].attempts == 2
    lines = log.read_text().splitlines()
    assert lines.count("teardown:RuntimeError") == 2
    assert lines.count("setup") == 2


@pytest.mark.parametrize("executor", EXECUTORS)
def test_context_written_by_one_step_is_read_by_the_next(executor):
    result = run(
        """
        steps:
          - {name: write, module: engine_steps, function: write_context, args: {key: db.host, value: h1}}
          - {name: read, module: engine_steps, function: read_context, args: {key: db.host}, depends_on: [write]}
          - name: templ
            module: engine_steps
            function: echo
            args: {value: "{{ ctx['db.host'] }}"}
            depends_on: [write]
        """,
        executor=executor,
    )
    assert result.steps["read"].output == "h1"
    assert result.steps["templ"].output == "h1"
    assert result.context == {"db.host": "h1"}


@pytest.mark.parametrize("executor", EXECUTORS)
def test_context_history_records_the_step_attempt_and_node_of_each_change(executor):
    recipe = framework0.load_recipe_text(
        textwrap.dedent(
            """
            steps:
              - {name: one, uses: set_context, args: {values: {a: 1, b: 2}}}
              - {name: two, uses: set_context, args: {values: {a: 3}}, depends_on: [one]}
            """
        ),
        file="t.yaml",
        base_dir=HERE,
    )
    bus = framework0.EventBus()
    changes: list[Change] = []
    bus.subscribe(lambda event: changes.extend(event.changes) if isinstance(event, ContextChanged) else None)
    result = framework0.run(recipe, executor=executor, bus=bus)
    assert result.context == {"a": 3, "b": 2}
    assert [c.version for c in changes] == [1, 1, 2]
    last = changes[-1]
    assert (last.key, last.old, last.new, last.source.step, last.source.attempt) == ("a", 1, 3, "two", 1)
    assert last.source.node


def test_a_context_value_holding_template_syntax_stays_literal():
    result = run(
        """
        steps:
          - {name: write, module: engine_steps, function: write_context, args: {key: k, value: "{{ '{{ 7*7 }}' }}"}}
          - {name: read, module: engine_steps, function: echo, args: {value: "{{ ctx.k }}"}, depends_on: [write]}
        """
    )
    assert result.steps["read"].output == "{{ 7*7 }}"


@pytest.mark.parametrize("executor", EXECUTORS)
def test_every_attempt_reports_cpu_time_and_peak_memory(executor):
    result = run(
        """
        steps:
          - {name: cpu, module: engine_steps, function: burn_cpu, args: {seconds: 0.2}}
          - {name: memory, module: engine_steps, function: allocate, args: {megabytes: 200, seconds: 0.2}}
        """,
        executor=executor,
    )
    assert result.steps["cpu"].cpu_s >= 0.15
    assert result.steps["memory"].peak_rss_bytes >= 200 * 1024 * 1024
    assert result.steps["cpu"].duration_s is not None and result.steps["cpu"].duration_s >= 0.15


@pytest.mark.parametrize("executor", EXECUTORS)
def test_even_an_instant_step_reports_the_peak_memory_of_its_process(executor):
    result = run("steps: [{name: quick, module: engine_steps, function: noop}]", executor=executor)
    assert result.steps["quick"].peak_rss_bytes > 10 * 1024 * 1024


def test_the_process_executor_runs_steps_in_other_processes():
    import os

    result = run("steps: [{name: where, module: engine_steps, function: pid}]", executor="process")
    assert result.steps["where"].output != os.getpid()


def test_a_worker_process_that_dies_is_replaced_and_its_attempt_tried_again_a_bounded_number_of_times(tmp_path):
    script = tmp_path / "crash_steps.py"
    script.write_text("import os\n\ndef crash() -> None:\n    os._exit(3)\n\ndef fine() -> str:\n    return 'ok'\n")
    recipe = framework0.load_recipe_text(
        textwrap.dedent(
            """
            steps:
              - {name: crash, module: crash_steps, function: crash, continue_on_error: true}
              - {name: fine, module: crash_steps, function: fine, depends_on: [crash], trigger: always}
            """
        ),
        file="t.yaml",
        base_dir=tmp_path,
    )
    result = framework0.run(recipe, executor="process")
    error = result.steps["crash"].error
    assert error is not None and error.type == "WorkerLost"
    assert error.message == "the worker process died (exit code 3) during the attempt"
    assert result.steps["crash"].attempts == 1 + WORKER_LOSSES_ALLOWED
    assert result.steps["fine"].output == "ok"


def test_stopping_a_step_never_tears_a_context_change_in_half():
    for _ in range(10):
        recipe = framework0.load_recipe_text(
            "steps: [{name: w, module: engine_steps, function: write_forever, timeout: 0.05}]",
            file="t.yaml",
            base_dir=HERE,
        )
        runner = Runner(recipe, grace_s=1)
        result = runner.run()
        assert result.steps["w"].error is not None and result.steps["w"].error.type == "StepTimeout"
        history = runner.state.history()
        assert runner.state.version == len({change.version for change in history})
        assert len(set(result.context.values())) == 1  # every batch applied whole
        assert {change.key: change.new for change in history} == result.context


def test_a_process_worker_sees_the_context_as_its_step_starts_not_as_it_was_queued():
    result = run(
        """
        max_parallel: 1
        steps:
          - {name: a, module: engine_steps, function: write_context, args: {key: k, value: from-a}}
          - {name: b, module: engine_steps, function: read_context, args: {key: k}}
        """,
        executor="process",
    )
    assert result.steps["b"].output == "from-a"


def test_one_process_executor_serves_one_run_after_another():
    from framework0.engine.executors.process import ProcessExecutor

    executor = ProcessExecutor()
    text = """
        steps:
          - {name: stuck, module: engine_steps, function: block, args: {seconds: 30}, timeout: 0.3}
          - {name: after, module: engine_steps, function: noop, depends_on: [stuck], trigger: always}
        """
    for _ in range(2):
        result = run(text, executor=executor, grace_s=0.3, timeout=20)
        assert result.steps["after"].status == "succeeded"


def test_a_script_without_a_main_guard_fails_with_advice_instead_of_hanging(tmp_path):
    import subprocess
    import sys

    (tmp_path / "r.yaml").write_text("steps: [{name: a, uses: hello_world}]\n")
    (tmp_path / "script.py").write_text(
        "import framework0\nresult = framework0.run('r.yaml', executor='process')\nprint(result.steps['a'].error)\n"
    )
    done = subprocess.run([sys.executable, "script.py"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert "if __name__ == '__main__':" in done.stdout


def test_the_python_built_in_imports_modules_next_to_the_recipe(tmp_path, monkeypatch):
    folder = tmp_path / "recipes"
    folder.mkdir()
    (folder / "beside_recipe_tasks.py").write_text("def double(x):\n    return 2 * x\n")
    (folder / "r.yaml").write_text(
        "steps: [{name: a, uses: python, args: {call: 'beside_recipe_tasks:double', args: [21]}}]\n"
    )
    monkeypatch.chdir(tmp_path)
    assert framework0.run(folder / "r.yaml").steps["a"].output == 42


@pytest.mark.parametrize(
    ("call", "arg"), [("math:factorial", 3000), ("builtins:float", "nan"), ("builtins:float", "inf")]
)
def test_an_output_json_cannot_hold_fails_the_step_instead_of_the_report(call, arg):
    result = run(f"steps: [{{name: a, uses: python, args: {{call: '{call}', args: [{arg!r}]}}}}]")
    step = result.steps["a"]
    assert step.status == "failed"
    assert step.error is not None and step.error.type == "OutputError"
    assert "NaN" not in result.to_json() and "Infinity" not in result.to_json()


def test_a_user_module_named_like_the_standard_library_does_not_shadow_it(tmp_path):
    (tmp_path / "email.py").write_text("raise RuntimeError('the user email.py')\n")
    (tmp_path / "shadow_tasks.py").write_text("def one():\n    return 1\n")
    (tmp_path / "r.yaml").write_text(
        "steps:\n  - {name: a, module: shadow_tasks, function: one}\n  - {name: b, uses: http, args: {url: 'x'}}\n"
    )
    recipe = framework0.load_recipe(tmp_path / "r.yaml")
    assert [step.name for step in recipe.steps] == ["a", "b"]
