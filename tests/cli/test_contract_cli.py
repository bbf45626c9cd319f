"""The command-line contract (RECIPES.md section 4), through the ``f0`` command line.

Every test runs ``f0`` in this process (click's runner), in a temporary working directory, and
checks what a user sees: exit codes, stdout and stderr. tests/e2e/test_cli.py runs the installed
programs themselves.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from tests.helpers import invoke

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
BUILTINS = ["assert", "barrier", "files", "hello_world", "http", "python", "set_context", "shell", "sleep", "wait_for"]

HELLO = """\
test_meta:
  test_id: CLI-001
steps:
  - name: greet
    uses: hello_world
  - name: echo
    uses: shell
    args: {cmd: "echo hi"}
  - name: check
    uses: assert
    args: {that: "steps.greet.output == 'Hello, world!'"}
"""

FAILING = """\
steps:
  - name: boom
    uses: python
    args: {call: "tasks:boom"}
"""

TASKS = """\
def boom():
    raise ValueError("the widget is on fire")
"""

WITH_PARAM = """\
params:
  batch: {type: int, default: 10}
steps:
  - name: greet
    uses: hello_world
    args: {name: "{{ params.batch }}"}
"""


def f0(*args: str | Path, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``f0 ARGS`` in ``cwd``; F0_* settings come only from ``env``."""
    return invoke(*args, cwd=cwd, env=env)


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A folder with a good recipe, a failing one (and its module), a recipe with a param and a broken one."""
    write(tmp_path, "hello.yaml", HELLO)
    write(tmp_path, "failing.yaml", FAILING)
    write(tmp_path, "tasks.py", TASKS)
    write(tmp_path, "param.yaml", WITH_PARAM)
    write(tmp_path, "broken.yaml", "steps:\n  - name: a\n    uses: hello_world\n    colour: blue\n")
    return tmp_path


# -- f0 run: exit codes, errors, output -----------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "exit_code"),
    [
        (["run", "hello.yaml"], 0),
        (["run", "failing.yaml"], 1),
        (["run", "broken.yaml"], 2),
        (["run", "missing.yaml"], 2),
        (["run", "param.yaml", "-p", "nope=1"], 2),
        (["run", "param.yaml", "-p", "batch=many"], 2),
        (["run", "param.yaml", "-p", "batch"], 2),
        (["run"], 2),
        (["run", "hello.yaml", "--bogus"], 2),
        (["run", "hello.yaml", "--executor", "nowhere"], 2),
        (["nosuchcommand"], 2),
    ],
    ids=[
        "succeeded",
        "step-failed",
        "invalid-recipe",
        "missing-recipe-file",
        "unknown-param",
        "param-of-wrong-type",
        "param-without-value",
        "no-recipe",
        "unknown-option",
        "unknown-executor",
        "unknown-command",
    ],
)
def test_run_exit_code(project: Path, args: list[str], exit_code: int) -> None:
    process = f0(*args, cwd=project)
    assert process.returncode == exit_code, process.stdout + process.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "param.yaml", "-p", "nope=1"], "error: unknown param 'nope'"),
        (["run", "param.yaml", "-p", "batch=many"], "error: param 'batch' must be an int, got 'many'"),
        (["run"], "error: no recipe given"),
        (["scriptlets", "show", "shel"], "error: unknown scriptlet 'shel' (did you mean 'shell'?)"),
    ],
    ids=["unknown-param", "param-of-wrong-type", "no-recipe", "unknown-scriptlet"],
)
def test_error_is_one_line_on_stderr_without_traceback(project: Path, args: list[str], message: str) -> None:
    process = f0(*args, cwd=project)

    assert process.returncode == 2
    assert process.stderr.splitlines() == [process.stderr.strip()]
    assert process.stderr.startswith(message)
    assert "Traceback" not in process.stderr + process.stdout


def test_invalid_recipe_prints_its_errors_as_file_line_col_without_traceback(project: Path) -> None:
    process = f0("run", "broken.yaml", cwd=project)

    assert process.returncode == 2
    lines = process.stderr.splitlines()
    assert len(lines) == 2, process.stderr
    assert lines[0].startswith("broken.yaml:4:5: unknown key 'colour'")
    assert lines[1] == "1 error; nothing was run"
    assert "Traceback" not in process.stderr + process.stdout


def test_failed_step_is_reported_in_one_line_without_traceback(project: Path) -> None:
    process = f0("run", "failing.yaml", cwd=project)

    assert process.returncode == 1
    assert "Traceback" not in process.stdout + process.stderr
    lines = [line for line in process.stdout.splitlines() if "ValueError: the widget is on fire" in line]
    assert lines and all(line.lstrip().startswith(("✗", "step 'boom' failed")) for line in lines)


@pytest.mark.parametrize(
    ("args", "env"),
    [
        (["run", "param.yaml", "-p", "nope=1", "--debug"], {}),
        (["--debug", "run", "param.yaml", "-p", "nope=1"], {}),
        (["run", "param.yaml", "-p", "nope=1"], {"F0_DEBUG": "1"}),
    ],
    ids=["f0-run-debug", "f0-debug-run", "F0_DEBUG"],
)
def test_debug_shows_the_traceback_of_an_error(project: Path, args: list[str], env: dict[str, str]) -> None:
    process = f0(*args, cwd=project, env=env)

    assert process.returncode == 2
    assert "Traceback (most recent call last):" in process.stderr
    assert "unknown param 'nope'" in process.stderr


def test_debug_shows_the_traceback_of_a_failed_step(project: Path) -> None:
    process = f0("run", "failing.yaml", "--debug", cwd=project)

    assert process.returncode == 1
    output = process.stdout + process.stderr
    assert "Traceback (most recent call last):" in output
    assert 'raise ValueError("the widget is on fire")' in output  # the line in tasks.py that raised


def test_run_plain_output_prints_a_line_per_step_and_a_summary_line(project: Path) -> None:
    process = f0("run", "hello.yaml", cwd=project)

    assert process.returncode == 0
    assert "\x1b[" not in process.stdout  # not a terminal: no colours, no live display
    lines = process.stdout.splitlines()
    for step in ("greet", "echo", "check"):
        assert len([line for line in lines if line.startswith(f"✓ {step} succeeded")]) == 1, process.stdout
    assert re.fullmatch(r"CLI-001 succeeded in \S+: 3 succeeded \(run [0-9a-f]+\)", lines[-1]), lines[-1]


def test_run_json_prints_only_the_run_result_on_stdout(project: Path) -> None:
    process = f0("run", "hello.yaml", "--json", cwd=project)

    assert process.returncode == 0
    result = json.loads(process.stdout)
    assert set(result) >= {"run_id", "recipe", "status", "started_at", "finished_at", "duration_s", "steps", "context"}
    assert result["recipe"]["test_id"] == "CLI-001"
    assert list(result["steps"]) == ["greet", "echo", "check"]
    assert result["steps"]["echo"]["output"] == {"stdout": "hi\n", "stderr": "", "exit_code": 0}
    step_keys = {"status", "attempts", "output", "error", "started_at", "finished_at", "duration_s", "cpu_s"}
    assert set(result["steps"]["greet"]) >= step_keys | {"peak_rss_bytes", "items"}


# -- f0 validate ------------------------------------------------------------------------------------

MANY_ERRORS = """\
test_meta:
  test_id: BAD-001
stepz: []
steps:
  - name: fetch
    uses: shel
    args: {cmd: "echo hi"}
  - name: load
    uses: hello_world
    depends_on: [fetsh]
  - name: report
    uses: hello_world
    args: {name: "{{ params.region }}"}
  - name: a
    uses: hello_world
    depends_on: [b]
  - name: b
    uses: hello_world
    depends_on: [a]
"""


def test_validate_reports_every_error_as_file_line_col(tmp_path: Path) -> None:
    write(tmp_path, "bad.yaml", MANY_ERRORS)
    write(tmp_path, "good.yaml", HELLO)

    process = f0("validate", "bad.yaml", "good.yaml", cwd=tmp_path)

    assert process.returncode == 2
    assert "good.yaml: ok" in process.stdout
    errors = [line for line in process.stderr.splitlines() if line.startswith("bad.yaml:")]
    assert all(re.match(r"bad\.yaml:\d+:\d+: \S", line) for line in errors), errors
    where = {line.split(": ", 1)[0] for line in errors}
    assert where >= {"bad.yaml:3:1", "bad.yaml:6:11", "bad.yaml:10:17", "bad.yaml:13:18"}
    text = "\n".join(errors)
    assert "unknown key 'stepz'" in text and "did you mean 'steps'?" in text
    assert "unknown scriptlet 'shel'" in text and "did you mean 'shell'?" in text
    assert "unknown step 'fetsh' (did you mean 'fetch'?)" in text
    assert "unknown param 'region'" in text
    assert "a -> b -> a" in text or "b -> a -> b" in text
    assert len(errors) == 5
    assert process.stderr.splitlines()[-1] == "5 errors"
    assert "Traceback" not in process.stderr


def test_validate_reports_every_error_of_one_step(tmp_path: Path) -> None:
    write(
        tmp_path,
        "bad.yaml",
        "steps:\n  - name: a\n    uses: hello_world\n    retry: {attempts: many}\n    depends_on: [nope]\n",
    )

    process = f0("validate", "bad.yaml", cwd=tmp_path)

    assert process.returncode == 2
    errors = [line for line in process.stderr.splitlines() if line.startswith("bad.yaml:")]
    assert [line.split(": ", 1)[0] for line in errors] == ["bad.yaml:4:23", "bad.yaml:5:17"], process.stderr


def test_validate_accepts_every_example(tmp_path: Path) -> None:
    recipes = sorted(EXAMPLES.glob("*.yaml"))
    process = f0("validate", *recipes, cwd=tmp_path)

    assert process.returncode == 0, process.stderr
    assert len([line for line in process.stdout.splitlines() if line.endswith((" steps)", "(1 step)"))]) == len(recipes)


# -- f0 graph ---------------------------------------------------------------------------------------

PIPELINE_EDGES = {
    ("generate", "list"),
    ("list", "summarise"),
    ("summarise", "aggregate"),
    ("aggregate", "report"),
    ("aggregate", "check"),
    ("list", "check"),
}


def test_graph_mermaid_draws_every_edge(tmp_path: Path) -> None:
    process = f0("graph", EXAMPLES / "data_pipeline.yaml", "--format", "mermaid", cwd=tmp_path)

    assert process.returncode == 0, process.stderr
    lines = process.stdout.splitlines()
    assert lines[0].startswith(("flowchart", "graph"))
    names = dict(re.findall(r'^\s*(\w+)\["([\w-]+)', process.stdout, flags=re.MULTILINE))
    edges = {(names[a], names[b]) for a, b in re.findall(r"^\s*(\w+) -->\s*(\w+)", process.stdout, flags=re.MULTILINE)}
    assert edges == PIPELINE_EDGES


def test_graph_dot_draws_every_edge(tmp_path: Path) -> None:
    process = f0("graph", EXAMPLES / "data_pipeline.yaml", "--format", "dot", cwd=tmp_path)

    assert process.returncode == 0, process.stderr
    assert process.stdout.lstrip().startswith("digraph")
    assert process.stdout.rstrip().endswith("}")
    assert set(re.findall(r'"([\w-]+)" -> "([\w-]+)"', process.stdout)) == PIPELINE_EDGES


# -- f0 scriptlets, f0 schema -----------------------------------------------------------------------


def test_scriptlets_list_shows_the_built_ins_and_the_plugin_with_their_origin(tmp_path: Path) -> None:
    process = f0("scriptlets", "list", cwd=tmp_path)

    assert process.returncode == 0, process.stderr
    rows = {line.split()[0]: line for line in process.stdout.splitlines() if line.strip()}
    for name in BUILTINS:
        assert re.match(rf"{name}\s+built-in\s+\S", rows[name]), rows.get(name)
    assert "word_count" in rows, "the example plugin is not installed: pip install -e examples/plugin"
    assert re.match(r"word_count\s+entry point \(f0-example-plugin 0\.1\.0\)\s+Count the lines", rows["word_count"])


def test_scriptlets_show_describes_shell_and_its_args(tmp_path: Path) -> None:
    process = f0("scriptlets", "show", "shell", cwd=tmp_path)

    assert process.returncode == 0, process.stderr
    lines = process.stdout.splitlines()
    assert lines[0] == "shell  (built-in: framework0.scriptlets.builtin.shell:ShellScriptlet)"
    assert "Run a command and return its output and exit code." in process.stdout
    args = process.stdout.split("\nArgs:\n", 1)[1]
    documented = re.findall(r"^  (\w+) \(", args, flags=re.MULTILINE)
    assert documented == ["cmd", "argv", "env", "cwd", "timeout", "check"]
    assert re.search(r"^  check \(bool, default True\)", args, flags=re.MULTILINE)


def test_schema_is_a_json_schema_of_the_recipe(tmp_path: Path) -> None:
    process = f0("schema", cwd=tmp_path)

    assert process.returncode == 0, process.stderr
    schema: dict[str, Any] = json.loads(process.stdout)
    assert schema["$schema"].startswith("https://json-schema.org/")
    assert schema["type"] == "object"
    assert {"test_meta", "params", "steps", "defaults", "include"} <= set(schema["properties"])


# -- f0 init ----------------------------------------------------------------------------------------


def test_init_creates_a_recipe_that_runs(tmp_path: Path) -> None:
    created = f0("init", "proj", cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    assert (tmp_path / "proj" / "recipe.yaml").is_file()

    process = f0("run", Path("proj") / "recipe.yaml", "--json", cwd=tmp_path)

    assert process.returncode == 0, process.stderr
    result = json.loads(process.stdout)
    assert result["status"] == "succeeded"
    assert result["steps"] and {step["status"] for step in result["steps"].values()} == {"succeeded"}


def test_init_refuses_to_overwrite_an_existing_recipe(tmp_path: Path) -> None:
    assert f0("init", "proj", cwd=tmp_path).returncode == 0
    recipe = tmp_path / "proj" / "recipe.yaml"
    recipe.write_text("# my own work\n", encoding="utf-8")

    process = f0("init", "proj", cwd=tmp_path)

    assert process.returncode == 2
    assert "not overwriting" in process.stderr and "recipe.yaml" in process.stderr
    assert "Traceback" not in process.stderr
    assert recipe.read_text(encoding="utf-8") == "# my own work\n"


# -- help and entry points --------------------------------------------------------------------------


def subcommands(help_text: str) -> list[str]:
    """The command names listed under ``Commands:`` in a click help page."""
    section = help_text.split("\nCommands:\n", 1)
    if len(section) == 1:
        return []
    names = []
    for line in section[1].splitlines():
        if not line.strip():
            break
        if re.match(r"^  \S", line):
            names.append(line.split()[0])
    return names


def test_every_command_help_has_an_example(tmp_path: Path) -> None:
    todo: list[list[str]] = [[]]
    checked: dict[str, bool] = {}
    while todo:
        path = todo.pop(0)
        process = f0(*path, "--help", cwd=tmp_path)
        assert process.returncode == 0, f"f0 {' '.join(path)} --help: {process.stderr}"
        example = re.search(r"Examples?:\n(\s+f0 .+\n)+", process.stdout)
        checked[" ".join(["f0", *path])] = example is not None
        todo.extend([*path, name] for name in subcommands(process.stdout))

    assert {"f0 run", "f0 validate", "f0 graph", "f0 scriptlets list", "f0 schema", "f0 init"} <= set(checked)
    assert [name for name, ok in checked.items() if not ok] == []


def test_run_refuses_a_junit_path_in_a_missing_folder_before_running(tmp_path):
    (tmp_path / "r.yaml").write_text("steps: [{name: a, uses: hello_world}]\n")
    done = f0("run", "r.yaml", "--junit", "nowhere/j.xml", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.startswith("error: --junit nowhere/j.xml: the folder ")
    assert "a succeeded" not in done.stdout


@pytest.mark.parametrize("name", ["", "sub/r.yaml", "steps.py"])
def test_init_refuses_a_recipe_name_it_cannot_create(tmp_path, name):
    done = f0("init", "d", "--name", name, cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.startswith(f"error: --name {name!r}: give a file name like recipe.yaml")
    assert "Traceback" not in done.stderr
