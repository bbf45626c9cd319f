"""Each attempt's stdout, stderr and logging are captured as its own LogLines (engine/capture.py)."""

from __future__ import annotations

import io
import logging
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import pytest

import framework0
from framework0 import EventBus, RunResult
from framework0.config import Config
from framework0.engine import capture
from framework0.engine.capture import AttemptLog, OutputCapture
from framework0.events import Event, LogLines

STEPS = '''
import logging
import sys
import threading
import time
from pathlib import Path


def shout(word, times=1):
    for _ in range(times):
        print(word)
    return word


def both():
    print("to stdout")
    print("to stderr", file=sys.stderr)


def logs():
    logging.getLogger("capture.test").warning("disk at %d%%", 91)
    logging.getLogger("capture.test").debug("not enabled, not logged")


def meet(word, barrier_file, count=200):
    """Print in step with another attempt: both wait until the other has started."""
    Path(barrier_file + "." + word).touch()
    while len(list(Path(barrier_file).parent.glob(Path(barrier_file).name + ".*"))) < 2:
        time.sleep(0.005)
    for n in range(count):
        print(f"{word} {n}")


def flaky(counter):
    path = Path(counter)
    count = int(path.read_text()) + 1 if path.exists() else 1
    path.write_text(str(count))
    print(f"attempt {count} here")
    if count == 1:
        raise ConnectionError("first try fails")


def chatty(size):
    sys.stdout.write("x" * size + "\\n")
    sys.stdout.write("after the cap\\n")


def unfinished():
    sys.stdout.write("no newline at the end")


def helper_thread():
    thread = threading.Thread(target=print, args=("from a thread the step started",))
    thread.start()
    thread.join()
'''


@pytest.fixture
def steps_dir(tmp_path: Path) -> Path:
    (tmp_path / "capture_steps.py").write_text(STEPS, encoding="utf-8")
    return tmp_path


def run(folder: Path, text: str, **options) -> tuple[RunResult, list[LogLines]]:
    recipe = framework0.load_recipe_text(textwrap.dedent(text), file="t.yaml", base_dir=folder)
    lines: list[LogLines] = []

    def keep(event: Event) -> None:
        if isinstance(event, LogLines):
            lines.append(event)

    bus = EventBus()
    bus.subscribe(keep)
    result = framework0.run(recipe, bus=bus, store=None, **options)
    return result, lines


def texts(lines: list[LogLines], step: str, stream: str = "stdout", attempt: int | None = None) -> list[str]:
    return [
        line
        for event in lines
        if event.step == step and event.stream == stream and (attempt is None or event.attempt == attempt)
        for line in event.text.split("\n")
    ]


# -- in a run -------------------------------------------------------------------------------------


@pytest.mark.parametrize("executor", ["local", "inline", "process"])
def test_what_a_step_prints_is_captured_as_its_stdout(steps_dir, executor):
    recipe = """
    steps:
      - {name: hello, module: capture_steps, function: shout, args: {word: hi, times: 2}}
    """
    result, lines = run(steps_dir, recipe, executor=executor)
    assert result.status == "succeeded"
    assert texts(lines, "hello") == ["hi", "hi"]
    assert {(event.attempt, event.item) for event in lines} == {(1, None)}


@pytest.mark.parametrize("executor", ["local", "process"])
def test_stderr_is_kept_apart_from_stdout(steps_dir, executor):
    recipe = "steps:\n  - {name: both, module: capture_steps, function: both}\n"
    _, lines = run(steps_dir, recipe, executor=executor)
    assert texts(lines, "both", "stdout") == ["to stdout"]
    assert texts(lines, "both", "stderr") == ["to stderr"]


def test_logging_records_are_captured_as_level_logger_and_message(steps_dir):
    _, lines = run(steps_dir, "steps:\n  - {name: logs, module: capture_steps, function: logs}\n")
    assert texts(lines, "logs", "log") == ["WARNING capture.test: disk at 91%"]


def test_the_prints_of_two_parallel_steps_do_not_mix(steps_dir, tmp_path):
    barrier = tmp_path / "barrier"
    recipe = f"""
    steps:
      - {{name: a, module: capture_steps, function: meet, args: {{word: a, barrier_file: "{barrier}"}}}}
      - {{name: b, module: capture_steps, function: meet, args: {{word: b, barrier_file: "{barrier}"}}}}
    """
    result, lines = run(steps_dir, recipe, max_parallel=2)
    assert result.status == "succeeded"
    assert texts(lines, "a") == [f"a {n}" for n in range(200)]
    assert texts(lines, "b") == [f"b {n}" for n in range(200)]


def test_each_attempt_of_a_retried_step_has_its_own_lines(steps_dir, tmp_path):
    recipe = f"""
    steps:
      - name: flaky
        module: capture_steps
        function: flaky
        args: {{counter: "{tmp_path / "count"}"}}
        retry: {{attempts: 2, delay: 0}}
    """
    result, lines = run(steps_dir, recipe)
    assert result.steps["flaky"].attempts == 2
    assert texts(lines, "flaky", attempt=1) == ["attempt 1 here"]
    assert texts(lines, "flaky", attempt=2) == ["attempt 2 here"]


def test_foreach_items_are_captured_with_their_item(steps_dir):
    recipe = """
    steps:
      - {name: each, module: capture_steps, function: shout, foreach: "{{ ['x', 'y'] }}", args: {word: "{{ item }}"}}
    """
    _, lines = run(steps_dir, recipe, executor="inline")
    assert sorted((event.item, event.text) for event in lines) == [(0, "x"), (1, "y")]


def test_a_line_without_a_newline_is_sent_when_the_attempt_ends(steps_dir):
    _, lines = run(steps_dir, "steps:\n  - {name: u, module: capture_steps, function: unfinished}\n")
    assert texts(lines, "u") == ["no newline at the end"]


def test_text_from_a_thread_the_step_started_is_not_captured(steps_dir):
    _, lines = run(steps_dir, "steps:\n  - {name: t, module: capture_steps, function: helper_thread}\n")
    assert lines == []


def test_an_attempt_s_log_stops_at_the_cap_with_one_framework_line(steps_dir, monkeypatch):
    monkeypatch.setenv("F0_MAX_LOG_BYTES", "100")
    _, lines = run(steps_dir, "steps:\n  - {name: big, module: capture_steps, function: chatty, args: {size: 150}}\n")
    assert texts(lines, "big") == ["x" * 100]
    assert texts(lines, "big", "framework") == ["[log truncated: 65 bytes dropped]"]


def test_the_shell_built_in_logs_the_command_s_stdout_and_stderr(steps_dir):
    code = "import sys; print('out 1'); print('err 1', file=sys.stderr); print('out 2')"
    recipe = """
    steps:
      - {name: sh, uses: shell, args: {argv: ["PYTHON", "-c", "CODE"]}}
    """.replace("PYTHON", sys.executable.replace("\\", "/")).replace("CODE", code)
    result, lines = run(steps_dir, recipe)
    assert result.steps["sh"].output == {"stdout": "out 1\nout 2\n", "stderr": "err 1\n", "exit_code": 0}
    assert texts(lines, "sh", "stdout") == ["out 1", "out 2"]
    assert texts(lines, "sh", "stderr") == ["err 1"]


def test_the_shell_built_in_logs_in_a_worker_process_too(steps_dir):
    recipe = """
    steps:
      - {name: sh, uses: shell, args: {argv: ["PYTHON", "-c", "print('from a worker')"]}}
    """.replace("PYTHON", sys.executable.replace("\\", "/"))
    _, lines = run(steps_dir, recipe, executor="process")
    assert texts(lines, "sh") == ["from a worker"]


COMMAND = """
import os, time
print("one", flush=True)
deadline = time.monotonic() + 10
while not os.path.exists("go") and time.monotonic() < deadline:
    time.sleep(0.02)
print("two" if os.path.exists("go") else "nobody saw 'one' while the command ran")
"""


@pytest.mark.parametrize(
    ("executor", "timeout"), [("local", "timeout: 60"), ("process", "")], ids=["worker-thread", "process"]
)
def test_the_shell_built_in_sends_each_line_while_the_command_runs(steps_dir, monkeypatch, executor, timeout):
    monkeypatch.chdir(steps_dir)
    (steps_dir / "command.py").write_text(COMMAND, encoding="utf-8")
    python = sys.executable.replace("\\", "/")
    text = f"steps:\n  - {{name: sh, uses: shell, args: {{argv: ['{python}', command.py]}}, {timeout}}}\n"
    recipe = framework0.load_recipe_text(text.replace(", }", "}"), file="t.yaml", base_dir=steps_dir)

    def answer(event: Event) -> None:
        if isinstance(event, LogLines) and event.text == "one":
            (steps_dir / "go").touch()

    bus = EventBus()
    bus.subscribe(answer)
    result = framework0.run(recipe, bus=bus, store=None, executor=executor)
    assert result.steps["sh"].output["stdout"] == "one\ntwo\n"


def test_what_a_step_prints_still_reaches_the_terminal(steps_dir, capsys):
    run(steps_dir, "steps:\n  - {name: both, module: capture_steps, function: both}\n")
    out, err = capsys.readouterr()
    assert "to stdout\n" in out
    assert "to stderr\n" in err


def test_a_run_puts_back_the_streams_and_the_record_factory_it_found(steps_dir):
    before = (sys.stdout, sys.stderr, logging.getLogRecordFactory())
    run(steps_dir, "steps:\n  - {name: both, module: capture_steps, function: both}\n")
    assert (sys.stdout, sys.stderr, logging.getLogRecordFactory()) == before


def test_two_runs_at_once_in_one_process_each_get_their_own_lines_and_leave_the_streams_as_found(steps_dir, tmp_path):
    before = (sys.stdout, sys.stderr, logging.getLogRecordFactory())
    barrier = tmp_path / "barrier"
    found: dict[str, list[LogLines]] = {}

    def one_run(word: str) -> None:
        recipe = f"""
        steps:
          - {{name: s, module: capture_steps, function: meet, args: {{word: {word}, barrier_file: "{barrier}"}}}}
        """
        found[word] = run(steps_dir, recipe)[1]

    threads = [threading.Thread(target=one_run, args=(word,)) for word in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert texts(found["a"], "s") == [f"a {n}" for n in range(200)]
    assert texts(found["b"], "s") == [f"b {n}" for n in range(200)]
    assert (sys.stdout, sys.stderr, logging.getLogRecordFactory()) == before


# -- the parts ------------------------------------------------------------------------------------


def collect() -> tuple[OutputCapture, list[LogLines]]:
    sent: list[LogLines] = []
    return OutputCapture.notifying(sent.append), sent


def test_one_write_of_several_lines_is_sent_as_one_event():
    sent: list[tuple[LogLines, bool]] = []
    log = AttemptLog("s", 1, None, lambda lines, echo: sent.append((lines, echo)), limit=1000, echo=True)
    log.write("stdout", "a\nb\nc")
    log.write("stdout", "d\n")
    assert [(event.text, echo) for event, echo in sent] == [("a\nb", False), ("cd", False)]


def test_a_worker_s_printed_lines_ask_the_receiver_to_show_them_but_quiet_ones_do_not():
    sent: list[tuple[str, bool]] = []
    log = AttemptLog("s", 1, None, lambda lines, echo: sent.append((lines.text, echo)), limit=1000, echo=False)
    log.write("stdout", "printed\n")
    log.writer("stdout")("from shell\n")
    assert sent == [("printed", True), ("from shell", False)]


def test_nothing_is_logged_after_the_attempt_ends():
    capture_, sent = collect()
    capture_.install()
    try:
        capture_.begin("s", 1, None)
        proxy: Any = sys.stdout
        write = proxy.attempt_writer()
        capture_.end()
        write("too late\n")
    finally:
        capture_.uninstall()
    assert sent == []


def test_install_is_counted_and_the_last_uninstall_restores_the_streams():
    original = sys.stdout
    capture.install()
    proxy = sys.stdout
    capture.install()
    assert sys.stdout is proxy is not original
    capture.uninstall()
    assert sys.stdout is proxy
    capture.uninstall()
    assert sys.stdout is original


def test_uninstall_leaves_a_stream_someone_else_put_in_place():
    capture.install()
    theirs = io.StringIO()
    ours: Any = sys.stdout
    sys.stdout = theirs
    try:
        capture.uninstall()
        assert sys.stdout is theirs
    finally:
        sys.stdout = ours.stream


def test_an_attempt_run_inside_an_attempt_gets_its_own_lines_and_the_outer_one_resumes():
    capture_, sent = collect()
    capture_.install()
    try:
        capture_.begin("outer", 1, None)
        print("before")
        capture_.begin("inner", 1, None)
        print("inside")
        capture_.end()
        print("after")
        capture_.end()
    finally:
        capture_.uninstall()
    assert [(event.step, event.text) for event in sent] == [
        ("outer", "before"),
        ("inner", "inside"),
        ("outer", "after"),
    ]


def test_text_from_a_thread_without_an_attempt_passes_through_uncaptured(capsys):
    capture_, sent = collect()
    capture_.install()
    try:
        capture_.begin("s", 1, None)
        thread = threading.Thread(target=print, args=("elsewhere",))
        thread.start()
        thread.join()
        capture_.end()
    finally:
        capture_.uninstall()
    assert sent == []
    assert capsys.readouterr().out == "elsewhere\n"


@pytest.mark.parametrize("executor", ["inline", "local", "process"])
def test_the_configured_cap_holds_on_every_executor(steps_dir, executor):
    config = Config(store=None, max_log_bytes=100)
    recipe = "steps:\n  - {name: big, module: capture_steps, function: chatty, args: {size: 150}}\n"
    _, lines = run(steps_dir, recipe, config=config, executor=executor)
    assert texts(lines, "big") == ["x" * 100]
    assert texts(lines, "big", "framework") == ["[log truncated: 65 bytes dropped]"]
