"""A background sampler of host and GPU memory (and GPU power) at about 2 Hz, for headroom and runs.

It runs on its own daemon thread, keeps a bounded history, and reads only cheap counters: psutil for
the host and this process, NVML for NVIDIA GPUs when a session opens. Readers call `latest()`.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

import psutil

from tuilab.hardware.nvidia import MILLIWATTS_PER_WATT, load_nvml

# 2 Hz: fast enough to catch a model load's ramp (seconds); one host sample took 95 us on the 2-core
# AMD EPYC dev box (docs/hardware.md), so sampling costs about 0.02% of a core.
DEFAULT_INTERVAL_S = 0.5
# Ten minutes of history at 2 Hz: a long generation run, in a few hundred kilobytes.
DEFAULT_HISTORY = 1200


@dataclass(frozen=True)
class GpuSample:
    index: int
    used_bytes: int
    total_bytes: int
    power_w: float | None


@dataclass(frozen=True)
class Sample:
    """One reading. `time_s` is time.monotonic(), so differences between samples are durations."""

    time_s: float
    ram_total_bytes: int
    ram_available_bytes: int
    swap_used_bytes: int
    process_rss_bytes: int
    gpus: tuple[GpuSample, ...] = ()

    @property
    def ram_used_bytes(self) -> int:
        return self.ram_total_bytes - self.ram_available_bytes


class _NvmlSession:
    """NVML opened once for the sampler's lifetime; a machine without it samples no GPUs."""

    def __init__(self, nvml: Any | None) -> None:
        self.nvml = nvml
        self.handles: list[object] = []
        if nvml is None:
            return
        try:
            nvml.nvmlInit()
            self.handles = [nvml.nvmlDeviceGetHandleByIndex(i) for i in range(nvml.nvmlDeviceGetCount())]
        except nvml.NVMLError:
            self.nvml = None

    def read(self) -> tuple[GpuSample, ...]:
        if self.nvml is None:
            return ()
        samples = []
        for i, handle in enumerate(self.handles):
            try:
                samples.append(self._read_one(i, handle))
            except self.nvml.NVMLError:
                continue  # a GPU that fell off the bus is absent from this sample, not a crash
        return tuple(samples)

    def _read_one(self, index: int, handle: object) -> GpuSample:
        nvml = self.nvml
        assert nvml is not None
        memory = nvml.nvmlDeviceGetMemoryInfo(handle)
        try:
            power_w: float | None = nvml.nvmlDeviceGetPowerUsage(handle) / MILLIWATTS_PER_WATT
        except nvml.NVMLError:
            power_w = None
        return GpuSample(index, int(memory.used), int(memory.total), power_w)

    def close(self) -> None:
        if self.nvml is not None:
            with contextlib.suppress(self.nvml.NVMLError):  # nothing left to release
                self.nvml.nvmlShutdown()


class MemorySampler:
    """Start it, read `latest()` or `history()`, stop it (or use it as a context manager)."""

    def __init__(
        self,
        interval_s: float = DEFAULT_INTERVAL_S,
        history: int = DEFAULT_HISTORY,
        nvml: Any | None = None,
        ps: Any = psutil,
    ) -> None:
        self.interval_s = interval_s
        self._ps = ps
        self._nvml = nvml
        self._history: deque[Sample] = deque(maxlen=history)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._process = ps.Process()
        self.last_error: str | None = None  # why the latest sampling attempt failed, None when it worked

    def start(self) -> MemorySampler:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="tuilab-memory-sampler", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5 * self.interval_s + 1)
            self._thread = None

    def __enter__(self) -> MemorySampler:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def latest(self) -> Sample | None:
        with self._lock:
            return self._history[-1] if self._history else None

    def history(self) -> list[Sample]:
        with self._lock:
            return list(self._history)

    def sample_now(self, gpus: _NvmlSession | None = None) -> Sample:
        """One reading on the caller's thread (the sampler thread calls this every interval)."""
        memory = self._ps.virtual_memory()
        return Sample(
            time_s=time.monotonic(),
            ram_total_bytes=int(memory.total),
            ram_available_bytes=int(memory.available),
            swap_used_bytes=int(self._ps.swap_memory().used),
            process_rss_bytes=int(self._process.memory_info().rss),
            gpus=gpus.read() if gpus is not None else (),
        )

    def _sample_into_history(self, session: _NvmlSession) -> None:
        """One sample into the history; a reading that raises is skipped and kept as `last_error`, so the
        thread outlives a psutil that fails on an unknown OS build (issue 14)."""
        try:
            sample = self.sample_now(session)
        except Exception as exc:
            self.last_error = f"{type(exc).__name__}: {exc}"
            return
        self.last_error = None
        with self._lock:
            self._history.append(sample)

    def _run(self) -> None:
        session = _NvmlSession(self._nvml if self._nvml is not None else load_nvml())
        try:
            while not self._stop.is_set():
                self._sample_into_history(session)
                self._stop.wait(self.interval_s)
        finally:
            session.close()
