"""What the command line says, through the real ``f0``: one actionable line per error (exit 2),
counts in good English, aligned columns, what a command wrote, and nothing when its reader goes
away (``f0 ... | head``)."""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.helpers import f0 as f0_process
from tests.helpers import invoke, one_line_error, start_f0
from tests.server.servers import server_thread


def f0(*args: str | Path, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``f0 ARGS`` in ``cwd``, in this process; F0_* settings only from ``env``."""
    return invoke(*args, cwd=cwd, env=env)


HELLO = "steps:\n  - name: greet\n    uses: hello_world\n"

FAILING = """\
steps:
  - name: boom
    uses: shell
    args: {cmd: "exit 3"}
"""

# Four steps at once, each printing many short lines: what a pipe receives must be whole lines.
CHATTY_STEPS = """\
def chat(name, lines):
    for number in range(lines):
        print(f"{name} says line {number}")


def fill(ctx, keys):
    for number in range(keys):
        ctx.set(f"key{number:05}", "v" * 100)
"""

CHATTY = """\
steps:
""" + "".join(
    f'  - {{name: {name}, uses: python, args: {{call: "chatty:chat", args: [{name}, 5000]}}}}\n'
    for name in ("north", "south", "east", "west")
)

BIG_CONTEXT = """\
steps:
  - {name: fill, uses: python, args: {call: "chatty:fill", kwargs: {keys: 3000}}}
  - {name: talk, uses: python, args: {call: "chatty:chat", args: [talk, 5000]}}
"""

STEP_LINE = re.compile(r"(north|south|east|west) says line \d+")


@dataclass
class Recorded:
    folder: Path
    hello: str  # hello.yaml, succeeded
    failed: str  # a-recipe-with-a-long-name.yaml, failed
    big: str  # a context of 3,000 keys of 100 characters, 5,000 log lines

    def f0(self, *args: str | Path) -> subprocess.CompletedProcess[str]:
        return f0(*args, "--store", store(self.folder), cwd=self.folder)


def store(folder: Path) -> str:
    return f"sqlite:///{folder}/runs.db"


def run_id_of(process: subprocess.CompletedProcess[str]) -> str:
    run_id: str = json.loads(process.stdout)["run_id"]
    return run_id


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Recorded:
    folder = tmp_path_factory.mktemp("messages")
    (folder / "hello.yaml").write_text(HELLO, encoding="utf-8")
    (folder / "a-recipe-with-a-long-name.yaml").write_text(FAILING, encoding="utf-8")
    (folder / "chatty.py").write_text(CHATTY_STEPS, encoding="utf-8")
    (folder / "big.yaml").write_text(BIG_CONTEXT, encoding="utf-8")
    hello = f0("run", "hello.yaml", "--json", "--store", store(folder), cwd=folder)
    failed = f0("run", "a-recipe-with-a-long-name.yaml", "--json", "--store", store(folder), cwd=folder)
    big = f0("run", "big.yaml", "--json", "--store", store(folder), cwd=folder)
    assert (hello.returncode, failed.returncode, big.returncode) == (0, 1, 0), big.stderr[-2000:]
    return Recorded(folder, run_id_of(hello), run_id_of(failed), run_id_of(big))


# -- one line, exit 2 -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [["run", "recipes"], ["run", "--recipe", "recipes"], ["graph", "recipes"], ["validate", "recipes"]],
    ids=["run", "run-recipe-option", "graph", "validate"],
)
def test_a_folder_given_for_a_recipe_is_refused_in_one_line(tmp_path: Path, args: list[str]) -> None:
    (tmp_path / "recipes").mkdir()

    assert one_line_error(f0(*args, cwd=tmp_path)) == "error: recipes: is a directory, not a recipe file"


def test_a_file_given_for_init_s_folder_is_refused_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine", encoding="utf-8")

    assert one_line_error(f0("init", "notes.txt", cwd=tmp_path)) == "error: notes.txt: is a file, not a folder"


def test_a_folder_given_for_junit_is_refused_before_running(tmp_path: Path) -> None:
    (tmp_path / "hello.yaml").write_text(HELLO, encoding="utf-8")
    (tmp_path / "reports").mkdir()

    process = f0("run", "hello.yaml", "--junit", "reports", cwd=tmp_path)

    assert one_line_error(process) == (
        "error: --junit reports: is a directory; give a file name, e.g. reports/junit.xml"
    )


@pytest.mark.parametrize("timeout", ["0", "0s", "0.0", "0ms"])
def test_a_run_timeout_of_zero_is_refused(tmp_path: Path, timeout: str) -> None:
    (tmp_path / "hello.yaml").write_text(HELLO, encoding="utf-8")

    process = f0("run", "hello.yaml", "--timeout", timeout, cwd=tmp_path)

    assert one_line_error(process) == (
        "error: --timeout: a run timeout must be more than 0, got 0s; leave it out for no limit"
    )


def test_a_negative_run_timeout_is_refused(tmp_path: Path) -> None:
    (tmp_path / "hello.yaml").write_text(HELLO, encoding="utf-8")

    process = f0("run", "hello.yaml", "--timeout", "-5s", cwd=tmp_path)

    assert one_line_error(process) == "error: --timeout: a duration cannot be negative, got '-5s'"


def test_a_run_id_shorter_than_four_characters_says_so(recorded: Recorded) -> None:
    message = one_line_error(recorded.f0("runs", "show", recorded.hello[:3]))

    assert message == (
        f"error: no run {recorded.hello[:3]!r} in the store {store(recorded.folder)}; "
        "a run id needs 4 or more characters (f0 runs list shows the runs)"
    )


def test_a_run_without_a_token_says_how_to_give_one_on_the_command_line(tmp_path: Path) -> None:
    (tmp_path / "hello.yaml").write_text(HELLO, encoding="utf-8")
    with server_thread(store(tmp_path)) as server:
        process = f0(
            "run",
            "hello.yaml",
            "--context-server",
            server.url,
            cwd=tmp_path,
            env={"F0_TOKEN_FILE": str(tmp_path / "no-token")},
        )
    assert process.returncode == 1
    assert process.stderr == (
        f"error: the context server at {server.url} needs a token and none was found: set F0_TOKEN to the "
        f"token f0 serve uses (it prints it when it starts), or write it to {tmp_path / 'no-token'}\n"
    )


def test_a_run_with_a_wrong_token_says_which_one_was_refused(tmp_path: Path) -> None:
    (tmp_path / "hello.yaml").write_text(HELLO, encoding="utf-8")
    with server_thread(store(tmp_path)) as server:
        process = f0(
            "run",
            "hello.yaml",
            "--context-server",
            server.url,
            cwd=tmp_path,
            env={"F0_TOKEN": "not-the-token-of-this-server-0123456789"},
        )
    assert process.returncode == 1
    assert process.stderr == (
        f"error: the context server at {server.url} refused the token in F0_TOKEN: set F0_TOKEN to the "
        "token f0 serve uses (it prints it when it starts)\n"
    )


# -- what commands print ---------------------------------------------------------------------------


@pytest.mark.parametrize(("fmt", "name"), [("mermaid", "etl.mmd"), ("svg", "etl.svg"), ("html", "etl.html")])
def test_graph_to_a_file_says_what_it_wrote(tmp_path: Path, fmt: str, name: str) -> None:
    (tmp_path / "hello.yaml").write_text(HELLO, encoding="utf-8")

    process = f0("graph", "hello.yaml", "--format", fmt, "-o", name, cwd=tmp_path)

    assert process.returncode == 0, process.stderr
    size = (tmp_path / name).stat().st_size
    shown = f"{size} bytes" if size < 1024 else f"{size / 1024:.1f} KiB"
    assert process.stdout == f"wrote {name} ({shown}): the {fmt} graph of hello.yaml, 1 step\n"


def test_runs_list_limited_to_one_says_the_newest_run(recorded: Recorded) -> None:
    listing = recorded.f0("runs", "list", "--limit", "1")

    assert listing.returncode == 0, listing.stderr
    assert listing.stdout.splitlines()[-1] == "(the newest run; --limit N shows more, --limit 0 all)"


def test_explain_counts_one_attempt_in_the_singular(recorded: Recorded) -> None:
    explained = recorded.f0("explain", recorded.hello, "greet")

    assert explained.stdout.splitlines()[0] == f"step 'greet' of run {recorded.hello}: succeeded after 1 attempt"


def test_validate_counts_one_step_in_the_singular(tmp_path: Path) -> None:
    (tmp_path / "hello.yaml").write_text(HELLO, encoding="utf-8")

    assert f0("validate", "hello.yaml", cwd=tmp_path).stdout == "hello.yaml: ok (1 step)\n"


def test_clean_dry_run_lists_runs_in_aligned_columns(recorded: Recorded) -> None:
    listed = recorded.f0("clean", "--older-than", "2999-01-01", "--dry-run")

    assert listed.returncode == 0, listed.stderr
    rows = [line for line in listed.stdout.splitlines() if line.startswith("  ")]
    assert len(rows) == 3
    names = {recorded.hello: "hello.yaml", recorded.failed: "a-recipe-with-a-long-name.yaml", recorded.big: "big.yaml"}
    statuses = {recorded.hello: "succeeded", recorded.failed: "failed", recorded.big: "succeeded"}
    columns = set()
    for row in rows:
        run_id = row.split()[0]
        name_at = row.index(names[run_id])
        status_at = row.index(statuses[run_id], name_at + len(names[run_id]))
        moment = re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$", row)
        assert moment is not None, row
        columns.add((name_at, status_at, moment.start()))
    assert len(columns) == 1, rows


# -- parallel output and closed pipes ----------------------------------------------------------------


def test_lines_of_parallel_steps_reach_a_pipe_whole(recorded: Recorded) -> None:
    (recorded.folder / "chatty.yaml").write_text(CHATTY, encoding="utf-8")

    process = f0_process("run", "chatty.yaml", "--store", store(recorded.folder), cwd=recorded.folder)

    assert process.returncode == 0, process.stderr
    lines = process.stdout.splitlines()
    step_lines = [line for line in lines if "says line" in line]
    assert [line for line in step_lines if not STEP_LINE.fullmatch(line)] == []
    assert len(step_lines) == 4 * 5000
    assert "" not in lines


def first_line_then_close(*args: str, cwd: Path) -> tuple[str, int, str]:
    """Run ``f0 ARGS``, read one line of its output and close the pipe, as ``f0 ARGS | head -1`` does:
    (the line, the exit status, what it wrote on stderr)."""
    with start_f0(*args, cwd=cwd) as process:
        assert process.stdout is not None and process.stderr is not None
        line = process.stdout.readline()
        process.stdout.close()
        try:
            err = process.stderr.read()
            status = process.wait(timeout=120)
        finally:
            if process.poll() is None:
                process.kill()
    return line, status, err


@pytest.mark.parametrize(
    "command",
    [["context", "show", "RUN"], ["context", "history", "RUN"], ["logs", "RUN"], ["runs", "show", "RUN", "--json"]],
    ids=["context-show", "context-history", "logs", "runs-show-json"],
)
def test_a_reader_that_goes_away_stops_a_reading_command_quietly(recorded: Recorded, command: list[str]) -> None:
    args = [recorded.big if arg == "RUN" else arg for arg in command]

    line, status, err = first_line_then_close(*args, "--store", store(recorded.folder), cwd=recorded.folder)

    assert line
    # 141 as for a Unix tool that SIGPIPE stopped; 0 when the system took a last large write whole
    assert status in (141, 0)
    assert "rror" not in err and "Traceback" not in err, err


def test_a_reader_that_goes_away_stops_a_line_by_line_command_with_status_141(recorded: Recorded) -> None:
    line, status, err = first_line_then_close(
        "context", "show", recorded.big, "--store", store(recorded.folder), cwd=recorded.folder
    )

    assert line == f"key00000 = {json.dumps('v' * 100)}\n"
    assert (status, err) == (141, f"run {recorded.big}, context version 3000 of 3000: 3000 keys\n")


def test_a_reader_that_goes_away_does_not_stop_the_run(recorded: Recorded) -> None:
    (recorded.folder / "chatty.yaml").write_text(CHATTY, encoding="utf-8")

    line, status, err = first_line_then_close(
        "run", "chatty.yaml", "--store", store(recorded.folder), cwd=recorded.folder
    )

    assert line.startswith("▶ chatty.yaml: 4 steps")
    assert (status, err) == (0, "")
    listing = recorded.f0("runs", "list", "--recipe", "chatty.yaml", "--limit", "1", "--json")
    assert json.loads(listing.stdout)[0]["steps"] == {"succeeded": 4}
