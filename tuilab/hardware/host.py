"""Host probe: CPU model, core counts, RAM and swap, read through psutil on any OS.

This is the CPU engine's budget and the fallback for every other probe; it never fails, it only
answers "unknown" for a CPU model it cannot name.
"""

from __future__ import annotations

import platform
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

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
    # A psutil call that raised (RuntimeError on at least one macOS beta): its fields read 0, and this
    # maps the reading ("virtual_memory", "swap_memory", "cpu_count") to the error.
    unknown: Mapping[str, str] = field(default_factory=dict)


T = TypeVar("T")


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


def _reading(unknown: dict[str, str], name: str, call: Callable[[], T]) -> T | None:
    try:
        return call()
    except Exception as exc:  # psutil on an unknown OS build raises anything; a reading is then unknown
        unknown[name] = f"psutil.{name}() failed: {type(exc).__name__}: {exc}"
        return None


def probe_host(runner: CommandRunner = run_command, ps: Any = psutil) -> HostProbe:
    """Read the host now. Physical cores fall back to logical ones where psutil cannot tell; a psutil call
    that raises leaves its readings at 0 and says why in `unknown`."""
    unknown: dict[str, str] = {}
    memory = _reading(unknown, "virtual_memory", ps.virtual_memory)
    swap = _reading(unknown, "swap_memory", ps.swap_memory)
    logical = _reading(unknown, "cpu_count", lambda: ps.cpu_count(logical=True)) or 1
    physical = _reading(unknown, "cpu_count_physical", lambda: ps.cpu_count(logical=False))
    return HostProbe(
        cpu_model=cpu_model_name(runner),
        physical_cores=physical or logical,
        logical_cores=logical,
        ram_total_bytes=int(memory.total) if memory is not None else 0,
        ram_available_bytes=int(memory.available) if memory is not None else 0,
        swap_total_bytes=int(swap.total) if swap is not None else 0,
        swap_used_bytes=int(swap.used) if swap is not None else 0,
        unknown=unknown,
    )
