"""Measured memory of the current process: resident set now and at its peak, and NVIDIA device use.

A missing reading is None, never an exception: NVML is absent on Macs and CPU boxes. On macOS the number
the OS charges a process is its `phys_footprint` (what Activity Monitor's "Memory" column and jetsam use),
which counts MLX's buffer cache too; on Linux a worker's own peak is VmHWM, not `ru_maxrss`.
"""

from __future__ import annotations

import ctypes
import os
import resource
import sys
from functools import cache
from pathlib import Path
from typing import Any

# proc_pid_rusage(pid, RUSAGE_INFO_V4, buffer) fills a struct rusage_info_v4 (<sys/resource.h>): a 16-byte
# ri_uuid, then uint64 fields in this order: user_time, system_time, pkg_idle_wkups, interrupt_wkups,
# pageins, wired_size, resident_size, phys_footprint (index 7), ... , logical_writes (27),
# lifetime_max_phys_footprint (28). Available since macOS 10.15; the buffer is larger than the struct, as
# later flavors only append fields.
RUSAGE_INFO_V4 = 4
_RUSAGE_UUID_BYTES = 16
_RI_PHYS_FOOTPRINT = 7
_RI_LIFETIME_MAX_PHYS_FOOTPRINT = 28
_RUSAGE_BUFFER_BYTES = 512
_PROC_STATUS = Path("/proc/self/status")


def rss_bytes() -> int | None:
    """Resident set size of this process now (psutil)."""
    try:
        import psutil

        return int(psutil.Process().memory_info().rss)
    except Exception:  # psutil missing or the platform refuses: a missing reading, not a failure
        return None


def private_rss_bytes() -> int | None:
    """Resident memory of this process that is not file-backed (Linux: rss - shared; elsewhere rss).

    With a model on the GPU, llama.cpp's mmap of the file stays resident as page cache; counting it next
    to the device copy would report a 16 GB model as 33 GB (seen on an H100).
    """
    try:
        import psutil

        info = psutil.Process().memory_info()
        return int(info.rss - getattr(info, "shared", 0))
    except Exception:  # a missing reading, not a failure
        return None


def peak_rss_bytes() -> int:
    """Peak resident set size of this process over its life (getrusage ru_maxrss).

    ru_maxrss is in kilobytes on Linux and in bytes on macOS (getrusage(2) man pages of each). On Linux a
    spawned child's ru_maxrss starts from its parent's RSS at fork (issue 12 item 4: a 3 MB model in a
    worker of an 800 MB parent read 0.89 GB); `process_peak_bytes` is this process's own peak.
    """
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak) if sys.platform == "darwin" else int(peak) * 1024


@cache
def _libc() -> Any | None:
    try:
        lib = ctypes.CDLL(None)  # libSystem on macOS, which exports proc_pid_rusage
        lib.proc_pid_rusage.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_void_p]
        lib.proc_pid_rusage.restype = ctypes.c_int
        return lib
    except (OSError, AttributeError):
        return None


def _rusage_field(index: int, pid: int | None = None) -> int | None:
    """One uint64 field of macOS's rusage_info_v4 for `pid` (this process by default), None elsewhere."""
    lib = _libc() if sys.platform == "darwin" else None
    if lib is None:
        return None
    buffer = (ctypes.c_uint64 * (_RUSAGE_BUFFER_BYTES // 8))()
    if lib.proc_pid_rusage(os.getpid() if pid is None else pid, RUSAGE_INFO_V4, ctypes.byref(buffer)) != 0:
        return None
    return int(buffer[_RUSAGE_UUID_BYTES // 8 + index])


def footprint_bytes(pid: int | None = None) -> int | None:
    """macOS: the process's phys_footprint now (what the OS charges it). None on other systems."""
    return _rusage_field(_RI_PHYS_FOOTPRINT, pid)


def _proc_status_kib(field: str, path: Path = _PROC_STATUS) -> int | None:
    try:
        text = path.read_text()
    except OSError:
        return None
    for line in text.splitlines():
        name, _, value = line.partition(":")
        if name == field and value.split() and value.split()[0].isdigit():
            return int(value.split()[0])
    return None


def process_peak_bytes() -> tuple[int | None, str]:
    """This process's own peak memory and what it is: macOS lifetime max phys_footprint; Linux VmHWM (the
    peak RSS of this process's own address space, fresh after exec, so a spawned worker's parent is not
    in it); else ru_maxrss."""
    if sys.platform == "darwin":
        peak = _rusage_field(_RI_LIFETIME_MAX_PHYS_FOOTPRINT)
        if peak:
            return peak, "phys_footprint"
    hwm_kib = _proc_status_kib("VmHWM")
    if hwm_kib:
        return hwm_kib * 1024, "VmHWM"
    return peak_rss_bytes(), "ru_maxrss"


@cache
def _nvml() -> Any | None:
    try:
        import pynvml

        pynvml.nvmlInit()
        return pynvml
    except Exception:  # no driver, no library, no GPU: NVML is simply unavailable
        return None


def nvml_process_bytes(pid: int | None = None) -> int | None:
    """GPU memory this process holds over all NVIDIA devices, None when NVML cannot tell.

    Inside a container NVML may list host pids that never match ours; that too is None, not 0.
    """
    nvml = _nvml()
    if nvml is None:
        return None
    pid = os.getpid() if pid is None else pid
    try:
        total_bytes, matched = 0, False
        for index in range(nvml.nvmlDeviceGetCount()):
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
            for proc in nvml.nvmlDeviceGetComputeRunningProcesses(handle):
                if proc.pid == pid and proc.usedGpuMemory is not None:
                    total_bytes += int(proc.usedGpuMemory)
                    matched = True
        return total_bytes if matched else None
    except Exception:  # a driver error mid-read is a missing reading
        return None
