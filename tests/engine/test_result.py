"""The run result of RECIPES.md section 5: RunResult.to_dict() and to_json()."""

from __future__ import annotations

import json
from datetime import datetime

from framework0 import RunResult, StepResult
from framework0.engine.result import iso
from framework0.events import ErrorInfo

STARTED = 1_700_000_000.0  # 2023-11-14T22:13:20Z


def make_result() -> RunResult:
    load = StepResult(
        name="load",
        status="succeeded",
        attempts=1,
        output=["a.csv", "b.csv"],
        started_at=STARTED + 0.25,
        finished_at=STARTED + 0.75,
        cpu_s=0.1,
        peak_rss_bytes=123456,
        items=3,
    )
    push = StepResult(
        name="push",
        status="failed",
        attempts=3,
        error=ErrorInfo("ConnectionError", "refused"),
        started_at=STARTED + 0.75,
        finished_at=STARTED + 1.25,
        cpu_s=0.0123456789,
        peak_rss_bytes=654321,
    )
    return RunResult(
        run_id="run-1",
        test_id="ETL-001",
        recipe_path="/recipes/etl.yaml",
        status="failed",
        started_at=STARTED,
        finished_at=STARTED + 1.25,
        steps={"load": load, "push": push, "report": StepResult(name="report")},
        context={"greeted": "world"},
        params={"region": "us"},
    )


EXPECTED = {
    "run_id": "run-1",
    "recipe": {"test_id": "ETL-001", "path": "/recipes/etl.yaml"},
    "package": None,
    "status": "failed",
    "started_at": "2023-11-14T22:13:20.000+00:00",
    "finished_at": "2023-11-14T22:13:21.250+00:00",
    "duration_s": 1.25,
    "error": None,
    "params": {"region": "us"},
    "steps": {
        "load": {
            "status": "succeeded",
            "attempts": 1,
            "output": ["a.csv", "b.csv"],
            "error": None,
            "started_at": "2023-11-14T22:13:20.250+00:00",
            "finished_at": "2023-11-14T22:13:20.750+00:00",
            "duration_s": 0.5,
            "cpu_s": 0.1,
            "peak_rss_bytes": 123456,
            "items": 3,
        },
        "push": {
            "status": "failed",
            "attempts": 3,
            "output": None,
            "error": {"type": "ConnectionError", "message": "refused"},
            "started_at": "2023-11-14T22:13:20.750+00:00",
            "finished_at": "2023-11-14T22:13:21.250+00:00",
            "duration_s": 0.5,
            "cpu_s": 0.012346,
            "peak_rss_bytes": 654321,
            "items": None,
        },
        "report": {
            "status": "pending",
            "attempts": 0,
            "output": None,
            "error": None,
            "started_at": None,
            "finished_at": None,
            "duration_s": None,
            "cpu_s": 0.0,
            "peak_rss_bytes": 0,
            "items": None,
        },
    },
    "context": {"greeted": "world"},
}

# RECIPES.md section 5, word for word: the keys of the result and of each step.
DOCUMENTED_RUN_KEYS = {"run_id", "recipe", "status", "started_at", "finished_at", "duration_s", "steps", "context"}
DOCUMENTED_STEP_KEYS = [
    "status",
    "attempts",
    "output",
    "error",
    "started_at",
    "finished_at",
    "duration_s",
    "cpu_s",
    "peak_rss_bytes",
    "items",
]


def test_to_dict_has_the_documented_shape() -> None:
    assert make_result().to_dict() == EXPECTED


def test_to_dict_has_every_documented_run_key() -> None:
    result = make_result().to_dict()
    assert DOCUMENTED_RUN_KEYS <= set(result)
    assert set(result["recipe"]) == {"test_id", "path"}


def test_a_run_from_a_package_names_it_in_its_json_form() -> None:
    package = {"path": "/packages/etl.f0.zip", "digest": "d" * 64, "entry": "etl.yaml"}
    result = make_result()
    result.package = package
    assert json.loads(result.to_json())["package"] == package


def test_each_step_has_exactly_the_documented_keys_in_order() -> None:
    for step in make_result().to_dict()["steps"].values():
        assert list(step) == DOCUMENTED_STEP_KEYS


def test_steps_keep_their_order() -> None:
    assert list(make_result().to_dict()["steps"]) == ["load", "push", "report"]


def test_timestamps_are_iso_8601_in_utc() -> None:
    result = make_result().to_dict()
    stamps = [result["started_at"], result["finished_at"]] + [
        step[key] for step in result["steps"].values() for key in ("started_at", "finished_at") if step[key]
    ]
    for stamp in stamps:
        parsed = datetime.fromisoformat(stamp)
        assert parsed.utcoffset() is not None
        assert parsed.utcoffset().total_seconds() == 0  # type: ignore[union-attr]
    assert datetime.fromisoformat(result["started_at"]).timestamp() == STARTED


def test_iso_of_no_time_is_none() -> None:
    assert iso(None) is None


def test_a_step_error_is_its_type_and_message() -> None:
    assert make_result().to_dict()["steps"]["push"]["error"] == {"type": "ConnectionError", "message": "refused"}


def test_a_run_error_is_its_type_and_message() -> None:
    result = make_result()
    result.status = "cancelled"
    result.error = ErrorInfo("RunInterrupted", "interrupted by Ctrl-C")
    assert result.to_dict()["error"] == {"type": "RunInterrupted", "message": "interrupted by Ctrl-C"}


def test_durations_are_seconds_from_start_to_finish() -> None:
    result = make_result()
    assert result.duration_s == 1.25
    assert result.steps["load"].duration_s == 0.5
    assert result.steps["report"].duration_s is None


def test_ok_only_when_the_run_succeeded() -> None:
    result = make_result()
    assert not result.ok
    result.status = "succeeded"
    assert result.ok


def test_to_json_is_the_dict_as_json() -> None:
    result = make_result()
    assert json.loads(result.to_json()) == result.to_dict()


def test_to_json_is_indented_by_default_and_compact_on_request() -> None:
    result = make_result()
    assert result.to_json().startswith('{\n  "run_id": "run-1",')
    assert result.to_json(indent=None).startswith('{"run_id": "run-1", "recipe": {"test_id": "ETL-001"')
