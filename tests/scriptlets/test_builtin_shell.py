from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psutil
import pytest
from pydantic import ValidationError

from framework0.context import CancelToken, ChangeSource, Context, ContextState
from framework0.errors import CommandFailed, StepCancelled
from framework0.scriptlets.builtin import shell
from framework0.scriptlets.builtin.shell import ShellScriptlet

posix_only = pytest.mark.skipif(sys.platform == "win32", reason="uses sh, sleep and process groups")


def make_context(cancelled: CancelToken | None = None) -> Context:
    return Context(ContextState(), ChangeSource(node="test", step="s", attempt=1), cancelled=cancelled)


def run_shell(args: dict[str, Any], ctx: Context | None = None) -> Any:
    ctx = ctx or make_context()
    scriptlet = ShellScriptlet()
    scriptlet.setup(ctx)
    return scriptlet.run(ctx, ShellScriptlet.parse_params(args))


def python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def is_gone(pid: int, within: float = 2.0) -> bool:
    """True once ``pid`` no longer runs (a zombie waiting for init to reap it counts as gone)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.02)
    return False


def read_pids(path: Path, count: int, within: float = 5.0) -> list[int]:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        words = path.read_text().split() if path.exists() else []
        if len(words) >= count:
            return [int(word) for word in words]
        time.sleep(0.02)
    raise AssertionError(f"{path} did not get {count} pids")


class StepThread(threading.Thread):
    """Runs a shell step the way the runner does: in its own thread, keeping what it raised."""

    def __init__(self, args: dict[str, Any], ctx: Context) -> None:
        super().__init__(daemon=True)
        self.args, self.ctx = args, ctx
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            run_shell(self.args, self.ctx)
        except BaseException as error:
            self.error = error


def test_argv_runs_without_a_shell_and_returns_the_output() -> None:
    code = "import sys; print('out'); print('err', file=sys.stderr)"
    assert run_shell({"argv": python(code)}) == {"stdout": "out\n", "stderr": "err\n", "exit_code": 0}


@posix_only
def test_cmd_runs_through_the_shell() -> None:
    output = run_shell({"cmd": "echo one | tr o 0; echo two >&2"})
    assert output == {"stdout": "0ne\n", "stderr": "two\n", "exit_code": 0}


def test_output_larger_than_a_pipe_buffer_is_captured_whole() -> None:
    output = run_shell({"argv": python("import sys; sys.stdout.write('x' * 1_000_000)")})
    assert len(output["stdout"]) == 1_000_000


@posix_only
def test_output_beyond_the_limit_keeps_its_first_and_last_halves_with_a_note(monkeypatch) -> None:
    monkeypatch.setattr(shell, "_KEEP_BYTES", 20)
    result = run_shell({"argv": python("import sys; sys.stdout.write('a' * 10 + 'b' * 100 + 'c' * 10)")})
    assert (
        result["stdout"]
        == "a" * 10 + "\n[... 100 bytes dropped here; the first and last 10 bytes are kept ...]\n" + "c" * 10
    )


def test_the_failure_message_still_shows_the_last_lines_of_a_truncated_stderr(monkeypatch) -> None:
    monkeypatch.setattr(shell, "_KEEP_BYTES", 64)
    code = "import sys; [print(f'line {n}', file=sys.stderr) for n in range(100)]; sys.exit(3)"
    with pytest.raises(CommandFailed) as failure:
        run_shell({"argv": python(code)})
    assert str(failure.value).endswith("line 97\nline 98\nline 99")


def test_a_non_zero_exit_fails_naming_the_code_and_the_last_lines_of_stderr() -> None:
    cmd = "for i in 1 2 3 4 5 6 7; do echo line $i >&2; done; exit 3"
    with pytest.raises(CommandFailed) as caught:
        run_shell({"cmd": cmd})
    assert str(caught.value) == (
        f"command {cmd!r} exited with code 3; last lines of stderr:\nline 3\nline 4\nline 5\nline 6\nline 7"
    )


@posix_only
def test_a_failure_with_nothing_on_stderr_says_so() -> None:
    with pytest.raises(CommandFailed) as caught:
        run_shell({"cmd": "exit 2"})
    assert str(caught.value) == "command 'exit 2' exited with code 2 (nothing on stderr)"


@posix_only
def test_a_command_killed_by_a_signal_names_the_signal() -> None:
    with pytest.raises(CommandFailed) as caught:
        run_shell({"cmd": "kill -9 $$"})
    assert str(caught.value) == "command 'kill -9 $$' exited with code -9 (killed by SIGKILL) (nothing on stderr)"


def test_check_false_returns_a_non_zero_exit_code() -> None:
    output = run_shell({"argv": python("raise SystemExit(4)"), "check": False})
    assert output["exit_code"] == 4


def test_env_is_added_to_the_environment_as_strings() -> None:
    code = "import os; print(os.environ['F0_PORT'], os.environ['F0_DEBUG'], bool(os.environ.get('PATH')))"
    output = run_shell({"argv": python(code), "env": {"F0_PORT": 8080, "F0_DEBUG": True}})
    assert output["stdout"] == "8080 true True\n"


def test_cwd_sets_the_folder_the_command_runs_in(tmp_path: Path) -> None:
    output = run_shell({"argv": python("import os; print(os.getcwd())"), "cwd": str(tmp_path)})
    assert Path(output["stdout"].strip()).resolve() == tmp_path.resolve()


def test_a_missing_cwd_is_named(tmp_path: Path) -> None:
    missing = str(tmp_path / "nope")
    with pytest.raises(NotADirectoryError) as caught:
        run_shell({"argv": python("pass"), "cwd": missing})
    assert str(caught.value) == f"cwd {missing!r} is not a folder"


@pytest.mark.parametrize("args", [{}, {"cmd": "true", "argv": ["true"]}], ids=["neither", "both"])
def test_exactly_one_of_cmd_and_argv_is_required(args: dict[str, Any]) -> None:
    with pytest.raises(ValidationError) as caught:
        ShellScriptlet.parse_params(args)
    assert (
        "Value error, give exactly one of 'cmd' (a command line run by the shell) "
        "or 'argv' (a list run without a shell)"
    ) in str(caught.value)


@pytest.mark.parametrize(("given", "seconds"), [(2, 2.0), ("1.5s", 1.5), ("500ms", 0.5), ("2m", 120.0)])
def test_timeout_accepts_seconds_and_duration_strings(given: object, seconds: float) -> None:
    assert ShellScriptlet.parse_params({"cmd": "true", "timeout": given}).timeout == seconds


@pytest.mark.parametrize("given", ["soon", 0, -1])
def test_timeout_rejects_what_is_not_a_positive_duration(given: object) -> None:
    with pytest.raises(ValidationError, match="timeout"):
        ShellScriptlet.parse_params({"cmd": "true", "timeout": given})


@posix_only
def test_a_timeout_kills_the_command_and_its_grandchildren(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    started = time.monotonic()
    with pytest.raises(TimeoutError) as caught:
        run_shell({"cmd": f"sleep 30 & echo $$ $! > {pids}; wait", "timeout": 0.5})
    assert str(caught.value) == "command timed out after 0.5s"
    assert time.monotonic() - started < 3
    shell_pid, sleep_pid = read_pids(pids, 2)
    assert is_gone(shell_pid)
    assert is_gone(sleep_pid)


@posix_only
def test_cancelling_the_step_kills_the_command_within_two_seconds(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    cancelled = CancelToken()
    step = StepThread({"cmd": f"echo $$ > {pids}; exec sleep 30"}, make_context(cancelled))
    step.start()
    (pid,) = read_pids(pids, 1)
    cancelled.set()
    step.join(2)
    assert not step.is_alive()
    assert isinstance(step.error, StepCancelled)
    assert step.error.reason == "cancelled while the command ran"
    assert is_gone(pid)


@posix_only
@pytest.mark.skipif(sys.implementation.name != "cpython", reason="injects the exception with the CPython API")
def test_an_exception_injected_into_the_step_thread_kills_the_command(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    step = StepThread({"cmd": f"sleep 30 & echo $$ $! > {pids}; wait"}, make_context())
    step.start()
    shell_pid, sleep_pid = read_pids(pids, 2)
    assert step.ident is not None
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(step.ident), ctypes.py_object(StepCancelled))
    step.join(3)
    assert not step.is_alive()
    assert isinstance(step.error, StepCancelled)
    assert is_gone(shell_pid)
    assert is_gone(sleep_pid)


@posix_only
def test_a_background_process_holding_the_output_does_not_hang_the_step() -> None:
    started = time.monotonic()
    output = run_shell({"cmd": "sleep 30 & echo $!"})
    background = int(output["stdout"])
    try:
        assert time.monotonic() - started < 3
        assert output["exit_code"] == 0
    finally:
        os.kill(background, signal.SIGKILL)


def watchers() -> list[psutil.Process]:
    """This test process's lifeline watchers (see shell's _lifeline): its own children, not those of
    the processes it started (a shared Dask cluster's workers have watchers of their own)."""
    found = []
    for child in psutil.Process().children():
        try:
            if "f0-lifeline" in child.cmdline() and child.status() != psutil.STATUS_ZOMBIE:
                found.append(child)
        except psutil.Error:
            continue
    return found


@posix_only
def test_the_command_and_what_it_started_die_with_the_process_running_the_step(tmp_path: Path) -> None:
    # As in a runner: the step runs on a thread of its own, and the process is killed with SIGKILL.
    pids = tmp_path / "pids"
    code = f"""
import threading
from framework0.context import ChangeSource, Context, ContextState
from framework0.scriptlets.builtin.shell import ShellScriptlet
ctx = Context(ContextState(), ChangeSource(node="test", step="s", attempt=1))
params = ShellScriptlet.parse_params({{"cmd": "sleep 300 & echo $$ $! > {pids}; wait"}})
threading.Thread(target=ShellScriptlet().run, args=(ctx, params)).start()
"""
    runner = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.DEVNULL)
    try:
        shell_pid, sleep_pid = read_pids(pids, 2, within=30)
    finally:
        runner.kill()
        runner.wait()
    left = [pid for pid in (shell_pid, sleep_pid) if not is_gone(pid, within=30)]
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert left == []


@posix_only
def test_what_a_finished_step_left_running_outlives_the_process_that_ran_it(tmp_path: Path) -> None:
    # `server &`: released when its step ended; only the running step's processes die.
    left, running = tmp_path / "left", tmp_path / "running"
    code = f"""
import threading
from framework0.context import ChangeSource, Context, ContextState
from framework0.scriptlets.builtin.shell import ShellScriptlet
ctx = Context(ContextState(), ChangeSource(node="test", step="s", attempt=1))
ShellScriptlet().run(ctx, ShellScriptlet.parse_params({{"cmd": "sleep 300 & echo $! > {left}"}}))
params = ShellScriptlet.parse_params({{"cmd": "echo $$ > {running}; exec sleep 300"}})
threading.Thread(target=ShellScriptlet().run, args=(ctx, params)).start()
"""
    runner = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.DEVNULL)
    try:
        (server,) = read_pids(left, 1, within=30)
        (step,) = read_pids(running, 1, within=30)
    finally:
        runner.kill()
        runner.wait()
    try:
        assert is_gone(step, within=30)
        assert psutil.Process(server).status() != psutil.STATUS_ZOMBIE
    finally:
        for pid in (server, step):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


@posix_only
@pytest.mark.parametrize(
    "args",
    [{"cmd": "true"}, {"cmd": "exit 3", "check": False}, {"cmd": "sleep 30", "timeout": 0.2}],
    ids=["succeeded", "failed", "timed-out"],
)
def test_steps_leave_no_process_behind_but_the_one_watcher(args: dict[str, Any]) -> None:
    before = set(psutil.Process().children(recursive=True))  # other tests' (a shared Dask cluster)
    for _ in range(2):
        with contextlib.suppress(TimeoutError):
            run_shell(args)
    (watcher,) = watchers()
    assert set(psutil.Process().children(recursive=True)) - before - {watcher} == set()


@posix_only
def test_a_runner_killed_as_the_command_starts_never_lets_it_run(tmp_path: Path) -> None:
    # The instant between starting the command and starting its watcher: the runner dies there.
    started, ran = tmp_path / "started", tmp_path / "ran"
    code = f"""
import os
from framework0.context import ChangeSource, Context, ContextState
from framework0.scriptlets.builtin import _lifeline
from framework0.scriptlets.builtin.shell import ShellScriptlet

def die(self, group):
    with open({str(started)!r}, "w") as file:
        file.write(str(group))
    os._exit(9)

_lifeline._Watcher.hold = die
ctx = Context(ContextState(), ChangeSource(node="test", step="s", attempt=1))
ShellScriptlet().run(ctx, ShellScriptlet.parse_params({{"cmd": "touch {ran}"}}))
"""
    runner = subprocess.run([sys.executable, "-c", code], stdin=subprocess.DEVNULL, timeout=60, check=False)
    assert runner.returncode == 9
    (command,) = read_pids(started, 1)
    assert is_gone(command, within=30)
    assert not ran.exists()


def test_a_program_that_is_not_there_fails_as_it_always_did() -> None:
    with pytest.raises(FileNotFoundError) as caught:
        run_shell({"argv": ["f0-no-such-program", "--help"]})
    assert str(caught.value) == "[Errno 2] No such file or directory: 'f0-no-such-program'"


@posix_only
def test_a_program_is_found_from_the_commands_folder_and_must_be_executable(tmp_path: Path) -> None:
    script = tmp_path / "hello.sh"
    script.write_text("#!/bin/sh\necho hello\n")
    with pytest.raises(PermissionError) as caught:
        run_shell({"argv": ["./hello.sh"], "cwd": str(tmp_path)})
    assert str(caught.value) == "[Errno 13] Permission denied: './hello.sh'"
    script.chmod(0o755)
    assert run_shell({"argv": ["./hello.sh"], "cwd": str(tmp_path)})["stdout"] == "hello\n"


@posix_only
@pytest.mark.parametrize("args", [{"cmd": "cat"}, {"argv": ["cat"]}], ids=["cmd", "argv"])
def test_the_command_reads_an_empty_standard_input(args: dict[str, Any]) -> None:
    assert run_shell(args) == {"stdout": "", "stderr": "", "exit_code": 0}
