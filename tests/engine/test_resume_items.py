"""Resuming a foreach step keeps the items that succeeded and runs only the others."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest
from tests.helpers import f0

import framework0

STEPS = """
from pathlib import Path


def fetch(ctx, item, folder):
    with open(Path(folder) / f"item-{item}.count", "a") as out:
        out.write("x")
    if item == "c" and not (Path(folder) / "fixed").exists():
        raise ConnectionError(f"{item}: unreachable")
    ctx.increment("fetched")
    ctx.set(f"rows.{item}", len(item) * 10)
    return f"{item}!"
"""

RECIPE = """
    params:
      regions: {type: list, default: [a, b, c, d]}
    max_parallel: 8  # every item starts at once: none waits behind the failing one
    steps:
      - name: fetch
        module: resume_items_steps
        function: fetch
        foreach: "{{ params.regions }}"
        args: {item: "{{ item }}", folder: FOLDER}
      - {name: total, uses: python, args: {call: "builtins:len", args: ["{{ steps.fetch.output }}"]}}
"""


def make(folder: Path) -> Path:
    (folder / "resume_items_steps.py").write_text(STEPS)
    path = folder / "recipe.yaml"
    path.write_text(textwrap.dedent(RECIPE).replace("FOLDER", str(folder)))
    return path


def runs_per_item(folder: Path) -> dict[str, int]:
    return {item: len((folder / f"item-{item}.count").read_text()) for item in "abcd"}


@pytest.fixture
def store(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/store.db"


@pytest.mark.parametrize("executor", ["local", "process"])
def test_resume_runs_only_the_foreach_items_that_did_not_succeed(tmp_path: Path, store: str, executor: str) -> None:
    recipe = make(tmp_path)
    first = framework0.run(recipe, store=store, executor=executor)
    assert first.status == "failed"
    (tmp_path / "fixed").touch()

    second = framework0.resume(first.run_id, store=store, executor=executor)

    assert second.status == "succeeded", second.error
    assert runs_per_item(tmp_path) == {"a": 1, "b": 1, "c": 2, "d": 1}
    assert second.steps["fetch"].output == ["a!", "b!", "c!", "d!"]
    assert second.steps["total"].output == 4
    assert second.context == {"fetched": 4, "rows.a": 10, "rows.b": 10, "rows.c": 10, "rows.d": 10}


def test_a_resumed_foreach_step_says_which_items_it_kept(tmp_path: Path, store: str) -> None:
    recipe = make(tmp_path)
    first = framework0.run(recipe, store=store)
    (tmp_path / "fixed").touch()
    second = framework0.resume(first.run_id, store=store)
    assert second.steps["fetch"].reason == (
        "run again: it failed in the earlier session; kept the 3 items of its 4 that had succeeded"
    )
    assert second.steps["fetch"].attempts == 2  # the failed item's second attempt


def test_resume_with_other_params_runs_every_item_again(tmp_path: Path, store: str) -> None:
    recipe = make(tmp_path)
    first = framework0.run(recipe, store=store)
    (tmp_path / "fixed").touch()
    second = framework0.resume(first.run_id, store=store, params={"regions": ["a", "b", "c", "d", "e"]})
    assert second.status == "succeeded", second.error
    assert runs_per_item(tmp_path) == {"a": 2, "b": 2, "c": 2, "d": 2}
    assert second.steps["fetch"].output == ["a!", "b!", "c!", "d!", "e!"]


def test_resume_from_a_foreach_step_runs_every_item_again(tmp_path: Path, store: str) -> None:
    recipe = make(tmp_path)
    (tmp_path / "fixed").touch()
    first = framework0.run(recipe, store=store)
    assert first.status == "succeeded"
    again = framework0.resume(first.run_id, store=store, from_step="fetch")
    assert again.status == "succeeded"
    assert runs_per_item(tmp_path) == {"a": 2, "b": 2, "c": 2, "d": 2}


def test_a_resumed_run_counts_this_sessions_time_apart_from_the_time_since_it_first_started(
    tmp_path: Path, store: str
) -> None:
    recipe = make(tmp_path)
    first = framework0.run(recipe, store=store)
    (tmp_path / "fixed").touch()
    second = framework0.resume(first.run_id, store=store)
    assert second.started_at == pytest.approx(first.started_at)
    assert second.session_started_at is not None and second.session_started_at >= first.finished_at
    assert second.session_duration_s == pytest.approx(second.finished_at - second.session_started_at, abs=1e-5)
    assert second.session_duration_s < second.duration_s


def test_f0_resume_prints_this_sessions_time_and_the_total(tmp_path: Path, store: str) -> None:
    recipe = make(tmp_path)
    first = framework0.run(recipe, store=store)
    (tmp_path / "fixed").touch()
    resumed = f0("resume", first.run_id, "--store", store, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    summary = [line for line in resumed.stdout.splitlines() if f"(run {first.run_id})" in line][-1]
    assert re.fullmatch(
        rf"\S+ succeeded in \S+ this session, \S+ since the run first started: 2 succeeded \(run {first.run_id}\)",
        summary,
    ), summary


def test_f0_run_prints_one_duration(tmp_path: Path, store: str) -> None:
    recipe = make(tmp_path)
    (tmp_path / "fixed").touch()
    ran = f0("run", str(recipe), "--store", store, cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    assert "this session" not in ran.stdout


THREE_SESSIONS = """
    params:
      tag: {type: str, default: v1}
    max_parallel: 8
    steps:
      - {name: a, uses: python, args: {call: "resume_tagged_steps:read", args: [FOLDER/a]}}
      - name: b
        module: resume_tagged_steps
        function: tagged
        foreach: [0, 1]
        args: {item: "{{ item }}", up: "{{ steps.a.output }}-{{ params.tag }}", folder: FOLDER}
"""

TAGGED = """
from pathlib import Path


def read(path):
    return Path(path).read_text()


def tagged(ctx, item, up, folder):
    if str(item) in (Path(folder) / "fail").read_text().split():
        raise ValueError(f"item {item} told to fail")
    ctx.set(f"item.{item}", f"{up}-{item}")
    return f"{up}-{item}"
"""


def three_sessions(tmp_path: Path) -> Path:
    (tmp_path / "resume_tagged_steps.py").write_text(TAGGED)
    path = tmp_path / "three.yaml"
    path.write_text(textwrap.dedent(THREE_SESSIONS).replace("FOLDER", str(tmp_path)))
    (tmp_path / "a").write_text("old")
    return path


def test_an_item_that_failed_after_its_input_changed_is_not_kept_from_before(tmp_path: Path, store: str) -> None:
    recipe = three_sessions(tmp_path)
    (tmp_path / "fail").write_text("1")
    first = framework0.run(recipe, store=store)  # item 0 succeeds with a = old
    (tmp_path / "a").write_text("new")
    (tmp_path / "fail").write_text("0")
    framework0.resume(first.run_id, store=store, from_step="a")  # with a = new: item 0 fails, 1 succeeds
    (tmp_path / "fail").write_text("")

    third = framework0.resume(first.run_id, store=store)

    assert third.status == "succeeded", third.error
    assert third.steps["b"].output == ["new-v1-0", "new-v1-1"]
    assert third.context == {"item.0": "new-v1-0", "item.1": "new-v1-1"}


def test_an_item_done_under_other_params_is_not_kept_in_a_later_session(tmp_path: Path, store: str) -> None:
    recipe = three_sessions(tmp_path)
    (tmp_path / "fail").write_text("1")
    first = framework0.run(recipe, store=store)  # item 0 succeeds with tag v1
    (tmp_path / "fail").write_text("0")
    framework0.resume(first.run_id, store=store, params={"tag": "v2"})  # item 0 fails, 1 succeeds
    (tmp_path / "fail").write_text("")

    third = framework0.resume(first.run_id, store=store)

    assert third.steps["b"].output == ["old-v2-0", "old-v2-1"]
