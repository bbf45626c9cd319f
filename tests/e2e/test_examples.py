"""Every example in ``examples/`` runs through the real ``f0`` command, as a user would run it.

Each run is a subprocess (``python -m framework0``) in a temporary working directory, so the
examples write their files under ``tmp_path/.framework0/examples/...`` (their ``workdir`` param's
default) and never into the repository. Results are read from ``f0 run --json``.
"""

from __future__ import annotations

import importlib.metadata
import json
import xml.etree.ElementTree as ET
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from tests.helpers import f0

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"

# The seed's quick start, as RECIPES.md section 1 prints it; it must run exactly as written.
QUICK_START = """\
# example_recipe.yaml
test_meta:
  test_id: QUICK-001
  description: "Quick start example"
steps:
  - idx: 1
    name: hello_world
    module: scriptlets.steps.hello_world
    function: HelloWorldScriptlet
"""

ALL_EXAMPLES = ["quickstart", "data_pipeline", "test_campaign", "ops_runbook", "plugin_recipe"]


def run_json(recipe: str | Path, *args: str | Path, cwd: Path, exit_code: int = 0) -> dict[str, Any]:
    """``f0 run RECIPE --json ARGS``: check the exit code and return the parsed run result."""
    process = f0("run", recipe, "--json", *args, cwd=cwd)
    assert process.returncode == exit_code, (
        f"exit {process.returncode}\nstdout:\n{process.stdout}\nstderr:\n{process.stderr}"
    )
    assert "Traceback" not in process.stderr
    result: dict[str, Any] = json.loads(process.stdout)
    return result


def example(name: str) -> Path:
    return EXAMPLES / f"{name}.yaml"


def statuses(result: dict[str, Any]) -> dict[str, str]:
    return {name: step["status"] for name, step in result["steps"].items()}


def outputs(result: dict[str, Any]) -> dict[str, Any]:
    return {name: step["output"] for name, step in result["steps"].items()}


def sale_amount(day: int, row: int) -> int:
    """The pipeline's made-up sales figures, computed independently of examples/pipeline_steps.py."""
    return 10 + (day * 7 + row * 13) % 50


# -- quick start ----------------------------------------------------------------------------------


def test_quickstart_example_is_the_seed_quick_start_verbatim() -> None:
    assert example("quickstart").read_text(encoding="utf-8") == QUICK_START


def test_quickstart_example_greets_the_world(tmp_path: Path) -> None:
    result = run_json(example("quickstart"), cwd=tmp_path)

    assert result["status"] == "succeeded"
    assert result["recipe"]["test_id"] == "QUICK-001"
    step = result["steps"]["hello_world"]
    assert (step["status"], step["attempts"], step["output"], step["error"]) == ("succeeded", 1, "Hello, world!", None)
    assert step["duration_s"] >= 0 and step["peak_rss_bytes"] > 0
    assert result["context"] == {"greeted": "world"}


@pytest.mark.parametrize(
    "args",
    [["example_recipe.yaml"], ["--recipe", "example_recipe.yaml", "--debug"]],
    ids=["f0-run-recipe", "seed-spelling-recipe-option-debug"],
)
def test_quick_start_runs_verbatim_from_a_folder_holding_only_the_recipe(tmp_path: Path, args: list[str]) -> None:
    (tmp_path / "example_recipe.yaml").write_text(QUICK_START, encoding="utf-8")
    assert [path.name for path in tmp_path.iterdir()] == ["example_recipe.yaml"]

    process = f0("run", *args, cwd=tmp_path)

    assert process.returncode == 0, process.stdout + process.stderr
    assert "Traceback" not in process.stderr
    assert "Hello, world!" in process.stdout
    assert process.stdout.splitlines()[-1].startswith("QUICK-001 succeeded in ")


# -- data pipeline ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """The data pipeline run once with its default params: (working directory, run result)."""
    cwd = tmp_path_factory.mktemp("pipeline")
    return cwd, run_json(example("data_pipeline"), cwd=cwd)


def test_data_pipeline_fans_out_over_the_listing_and_aggregates_in_order(
    pipeline: tuple[Path, dict[str, Any]],
) -> None:
    cwd, result = pipeline
    names = [f"sales-emea-day{day:02d}.csv" for day in (1, 2, 3)]
    totals = [sum(sale_amount(day, row) for row in range(5)) for day in (1, 2, 3)]

    assert result["status"] == "succeeded"
    assert set(statuses(result).values()) == {"succeeded"}
    out = outputs(result)
    raw = Path(".framework0", "examples", "data_pipeline", "raw")
    assert out["list"] == [str(raw / name) for name in names]
    assert all((cwd / path).is_file() for path in out["list"])
    assert result["steps"]["summarise"]["items"] == 3
    assert [summary["file"] for summary in out["summarise"]] == names
    assert [summary["total"] for summary in out["summarise"]] == totals
    assert out["aggregate"] == {
        "files": names,
        "daily_totals": totals,
        "rows": 15,
        "total": sum(totals),
        "average": round(sum(totals) / 15, 2),
    }
    assert out["check"] is True
    assert result["context"] == {"pipeline.total": sum(totals), "pipeline.rows": 15}


def test_data_pipeline_writes_its_report_with_the_files_built_in(pipeline: tuple[Path, dict[str, Any]]) -> None:
    cwd, result = pipeline
    report = cwd / ".framework0" / "examples" / "data_pipeline" / "report.md"

    assert result["steps"]["report"]["output"] == str(report)
    text = report.read_text(encoding="utf-8")
    assert text.startswith("# Sales report: emea\n")
    assert "| sales-emea-day02.csv | 150 |" in text
    assert "Total: 500 over 15 rows (average 33.33)." in text


def test_foreach_step_counts_attempts_not_items(pipeline: tuple[Path, dict[str, Any]]) -> None:
    # RECIPES.md section 5: a foreach step over 3 items that never retried reports attempts 1, items 3.
    _, result = pipeline
    summarise = result["steps"]["summarise"]
    assert (summarise["items"], summarise["attempts"]) == (3, 1)


def test_data_pipeline_params_override_their_defaults(tmp_path: Path) -> None:
    result = run_json(
        example("data_pipeline"),
        "-p",
        "region=apac",
        "-p",
        "rows=2",
        "-p",
        "files=4",
        "-p",
        "workdir=out",
        cwd=tmp_path,
    )

    assert result["status"] == "succeeded"
    assert result["params"] == {"region": "apac", "rows": 2, "files": 4, "workdir": "out"}
    names = [f"sales-apac-day{day:02d}.csv" for day in (1, 2, 3, 4)]
    assert result["steps"]["list"]["output"] == [str(Path("out") / "raw" / name) for name in names]
    assert result["steps"]["summarise"]["items"] == 4
    aggregate = result["steps"]["aggregate"]["output"]
    assert aggregate["rows"] == 8
    assert aggregate["daily_totals"] == [sale_amount(day, 0) + sale_amount(day, 1) for day in (1, 2, 3, 4)]
    assert (tmp_path / "out" / "report.md").read_text(encoding="utf-8").startswith("# Sales report: apac\n")
    assert not (tmp_path / ".framework0" / "examples" / "data_pipeline").exists()


# -- test campaign ----------------------------------------------------------------------------------

CAMPAIGN_STEPS = [
    "release_info",
    "write_config",
    "read_config",
    "greet",
    "pair_workers",
    "test_greeting",
    "test_config",
    "test_pairing",
]


def junit_cases(path: Path) -> tuple[ET.Element, dict[str, ET.Element]]:
    root = ET.parse(path).getroot()
    suites = root.findall("testsuite") if root.tag == "testsuites" else [root]
    assert len(suites) == 1
    return suites[0], {case.attrib["name"]: case for case in suites[0].iter("testcase")}


def test_campaign_passes_and_writes_one_junit_testcase_per_step(tmp_path: Path) -> None:
    junit = tmp_path / "campaign.xml"
    result = run_json(example("test_campaign"), "--junit", junit, cwd=tmp_path)

    assert result["status"] == "succeeded"
    assert result["recipe"]["test_id"] == "SMOKE-042"
    assert list(result["steps"]) == CAMPAIGN_STEPS
    assert set(statuses(result).values()) == {"succeeded"}
    assert result["steps"]["greet"]["output"] == "Hello, tester!"
    assert result["steps"]["pair_workers"]["output"] == 10
    assert "version = 1.4.2\n" in result["steps"]["read_config"]["output"]["stdout"]
    assert result["context"] == {"release.version": "1.4.2", "release.channel": "stable", "greeted": "tester"}

    suite, cases = junit_cases(junit)
    assert list(cases) == CAMPAIGN_STEPS
    assert (suite.attrib["tests"], suite.attrib["failures"]) == ("8", "0")
    assert {case.attrib["classname"] for case in cases.values()} == {"SMOKE-042"}
    assert not any(case.find("failure") is not None or case.find("skipped") is not None for case in cases.values())


def test_campaign_failed_assertion_fails_the_run_and_its_junit_testcase(tmp_path: Path) -> None:
    junit = tmp_path / "campaign.xml"
    result = run_json(example("test_campaign"), "-p", "expected_pairs=11", "--junit", junit, cwd=tmp_path, exit_code=1)

    assert result["status"] == "failed"
    failed = result["steps"]["test_pairing"]
    assert failed["status"] == "failed"
    assert failed["error"]["type"] == "AssertionError"
    assert "steps.pair_workers.output == params.expected_pairs" in failed["error"]["message"]
    assert "wrong number of worker pairs" in failed["error"]["message"]
    assert [name for name, status in statuses(result).items() if status == "failed"] == ["test_pairing"]

    suite, cases = junit_cases(junit)
    assert list(cases) == CAMPAIGN_STEPS
    assert suite.attrib["failures"] == "1"
    failure = cases["test_pairing"].find("failure")
    assert failure is not None
    assert "wrong number of worker pairs" in failure.attrib["message"]


# -- ops runbook ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def runbook(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """The ops runbook run once with its default params: (its workdir, run result)."""
    cwd = tmp_path_factory.mktemp("runbook")
    return cwd / ".framework0" / "examples" / "ops_runbook", run_json(example("ops_runbook"), cwd=cwd)


def test_ops_runbook_retries_the_flaky_health_check_until_it_passes(runbook: tuple[Path, dict[str, Any]]) -> None:
    workdir, result = runbook
    health = result["steps"]["health_check"]

    assert result["status"] == "succeeded"
    assert (health["status"], health["attempts"]) == ("succeeded", 3)
    assert health["output"]["stdout"] == "healthy after 3 polls\n"
    assert result["steps"]["rotate_logs"]["output"]["stdout"] == "2\n"
    assert sorted(path.name for path in (workdir / "logs").iterdir()) == ["worker-error.log.1", "worker.log.1"]
    notification = (workdir / "run" / "notification.txt").read_text(encoding="utf-8")
    assert notification == "worker restarted and healthy: healthy after 3 polls\n"


def test_ops_runbook_non_critical_step_times_out_without_failing_the_run(
    runbook: tuple[Path, dict[str, Any]],
) -> None:
    _, result = runbook
    drain = result["steps"]["drain_old_connections"]

    assert result["status"] == "succeeded"
    assert (drain["status"], drain["attempts"]) == ("failed", 1)
    assert drain["error"]["type"] == "StepTimeout"
    assert "0.5s" in drain["error"]["message"]
    assert drain["duration_s"] < 4.5  # stopped at its 500ms timeout, not after the command's 5 s


def test_ops_runbook_cleanup_runs_after_the_other_steps(runbook: tuple[Path, dict[str, Any]]) -> None:
    workdir, result = runbook
    steps = result["steps"]

    assert steps["cleanup"]["status"] == "succeeded"
    assert steps["cleanup"]["output"]["stdout"] == "cleaned\n"
    ends = [steps[name]["finished_at"] for name in ("health_check", "drain_old_connections", "notify")]
    assert steps["cleanup"]["started_at"] >= max(ends)
    assert sorted(path.name for path in (workdir / "run").iterdir()) == ["notification.txt"]


def test_ops_runbook_run_ends_soon_after_its_last_step(runbook: tuple[Path, dict[str, Any]]) -> None:
    # A step's (or the defaults') timeout is a limit, not a wait: nothing runs after cleanup.
    _, result = runbook
    last_step_end = max(step["finished_at"] for step in result["steps"].values())
    lag = (datetime.fromisoformat(result["finished_at"]) - datetime.fromisoformat(last_step_end)).total_seconds()
    assert lag < 1.0, f"the run ended {lag:.1f}s after its last step"


def test_ops_runbook_skips_downstream_steps_but_cleans_up_when_the_health_check_never_passes(tmp_path: Path) -> None:
    result = run_json(example("ops_runbook"), "-p", "fail_times=9", "-p", "workdir=box", cwd=tmp_path, exit_code=1)
    steps = result["steps"]

    assert result["status"] == "failed"
    assert (steps["health_check"]["status"], steps["health_check"]["attempts"]) == ("failed", 4)
    assert steps["health_check"]["error"]["type"] == "CommandFailed"
    assert "not ready yet (poll 4)" in steps["health_check"]["error"]["message"]
    assert steps["cleanup"]["status"] == "succeeded"
    assert not (tmp_path / "box" / "run" / "polls").exists()
    assert not (tmp_path / "box" / "run" / "notification.txt").exists()
    # RECIPES.md: steps that depend on a failed step are skipped (notify reads steps.health_check).
    assert steps["notify"]["status"] == "skipped"


# -- plugin -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def plugin_installed() -> None:
    try:
        importlib.metadata.distribution("f0-example-plugin")
    except importlib.metadata.PackageNotFoundError:
        pytest.fail("the example plugin is not installed: pip install -e examples/plugin (the Makefile does it)")


@pytest.mark.usefixtures("plugin_installed")
def test_plugin_recipe_uses_the_installed_word_count_scriptlet(tmp_path: Path) -> None:
    result = run_json(example("plugin_recipe"), "-p", "top=2", cwd=tmp_path)

    assert result["status"] == "succeeded"
    assert set(statuses(result).values()) == {"succeeded"}
    notes = tmp_path / ".framework0" / "examples" / "plugin_recipe" / "NOTES.md"
    assert result["steps"]["write_notes"]["output"] == str(notes)
    assert result["steps"]["count_notes"]["output"] == {
        "lines": 3,
        "words": 19,
        "chars": len(notes.read_text(encoding="utf-8")),
        "top": [["the", 4], ["worker", 2]],
    }
    assert result["steps"]["count_motto"]["output"] == {"lines": 1, "words": 7, "chars": 41, "top": [["is", 2]]}
    assert result["context"] == {"word_count.count_notes": 19, "word_count.count_motto": 7}


# -- executors --------------------------------------------------------------------------------------


def comparable(result: dict[str, Any]) -> dict[str, Any]:
    """What must not depend on the executor: statuses, attempts, items, outputs, errors and context."""
    steps = {
        name: (step["status"], step["attempts"], step["items"], step["output"], (step["error"] or {}).get("type"))
        for name, step in result["steps"].items()
    }
    return {"status": result["status"], "steps": steps, "context": result["context"]}


@pytest.mark.parametrize("name", ALL_EXAMPLES)
def test_example_gives_the_same_result_with_the_process_executor(
    tmp_path: Path, name: str, request: pytest.FixtureRequest
) -> None:
    if name == "plugin_recipe":
        request.getfixturevalue("plugin_installed")
    local = run_json(example(name), "--executor", "local", cwd=tmp_path)
    process = run_json(example(name), "--executor", "process", cwd=tmp_path)

    assert local["status"] == "succeeded"
    assert comparable(process) == comparable(local)
