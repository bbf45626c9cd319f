"""A command's lifeline: the process group a step starts dies with the process that started it.

A ``kill -9`` of the runner gives it no chance to stop anything, so the commands must be stopped
from outside it. Each command leads a new session and process group. One watcher per process, a
small ``/bin/sh`` in a session of its own started with the first command, reads a pipe whose write
end only this process holds: ``+GROUP`` when a command starts, ``-GROUP`` when its step ends (a
server the command left running in the background then keeps running, as before). When this
process dies in any way, the kernel closes the write end: the watcher reads end-of-file and kills
every group it still holds with SIGKILL.

No instant is left uncovered: a command starts behind a gate, a ``/bin/sh`` that waits for a line
on its standard input and only then ``exec``\\ s the command (same process, same pid, the command's
own exit status). The gate opens (``Lifeline.open``) only after the watcher has been told of the
group; if this process dies before, the gate reads end-of-file and exits (125) without running
anything.

Why not ``prctl(PR_SET_PDEATHSIG)``: it fires when the *thread* that started the child ends, not the
process, and steps run on worker threads; it reaches the command only, not what the command starts;
it needs code between fork and exec (``preexec_fn``, unsafe with threads); and it is Linux only. The
pipe works on every POSIX system (macOS and the BSDs too) and reaches the whole group.

Limits: a process that leaves the group (``setsid``, a daemon's double fork) is not followed; a
process forked from this one without ``exec`` while a step runs (``os.fork()`` in a Python step)
holds the write end too, so the kill waits for it to exit. On Windows nothing is tied: the command
is started as before and is not stopped when the runner is killed.
"""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
import sys
import threading
from typing import Any

# The gate: one line opens it; end-of-file (the runner is gone) ends it before the command runs.
# The command then reads an empty standard input, as it would from subprocess.DEVNULL.
_GATE = 'read -r _ || exit 125; exec "$@" </dev/null'
# The watcher: holds the groups it is told of, kills those it holds at end-of-file. No line forks.
_WATCH = """
held=' '
while read -r line; do
    group=${line#?}
    case $line in
        +*) held="$held$group " ;;
        -*) case $held in *" $group "*) held="${held%% $group *} ${held#* $group }" ;; esac ;;
    esac
done
for group in $held; do kill -s KILL -- "-$group"; done
"""


class _Watcher:
    """This process's watcher and the write end of its pipe: started on first use, and again if it
    was killed (it is then told every group held) or in a forked child (whose groups are its own)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._writer: int | None = None
        self._held: set[int] = set()
        self._forks_watched = False

    def hold(self, group: int) -> None:
        with self._lock:
            self._held.add(group)
            self._send(f"+{group}\n")

    def release(self, group: int) -> None:
        with self._lock:
            if group in self._held:
                self._held.discard(group)
                self._send(f"-{group}\n")

    def _send(self, line: str) -> None:
        if self._writer is not None:
            try:
                os.write(self._writer, line.encode())  # one short write: atomic, never interleaved
                return
            except BrokenPipeError:  # the watcher was killed
                os.close(self._writer)
                self._writer = None
        self._start()

    def _start(self) -> None:
        if self._process is not None:
            self._process.wait()
        if not self._forks_watched:
            os.register_at_fork(after_in_child=self._forget)
            self._forks_watched = True
        reader, self._writer = os.pipe()  # both ends close on exec: no other child holds them
        try:
            self._process = subprocess.Popen(
                ["/bin/sh", "-c", _WATCH, "f0-lifeline"],
                stdin=reader,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,  # out of the terminal's reach, like the commands
            )
        finally:
            os.close(reader)
        os.write(self._writer, "".join(f"+{group}\n" for group in sorted(self._held)).encode())

    def _forget(self) -> None:
        """In a forked child: the watcher, its pipe and the groups are the parent's."""
        self._lock = threading.Lock()
        if self._writer is not None:
            os.close(self._writer)  # else the parent's watcher would wait for this child too
        self._process, self._writer, self._held = None, None, set()


_WATCHER = _Watcher()


class Lifeline:
    """Starts a command whose process group dies with this process::

        lifeline = Lifeline()
        process = lifeline.start(["make", "test"], shell=False, stdout=subprocess.PIPE)
        try:
            ...  # get ready to read its output
            lifeline.open()  # the command runs from here
            ...  # os.killpg(process.pid, signal.SIGTERM) stops it early, as before
        finally:
            lifeline.release()  # the step is over: the group is left alone

    On POSIX the command leads a new session; on Windows it gets a new process group and nothing
    more (and runs at once).
    """

    def __init__(self) -> None:
        self._group: int | None = None
        self._opener: int | None = None

    def start(self, command: str | list[str], *, shell: bool, **options: Any) -> subprocess.Popen[bytes]:
        """Start ``command`` (a shell command line when ``shell``) with ``subprocess.Popen``'s
        ``options`` (not ``stdin``: it reads an empty one), held until :meth:`open`; raise as
        ``Popen`` does when the program cannot be found."""
        if sys.platform == "win32":
            flags = {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP}
            return subprocess.Popen(command, shell=shell, stdin=subprocess.DEVNULL, **flags, **options)
        argv = ["/bin/sh", "-c", command] if isinstance(command, str) else list(command)
        _check_program(argv[0], options.get("env"), options.get("cwd"))
        gate, self._opener = os.pipe()  # both ends close on exec: no other child holds them
        try:
            process = subprocess.Popen(
                ["/bin/sh", "-c", _GATE, "f0-shell", *argv], stdin=gate, start_new_session=True, **options
            )
        except BaseException:
            self._close_gate()
            raise
        finally:
            os.close(gate)
        try:
            _WATCHER.hold(process.pid)
        except BaseException:
            self._close_gate()
            _reap(process)  # the gate never opened: the command never ran
            raise
        self._group = process.pid
        return process

    def open(self) -> None:
        """Let the command run (its group is held: it dies with this process)."""
        if self._opener is not None:
            os.write(self._opener, b"\n")
            self._close_gate()

    def release(self) -> None:
        """The step is over: its group is left alone from now on (a command never opened exits
        without running). Idempotent."""
        self._close_gate()
        group, self._group = self._group, None
        if group is not None:
            _WATCHER.release(group)

    def _close_gate(self) -> None:
        opener, self._opener = self._opener, None
        if opener is not None:
            os.close(opener)


def _check_program(program: str, env: dict[str, str] | None, cwd: str | None) -> None:
    """Raise what ``Popen`` would for a program that cannot be run (the gate's ``exec`` would only
    exit 127): it is looked for as ``execvp`` does, on the command's ``PATH`` from its folder."""
    if os.path.dirname(program):
        candidates = [program]
    else:
        candidates = [os.path.join(folder, program) for folder in os.get_exec_path(env)]
    denied = False
    for candidate in candidates:
        path = os.path.join(cwd, candidate) if cwd else candidate
        if os.path.isfile(path):
            if os.access(path, os.X_OK):
                return
            denied = True
    code = errno.EACCES if denied else errno.ENOENT
    raise OSError(code, os.strerror(code), program)  # PermissionError or FileNotFoundError


def _reap(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(OSError):
        process.kill()
    process.wait()
    for stream in (process.stdout, process.stderr):
        if stream is not None:
            stream.close()
