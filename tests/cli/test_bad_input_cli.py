"""Hostile or odd input through the ``f0`` command line (in process): a one-line error and exit 2, never a crash.

Templates nested a thousand levels deep, include chains hundreds of files long, numbers JSON cannot
hold, values of 100,000 characters and file names with a newline, as ``f0 validate`` and ``f0 run``
see them (issue 13, items 10, 11, 12 and 16).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from tests.helpers import invoke

LONG_SUM = "+".join(["1"] * 1000)
TOO_DEEP = "template too deeply nested (more than 50 levels)"

PARAMS = """\
params:
  l: [1]
  a: {type: any, default: 1}
  d: {k: 1}
  n: 1
steps:
  - name: greet
    uses: hello_world
"""


def diagnostics(process: subprocess.CompletedProcess[str]) -> list[str]:
    """The FILE:LINE:COL lines of a refused recipe (exit 2, a count line last, no traceback)."""
    assert process.returncode == 2, process.stdout + process.stderr
    assert "Traceback" not in process.stderr and "internal error" not in process.stderr
    *lines, count = process.stderr.splitlines()
    assert count.startswith(f"{len(lines)} error"), process.stderr
    return lines


def one_line(process: subprocess.CompletedProcess[str]) -> str:
    """The one line a refused command printed on stderr (exit 2, nothing on stdout)."""
    assert process.returncode == 2, process.stdout + process.stderr
    assert process.stdout == ""
    lines = process.stderr.splitlines()
    assert len(lines) == 1, process.stderr
    return lines[0]


# -- item 10: no RecursionError, a limit at FILE:LINE:COL ---------------------------------------------


@pytest.mark.parametrize(
    "step",
    [
        "{name: s, uses: hello_world, args: {name: '{{ %s }}'}}",
        "{name: s, uses: hello_world, when: '%s > 1'}",
        "{name: s, uses: hello_world, foreach: '{{ [%s] }}'}",
        "{name: s, uses: assert, args: {that: '%s > 1'}}",
    ],
    ids=["args", "when", "foreach", "assert"],
)
@pytest.mark.parametrize("command", ["validate", "run"])
def test_a_template_of_1000_terms_is_refused_at_its_place(tmp_path: Path, command: str, step: str) -> None:
    (tmp_path / "r.yaml").write_text("steps:\n  - " + step % LONG_SUM + "\n")
    (line,) = diagnostics(invoke(command, "r.yaml", cwd=tmp_path))
    assert line.startswith(f"r.yaml:2:{step.index(chr(39)) + 5}: template error: {TOO_DEEP} (at ")


def test_250_nested_ifs_and_a_long_attribute_chain_are_refused(tmp_path: Path) -> None:
    ifs = "{% if true %}" * 250 + "x" + "{% endif %}" * 250
    (tmp_path / "r.yaml").write_text(
        f"steps:\n  - {{name: a, uses: hello_world, args: {{name: '{ifs}'}}}}\n"
        f"  - {{name: b, uses: hello_world, args: {{name: '{{{{ params{'.x' * 1000} }}}}'}}}}\n"
    )
    lines = diagnostics(invoke("validate", "r.yaml", cwd=tmp_path))
    assert [line.split(": template error: ")[1].split(" (at ")[0] for line in lines] == [TOO_DEEP, TOO_DEEP]


def test_a_chain_of_500_includes_is_refused_where_it_goes_past_50(tmp_path: Path) -> None:
    for number in range(1, 500):
        (tmp_path / f"f{number}.yaml").write_text(f"include: [f{number + 1}.yaml]\n")
    (tmp_path / "f500.yaml").write_text("params: {x: 1}\n")
    (tmp_path / "main.yaml").write_text("include: [f1.yaml]\nsteps:\n  - {name: a, uses: hello_world}\n")
    for command in ("validate", "run"):
        assert diagnostics(invoke(command, "main.yaml", cwd=tmp_path)) == [
            "f50.yaml:1:11: include chain deeper than 50 files "
            "(main.yaml -> f1.yaml -> f2.yaml -> ... -> f50.yaml -> f51.yaml)"
        ]


def test_a_template_rendered_only_at_run_time_fails_its_step_not_the_runner(tmp_path: Path) -> None:
    (tmp_path / "deep.j2").write_text("{{ " + LONG_SUM + " }}")
    (tmp_path / "r.yaml").write_text(
        "steps:\n  - {name: page, uses: files, args: {action: render, template: deep.j2, path: out.txt}}\n"
    )
    process = invoke("run", "r.yaml", "--json", cwd=tmp_path)
    assert process.returncode == 1, process.stderr
    error = json.loads(process.stdout)["steps"]["page"]["error"]
    assert error == {"type": "TemplateSecurityError", "message": TOO_DEEP}


# -- item 11: no NaN or infinity from -p --------------------------------------------------------------


@pytest.mark.parametrize(
    ("assignment", "message"),
    [
        ("l=[1e999]", "param 'l' holds 1e999, which is not a finite number (JSON has no NaN or infinity)"),
        ("a=1e999", "param 'a' holds 1e999, which is not a finite number (JSON has no NaN or infinity)"),
        ('d={"k": [-1e999]}', "param 'd' holds -1e999, which is not a finite number (JSON has no NaN or infinity)"),
        ("l=[.nan]", "param 'l' holds nan, which is not a finite number (JSON has no NaN or infinity)"),
    ],
)
def test_a_non_finite_number_on_the_command_line_is_refused(tmp_path: Path, assignment: str, message: str) -> None:
    (tmp_path / "r.yaml").write_text(PARAMS)
    assert one_line(invoke("run", "r.yaml", "-p", assignment, "--json", cwd=tmp_path)) == f"error: {message}"


def test_the_json_of_a_run_with_list_params_is_json(tmp_path: Path) -> None:
    (tmp_path / "r.yaml").write_text(PARAMS.replace("uses: hello_world", "uses: hello_world\n    args: {name: x}"))
    process = invoke("run", "r.yaml", "-p", "l=[1e300, 2]", "--json", cwd=tmp_path)
    assert process.returncode == 0, process.stderr
    json.loads(process.stdout, parse_constant=lambda name: pytest.fail(f"{name} in the run's JSON"))


# -- item 12: values cut in messages, odd file names quoted --------------------------------------------


def test_a_100000_digit_int_on_the_command_line_gives_a_short_line(tmp_path: Path) -> None:
    (tmp_path / "r.yaml").write_text(PARAMS)
    line = one_line(invoke("run", "r.yaml", "-p", "n=" + "1" * 100_000, cwd=tmp_path))
    assert line == "error: param 'n' is an integer of 100000 digits; at most 4300 are allowed"


def test_a_deep_list_on_the_command_line_gives_a_short_line(tmp_path: Path) -> None:
    (tmp_path / "r.yaml").write_text(PARAMS)
    for text in ("[" * 5000 + "]" * 5000, "[" * 100 + "]" * 100):
        assert one_line(invoke("run", "r.yaml", "-p", "l=" + text, cwd=tmp_path)) == (
            "error: param 'l' is nested deeper than 64 levels"
        )
    line = one_line(invoke("run", "r.yaml", "-p", "d=" + "[" * 5000, cwd=tmp_path))
    assert line.startswith("error: param 'd' ") and len(line) < 200


def test_a_100000_digit_int_in_a_recipe_gives_a_short_line(tmp_path: Path) -> None:
    (tmp_path / "r.yaml").write_text("params:\n  n: " + "1" * 100_000 + "\nsteps: [{name: a, uses: hello_world}]\n")
    assert diagnostics(invoke("validate", "r.yaml", cwd=tmp_path)) == [
        "r.yaml:2:6: integer '" + "1" * 56 + "... is too large (more than 4300 digits); quote it to use it as text"
    ]


def test_a_huge_arg_a_scriptlet_refuses_is_cut_in_its_message(tmp_path: Path) -> None:
    (tmp_path / "r.yaml").write_text("steps: [{name: a, uses: hello_world, args: {name: " + "9" * 4000 + "}}]\n")
    (line,) = diagnostics(invoke("validate", "r.yaml", cwd=tmp_path))
    assert line.startswith("r.yaml:1:") and "arg 'name': Input should be a valid string" in line
    assert len(line) < 200


def test_a_recipe_file_name_with_a_newline_is_quoted(tmp_path: Path) -> None:
    (tmp_path / "my\nrecipe.yaml").write_text("steps: [{name: a, uses: hello_wrld}]\n")
    assert diagnostics(invoke("validate", "my\nrecipe.yaml", cwd=tmp_path)) == [
        "'my\\nrecipe.yaml':1:25: unknown scriptlet 'hello_wrld' (did you mean 'hello_world'?); "
        "run 'f0 scriptlets list' to see them all"
    ]


# -- item 16: what f0 validate used to miss ------------------------------------------------------------


def test_validate_checks_the_fields_an_assert_reads(tmp_path: Path) -> None:
    (tmp_path / "r.yaml").write_text(
        "steps:\n  - {name: latency, uses: hello_world}\n"
        "  - {name: check, uses: assert, args: {that: 'steps.latency.outptu > 1'}}\n"
    )
    assert diagnostics(invoke("validate", "r.yaml", cwd=tmp_path)) == [
        "r.yaml:3:46: template reads steps.latency.outptu: a step has 'output' and 'status' (did you mean 'output'?)"
    ]


def test_validate_refuses_an_empty_list_of_steps(tmp_path: Path) -> None:
    (tmp_path / "r.yaml").write_text("steps: []\n")
    assert diagnostics(invoke("validate", "r.yaml", cwd=tmp_path)) == [
        "r.yaml:1:8: the recipe has no steps; add at least one under 'steps:'"
    ]


def test_validate_reports_a_duplicate_steps_own_errors_and_a_wrong_function_at_its_line(tmp_path: Path) -> None:
    (tmp_path / "r.yaml").write_text(
        "steps:\n"
        "  - {name: a, uses: hello_world}\n"
        "  - {name: a, uses: hello_world, timeout: soon}\n"
        "  - name: b\n"
        "    module: scriptlets.steps.hello_world\n"
        "    function: HelloWorldScriptle\n"
    )
    assert diagnostics(invoke("validate", "r.yaml", cwd=tmp_path)) == [
        "r.yaml:3:12: duplicate step name 'a' (first defined at 2:12)",
        "r.yaml:3:43: 'timeout': expected a duration like 500ms, 30s, 5m, 1h or a number of seconds, got 'soon'",
        "r.yaml:6:15: module 'framework0.scriptlets.steps.hello_world' has no attribute 'HelloWorldScriptle' "
        "(did you mean 'HelloWorldScriptlet'?)",
    ]


def test_a_valid_recipe_whose_name_holds_a_newline_is_one_line_in_validate_and_run(tmp_path: Path) -> None:
    (tmp_path / "my\nrecipe.yaml").write_text("steps: [{name: a, uses: hello_world}]\n")
    validated = invoke("validate", "my\nrecipe.yaml", cwd=tmp_path)
    assert validated.returncode == 0, validated.stderr
    assert validated.stdout.splitlines() == ["'my\\nrecipe.yaml': ok (1 step)"]
    ran = invoke("run", "my\nrecipe.yaml", "--store", "none", cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    lines = ran.stdout.splitlines()
    assert not [line for line in lines if line.startswith("recipe.yaml")]  # no name broken over two lines
    header = next(line for line in lines if line.startswith("▶"))
    assert header.endswith("\\nrecipe.yaml': 1 step (run " + header.split("(run ")[-1])
