"""Measure the host's memory bandwidth once, and keep the result where detection can read it cheaply.

A profile can only assume a host's RAM bandwidth, and a VM slice rarely gets the whole socket a profile
describes; this module times a multi-threaded copy (`tuilab hw --measure`) and caches it in
`config_dir()/measured.toml`, which `tuilab.hardware.detect` reads on every detection.
"""

from __future__ import annotations

import datetime
import os
import tempfile
import threading
import time
import tomllib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import psutil
import tomli_w

from tuilab import paths
from tuilab.core.errors import TuilabError, UsageError
from tuilab.core.hardware import MIB
from tuilab.hardware.host import HostProbe, probe_host

MEASURED_FILE = "measured.toml"
TABLE = "ram_bandwidth"
# 128 MiB per thread is well past any one core's share of last-level cache (AMD EPYC 9004: 32 MiB of L3 per
# 8-core CCD; Intel Xeon 8480C: 105 MiB for 56 cores, from the vendors' product pages), so the copy streams
# from DRAM, as STREAM's rule "each array at least 4x the total cache" asks
# (https://www.cs.virginia.edu/stream/ref.html#size).
DEFAULT_BUFFER_BYTES = 128 * MIB
# Below this a buffer may sit in cache and measure the cache instead.
MIN_BUFFER_BYTES = 16 * MIB
# The buffers (a source and a destination per thread) may take at most this share of available RAM, so a
# many-core box with little memory measures with smaller buffers instead of swapping.
MAX_RAM_SHARE = 0.25
BARRIER_TIMEOUT_S = 60.0


class MeasurementError(TuilabError):
    """The copy loop could not run: buffers could not be allocated or a worker thread failed."""


@dataclass(frozen=True)
class Measurement:
    """One `tuilab hw --measure` result and the host it was taken on."""

    ram_bandwidth_gbps: float
    threads: int
    cpu_model: str
    physical_cores: int
    measured_on: str  # ISO date

    def matches(self, host: HostProbe) -> bool:
        """Taken on this CPU with this many cores (another VM size or machine measures differently)."""
        return (self.cpu_model, self.physical_cores) == (host.cpu_model, host.physical_cores)

    @property
    def source(self) -> str:
        return f"measured: tuilab hw --measure on {self.measured_on} ({self.threads} threads)"


def default_threads() -> int:
    """Physical cores, as llama.cpp's default thread count, capped by the CPUs this process may run on."""
    cores = psutil.cpu_count(logical=False) or os.cpu_count() or 1
    allowed = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cores
    return max(1, min(cores, allowed))


def _fitting_buffer_bytes(threads: int, buffer_bytes: int) -> int:
    """The per-thread buffer, shrunk so that all buffers stay within MAX_RAM_SHARE of available RAM."""
    budget_bytes = int(psutil.virtual_memory().available * MAX_RAM_SHARE)
    return max(MIN_BUFFER_BYTES, min(buffer_bytes, budget_bytes // (2 * threads)))


def measure_ram_bandwidth_gbps(
    threads: int | None = None, buffer_bytes: int = DEFAULT_BUFFER_BYTES, repeats: int = 3
) -> float:
    """GB/s (1e9 bytes/s) of bytes read plus bytes written by `threads` threads each copying its own buffer.

    STREAM's Copy convention: a copy of N bytes moves 2N (https://www.cs.virginia.edu/stream/ref.html).
    The best of `repeats` timed copies counts; np.copyto releases the GIL, so the threads run in parallel.
    """
    n_threads = default_threads() if threads is None else threads
    if n_threads < 1 or repeats < 1 or buffer_bytes < MIN_BUFFER_BYTES:
        raise UsageError(
            f"bandwidth measurement needs threads >= 1, repeats >= 1 and buffers of at least "
            f"{MIN_BUFFER_BYTES // MIB} MiB (got {n_threads}, {repeats}, {buffer_bytes} bytes)"
        )
    size_bytes = _fitting_buffer_bytes(n_threads, buffer_bytes)
    best_s = min(_timed_copies(n_threads, size_bytes, repeats))
    return 2 * size_bytes * n_threads / best_s / 1e9


def _timed_copies(n_threads: int, size_bytes: int, repeats: int) -> list[float]:
    """Wall seconds of each repeat: from the moment all threads are released to the moment the last ends."""
    import numpy as np  # only here: detection and `tuilab fit` must not pay for numpy

    stamps: list[float] = []
    start = threading.Barrier(n_threads + 1, action=lambda: stamps.append(time.perf_counter()))
    done = threading.Barrier(n_threads + 1, action=lambda: stamps.append(time.perf_counter()))
    failures: list[BaseException] = []

    def worker() -> None:
        try:
            # Each thread allocates and first-touches its own pages, so they sit on its NUMA node; the
            # untimed warm-up copy maps the destination's pages before any timing.
            src = np.ones(size_bytes, dtype=np.uint8)
            dst = np.empty_like(src)
            np.copyto(dst, src)
            for _ in range(repeats):
                start.wait(BARRIER_TIMEOUT_S)
                np.copyto(dst, src)
                done.wait(BARRIER_TIMEOUT_S)
        except threading.BrokenBarrierError:
            return
        except BaseException as exc:  # MemoryError above all; the others must not wait forever
            failures.append(exc)
            start.abort()
            done.abort()

    workers = [threading.Thread(target=worker, daemon=True) for _ in range(n_threads)]
    for thread in workers:
        thread.start()
    try:
        for _ in range(repeats):
            start.wait(BARRIER_TIMEOUT_S)
            done.wait(BARRIER_TIMEOUT_S)
    except threading.BrokenBarrierError:
        pass
    for thread in workers:
        thread.join()
    if failures or len(stamps) != 2 * repeats:
        why = repr(failures[0]) if failures else "a worker thread timed out"
        raise MeasurementError(f"memory bandwidth measurement failed: {why}")
    return [stamps[i + 1] - stamps[i] for i in range(0, len(stamps), 2)]


def measurement_path() -> Path:
    return paths.config_dir() / MEASURED_FILE


def measure_host(host: HostProbe | None = None, threads: int | None = None) -> Measurement:
    """Measure now, labelled with the host's CPU model and core count so that detection can match it."""
    host = host or probe_host()
    n_threads = threads if threads is not None else default_threads()
    return Measurement(
        ram_bandwidth_gbps=round(measure_ram_bandwidth_gbps(n_threads), 1),
        threads=n_threads,
        cpu_model=host.cpu_model,
        physical_cores=host.physical_cores,
        measured_on=datetime.date.today().isoformat(),
    )


def save_measurement(measurement: Measurement, path: Path | None = None) -> Path:
    """Write the cache atomically (temp file in the same folder, then os.replace): never a half file."""
    path = path or measurement_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "# Written by `tuilab hw --measure`; delete it to go back to profile assumptions.\n"
    text += tomli_w.dumps({TABLE: asdict(measurement)})
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_measurement(path: Path | None = None) -> tuple[Measurement | None, str | None]:
    """(measurement, None); (None, None) with no file; (None, why) for a file that cannot be used."""
    path = path or measurement_path()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None, None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        return None, f"{path} ignored, it cannot be read: {exc}; run `tuilab hw --measure` again"
    problem = _check_table(data.get(TABLE))
    if problem:
        return None, f"{path} ignored: {problem}; run `tuilab hw --measure` again"
    fields = {key: data[TABLE][key] for key in _FIELDS}
    return Measurement(**{**fields, "ram_bandwidth_gbps": float(fields["ram_bandwidth_gbps"])}), None


_FIELDS: dict[str, tuple[type, ...]] = {
    "ram_bandwidth_gbps": (float, int),
    "threads": (int,),
    "cpu_model": (str,),
    "physical_cores": (int,),
    "measured_on": (str,),
}


def _check_table(table: Any) -> str | None:
    """Why a [ram_bandwidth] table is unusable, or None when every field has the right type."""
    if not isinstance(table, dict):
        return f"no [{TABLE}] table"
    for key, types in _FIELDS.items():
        value = table.get(key)
        if isinstance(value, bool) or not isinstance(value, types):
            return f"{TABLE}.{key} is missing or not a {types[0].__name__}"
    if table["ram_bandwidth_gbps"] <= 0 or table["threads"] < 1:
        return f"{TABLE}.ram_bandwidth_gbps and {TABLE}.threads must be positive"
    return None
