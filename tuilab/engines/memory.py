"""Measured memory of the current process: resident set now and at its peak, and NVIDIA device use.

A missing reading is None, never an exception: NVML is absent on Macs and CPU boxes.
"""

from __future__ import annotations

import os
import resource
import sys
from functools import cache
from typing import Any


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

    ru_maxrss is in kilobytes on Linux and in bytes on macOS (getrusage(2) man pages of each).
    """
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak) if sys.platform == "darwin" else int(peak) * 1024


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
