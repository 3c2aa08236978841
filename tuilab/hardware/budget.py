"""What each engine may use on a machine, and the warnings a user needs before trusting that number.

Budgets are read off a `HardwareSpec` (llama.cpp per GPU, MLX's wired limit, the CPU's RAM); warnings
come from the live readings behind it (swap, memory pressure, other processes on a GPU).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tuilab.core.hardware import GIB, MAC_MIN_OS_BYTES, MIB, HardwareSpec, Platform

if TYPE_CHECKING:
    from tuilab.hardware.apple import AppleProbe
    from tuilab.hardware.host import HostProbe
    from tuilab.hardware.nvidia import GpuProcess, NvidiaProbe


@dataclass(frozen=True)
class EngineBudget:
    engine: str  # "llama.cpp", "mlx"
    device: str  # "GPU 0 NVIDIA GeForce RTX 3060", "Metal", "CPU"
    budget_bytes: int
    source: str


def _gib(n_bytes: int) -> str:
    return f"{n_bytes / GIB:.1f} GiB"


def engine_budgets(spec: HardwareSpec) -> tuple[EngineBudget, ...]:
    """The memory each engine may plan with on `spec`, one row per engine and device."""
    rows: list[EngineBudget] = []
    reserve = f"RAM available less {_gib(spec.os_reserve_bytes)} OS reserve"
    if spec.unified and spec.gpus:
        wired = f"min(wired limit, {reserve})"  # each term's own source is in spec.sources
        rows.append(EngineBudget("llama.cpp", "Metal", spec.gpu_budget_bytes, wired))
        rows.append(EngineBudget("mlx", "Metal (wired)", spec.gpu_budget_bytes, wired))
    elif spec.platform is Platform.NVIDIA:
        for i, gpu in enumerate(spec.gpus):
            source = "free VRAM now (NVML)" if not spec.is_profile else "the profile's idle card"
            rows.append(EngineBudget("llama.cpp", f"GPU {i} {gpu.name}", gpu.free_bytes, source))
    engines = "llama.cpp, mlx" if spec.unified else "llama.cpp"
    rows.append(EngineBudget(engines, "CPU", spec.host_budget_bytes, reserve))
    return tuple(rows)


def detection_warnings(
    spec: HardwareSpec, host: HostProbe, apple: AppleProbe | None, nvidia: NvidiaProbe
) -> tuple[str, ...]:
    """Swap in use, memory pressure, other processes holding GPU memory, unknown bandwidth."""
    warnings: list[str] = []
    memory = apple.memory if apple is not None else None
    swap_used = (
        memory.swap_used_bytes if memory and memory.swap_used_bytes is not None else host.swap_used_bytes
    )
    if swap_used > 0:
        warnings.append(
            f"swap in use: {_gib(swap_used)}; memory is already short, and weights that spill page"
        )
    if memory is not None and memory.pressure in ("warn", "critical"):
        warnings.append(f"macOS memory pressure is {memory.pressure}: free memory before loading a model")
    for gpu in nvidia.gpus:
        others = [p for p in gpu.processes if p.pid != os.getpid()]
        if others:
            held = sum(p.used_bytes or 0 for p in others)
            who = ", ".join(_describe(p) for p in others)
            warnings.append(f"GPU {gpu.index}: {len(others)} other process(es) hold {_gib(held)} ({who})")
    for i, device in enumerate(spec.gpus):
        if device.bandwidth_gbps <= 0:
            warnings.append(f"GPU {i} bandwidth unknown: no speed prediction; pick one with --profile NAME")
    return tuple(warnings)


def _describe(process: GpuProcess) -> str:
    name = f" {process.name}" if process.name != "?" else ""
    held = f": {_gib(process.used_bytes)}" if process.used_bytes else ""
    return f"pid {process.pid}{name}{held}"


def wired_limit_warning(spec: HardwareSpec, model_name: str, needed_bytes: int) -> str | None:
    """A warning when a Mac's GPU wired limit is below what `model_name` needs, with the fix."""
    if not spec.unified or spec.wired_limit_bytes is None or needed_bytes <= spec.wired_limit_bytes:
        return None
    # Leave macOS at least MAC_MIN_OS_BYTES when raising the limit (tuilab.core.hardware cites why).
    ceiling_mb = max(0, spec.ram_bytes - MAC_MIN_OS_BYTES) // MIB
    fix = f"raise it with `sudo sysctl iogpu.wired_limit_mb={ceiling_mb}`"
    if needed_bytes > ceiling_mb * MIB:
        fix = "it does not fit even with the limit raised"
    return (
        f"wired limit {_gib(spec.wired_limit_bytes)} is below what {model_name} needs "
        f"({_gib(needed_bytes)}): {fix}"
    )
