"""Whole lines on a shared output: what parallel steps print never runs together on one line.

``print("text")`` writes ``"text"`` and then ``"\\n"``: two steps printing at once would give
``text1text2`` and an empty line. While ``f0 run`` runs, ``sys.stdout`` and ``sys.stderr`` are
``LineWriter`` streams: each thread's text is held until it ends a line (or the thread flushes),
then its whole lines go out in one write, under one lock that the progress lines share. A live
panel on a terminal does this itself (rich), so these are for pipes and files.

Once the reader has gone (``f0 run ... | head``), output is dropped: the run goes on, and its
lines are still recorded in the store.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any, cast

#: a line longer than this (bytes or characters) is passed on in pieces rather than held whole
LONGEST_HELD = 64 * 1024


class LineWriter:
    """A text stream over ``stream`` that writes only whole lines, each write under ``lock``."""

    def __init__(self, stream: IO[str], lock: threading.Lock) -> None:
        self.stream = stream
        self.lock = lock
        self.broken = False  # the reader has gone
        self._partial: dict[int, str] = {}  # thread id -> text after its last newline

    def write(self, text: str) -> int:
        if not text:
            return 0
        thread = threading.get_ident()
        with self.lock:
            held = self._partial.pop(thread, "") + text
            lines, newline, rest = held.rpartition("\n")
            if len(rest) > LONGEST_HELD:
                lines, newline, rest = held, "", ""
            if rest:
                self._partial[thread] = rest
            if lines or newline:
                self._put(lines + newline)
        return len(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        """Write out the calling thread's unfinished line (it asked for it: ``print(..., end="",
        flush=True)``), then flush the stream."""
        with self.lock:
            rest = self._partial.pop(threading.get_ident(), "")
            if rest:
                self._put(rest)
            self._flush()

    def close_lines(self) -> None:
        """End every thread's unfinished line, so what follows starts on a line of its own."""
        with self.lock:
            for rest in self._partial.values():
                self._put(rest + "\n")
            self._partial.clear()
            self._flush()

    def _put(self, text: str) -> None:
        if self.broken:
            return
        try:
            self.stream.write(text)
        except BrokenPipeError:
            self.broken = True
        except ValueError:  # closed
            self.broken = True

    def _flush(self) -> None:
        if self.broken:
            return
        try:
            self.stream.flush()
        except (BrokenPipeError, ValueError):
            self.broken = True

    def __getattr__(self, name: str) -> Any:  # encoding, isatty, fileno...: the stream's
        return getattr(self.stream, name)


@contextmanager
def whole_lines(stdout: IO[str], stderr: IO[str]) -> Iterator[tuple[IO[str], IO[str]]]:
    """``sys.stdout`` and ``sys.stderr`` as LineWriter streams sharing one lock, for the block's
    duration; each thread's unfinished line is ended when it is over."""
    import sys

    lock = threading.Lock()
    out, err = LineWriter(stdout, lock), LineWriter(stderr, lock)
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = out, err
    try:
        yield cast("IO[str]", out), cast("IO[str]", err)
    finally:
        if sys.stdout is out:
            sys.stdout = saved[0]
        if sys.stderr is err:
            sys.stderr = saved[1]
        out.close_lines()
        err.close_lines()
