"""Per-attempt resource figures: wall time, CPU time and the peak memory of the process running it.

Memory: one background thread samples the process's resident set size every ``interval`` seconds
(``/proc/self/statm`` on Linux, psutil elsewhere); an attempt's peak is the highest sample taken
while it ran, or, for an attempt shorter than that, the latest sample before it. Sampling starts
``delay`` seconds into a run; an attempt that ends before the first sample reports the process's
peak RSS so far (``getrusage``), an upper bound of its own peak. CPU time is the running thread's
own (``time.thread_time``).
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(slots=True)
class Probe:
    """Figures of one attempt in progress; ``finish`` fills in the totals."""

    started_wall: float
    started_cpu: float
    peak_rss: int
    wall_s: float = 0.0
    cpu_s: float = 0.0


class ResourceMonitor:
    """Samples the process's resident memory in the background; probes attempts cheaply."""

    def __init__(self, interval: float = 0.02, delay: float = 0.05) -> None:
        self.interval = interval
        self.delay = delay if _peak_rss_so_far() else 0.0  # without getrusage, sample at once
        self._active: dict[int, Probe] = {}
        self._current_rss = 0
        self._stop = threading.Event()
        self._sampled = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start sampling in the background (psutil, where needed, is imported there)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._sample, name="f0-monitor", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=1)
            self._thread = None

    def begin(self) -> Probe:
        probe = Probe(time.perf_counter(), time.thread_time(), self._current_rss)
        self._active[id(probe)] = probe  # dict updates are atomic; no lock on the hot path
        return probe

    def finish(self, probe: Probe) -> Probe:
        probe.wall_s = time.perf_counter() - probe.started_wall
        probe.cpu_s = time.thread_time() - probe.started_cpu
        self._active.pop(id(probe), None)
        if probe.peak_rss == 0:  # no sample yet
            probe.peak_rss = _peak_rss_so_far()
            if probe.peak_rss == 0:
                self._sampled.wait(timeout=2)
                probe.peak_rss = self._current_rss
        return probe

    def _sample(self) -> None:
        if self._stop.wait(self.delay):
            return
        read_rss = _rss_reader()
        first = True
        while first or not self._stop.wait(self.interval):
            rss = read_rss()
            self._current_rss = rss
            for probe in list(self._active.values()):
                if rss > probe.peak_rss:
                    probe.peak_rss = rss
            if first:
                first = False
                self._sampled.set()


def _rss_reader() -> Callable[[], int]:
    """How to read this process's resident set size in bytes: from ``/proc/self/statm`` where
    there is one (a read of a few bytes; importing psutil would cost a small run ~20 ms of CPU),
    else with psutil."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            statm.read()
    except OSError:
        return _psutil_reader()
    page = os.sysconf("SC_PAGE_SIZE")

    def read() -> int:
        try:
            with open("/proc/self/statm", "rb") as statm:
                return int(statm.read().split()[1]) * page
        except (OSError, ValueError, IndexError):
            return 0

    return read


def _psutil_reader() -> Callable[[], int]:
    import psutil

    process = psutil.Process()

    def read() -> int:
        try:
            return int(process.memory_info().rss)
        except psutil.Error:
            return 0

    return read


def _peak_rss_so_far() -> int:
    """The process's peak resident set size so far, in bytes; 0 where getrusage is missing."""
    try:
        import resource
    except ImportError:  # Windows
        return 0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # macOS counts bytes, Linux KiB
