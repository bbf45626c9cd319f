"""The ``shell`` built-in: run a command, capture its output, and really stop it when asked.

The command starts in its own process group (a new session on POSIX), so stopping the step -
timeout, cancellation or any exception arriving while it waits - ends every process the command
started, not just the shell: SIGTERM to the group, SIGKILL after a short grace, then the child is
reaped. On Windows the tree is ended with ``taskkill /T /F``. On POSIX the group also dies with the
process that runs the step, even on ``kill -9`` of the runner (``_lifeline.py``), so a resumed run
never finds the old command still at work.

The command's output is logged as it arrives, as the attempt's stdout and stderr (through the run's
output capture, which ``sys.stdout.attempt_writer`` reaches; it is not shown on the terminal), and
kept for the return value: all of it up to ``_KEEP_BYTES`` per stream, else the first and last
halves with a note of what was dropped between them.
"""

from __future__ import annotations

import codecs
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from pydantic import Field, field_validator, model_validator

from framework0.durations import parse_duration
from framework0.errors import CommandFailed, StepCancelled
from framework0.scriptlets.base import BaseScriptlet
from framework0.scriptlets.builtin._lifeline import Lifeline

if TYPE_CHECKING:
    from framework0.context import Context

_POLL = 0.05  # how often the wait loop looks at cancellation and the timeout
_KILL_GRACE = 1.0  # between SIGTERM and SIGKILL
_DRAIN_GRACE = 1.0  # how long to wait for output after the command exits (see _drain)
_TAIL_LINES = 5
_TAIL_CHARS = 1000
_KEEP_BYTES = 10 * 1024 * 1024  # of each stream, for the return value


class ShellScriptlet(BaseScriptlet):
    """Run a command and return its output and exit code.

    Args: ``cmd`` (a command line run by the shell, ``/bin/sh`` or ``cmd.exe``) or ``argv`` (a list
    run without a shell) - exactly one; ``env`` (variables added to the current environment);
    ``cwd`` (the folder to run in); ``timeout`` (seconds or a duration such as ``"30s"``); ``check``
    (default true: a non-zero exit fails the step with ``CommandFailed``, naming the exit code and
    the last lines of stderr). Returns ``{"stdout", "stderr", "exit_code"}``, decoded as UTF-8; a
    stream longer than 10 MiB keeps its first and last 5 MiB, with a note of what was dropped.
    Both streams are also written to the step's log, line by line as they come (``f0 logs``).

    On timeout (``TimeoutError``), cancellation (``StepCancelled``) or any other exception while the
    command runs, the command and everything it started are killed before the step ends; on POSIX
    they are also killed when the process running the step dies, even by ``kill -9``. Output of
    background processes that outlive the command (``cmd: "server &"``) is not waited for.
    """

    class Params(BaseScriptlet.Params):
        cmd: str | None = Field(default=None, min_length=1, description="A command line, run by the shell.")
        argv: list[str] | None = Field(
            default=None, min_length=1, description="A program and its arguments, run without a shell."
        )
        env: dict[str, str] = Field(
            default_factory=dict, description="Environment variables added to the current environment."
        )
        cwd: str | None = Field(default=None, description="The folder to run in; default the working directory.")
        timeout: float | None = Field(
            default=None, gt=0, allow_inf_nan=False, description="Seconds, or a duration like '30s'."
        )
        check: bool = Field(default=True, description="Fail the step when the command exits non-zero.")

        @field_validator("timeout", mode="before")
        @classmethod
        def _duration(cls, value: Any) -> Any:
            return parse_duration(value) if isinstance(value, (str, int, float)) else value

        @field_validator("env", mode="before")
        @classmethod
        def _env_strings(cls, value: Any) -> Any:
            # YAML turns ``PORT: 8080`` and ``DEBUG: true`` into numbers and booleans.
            if not isinstance(value, dict):
                return value
            return {key: _env_string(item) for key, item in value.items()}

        @model_validator(mode="after")
        def _cmd_or_argv(self) -> ShellScriptlet.Params:
            if (self.cmd is None) == (self.argv is None):
                raise ValueError(
                    "give exactly one of 'cmd' (a command line run by the shell) or 'argv' (a list run without a shell)"
                )
            return self

    def run(self, ctx: Context, params: Params) -> dict[str, Any]:
        if ctx.cancelled:
            raise StepCancelled("cancelled before the command started")
        if params.cwd is not None and not Path(params.cwd).is_dir():
            raise NotADirectoryError(f"cwd {params.cwd!r} is not a folder")
        command: str | list[str] = params.cmd if params.cmd is not None else list(params.argv or ())
        lifeline = Lifeline()
        process = lifeline.start(
            command,
            shell=params.cmd is not None,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=params.cwd,
            env=_environment(params.env),
        )
        try:
            readers = [
                _PipeReader(process.stdout, _attempt_writer("stdout")),
                _PipeReader(process.stderr, _attempt_writer("stderr")),
            ]
            lifeline.open()
            _wait(process, ctx, params.timeout)
            _drain(readers, ctx)
        except BaseException:
            _kill_tree(process)
            raise
        finally:
            lifeline.release()
        stdout, stderr = (reader.text() for reader in readers)
        exit_code = process.returncode
        if params.check and exit_code != 0:
            raise CommandFailed(_failure(_display(command), exit_code, stderr))
        return {"stdout": stdout, "stderr": stderr, "exit_code": exit_code}


def _attempt_writer(stream: str) -> Callable[[str], None] | None:
    """Where this attempt's ``stream`` is logged, when a run captures it (see engine/capture.py)."""
    get = getattr(getattr(sys, stream), "attempt_writer", None)
    return get() if callable(get) else None


class _PipeReader(threading.Thread):
    """Reads one pipe to its end, so a chatty command never blocks on a full pipe; logs the text
    as it comes and keeps at most ``_KEEP_BYTES`` of it (the first and last halves)."""

    def __init__(self, stream: IO[bytes] | None, log: Callable[[str], None] | None) -> None:
        super().__init__(name="f0-shell-reader", daemon=True)
        self._stream = stream
        self._log = log
        self._half = _KEEP_BYTES // 2
        self._head: list[bytes] = []
        self._head_size = 0
        self._tail: deque[bytes] = deque()
        self._tail_size = 0
        self._dropped = 0
        self.start()

    def run(self) -> None:
        if self._stream is None:
            return
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        try:
            fd = self._stream.fileno()
            while chunk := os.read(fd, 65536):
                self._keep(chunk)
                if self._log is not None:
                    self._log(decoder.decode(chunk))
        except OSError:
            pass
        finally:
            self._stream.close()
            if self._log is not None:
                self._log(decoder.decode(b"", final=True))

    def _keep(self, chunk: bytes) -> None:
        room = self._half - self._head_size
        if room > 0:
            self._head.append(chunk[:room])
            self._head_size += len(self._head[-1])
            chunk = chunk[room:]
            if not chunk:
                return
        self._tail.append(chunk)
        self._tail_size += len(chunk)
        excess = self._tail_size - self._half
        while excess > 0:
            first = self._tail[0]
            cut = min(len(first), excess)
            if cut == len(first):
                self._tail.popleft()
            else:
                self._tail[0] = first[cut:]
            self._tail_size -= cut
            self._dropped += cut
            excess -= cut

    def text(self) -> str:
        head = _decode(b"".join(self._head))
        tail = _decode(b"".join(self._tail))
        if not self._dropped:
            return head + tail
        note = f"\n[... {self._dropped} bytes dropped here; the first and last {self._half} bytes are kept ...]\n"
        return head + note + tail


def _decode(data: bytes) -> str:
    return data.decode("utf-8", errors="replace").replace("\r\n", "\n")


def _wait(process: subprocess.Popen[bytes], ctx: Context, timeout: float | None) -> None:
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        try:
            process.wait(_POLL)
            return
        except subprocess.TimeoutExpired:
            pass
        if ctx.cancelled:
            raise StepCancelled("cancelled while the command ran")
        if deadline is not None and time.monotonic() >= deadline:
            raise TimeoutError(f"command timed out after {timeout:g}s")


def _drain(readers: list[_PipeReader], ctx: Context) -> None:
    # The command has exited; its pipes close once every process holding them has. A background
    # process it left running may hold them for ever, so wait only a little for the last output.
    deadline = time.monotonic() + _DRAIN_GRACE
    for reader in readers:
        while reader.is_alive() and time.monotonic() < deadline:
            reader.join(_POLL)
            if ctx.cancelled:
                raise StepCancelled("cancelled while reading the command's output")


def _kill_tree(process: subprocess.Popen[bytes]) -> None:
    """End the command's whole process group and reap the command; never raises for a gone process."""
    if sys.platform == "win32":
        _kill_tree_windows(process)
        return
    group = process.pid  # a new session's leader: its pid is the group id
    try:
        _signal_group(group, signal.SIGTERM)
        deadline = time.monotonic() + _KILL_GRACE
        while time.monotonic() < deadline:
            process.poll()
            if not _group_alive(group):
                break
            time.sleep(0.02)
    finally:
        # Also reached when another exception interrupts the grace period.
        if process.poll() is None or _group_alive(group):
            _signal_group(group, signal.SIGKILL)
        process.wait()


def _kill_tree_windows(process: subprocess.Popen[bytes]) -> None:
    try:
        subprocess.run(
            ["taskkill", "/T", "/F", "/PID", str(process.pid)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        pass
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()


def _signal_group(group: int, signum: int) -> None:
    if sys.platform != "win32":
        try:
            os.killpg(group, signum)
        except (ProcessLookupError, PermissionError):  # gone (macOS says EPERM for a group of zombies)
            pass


def _group_alive(group: int) -> bool:
    """Whether any process of the group still runs; zombies waiting to be reaped do not count."""
    if sys.platform == "win32":
        return False
    try:
        os.killpg(group, 0)
    except (ProcessLookupError, PermissionError):
        return False
    import psutil

    for process in psutil.process_iter(["status"]):
        try:
            if os.getpgid(process.pid) == group and process.info["status"] != psutil.STATUS_ZOMBIE:
                return True
        except (OSError, psutil.Error):
            continue
    return False


def _environment(extra: dict[str, str]) -> dict[str, str] | None:
    if not extra:
        return None
    if sys.platform == "win32":  # names are case-insensitive there; os.environ's are upper case
        extra = {key.upper(): value for key, value in extra.items()}
    return {**os.environ, **extra}


def _env_string(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return value


def _display(command: str | list[str]) -> str:
    text = command if isinstance(command, str) else shlex.join(command)
    return text if len(text) <= 100 else text[:97] + "..."


def _failure(command: str, exit_code: int, stderr: str) -> str:
    how = f"exited with code {exit_code}"
    if exit_code < 0:
        try:
            how += f" (killed by {signal.Signals(-exit_code).name})"
        except ValueError:
            pass
    lines = [line for line in stderr.splitlines() if line.strip()][-_TAIL_LINES:]
    tail = "\n".join(lines)[-_TAIL_CHARS:]
    detail = f"; last lines of stderr:\n{tail}" if tail else " (nothing on stderr)"
    return f"command {command!r} {how}{detail}"
