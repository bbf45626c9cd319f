"""A command's lifeline: the process group a step started dies with the process that started it.

A ``kill -9`` of the runner gives it no chance to stop anything, so the command's group must be
stopped from outside the runner. The runner keeps the write end of a pipe; a watcher, a tiny
``/bin/sh`` in a session of its own whose standard input is the read end, waits on it. When the
step ends the runner writes one line and the watcher exits, leaving the group alone (a server the
command left running in the background keeps running, as before). When the runner dies in any way,
the kernel closes the write end: the watcher reads end-of-file and kills the group with SIGKILL.

Why not ``prctl(PR_SET_PDEATHSIG)``: it fires when the *thread* that started the child ends, not the
process, and steps run on worker threads; it reaches the command only, not what the command starts;
it needs code between fork and exec (``preexec_fn``, unsafe with threads); and it is Linux only. The
pipe works on every POSIX system (macOS and the BSDs too) and reaches the whole group.

Limits: a process that leaves the group (``setsid``, a daemon's double fork) is not followed; a
runner killed in the instant between starting the command and starting its watcher leaves the
command running; a process forked from the runner without ``exec`` while a step runs
(``os.fork()`` in a Python step) holds the write end too, so the kill waits for it to exit. On
Windows nothing is tied: the command is not stopped when the runner is killed.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys

# Any line from the runner releases the group; end-of-file (the runner is gone) kills it.
_WATCH = 'read -r _ || kill -s KILL -- -"$1"'


class Lifeline:
    """Ties a command's process group to this process::

        process = subprocess.Popen(command, start_new_session=True)
        lifeline = Lifeline()
        try:
            lifeline.tie(process.pid)  # its group dies with this process from now on
            ...
        finally:
            lifeline.release()  # the step is over: the group is left alone

    Does nothing on Windows.
    """

    def __init__(self) -> None:
        self._watcher: subprocess.Popen[bytes] | None = None
        self._writer: int | None = None

    def tie(self, group: int) -> None:
        """Kill process group ``group`` when this process dies, until :meth:`release`."""
        if sys.platform == "win32" or self._writer is not None:
            return
        # Both ends close on exec, so no other child holds them; release() closes the writer.
        reader, self._writer = os.pipe()
        try:
            self._watcher = subprocess.Popen(
                ["/bin/sh", "-c", _WATCH, "f0-lifeline", str(group)],
                stdin=reader,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,  # out of the terminal's reach, like the command
            )
        finally:
            os.close(reader)

    def release(self) -> None:
        """Stop watching: the watcher exits and the group is left alone. Idempotent."""
        writer, self._writer = self._writer, None
        if writer is not None:
            with contextlib.suppress(OSError):  # the watcher is gone already
                os.write(writer, b"\n")
            os.close(writer)
        watcher, self._watcher = self._watcher, None
        if watcher is not None:
            try:
                watcher.wait(timeout=10)
            except subprocess.TimeoutExpired:  # only a stopped (SIGSTOP) watcher is that slow
                watcher.kill()
                watcher.wait()
