"""What a store records of a run: the same rows whoever else follows the run's events, nothing
twice, and what has finished is there while other steps still run."""

from __future__ import annotations

import sqlite3
import textwrap
import threading
from collections import Counter
from pathlib import Path
from typing import Any

from tests.helpers import eventually

import framework0
from framework0 import EventBus
from framework0.events import AttemptFinished, AttemptStarted, Event, StepFinished, StepStarted

HERE = Path(__file__).parent

MIXED = """
    params:
      folder: {type: str}
    steps:
      - {name: flaky, module: engine_steps, function: flaky, retry: {attempts: 3, delay: 0},
         args: {counter: "{{ params.folder }}/flaky", failures: 1}}
      - name: fan
        module: engine_steps
        function: echo
        foreach: "{{ [1, 2, 3] }}"
        args: {value: "{{ item }}"}
      - {name: broken, module: engine_steps, function: fail, continue_on_error: true}
      - {name: never, module: engine_steps, function: noop, when: "{{ false }}"}
      - {name: talk, module: engine_steps, function: say, args: {lines: [one, two]}}
      - {name: last, module: engine_steps, function: add, args: {a: 1, b: 2}, depends_on: [flaky, fan, talk]}
"""


def recorded(database: Path) -> dict[str, list[tuple[Any, ...]]]:
    """The run's rows, without what differs from run to run (ids, times, resource figures)."""
    with sqlite3.connect(database) as connection:
        return {
            "steps": connection.execute(
                "SELECT name, status, attempts, items, output, error_type, error_message, reason FROM steps "
                "ORDER BY name"
            ).fetchall(),
            "attempts": connection.execute(
                "SELECT step, item, attempt, status, output, error_type, retry_in_s IS NULL FROM attempts "
                "ORDER BY step, item, attempt"
            ).fetchall(),
            "logs": connection.execute(
                "SELECT step, item, attempt, stream, text FROM logs ORDER BY step, item, attempt, stream, text"
            ).fetchall(),
            "runs": connection.execute("SELECT status, error_type FROM runs").fetchall(),
        }


def run_mixed(folder: Path, bus: EventBus | None = None) -> dict[str, list[tuple[Any, ...]]]:
    folder.mkdir()
    recipe = framework0.load_recipe_text(textwrap.dedent(MIXED), file="mixed.yaml", base_dir=HERE)
    database = folder / "store.db"
    result = framework0.run(recipe, {"folder": str(folder)}, bus=bus, store=f"sqlite:///{database}")
    assert result.status == "succeeded", {name: step.error for name, step in result.steps.items()}
    return recorded(database)


def test_a_run_is_recorded_the_same_whether_or_not_anyone_follows_its_events(tmp_path: Path) -> None:
    alone = run_mixed(tmp_path / "alone")
    seen: list[Event] = []
    bus = EventBus()
    bus.subscribe(seen.append)
    followed = run_mixed(tmp_path / "followed", bus)
    assert seen  # (the second run was followed)
    assert followed == alone


def test_a_retried_step_has_one_row_per_attempt_and_one_line_for_its_failure(tmp_path: Path) -> None:
    bus = EventBus()
    bus.subscribe(lambda event: None)
    rows = run_mixed(tmp_path / "run", bus)
    assert [row[2:4] for row in rows["attempts"] if row[0] == "flaky"] == [(1, "failed"), (2, "succeeded")]
    failures = [row for row in rows["logs"] if row[0] == "flaky" and row[3] == "framework"]
    assert len(failures) == 1, failures
    printed = [line for row in rows["logs"] if row[0] == "talk" and row[3] == "stdout" for line in row[4].splitlines()]
    assert printed == ["one", "two"]


def test_a_follower_gets_every_step_event_once_while_the_store_records(tmp_path: Path) -> None:
    seen: list[Event] = []
    bus = EventBus()
    bus.subscribe(seen.append)
    run_mixed(tmp_path / "run", bus)
    kinds = (StepStarted, AttemptStarted, AttemptFinished, StepFinished)
    counts = Counter((type(event).__name__, event.step) for event in seen if isinstance(event, kinds))
    assert counts[("StepStarted", "flaky")] == 1
    assert counts[("AttemptStarted", "flaky")] == counts[("AttemptFinished", "flaky")] == 2
    assert counts[("AttemptStarted", "fan")] == counts[("AttemptFinished", "fan")] == 3
    assert counts[("StepFinished", "never")] == 1 and counts[("StepStarted", "never")] == 0
    assert all(counts[("StepFinished", name)] == 1 for name in ("flaky", "fan", "broken", "talk", "last"))


PARALLEL = """
    params:
      folder: {type: str}
    steps:
      - {name: quick, module: engine_steps, function: noop}
      - {name: hold_a, module: engine_steps, function: wait_for_file, args: {path: "{{ params.folder }}/go"},
         depends_on: [quick]}
      - {name: hold_b, module: engine_steps, function: wait_for_file, args: {path: "{{ params.folder }}/go"},
         depends_on: [quick]}
"""


def test_what_finished_is_in_the_store_while_other_steps_still_run(tmp_path: Path) -> None:
    recipe = framework0.load_recipe_text(textwrap.dedent(PARALLEL), file="parallel.yaml", base_dir=HERE)
    database = tmp_path / "store.db"
    results: list[framework0.RunResult] = []
    runner = threading.Thread(
        target=lambda: results.append(
            framework0.run(recipe, {"folder": str(tmp_path)}, max_parallel=2, store=f"sqlite:///{database}")
        )
    )
    runner.start()
    try:

        def statuses() -> dict[str, str]:
            with sqlite3.connect(database) as connection:
                return dict(connection.execute("SELECT name, status FROM steps").fetchall())

        expected = {"quick": "succeeded", "hold_a": "running", "hold_b": "running"}
        eventually(
            lambda: statuses() == expected,
            lambda: f"the store to show {expected} (it shows {statuses()})",
            ignoring=(sqlite3.OperationalError,),
        )
    finally:
        (tmp_path / "go").touch()
        runner.join(timeout=120)
    assert results and results[0].status == "succeeded"
