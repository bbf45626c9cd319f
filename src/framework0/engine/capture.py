"""What each step attempt writes, captured per attempt: stdout, stderr and logging, as LogLines.

While a run goes, ``sys.stdout`` and ``sys.stderr`` are ``CapturingStream`` proxies. Text written
from a thread that runs an attempt goes to that attempt's ``AttemptLog`` (which sends complete
lines, batched per write, through the executor's ``notify``) and also, as before, to the stream
the proxy replaced; text from any other thread passes straight through. Logging records created
inside an attempt go to the same log as stream ``"log"`` (``"LEVEL logger: message"``). The only
cost for an attempt that writes nothing is setting and restoring one thread-local.

Records are taken from the log-record factory rather than by a handler on the root logger: a
root handler would turn a step's ``logging.basicConfig()`` into a no-op, be removed by
``basicConfig(force=True)``, and silence logging's last-resort output to stderr.

Installing is counted, so that runs in several threads, or a run inside a step, share one set
of proxies; the last ``uninstall`` puts back exactly what was there, unless something replaced
the proxies meanwhile (they then stay, passing everything through). Code below the engine (the
``shell`` built-in) reaches the calling attempt's log through ``sys.stdout.attempt_writer(stream)``.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable
from typing import IO, Any

from framework0.config import DEFAULT_MAX_LOG_BYTES
from framework0.events.types import LogLines

Deliver = Callable[[LogLines, bool], Any]
"""Where an attempt's lines go: ``deliver(lines, echo)``; ``echo`` asks the receiver to show them (the
text was written in a process that does not show it itself)."""


def show_lines(lines: LogLines) -> None:
    """Show what a step printed in another process (a worker) where this process's output goes."""
    stream = sys.stdout if lines.stream == "stdout" else sys.stderr
    try:
        stream.write(lines.text + "\n")
    except (OSError, ValueError):  # closed or a broken pipe: the lines are still recorded
        pass


_Pending = tuple["OutputCapture", str, int, "int | None", Any]
"""An attempt that has written nothing yet: (capture, step, attempt, item, what the thread ran before)."""


class _State(threading.local):
    #: the attempt this thread runs: pending until it first writes, then its log
    current: _Pending | AttemptLog | None = None


_state = _State()


def _current_log() -> AttemptLog | None:
    current = _state.current
    if current is None or type(current) is AttemptLog:
        return current
    capture, step, attempt, item, outer = current  # type: ignore[misc]
    log = AttemptLog(step, attempt, item, capture.deliver, capture.limit, capture.echo)
    log.outer = outer
    _state.current = log
    return log


class AttemptLog:
    """The text one attempt writes: complete lines are delivered as they come, one LogLines per
    write; a partial line when the attempt ends. Beyond ``limit`` bytes text is dropped, and one
    ``framework`` line says how much. Writes from other threads go through ``writer()``."""

    __slots__ = (
        "step",
        "attempt",
        "item",
        "echo",
        "outer",
        "_deliver",
        "_limit",
        "_size",
        "_dropped",
        "_partial",
        "_lock",
    )

    def __init__(self, step: str, attempt: int, item: int | None, deliver: Deliver, limit: int, echo: bool) -> None:
        #: whether the stream proxies show this attempt's text themselves (else the receiver does)
        self.echo = echo
        self.step, self.attempt, self.item = step, attempt, item
        self._deliver, self._limit = deliver, limit
        self._size = self._dropped = 0
        self._partial: dict[tuple[str, bool], str] | None = None  # (stream, quiet) -> text after its last newline
        self._lock: threading.Lock | None = None  # made when another thread gets a writer
        #: what the thread ran before this attempt (a run inside a step): it is back when this ends
        self.outer: _Pending | AttemptLog | None = None

    def write(self, stream: str, text: str, quiet: bool = False) -> None:
        """Log ``text`` as ``stream``; ``quiet`` text is never shown, only logged."""
        lock = self._lock
        if lock is None:
            self._add(stream, text, quiet)
        else:
            with lock:
                self._add(stream, text, quiet)

    def writer(self, stream: str) -> Callable[[str], None]:
        """A function logging quiet text as ``stream``, from any thread, until the attempt ends."""
        if self._lock is None:
            self._lock = threading.Lock()

        def write(text: str) -> None:
            self.write(stream, text, True)

        return write

    def _add(self, stream: str, text: str, quiet: bool) -> None:
        if self._size < 0 or not text:  # closed, or nothing
            return
        size = len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))
        if self._size + size > self._limit:
            room = self._limit - self._size
            kept = text.encode("utf-8", "surrogatepass")[:room].decode("utf-8", "ignore") if room > 0 else ""
            kept_size = len(kept.encode("utf-8", "surrogatepass"))
            self._dropped += size - kept_size
            text, size = kept, kept_size
            if not text:
                return
        self._size += size
        partials = self._partial
        if partials is None:
            partials = self._partial = {}
        key = (stream, quiet)
        if "\n" not in text:
            partials[key] = partials.get(key, "") + text
            return
        lines, _, rest = (partials.pop(key, "") + text).rpartition("\n")
        if rest:
            partials[key] = rest
        self._emit(stream, lines, not quiet and not self.echo)

    def _emit(self, stream: str, lines: str, echo: bool) -> None:
        if "\r" in lines:  # a Windows newline, or a program's own \r\n
            lines = "\n".join(line.rstrip("\r") for line in lines.split("\n"))
        self._deliver(LogLines("", self.step, self.attempt, self.item, stream, lines, time.time()), echo)

    def close(self) -> None:
        """Deliver what is left of partial lines, and the truncation note; later writes are dropped."""
        lock = self._lock
        if lock is None:
            self._close()
        else:
            with lock:
                self._close()

    def _close(self) -> None:
        if self._size < 0:
            return
        self._size = -1
        for (stream, quiet), rest in (self._partial or {}).items():
            self._emit(stream, rest, not quiet and not self.echo)
        self._partial = None
        if self._dropped:
            self._emit("framework", f"[log truncated: {self._dropped} bytes dropped]", False)


class CapturingStream:
    """``sys.stdout`` or ``sys.stderr`` while runs go: an attempt's text goes to its log (and on to
    the stream replaced, unless the log says not to echo); any other thread's text goes on as is.
    Everything else (``encoding``, ``isatty``, ``fileno``...) is the replaced stream's."""

    def __init__(self, stream: IO[str] | None, name: str) -> None:
        self.stream = stream
        self.name = name

    def write(self, text: str) -> int:
        log = _state.current and _current_log()
        if log is not None and isinstance(text, str):
            log.write(self.name, text)
            if not log.echo:
                return len(text)
        stream = self.stream
        return stream.write(text) if stream is not None else len(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        if self.stream is not None:
            self.stream.flush()

    def attempt_writer(self, stream: str | None = None) -> Callable[[str], None] | None:
        """For the calling thread's attempt, a function that logs text as ``stream`` (default this
        stream's name) from any thread, without echoing it; None outside attempts."""
        log = _current_log()
        return None if log is None else log.writer(stream or self.name)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


class _RecordFactory:
    """Wraps the log-record factory: a record made in an attempt's thread is also logged there."""

    def __init__(self, previous: Callable[..., logging.LogRecord]) -> None:
        self.previous = previous
        self.formatter = logging.Formatter("%(levelname)s %(name)s: %(message)s")

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record = self.previous(*args, **kwargs)
        log = _state.current and _current_log()
        if log is not None and record.name is not None:  # makeLogRecord makes a blank one first
            log.write("log", self._format(record) + "\n", True)
        return record

    def _format(self, record: logging.LogRecord) -> str:
        try:
            return self.formatter.format(record)
        except Exception as error:  # the user's logging call must not fail here; logging reports it later
            return f"{record.levelname} {record.name}: {record.msg!r} (cannot be formatted: {error})"


_lock = threading.Lock()
_users = 0
_installed: list[tuple[Callable[[], Any], Callable[[Any], None], Any, Any]] = []


def install() -> None:
    """Start capturing in this process (counted: the last ``uninstall`` ends it)."""
    global _users
    with _lock:
        _users += 1
        if _users > 1:
            return
        for name in ("stdout", "stderr"):
            current = getattr(sys, name)
            if not isinstance(current, CapturingStream):  # one left in place earlier would capture twice
                proxy = CapturingStream(current, name)
                _installed.append((_getter(name), _setter(name), proxy, current))
                setattr(sys, name, proxy)
        if not isinstance(logging.getLogRecordFactory(), _RecordFactory):
            factory = _RecordFactory(logging.getLogRecordFactory())
            _installed.append((logging.getLogRecordFactory, logging.setLogRecordFactory, factory, factory.previous))
            logging.setLogRecordFactory(factory)


def uninstall() -> None:
    """Stop capturing once every ``install`` has been undone: put back what was there."""
    global _users
    with _lock:
        if _users == 0:
            return
        _users -= 1
        if _users:
            return
        for get, put, ours, previous in reversed(_installed):
            if get() is ours:  # else someone replaced it since; ours stays in their chain, inert
                put(previous)
        _installed.clear()


def _getter(name: str) -> Callable[[], Any]:
    return lambda: getattr(sys, name)


def _setter(name: str) -> Callable[[Any], None]:
    return lambda value: setattr(sys, name, value)


class OutputCapture:
    """Capturing for one run (or one worker process): attempts' lines go to ``deliver``.

    ``install()`` when the run starts and ``uninstall()`` when it ends; around each attempt, in
    the thread that runs it, ``begin(step, attempt, item)`` and ``end()`` (they nest).
    With ``echo=False`` (a worker process, whose output its parent shows) the text is only
    captured, and ``deliver(lines, echo)`` says which lines the receiver should show.
    """

    def __init__(self, deliver: Deliver, *, echo: bool = True, limit: int = DEFAULT_MAX_LOG_BYTES) -> None:
        self.deliver = deliver
        self.echo = echo
        self.limit = limit  # how much text one attempt may log (stdout, stderr and logging together)

    @classmethod
    def notifying(cls, notify: Callable[[LogLines], Any], *, limit: int = DEFAULT_MAX_LOG_BYTES) -> OutputCapture:
        """In this process: the proxies show the text, and the lines go to an executor's ``notify``."""
        return cls(lambda lines, _echo: notify(lines), limit=limit)

    def install(self) -> None:
        install()

    def uninstall(self) -> None:
        uninstall()

    def begin(self, step: str, attempt: int, item: int | None) -> None:
        """Capture what this thread writes as this attempt's (until ``end``); costs nothing more
        until the attempt writes something."""
        _state.current = (self, step, attempt, item, _state.current)

    def end(self) -> None:
        """The attempt is over: deliver its last partial lines; the thread goes back to what it ran."""
        current = _state.current
        if isinstance(current, AttemptLog):
            _state.current = current.outer
            current.close()
        elif current is not None:
            _state.current = current[4]
