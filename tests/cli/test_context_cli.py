"""``f0 context show|history|diff`` on runs recorded by ``f0 run``, and the store reads under them
(``framework0.store.context_history``)."""

from __future__ import annotations

import gc
import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from tests.helpers import invoke

from framework0.cli.context import Side, parse_side
from framework0.errors import RunNotFound, UsageError
from framework0.store import open_store
from framework0.store.context_history import context_at, history
from framework0.store.database import Store
from framework0.store.writer import pack_snapshot

# three versions: v1 sets x and y, v2 changes x and adds z, v3 deletes y
FIRST = """\
test_meta: {test_id: CTX-001}
steps:
  - {name: a, uses: set_context, args: {values: {x: 1, y: one}}}
  - {name: b, uses: set_context, args: {values: {x: 2, z: [1, 2]}}, depends_on: [a]}
  - {name: c, module: context_cli_steps, function: drop_y, depends_on: [b]}
"""

SECOND = """\
steps:
  - {name: a, uses: set_context, args: {values: {x: 5, y: one, w: true}}}
"""

STEPS = """\
def drop_y(ctx):
    ctx.delete("y")
"""


def f0(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``f0 ARGS`` in ``cwd`` (in this process), with no F0_* setting from outside."""
    return invoke(*args, cwd=cwd)


class Recorded:
    """Two runs recorded in one store: ``first`` (3 context versions) and ``second`` (1)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.store = f"sqlite:///{folder}/s.db"
        (folder / "context_cli_steps.py").write_text(STEPS, encoding="utf-8")
        (folder / "first.yaml").write_text(FIRST, encoding="utf-8")
        (folder / "second.yaml").write_text(SECOND, encoding="utf-8")
        self.first = self.run("first.yaml")
        self.second = self.run("second.yaml")

    def run(self, recipe: str) -> str:
        result = f0("run", recipe, "--json", "--store", self.store, cwd=self.folder)
        assert result.returncode == 0, result.stderr
        run_id: str = json.loads(result.stdout)["run_id"]
        return run_id

    def f0(self, *args: str) -> subprocess.CompletedProcess[str]:
        return f0(*args, "--store", self.store, cwd=self.folder)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Recorded:
    return Recorded(tmp_path_factory.mktemp("context-cli"))


def test_show_prints_the_last_context_as_sorted_key_value_lines(recorded: Recorded) -> None:
    result = recorded.f0("context", "show", recorded.first)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["x = 2", "z = [1,2]"]
    assert result.stderr == f"run {recorded.first}, context version 3 of 3: 2 keys\n"


def test_show_at_a_version_rebuilds_that_version(recorded: Recorded) -> None:
    result = recorded.f0("context", "show", recorded.first, "--at", "1")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["x = 1", 'y = "one"']


def test_show_accepts_run_at_version_and_a_unique_start_of_the_run_id(recorded: Recorded) -> None:
    result = recorded.f0("context", "show", f"{recorded.first[:8]}@2", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "run_id": recorded.first,
        "version": 2,
        "latest": 3,
        "context": {"x": 2, "y": "one", "z": [1, 2]},
    }


def test_show_of_version_0_is_the_empty_context(recorded: Recorded) -> None:
    result = recorded.f0("context", "show", recorded.first, "--at", "0")
    assert (result.returncode, result.stdout) == (0, "")


def test_show_of_a_version_the_run_does_not_have_says_which_it_has(recorded: Recorded) -> None:
    result = recorded.f0("context", "show", recorded.first, "--at", "9")
    assert result.returncode == 2
    assert result.stderr == f"error: run {recorded.first} has context versions 0..3; there is no version 9\n"


def test_show_of_an_unknown_run_is_one_line_with_exit_2(recorded: Recorded) -> None:
    result = recorded.f0("context", "show", "nosuchrun")
    assert result.returncode == 2
    assert result.stderr.startswith("error: no run 'nosuchrun' in the store ")
    assert len(result.stderr.splitlines()) == 1


def test_history_lists_every_change_with_its_old_value_step_and_attempt(recorded: Recorded) -> None:
    result = recorded.f0("context", "history", recorded.first)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    # version, date, time, step#attempt, key, old -> new
    assert [line.split(None, 3)[0] + " " + line.split(None, 3)[3] for line in lines] == [
        "v1 a#1  x  null → 1",
        'v1 a#1  y  null → "one"',
        "v2 b#1  x  1 → 2",
        "v2 b#1  z  null → [1,2]",
        'v3 c#1  y  "one" → (deleted)',
    ]


def test_history_of_one_key_since_a_version(recorded: Recorded) -> None:
    result = recorded.f0("context", "history", recorded.first, "y", "--since", "1", "--json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert (document["run_id"], document["key"], document["since"], document["latest"]) == (recorded.first, "y", 1, 3)
    [change] = document["changes"]
    assert {k: change[k] for k in ("version", "key", "op", "old", "new", "step", "attempt", "item")} == {
        "version": 3,
        "key": "y",
        "op": "delete",
        "old": "one",
        "new": None,
        "step": "c",
        "attempt": 1,
        "item": None,
    }


def test_history_of_a_key_never_written_says_so(recorded: Recorded) -> None:
    result = recorded.f0("context", "history", recorded.first, "nope")
    assert (result.returncode, result.stdout) == (0, "")
    assert result.stderr == f"run {recorded.first}: no context changes to 'nope'\n"


def test_diff_of_two_versions_of_one_run(recorded: Recorded) -> None:
    result = recorded.f0("context", "diff", f"{recorded.first}@1", f"{recorded.first}@3")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"--- {recorded.first}@1",
        f"+++ {recorded.first}@3",
        "+ z = [1,2]",
        '- y = "one"',
        "~ x: 1 → 2",
        "3 keys differ: 1 added, 1 removed, 1 changed",
    ]


def test_diff_with_run_takes_plain_version_numbers(recorded: Recorded) -> None:
    result = recorded.f0("context", "diff", "--run", recorded.first, "1", "3", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "a": {"run_id": recorded.first, "version": 1},
        "b": {"run_id": recorded.first, "version": 3},
        "added": {"z": [1, 2]},
        "removed": {"y": "one"},
        "changed": {"x": {"old": 1, "new": 2}},
    }


def test_diff_of_two_runs_compares_their_last_contexts(recorded: Recorded) -> None:
    result = recorded.f0("context", "diff", recorded.first, recorded.second)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"--- {recorded.first}@3",
        f"+++ {recorded.second}@1",
        "+ w = true",
        '+ y = "one"',
        "- z = [1,2]",
        "~ x: 2 → 5",
        "4 keys differ: 2 added, 1 removed, 1 changed",
    ]


def test_diff_of_a_run_with_itself_finds_no_difference(recorded: Recorded) -> None:
    result = recorded.f0("context", "diff", recorded.first, f"{recorded.first}@3")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "no differences (2 keys)"


def test_diff_of_plain_numbers_without_run_explains_both_spellings(recorded: Recorded) -> None:
    result = recorded.f0("context", "diff", "1", "3")
    assert result.returncode == 2
    assert result.stderr.startswith("error: no run '1' in the store ")
    assert result.stderr.endswith(
        "; to compare versions of one run: f0 context diff RUN@1 RUN@3, or f0 context diff --run RUN 1 3\n"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["diff", "ID@x", "ID"], "error: 'ID@x': after @ comes a context version number, as in ID@7 "),
        (["diff", "@3", "ID"], "error: '@3' names no run: write RUN@3, or give the run with --run RUN\n"),
        (["show", "ID@2", "--at", "3"], "error: give the version once: ID@2 or --at 3, not both\n"),
    ],
    ids=["version-not-a-number", "no-run", "version-twice"],
)
def test_badly_written_versions_are_usage_errors(recorded: Recorded, args: list[str], message: str) -> None:
    result = recorded.f0("context", *[arg.replace("ID", recorded.first) for arg in args])
    assert result.returncode == 2
    assert result.stderr.startswith(message.replace("ID", recorded.first))


@pytest.mark.parametrize(
    ("text", "run", "side"),
    [
        ("3fa2c1", None, Side("3fa2c1", None)),
        ("3fa2c1@7", None, Side("3fa2c1", 7)),
        ("3fa2c1@0", "9b8e07", Side("3fa2c1", 0)),
        ("7", "9b8e07", Side("9b8e07", 7)),
        ("@7", "9b8e07", Side("9b8e07", 7)),
        ("123456", None, Side("123456", None)),
        ("9b8e07", "3fa2c1", Side("9b8e07", None)),
    ],
    ids=[
        "run",
        "run-at-version",
        "run-at-version-despite-run",
        "version-of-run",
        "at-version-of-run",
        "digits",
        "other-run",
    ],
)
def test_a_diff_side_is_a_run_a_version_or_both(text: str, run: str | None, side: Side) -> None:
    assert parse_side(text, run) == side


def test_help_shows_both_ways_to_diff(recorded: Recorded) -> None:
    result = f0("context", "diff", "--help", cwd=recorded.folder)
    assert result.returncode == 0
    assert "f0 context diff 3fa2c1@3 3fa2c1@7" in result.stdout
    assert "f0 context diff 3fa2c1 9b8e07" in result.stdout
    assert "f0 context diff --run 3fa2c1 3 7" in result.stdout


# -- the store reads: snapshots plus deltas ------------------------------------------------------


def write_run(store: Store, run_id: str, count: int, every: int) -> list[dict[str, Any]]:
    """A run with ``count`` context versions and a snapshot at every multiple of ``every``; returns
    the context after each version. Version v sets k{v % 4} to v and, when v is a multiple of 5,
    deletes k{(v + 1) % 4} if it is there. Odd versions come from step s, even ones from no step."""
    states: list[dict[str, Any]] = [{}]
    rows, snapshots = [], []
    for version in range(1, count + 1):
        state = dict(states[-1])
        changes: list[list[Any]] = [["set", f"k{version % 4}", version]]
        state[f"k{version % 4}"] = version
        if version % 5 == 0 and f"k{(version + 1) % 4}" in state:
            changes.append(["delete", f"k{(version + 1) % 4}", None])
            del state[f"k{(version + 1) % 4}"]
        states.append(state)
        rows.append(
            {
                "run_id": run_id,
                "version": version,
                "at": 1000.0 + version,
                "step": "s" if version % 2 else "",
                "attempt": 1 if version % 2 else 0,
                "item": -1,
                "seq": version,
                "node": "here",
                "changes": json.dumps(changes),
            }
        )
        if version % every == 0:
            snapshots.append({"run_id": run_id, "version": version, "data": pack_snapshot(state)})
    run = {
        "run_id": run_id,
        "test_id": None,
        "recipe_path": None,
        "status": "succeeded",
        "started_at": time.time(),
        "finished_at": time.time(),
        "error_type": None,
        "error_message": None,
        "params": "{}",
        "fingerprint": "{}",
        "context": json.dumps(states[-1]),
        "context_version": count,
        "node": "here",
        "pid": 1,
        "sessions": 1,
    }
    store.write({"runs": [run], "context_versions": rows, "context_snapshots": snapshots})
    return states


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = open_store(f"sqlite:///{tmp_path}/history.db")
    yield opened
    opened.close()


def test_every_version_is_rebuilt_from_its_snapshot_and_at_most_every_minus_1_deltas(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    states = write_run(store, "r1", 23, every=5)
    read: list[int] = []
    context_versions = store.context_versions

    def counting(run_id: str, *, after: int = 0, upto: int | None = None) -> list[dict[str, Any]]:
        rows = context_versions(run_id, after=after, upto=upto)
        read.append(len(rows))
        return rows

    monkeypatch.setattr(store, "context_versions", counting)
    for version in range(24):
        assert context_at(store, "r1", version) == (version, states[version])
    assert context_at(store, "r1") == (23, states[23])
    assert max(read) == 4


def test_rebuilding_a_version_takes_three_queries(store: Store) -> None:
    write_run(store, "r1", 23, every=5)
    statements: list[str] = []
    sa.event.listen(store.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    context_at(store, "r1", 19)
    assert len(statements) == 3  # the run, the snapshot, the deltas


def test_history_since_a_version_starts_from_the_context_at_that_version(store: Store) -> None:
    states = write_run(store, "r1", 23, every=5)
    changes = history(store, "r1", since=17)
    assert [change.version for change in changes] == [18, 19, 20, 20, 21, 22, 23]
    for change in changes:
        assert change.old == states[change.version - 1].get(change.key)
    assert changes[0].source.step is None and changes[0].source.attempt is None
    assert (changes[1].source.step, changes[1].source.attempt, changes[1].source.item) == ("s", 1, None)


def test_history_of_one_key_has_its_old_values(store: Store) -> None:
    write_run(store, "r1", 23, every=5)
    changes = history(store, "r1", "k1", since=6)
    assert [(c.version, c.op, c.old, c.new) for c in changes] == [
        (9, "set", 5, 9),
        (13, "set", 9, 13),
        (17, "set", 13, 17),
        (20, "delete", 17, None),
        (21, "set", None, 21),
    ]


def test_rebuilding_leaves_the_garbage_collector_as_it_found_it(store: Store) -> None:
    write_run(store, "r1", 12, every=5)
    context_at(store, "r1", 9)
    assert gc.isenabled()
    gc.disable()
    try:
        context_at(store, "r1", 9)
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_a_version_out_of_range_names_the_range(store: Store) -> None:
    write_run(store, "r1", 4, every=5)
    with pytest.raises(UsageError) as error:
        context_at(store, "r1", 5)
    assert str(error.value) == "run r1 has context versions 0..4; there is no version 5"
    with pytest.raises(UsageError):
        history(store, "r1", since=-1)
    with pytest.raises(RunNotFound):
        context_at(store, "r2")
