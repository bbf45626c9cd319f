"""framework0.api, the composition root: a Config and a recipe become a run, with the arguments of
framework0.run overriding the Config, and the environment read only when no Config is given."""

from __future__ import annotations

import gc
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

import framework0
from framework0 import Config
from framework0.errors import UsageError

HELLO = "steps:\n  - {name: hello, uses: hello_world}\n"


def recorded_runs(path: Path) -> list[str]:
    with closing(sqlite3.connect(path)) as db:
        return [run_id for (run_id,) in db.execute("SELECT run_id FROM runs")]


@pytest.fixture
def hello(tmp_path: Path) -> Path:
    (tmp_path / "hello.yaml").write_text(HELLO)
    return tmp_path / "hello.yaml"


def test_a_run_is_recorded_where_the_config_says(tmp_path: Path, hello: Path) -> None:
    result = framework0.run(hello, config=Config(store=f"sqlite:///{tmp_path}/c.db"))
    assert recorded_runs(tmp_path / "c.db") == [result.run_id]


def test_an_argument_wins_over_the_config(tmp_path: Path, hello: Path) -> None:
    config = Config(store=f"sqlite:///{tmp_path}/c.db")
    result = framework0.run(hello, config=config, store=f"sqlite:///{tmp_path}/a.db")
    assert recorded_runs(tmp_path / "a.db") == [result.run_id]
    assert not (tmp_path / "c.db").exists()


def test_without_a_config_the_environment_is_read(tmp_path: Path, hello: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("F0_STORE", f"sqlite:///{tmp_path}/env.db")
    result = framework0.run(hello)
    assert recorded_runs(tmp_path / "env.db") == [result.run_id]


def test_a_given_config_is_not_mixed_with_the_environment(
    tmp_path: Path, hello: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("F0_STORE", f"sqlite:///{tmp_path}/env.db")
    framework0.run(hello, config=Config(store=None))
    assert not (tmp_path / "env.db").exists()


def test_a_resumed_run_cannot_move_its_context_to_a_server(tmp_path: Path) -> None:
    (tmp_path / "fails.yaml").write_text("steps:\n  - {name: boom, uses: assert, args: {that: false}}\n")
    store = f"sqlite:///{tmp_path}/s.db"
    failed = framework0.run(tmp_path / "fails.yaml", store=store)
    config = Config(store=store, context_server="http://127.0.0.1:9")
    with pytest.raises(UsageError, match="a resumed run keeps its context where it was"):
        framework0.resume(failed.run_id, config=config)


def test_resume_returns_a_run_result(tmp_path: Path) -> None:
    (tmp_path / "fails.yaml").write_text("steps:\n  - {name: boom, uses: assert, args: {that: false}}\n")
    store = f"sqlite:///{tmp_path}/s.db"
    failed = framework0.run(tmp_path / "fails.yaml", store=store)
    again = framework0.resume(failed.run_id, store=store)
    assert isinstance(again, framework0.RunResult)
    assert again.run_id == failed.run_id


def test_a_run_leaves_the_garbage_collector_as_it_found_it(hello: Path) -> None:
    gc.unfreeze()  # (an earlier test's f0 run may have frozen what it loaded)
    framework0.run(hello, store=None)
    assert gc.get_freeze_count() == 0


def test_a_run_leaves_what_its_caller_froze_frozen(hello: Path) -> None:
    gc.freeze()  # a caller that freezes objects itself (a pre-fork server) keeps them frozen
    try:
        framework0.run(hello, store=None)
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
