"""Host probe: CPU model, core counts, RAM and swap, read through psutil on any OS.

This is the CPU engine's budget and the fallback for every other probe; it never fails, it only
answers "unknown" for a CPU model it cannot name.
"""

from __future__ import annotations

import platform
import sys
from dataclasses import dataclass
from pathlib import Path

import psutil

from tuilab.hardware.apple import CommandRunner, parse_sysctl, run_command


@dataclass(frozen=True)
class HostProbe:
    cpu_model: str
    physical_cores: int
    logical_cores: int
    ram_total_bytes: int
    ram_available_bytes: int
    swap_total_bytes: int
    swap_used_bytes: int


def cpu_model_name(runner: CommandRunner = run_command) -> str:
    """The CPU's marketing name: /proc/cpuinfo on Linux, sysctl on macOS, else platform.processor()."""
    if sys.platform.startswith("linux"):
        name = _cpuinfo_model(Path("/proc/cpuinfo"))
        if name:
            return name
    if sys.platform == "darwin":
        name = parse_sysctl(runner(["sysctl", "machdep.cpu.brand_string"])).get("machdep.cpu.brand_string")
        if name:
            return name
    return platform.processor() or platform.machine() or "unknown CPU"


def _cpuinfo_model(path: Path) -> str | None:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() in ("model name", "Model", "Hardware") and value.strip():
            return value.strip()
    return None


def probe_host(runner: CommandRunner = run_command) -> HostProbe:
    """Read the host now. Physical cores fall back to logical ones where psutil cannot tell."""
    memory = psutil.virtual_memory()
    swap = psutil.swap_memory()
    logical = psutil.cpu_count(logical=True) or 1
    return HostProbe(
        cpu_model=cpu_model_name(runner),
        physical_cores=psutil.cpu_count(logical=False) or logical,
        logical_cores=logical,
        ram_total_bytes=int(memory.total),
        ram_available_bytes=int(memory.available),
        swap_total_bytes=int(swap.total),
        swap_used_bytes=int(swap.used),
    )
