"""The scheduler: parallelism, dependencies, when/skip propagation, trigger: always, failures, foreach."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

import framework0
from framework0 import EventBus, RunResult
from framework0.events import AttemptFinished, StepFinished

HERE = Path(__file__).parent


def run(text: str, **options) -> RunResult:
    recipe = framework0.load_recipe_text(textwrap.dedent(text), file="t.yaml", base_dir=HERE)
    return framework0.run(recipe, **options)


def overlaps(result: RunResult, a: str, b: str) -> bool:
    first, second = result.steps[a], result.steps[b]
    assert first.started_at and first.finished_at and second.started_at and second.finished_at
    return first.started_at < second.finished_at and second.started_at < first.finished_at


def test_independent_steps_run_at_the_same_time():
    result = run(
        """
        max_parallel: 2
        steps:
          - {name: a, uses: sleep, args: {seconds: 0.3}}
          - {name: b, uses: sleep, args: {seconds: 0.3}}
        """
    )
    assert result.status == "succeeded"
    assert overlaps(result, "a", "b")


def test_max_parallel_one_runs_steps_one_after_another():
    result = run(
        """
        max_parallel: 1
        steps:
          - {name: a, uses: sleep, args: {seconds: 0.1}}
          - {name: b, uses: sleep, args: {seconds: 0.1}}
        """
    )
    assert not overlaps(result, "a", "b")


def test_a_step_starts_after_the_steps_it_depends_on_finish():
    result = run(
        """
        steps:
          - {name: a, uses: sleep, args: {seconds: 0.1}}
          - {name: b, uses: sleep, args: {seconds: 0.1}}
          - {name: c, module: engine_steps, function: noop, depends_on: [a, b]}
        """
    )
    c = result.steps["c"]
    assert c.started_at is not None
    assert c.started_at >= max(result.steps["a"].finished_at or 0, result.steps["b"].finished_at or 0)


def test_outputs_flow_through_templates_with_their_python_types():
    result = run(
        """
        steps:
          - {name: a, module: engine_steps, function: echo, args: {value: [1, 2, 3]}}
          - {name: b, module: engine_steps, function: add, args: {a: "{{ steps.a.output | sum }}", b: 4}}
          - {name: c, module: engine_steps, function: echo, args: {value: "{{ steps.a.output }}"}}
        """
    )
    assert result.steps["b"].output == 10
    assert result.steps["c"].output == [1, 2, 3]


def test_sequential_recipes_run_in_idx_order():
    result = run(
        """
        sequential: true
        steps:
          - {idx: 2, name: second, uses: sleep, args: {seconds: 0.05}}
          - {idx: 1, name: first, uses: sleep, args: {seconds: 0.05}}
        """
    )
    assert (result.steps["first"].finished_at or 0) <= (result.steps["second"].started_at or 0)


def test_a_false_when_skips_the_step_and_its_dependents():
    result = run(
        """
        params: {region: none}
        steps:
          - {name: a, module: engine_steps, function: noop, when: "params.region != 'none'"}
          - {name: b, module: engine_steps, function: noop, depends_on: [a]}
          - {name: cleanup, module: engine_steps, function: noop, depends_on: [b], trigger: always}
        """
    )
    assert [result.steps[n].status for n in ("a", "b", "cleanup")] == ["skipped", "skipped", "succeeded"]
    assert result.status == "succeeded"


def test_when_reads_params_overridden_at_run_time():
    text = """
        params: {region: none}
        steps:
          - {name: a, module: engine_steps, function: noop, when: "{{ params.region == 'eu' }}"}
        """
    assert run(text, params={"region": "eu"}).steps["a"].status == "succeeded"


def test_a_failed_step_fails_the_run_and_skips_its_dependents_but_not_cleanup():
    result = run(
        """
        steps:
          - {name: a, module: engine_steps, function: fail, args: {message: broken}}
          - {name: b, module: engine_steps, function: noop, depends_on: [a]}
          - {name: cleanup, module: engine_steps, function: noop, depends_on: [b], trigger: always}
        """
    )
    assert result.status == "failed"
    assert result.steps["a"].error is not None
    assert (result.steps["a"].error.type, result.steps["a"].error.message) == ("ValueError", "broken")
    assert result.steps["b"].status == "skipped"
    assert result.steps["cleanup"].status == "succeeded"
    assert result.error is not None and result.error.message == "step 'a' failed: ValueError: broken"


def test_a_failure_starts_no_new_steps_and_leaves_them_pending():
    result = run(
        """
        max_parallel: 1
        sequential: false
        steps:
          - {name: a, module: engine_steps, function: fail}
          - {name: b, module: engine_steps, function: noop}
          - {name: c, module: engine_steps, function: noop}
        """
    )
    assert result.steps["a"].status == "failed"
    assert {result.steps["b"].status, result.steps["c"].status} == {"pending"}


def test_continue_on_error_lets_the_other_branches_run_and_the_run_succeed():
    result = run(
        """
        max_parallel: 1
        steps:
          - {name: a, module: engine_steps, function: fail, continue_on_error: true}
          - {name: c, module: engine_steps, function: noop}
        """
    )
    assert result.steps["a"].status == "failed"
    assert result.steps["c"].status == "succeeded"
    assert result.status == "succeeded"


def test_continue_on_error_runs_the_dependents_as_if_the_step_had_passed():
    result = run(
        """
        steps:
          - {name: a, module: engine_steps, function: fail, continue_on_error: true}
          - {name: b, module: engine_steps, function: echo, args: {value: "{{ steps.a.status }}"}}
          - {name: c, module: engine_steps, function: noop, depends_on: [b]}
        """
    )
    assert [result.steps[name].status for name in "abc"] == ["failed", "succeeded", "succeeded"]
    assert result.steps["b"].output == "failed"
    assert result.steps["a"].error is not None
    assert result.status == "succeeded"


def test_a_dependent_of_a_tolerated_failure_can_refuse_to_run_with_when():
    result = run(
        """
        steps:
          - {name: a, module: engine_steps, function: fail, continue_on_error: true}
          - name: b
            module: engine_steps
            function: noop
            depends_on: [a]
            when: "{{ steps.a.status == 'succeeded' }}"
          - {name: c, module: engine_steps, function: noop, depends_on: [b]}
        """
    )
    assert [result.steps[name].status for name in "abc"] == ["failed", "skipped", "skipped"]
    assert result.steps["b"].reason == "'when' was false"


def test_a_tolerated_foreach_failure_lets_its_dependents_run_with_the_outputs_it_has():
    result = run(
        """
        steps:
          - name: a
            module: engine_steps
            function: add
            foreach: [1, 0, 3]
            args: {a: "{{ 6 // item }}", b: 0}
            continue_on_error: true
          - {name: b, module: engine_steps, function: echo, args: {value: "{{ steps.a.output }}"}}
        """
    )
    assert result.steps["a"].status == "failed"
    assert result.steps["b"].status == "succeeded"
    assert result.steps["b"].output == [6, None, 2]
    assert result.status == "succeeded"


def test_an_untolerated_failure_still_skips_its_dependents():
    result = run(
        """
        steps:
          - {name: a, module: engine_steps, function: fail}
          - {name: b, module: engine_steps, function: noop, depends_on: [a]}
        """
    )
    assert result.steps["b"].status == "skipped"
    assert result.status == "failed"


def test_foreach_runs_one_unit_per_item_and_keeps_outputs_in_item_order():
    bus = EventBus()
    events: list[object] = []
    bus.subscribe(events.append)
    result = run(
        """
        steps:
          - {name: items, module: engine_steps, function: echo, args: {value: [3, 1, 2]}}
          - name: double
            module: engine_steps
            function: add
            foreach: "{{ steps.items.output }}"
            args: {a: "{{ item }}", b: "{{ index }}"}
        """,
        bus=bus,
    )
    step = result.steps["double"]
    assert step.output == [3, 2, 4]
    assert (step.items, step.attempts, step.status) == (3, 1, "succeeded")
    items = sorted(e.item or 0 for e in events if isinstance(e, AttemptFinished) and e.step == "double")
    assert items == [0, 1, 2]


def test_foreach_over_an_empty_list_succeeds_with_an_empty_output():
    result = run(
        """
        steps:
          - {name: each, module: engine_steps, function: echo, foreach: [], args: {value: "{{ item }}"}}
        """
    )
    assert (result.steps["each"].status, result.steps["each"].output, result.steps["each"].items) == (
        "succeeded",
        [],
        0,
    )


def test_foreach_that_does_not_give_a_list_fails_the_step_with_a_clear_error():
    result = run(
        """
        steps:
          - {name: a, module: engine_steps, function: echo, args: {value: {k: 1}}}
          - {name: each, module: engine_steps, function: echo, foreach: "{{ steps.a.output }}", args: {value: 1}}
        """
    )
    error = result.steps["each"].error
    assert error is not None and error.message == "'foreach' must give a list, got dict {'k': 1}"


def test_a_failing_foreach_item_fails_the_step():
    result = run(
        """
        steps:
          - name: each
            module: engine_steps
            function: add
            foreach: [1, "x", 3]
            args: {a: "{{ item }}", b: 1}
        """
    )
    assert result.steps["each"].status == "failed"
    assert result.steps["each"].output[0] == 2


def test_a_step_output_that_is_not_json_fails_with_a_message_naming_the_step():
    result = run("steps: [{name: odd, module: engine_steps, function: not_json}]")
    error = result.steps["odd"].error
    assert error is not None and error.type == "OutputError"
    assert error.message.startswith("step 'odd' returned set {1, 2, 3}, which is not JSON")


def test_template_errors_at_run_time_fail_the_step_without_retrying():
    result = run(
        """
        steps:
          - {name: a, module: engine_steps, function: echo, args: {value: {x: 1}}}
          - name: b
            module: engine_steps
            function: echo
            retry: {attempts: 3}
            args: {value: "{{ steps.a.output.missing }}"}
        """
    )
    step = result.steps["b"]
    assert (step.status, step.attempts) == ("failed", 1)
    assert step.error is not None and step.error.type == "TemplateError"


def test_every_step_gets_one_finished_event_and_events_come_in_order():
    bus = EventBus()
    events: list[object] = []
    bus.subscribe(events.append)
    run(
        """
        steps:
          - {name: a, module: engine_steps, function: noop}
          - {name: b, module: engine_steps, function: noop, depends_on: [a]}
        """,
        bus=bus,
    )
    kinds = [type(e).__name__ for e in events]
    assert kinds[0] == "RunStarted" and kinds[-1] == "RunFinished"
    finished = [e.step for e in events if isinstance(e, StepFinished)]
    assert finished == ["a", "b"]
    assert kinds.index("StepStarted") < kinds.index("AttemptStarted") < kinds.index("AttemptFinished")


def test_a_long_chain_whose_head_fails_skips_every_step_without_recursion_errors():
    steps = ["steps:", "  - {name: s0, module: engine_steps, function: fail}"]
    steps += [
        f"  - {{name: s{i}, module: engine_steps, function: noop, depends_on: [s{i - 1}]}}" for i in range(1, 3000)
    ]
    result = run("\n".join(steps))
    assert result.steps["s2999"].status == "skipped"


def test_a_step_that_fails_while_being_prepared_takes_no_worker_from_the_step_ready_with_it(tmp_path):
    marker = tmp_path / "ran"
    result = run(
        f"""
        max_parallel: 1
        steps:
          - {{name: a, module: engine_steps, function: echo, args: {{value: "{{{{ 'x' * 200000 }}}}"}}}}
          - {{name: b, uses: shell, args: {{cmd: "touch {marker}"}}}}
        """
    )
    assert result.steps["a"].status == "failed"
    assert result.steps["b"].status == "succeeded"
    assert marker.exists()


def test_steps_are_listed_in_idx_order_in_the_result():
    result = run(
        """
        steps:
          - {idx: 3, name: c, module: engine_steps, function: noop}
          - {idx: 1, name: a, module: engine_steps, function: noop}
          - {name: z, module: engine_steps, function: noop}
          - {idx: 2, name: b, module: engine_steps, function: noop}
        """
    )
    assert list(result.steps) == ["a", "b", "c", "z"]


def test_templates_see_the_run_id_and_its_start_as_iso_text():
    result = run("steps: [{name: a, module: engine_steps, function: echo, args: {value: '{{ run.started_at }}'}}]")
    assert result.steps["a"].output.startswith(str(__import__("datetime").date.today().year))


BROKEN_TEMPLATES = {
    "args": "function: echo, args: {value: '{{ 6 // params.zero }}'}",
    "when": "function: noop, when: '{{ 6 // params.zero }}'",
    "foreach": "function: noop, foreach: '{{ range(6 // params.zero) }}'",
}


@pytest.mark.parametrize("where", sorted(BROKEN_TEMPLATES))
@pytest.mark.parametrize("max_parallel", [1, 4])
def test_a_step_whose_template_fails_does_not_keep_the_steps_ready_with_it_from_starting(where, max_parallel):
    result = run(
        f"""
        params: {{zero: 0}}
        max_parallel: {max_parallel}
        steps:
          - {{name: broken, module: engine_steps, {BROKEN_TEMPLATES[where]}}}
          - {{name: first, module: engine_steps, function: noop}}
          - {{name: second, module: engine_steps, function: noop}}
          - {{name: after, module: engine_steps, function: noop, depends_on: [first]}}
        """
    )
    assert result.steps["broken"].status == "failed"
    assert result.steps["broken"].error is not None and "division" in result.steps["broken"].error.message
    assert result.steps["first"].status == "succeeded"
    # with one worker, the next in line waits for it, as after any failure; otherwise it ran too
    assert result.steps["second"].status == ("pending" if max_parallel == 1 else "succeeded")
    assert result.steps["after"].status == "pending"  # ready only after the failure: not started
    assert result.status == "failed"


@pytest.mark.parametrize("max_parallel", [1, 4])
def test_a_step_whose_condition_fails_later_in_the_run_does_not_keep_its_siblings_from_starting(max_parallel):
    result = run(
        f"""
        params: {{zero: 0}}
        max_parallel: {max_parallel}
        steps:
          - {{name: first, module: engine_steps, function: noop}}
          - name: broken
            module: engine_steps
            function: noop
            depends_on: [first]
            when: "{{{{ 1 // params.zero }}}}"
          - {{name: sibling, module: engine_steps, function: echo, args: {{value: ran}}, depends_on: [first]}}
        """
    )
    assert result.steps["broken"].status == "failed"
    assert (result.steps["sibling"].status, result.steps["sibling"].output) == ("succeeded", "ran")
