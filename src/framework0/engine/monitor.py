"""Per-attempt resource figures: wall time, CPU time and the peak memory of the process running it.

Memory is sampled by one background thread (psutil) every ``interval`` seconds while attempts run;
an attempt's peak is the highest sample taken while it ran, or the latest sample before it when it
was too short to be sampled. CPU time is the running thread's own (``time.thread_time``).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import psutil


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

    def __init__(self, interval: float = 0.02) -> None:
        self.interval = interval
        self._active: dict[int, Probe] = {}
        self._current_rss = 0
        self._stop = threading.Event()
        self._sampled = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start sampling in the background (psutil is imported there, off the caller's path)."""
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
        if probe.peak_rss == 0:
            # Only the first attempts of a run can finish before the first sample; wait for it.
            self._sampled.wait(timeout=2)
            probe.peak_rss = self._current_rss
        return probe

    def _sample(self) -> None:
        import psutil

        process = psutil.Process()
        first = True
        while first or not self._stop.wait(self.interval):
            rss = _read_rss(process)
            self._current_rss = rss
            for probe in list(self._active.values()):
                if rss > probe.peak_rss:
                    probe.peak_rss = rss
            if first:
                first = False
                self._sampled.set()


def _read_rss(process: psutil.Process) -> int:
    import psutil

    try:
        return int(process.memory_info().rss)
    except psutil.Error:
        return 0
