"""``framework0.history``: recorded runs read back through the public API, as typed values."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from tests.history.recording import Recorded, record

import framework0.history
from framework0.config import Config
from framework0.errors import RunNotFound, StoreNotFound, UsageError
from framework0.history import (
    ContextVersion,
    GraphStep,
    History,
    LogLine,
    RunSummary,
)


def test_open_reads_the_store_given_by_its_url(recorded: Recorded) -> None:
    with framework0.history.open(recorded.url) as history:
        assert [run.run_id for run in history.list_runs()] == [run.run_id for run in reversed(recorded.runs)]


def test_open_reads_the_store_the_config_names(recorded: Recorded) -> None:
    config = Config.from_environ({"F0_STORE": recorded.url})

    with framework0.history.open(config=config) as history:
        assert len(history.list_runs()) == 2


def test_open_never_creates_a_store(tmp_path: Path) -> None:
    with pytest.raises(StoreNotFound, match="no store at"):
        framework0.history.open(f"sqlite:///{tmp_path}/missing.db")
    assert list(tmp_path.iterdir()) == []


def test_open_names_f0_store_when_the_store_it_names_is_missing(tmp_path: Path) -> None:
    config = Config.from_environ({"F0_STORE": f"sqlite:///{tmp_path}/missing.db"})

    with pytest.raises(StoreNotFound, match="run a recipe with this F0_STORE first"):
        framework0.history.open(config=config)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            Config.from_environ({"F0_STORE": "none"}),
            "F0_STORE=none keeps runs in memory only: there is no store to read; pass --store URL, or unset F0_STORE",
        ),
        (
            Config().replace(store=(None, "--store")),
            "--store none keeps runs in memory only: there is no store to read; pass --store URL",
        ),
    ],
    ids=["F0_STORE", "--store"],
)
def test_open_refuses_a_config_that_keeps_runs_in_memory_only(config: Config, message: str) -> None:
    with pytest.raises(UsageError) as raised:
        framework0.history.open(config=config)
    assert str(raised.value) == message


def test_list_runs_gives_summaries_newest_first(history: History, recorded: Recorded) -> None:
    newest = recorded.runs[-1]

    first = history.list_runs()[0]

    assert isinstance(first, RunSummary)
    assert (first.run_id, first.test_id, first.status, first.params) == (
        newest.run_id,
        "HISTORY-001",
        "succeeded",
        {"who": "world"},
    )
    assert first.step_counts == {"succeeded": 5, "failed": 1, "skipped": 1}


def test_list_runs_filters_by_status_recipe_and_limit(history: History) -> None:
    assert history.list_runs(status="failed") == []
    assert len(history.list_runs(recipe="HISTORY-001")) == 2
    assert len(history.list_runs(recipe="recipe.yaml")) == 2
    assert history.list_runs(recipe="OTHER") == []
    assert len(history.list_runs(limit=1)) == 1


def test_list_runs_filters_by_start_time(history: History, recorded: Recorded) -> None:
    older, newer = recorded.runs

    assert [run.run_id for run in history.list_runs(since=newer.started_at)] == [newer.run_id]
    assert [run.run_id for run in history.list_runs(until=newer.started_at)] == [older.run_id]
    assert history.list_runs(since=time.time() + 60) == []


def test_a_summary_is_frozen(history: History) -> None:
    summary = history.list_runs()[0]
    with pytest.raises(AttributeError):
        summary.status = "failed"  # type: ignore[misc]


def test_a_run_is_found_by_a_unique_start_of_its_id(history: History, recorded: Recorded) -> None:
    run_id = recorded.runs[0].run_id

    assert history.run(run_id[:6]).run_id == run_id


def test_an_unknown_run_raises_run_not_found_with_the_cli_message(history: History, recorded: Recorded) -> None:
    with pytest.raises(RunNotFound) as raised:
        history.run("ffffffffff")
    assert str(raised.value) == f"no run 'ffffffffff' in the store {recorded.url}; f0 runs list shows the runs"


def test_a_run_id_shorter_than_four_characters_is_never_taken_for_a_run(history: History) -> None:
    with pytest.raises(RunNotFound, match="a run id needs 4 or more characters"):
        history.result("7")


def test_an_ended_run_has_no_runner(history: History) -> None:
    assert history.list_runs()[0].runner_state() == "ended"


def test_result_equals_the_result_the_run_returned(history: History, recorded: Recorded) -> None:
    returned = recorded.runs[0]

    assert history.result(returned.run_id[:6]).to_dict() == returned.to_dict()


def test_a_run_from_a_package_names_it_in_its_summary_and_result(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/runs.db"
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("steps:\n  - {name: hi, uses: hello_world}\n")
    package = {"path": "/packages/hi.f0.zip", "digest": "d" * 64, "entry": "recipe.yaml"}
    returned = framework0.run(recipe, store=url, config=Config(package=package))

    with framework0.history.open(url) as history:
        assert [run.package for run in history.list_runs()] == [package]
        assert history.run(returned.run_id).package == package
        assert history.result(returned.run_id).to_dict() == returned.to_dict()
        assert history.result(returned.run_id).package == package


def test_an_ordinary_run_names_no_package(history: History, recorded: Recorded) -> None:
    assert history.run(recorded.runs[0].run_id).package is None
    assert history.result(recorded.runs[0].run_id).package is None


def test_steps_are_typed_records_in_recipe_order(history: History, recorded: Recorded) -> None:
    steps = history.steps(recorded.runs[0].run_id)

    assert [step.name for step in steps] == ["greet", "boom", "never", "each", "flaky", "mark", "remark"]
    greet, boom, never = steps[:3]
    assert greet.output == "Hello, world!"
    assert boom.error is not None and boom.error.type == "CommandFailed"
    assert (never.status, never.reason) == ("skipped", "'when' was false")


def test_a_step_that_is_not_in_the_run_is_a_usage_error_with_a_suggestion(history: History, recorded: Recorded) -> None:
    with pytest.raises(UsageError) as raised:
        history.step(recorded.runs[0].run_id, "gret")
    assert str(raised.value) == "the run has no step 'gret' (did you mean 'greet'?)"


def test_attempts_show_a_retried_failure(history: History, recorded: Recorded) -> None:
    first, second = history.attempts(recorded.runs[0].run_id, "flaky")

    assert (first.attempt, first.status, first.retry_in_s) == (1, "failed", 0.0)
    assert first.error is not None and first.error.type == "CommandFailed"
    assert (second.attempt, second.status, second.error) == (2, "succeeded", None)


def test_attempts_of_a_foreach_step_carry_their_item(history: History, recorded: Recorded) -> None:
    attempts = history.attempts(recorded.runs[0].run_id, "each")

    assert {attempt.item for attempt in attempts} == {0, 1}


def test_sessions_of_a_run_that_was_never_resumed(history: History, recorded: Recorded) -> None:
    (session,) = history.sessions(recorded.runs[0].run_id)

    assert (session.session, session.kind, session.status, session.params) == (
        1,
        "run",
        "succeeded",
        {"who": "world"},
    )


def test_logs_of_a_step_come_in_the_order_they_were_stored(history: History, recorded: Recorded) -> None:
    lines = history.logs(recorded.runs[0].run_id, "each")

    assert sorted((line.item, line.stream, line.text) for line in lines) == [
        (0, "stdout", "line 1"),
        (1, "stdout", "line 2"),
    ]
    assert [line.id for line in lines] == sorted(line.id for line in lines)
    assert all(isinstance(line, LogLine) for line in lines)


def test_logs_filter_by_stream_item_and_attempt(history: History, recorded: Recorded) -> None:
    run_id = recorded.runs[0].run_id

    assert [line.text for line in history.logs(run_id, "each", item=1)] == ["line 2"]
    assert {line.stream for line in history.logs(run_id, stream="stderr")} == {"stderr"}
    assert history.logs(run_id, "each", attempt=2) == []


def test_logs_page_after_the_last_id_read(history: History, recorded: Recorded) -> None:
    run_id = recorded.runs[0].run_id
    every = history.logs(run_id)

    first = history.logs(run_id, limit=2)
    rest = history.logs(run_id, after=first[-1].id)

    assert first + rest == every


def test_log_tail_gives_the_newest_lines_and_how_many_were_left_out(history: History, recorded: Recorded) -> None:
    run_id = recorded.runs[0].run_id
    every = history.logs(run_id, "boom")

    tail = history.log_tail(run_id, "boom", 1)

    assert tail.lines == (every[-1],)
    assert tail.dropped == len(every) - 1


def test_log_counts_count_the_lines_of_each_step(history: History, recorded: Recorded) -> None:
    counts = history.log_counts(recorded.runs[0].run_id)

    assert counts["each"] == 2


def test_context_at_a_version(history: History, recorded: Recorded) -> None:
    run_id = recorded.runs[0].run_id

    assert history.context(run_id, 0) == ContextVersion(run_id, 0, 3, {})
    assert history.context(run_id, 1).data == {"greeted": "world"}
    assert history.context(run_id).data == {"greeted": "world", "done": True, "count": 4}


def test_a_context_version_the_run_does_not_have_is_a_usage_error(history: History, recorded: Recorded) -> None:
    run_id = recorded.runs[0].run_id

    with pytest.raises(UsageError) as raised:
        history.context(run_id, 9)
    assert str(raised.value) == f"run {run_id} has context versions 0..3; there is no version 9"


def test_context_history_of_a_key_says_who_changed_it(history: History, recorded: Recorded) -> None:
    changes = history.context_history(recorded.runs[0].run_id, "count")

    seen = [(change.version, change.old, change.new, change.source.step, change.source.attempt) for change in changes]
    assert seen == [(2, None, 3, "mark", 1), (3, 3, 4, "remark", 1)]
    assert all(change.source.node and change.at for change in changes)


def test_context_history_since_a_version(history: History, recorded: Recorded) -> None:
    changes = history.context_history(recorded.runs[0].run_id, since=2)

    assert [(change.version, change.key) for change in changes] == [(3, "count")]


def test_context_deltas_are_the_stored_operations(history: History, recorded: Recorded) -> None:
    deltas = history.context_deltas(recorded.runs[0].run_id, after=2)

    assert [(delta.version, [list(op) for op in delta.ops], delta.source.step) for delta in deltas] == [
        (3, [["set", "count", 4]], "remark")
    ]


def test_context_diff_between_two_versions_of_a_run(history: History, recorded: Recorded) -> None:
    run_id = recorded.runs[0].run_id

    found = history.context_diff((run_id, 2), run_id)

    assert (found.added, found.removed, found.changed) == ({}, {}, {"count": (3, 4)})
    assert found.to_dict()["a"] == {"run_id": run_id, "version": 2}


def test_context_diff_between_two_runs_with_the_same_context_is_empty(history: History, recorded: Recorded) -> None:
    first, second = recorded.runs

    assert not history.context_diff(first.run_id, second.run_id)


def test_graph_is_the_recipe_as_the_run_recorded_it(history: History, recorded: Recorded) -> None:
    graph = history.graph(recorded.runs[0].run_id)

    assert graph.recorded
    assert graph.steps[1] == GraphStep("boom", "shell", (), "on_success", True)
    assert graph.steps[-1] == GraphStep("remark", "set_context", ("mark",))
    assert graph.to_dict()["steps"][3] == {"name": "each", "scriptlet": "shell (foreach)", "upstream": []}


def test_explain_says_why_a_step_was_skipped(history: History, recorded: Recorded) -> None:
    run_id = recorded.runs[0].run_id

    assert history.explain(run_id, "never") == [f"step 'never' of run {run_id}: skipped", "skipped: 'when' was false"]


def test_explain_says_a_step_ran_because_its_upstream_succeeded(history: History, recorded: Recorded) -> None:
    lines = history.explain(recorded.runs[0].run_id, "remark")

    assert lines[1] == (
        "ran: its upstream step mark succeeded, and it does not set cache: true, so it runs whenever they succeed"
    )


def test_explain_of_an_unknown_step_suggests_a_close_one(history: History, recorded: Recorded) -> None:
    run_id = recorded.runs[0].run_id

    with pytest.raises(UsageError) as raised:
        history.explain(run_id, "remrak")
    assert str(raised.value) == f"run {run_id} has no step 'remrak' (did you mean 'remark'?)"


def test_a_history_over_an_open_store_leaves_it_open(recorded: Recorded) -> None:
    from framework0.store import open_store

    store = open_store(recorded.url, create=False)
    try:
        with History(store) as history:
            assert len(history.list_runs()) == 2
        assert len(History(store).list_runs()) == 2  # still open
    finally:
        store.close()


@pytest.mark.postgres
def test_the_same_runs_read_back_from_postgresql(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.store.store_backends import postgres_schema

    monkeypatch.chdir(tmp_path)
    with postgres_schema() as url:
        (returned,) = record(tmp_path, url)
        with framework0.history.open(url) as history:
            assert [run.run_id for run in history.list_runs(recipe="HISTORY-001")] == [returned.run_id]
            assert history.result(returned.run_id[:6]).to_dict() == returned.to_dict()
            assert history.context(returned.run_id, 2).data == {"greeted": "world", "done": True, "count": 3}
            assert sorted(line.text for line in history.logs(returned.run_id, "each")) == ["line 1", "line 2"]
