"""NVIDIA probe through NVML (the nvidia-ml-py package): every GPU's memory, bandwidth, power and users.

Any NVML failure (no library, no GPU, a query the card does not support) becomes "unknown" with the
reason NVML gave; no NVML at all is the answer "no NVIDIA GPU", never an exception.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

import psutil

T = TypeVar("T")

# Memory is double data rate as NVML reports its clock: peak bytes/s = 2 * clock * bus width / 8, the
# formula of NVIDIA's "How to Implement Performance Metrics in CUDA C/C++"
# (https://developer.nvidia.com/blog/how-implement-performance-metrics-cuda-cc/). NVML's clock for
# GDDR6/GDDR6X/HBM is already the value this formula expects: RTX 3060 192 bit x 7501 MHz -> 360 GB/s
# (spec 360), RTX 4090 384 bit x 10501 MHz -> 1008 GB/s (nvbench prints "1008 GB/sec (384-bit DDR
# @10501MHz)", NVIDIA/nvbench PR #207), H100 SXM 5120 bit x 2619 MHz -> 3352 GB/s (spec 3.35 TB/s).
DDR_TRANSFERS_PER_CLOCK = 2
MHZ = 1_000_000
MILLIWATTS_PER_WATT = 1000


@dataclass(frozen=True)
class GpuProcess:
    pid: int
    name: str
    used_bytes: int | None  # None where the driver cannot say (WDDM, some containers)


@dataclass(frozen=True)
class NvidiaGPU:
    """One GPU as NVML reads it. None means unknown; `unknown` maps the field to NVML's reason."""

    index: int
    name: str
    memory_total_bytes: int
    memory_used_bytes: int
    memory_free_bytes: int
    bus_width_bits: int | None
    max_memory_clock_mhz: int | None
    compute_capability: tuple[int, int] | None
    power_draw_w: float | None
    power_limit_w: float | None
    utilization_pct: int | None
    processes: tuple[GpuProcess, ...] = ()
    unknown: Mapping[str, str] = field(default_factory=dict)

    @property
    def bandwidth_gbps(self) -> float | None:
        """Peak memory bandwidth in GB/s from bus width and max memory clock, when both are known."""
        if not self.bus_width_bits or not self.max_memory_clock_mhz:
            return None
        bytes_per_s = self.bus_width_bits / 8 * self.max_memory_clock_mhz * MHZ * DDR_TRANSFERS_PER_CLOCK
        return bytes_per_s / 1e9

    @property
    def bandwidth_reason(self) -> str:
        if self.bandwidth_gbps is not None:
            return "detected: NVML bus width x max memory clock x 2 (DDR)"
        missing = [k for k in ("bus_width_bits", "max_memory_clock_mhz") if k in self.unknown]
        why = "; ".join(f"{k}: {self.unknown[k]}" for k in missing) or "a reading of 0"
        return f"unknown: {why}"


@dataclass(frozen=True)
class NvidiaProbe:
    gpus: tuple[NvidiaGPU, ...]
    driver_version: str | None
    cuda_version: str | None
    reason: str  # why there are no GPUs, or "" when there are

    @property
    def available(self) -> bool:
        return bool(self.gpus)


def no_gpu(reason: str) -> NvidiaProbe:
    return NvidiaProbe(gpus=(), driver_version=None, cuda_version=None, reason=f"no NVIDIA GPU: {reason}")


def load_nvml() -> Any | None:
    """The pynvml module from nvidia-ml-py, or None when it is not installed."""
    try:
        import pynvml
    except ImportError:
        return None
    return pynvml


def _text(value: object) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def _query(nvml: Any, unknown: dict[str, str], key: str, call: Callable[[], T]) -> T | None:
    """One NVML call; an NVMLError becomes None plus NVML's own words in `unknown[key]`.

    An AttributeError means this nvidia-ml-py predates the call (seen on a GPU image whose pynvml lacks
    nvmlDeviceGetEnforcedPowerManagementLimit): also an unknown reading, never a crash.
    """
    try:
        return call()
    except nvml.NVMLError as exc:
        unknown[key] = str(exc) or type(exc).__name__
        return None
    except AttributeError as exc:
        unknown[key] = f"not in this nvidia-ml-py: {exc}"
        return None


def cuda_version_text(encoded: int) -> str:
    """nvml.h encodes the CUDA driver version as 1000 * major + 10 * minor (12040 -> "12.4")."""
    return f"{encoded // 1000}.{encoded % 1000 // 10}"


def probe_nvidia(nvml: Any | None = None) -> NvidiaProbe:
    """Read every NVIDIA GPU. `nvml` is the pynvml module or a stand-in with the same functions."""
    nvml = nvml if nvml is not None else load_nvml()
    if nvml is None:
        return no_gpu("nvidia-ml-py (pynvml) is not installed")
    try:
        nvml.nvmlInit()
    except nvml.NVMLError as exc:
        return no_gpu(f"NVML did not start ({exc})")
    try:
        return _read_all(nvml)
    finally:
        _shutdown(nvml)


def _shutdown(nvml: Any) -> None:
    with contextlib.suppress(nvml.NVMLError):  # a failed shutdown leaves nothing for us to clean up
        nvml.nvmlShutdown()


def _read_all(nvml: Any) -> NvidiaProbe:
    system: dict[str, str] = {}
    count = _query(nvml, system, "count", nvml.nvmlDeviceGetCount)
    if not count:
        return no_gpu(f"NVML found no device ({system.get('count', 'count 0')})")
    driver = _query(nvml, system, "driver", nvml.nvmlSystemGetDriverVersion)
    cuda = _query(nvml, system, "cuda", nvml.nvmlSystemGetCudaDriverVersion)
    gpus = tuple(gpu for gpu in (_read_gpu(nvml, i) for i in range(count)) if gpu is not None)
    return NvidiaProbe(
        gpus=gpus,
        driver_version=_text(driver) if driver is not None else None,
        cuda_version=cuda_version_text(int(cuda)) if cuda else None,
        reason="" if gpus else "no NVIDIA GPU: NVML could not open any device",
    )


def _read_gpu(nvml: Any, index: int) -> NvidiaGPU | None:
    unknown: dict[str, str] = {}
    handle = _query(nvml, unknown, "handle", lambda: nvml.nvmlDeviceGetHandleByIndex(index))
    memory = _query(nvml, unknown, "memory", lambda: nvml.nvmlDeviceGetMemoryInfo(handle))
    if handle is None or memory is None:
        return None  # a GPU whose memory cannot be read cannot hold a model either
    name = _query(nvml, unknown, "name", lambda: nvml.nvmlDeviceGetName(handle))
    capability = _query(
        nvml, unknown, "compute_capability", lambda: nvml.nvmlDeviceGetCudaComputeCapability(handle)
    )
    power_mw = _query(nvml, unknown, "power_draw_w", lambda: nvml.nvmlDeviceGetPowerUsage(handle))
    limit_mw = _query(
        nvml, unknown, "power_limit_w", lambda: nvml.nvmlDeviceGetEnforcedPowerManagementLimit(handle)
    )
    rates = _query(nvml, unknown, "utilization_pct", lambda: nvml.nvmlDeviceGetUtilizationRates(handle))
    return NvidiaGPU(
        index=index,
        name=_text(name) if name is not None else f"NVIDIA GPU {index}",
        memory_total_bytes=int(memory.total),
        memory_used_bytes=int(memory.used),
        memory_free_bytes=int(memory.free),
        bus_width_bits=_positive(
            nvml, unknown, "bus_width_bits", lambda: nvml.nvmlDeviceGetMemoryBusWidth(handle)
        ),
        max_memory_clock_mhz=_positive(
            nvml,
            unknown,
            "max_memory_clock_mhz",
            lambda: nvml.nvmlDeviceGetMaxClockInfo(handle, nvml.NVML_CLOCK_MEM),
        ),
        compute_capability=(int(capability[0]), int(capability[1])) if capability else None,
        power_draw_w=power_mw / MILLIWATTS_PER_WATT if power_mw is not None else None,
        power_limit_w=limit_mw / MILLIWATTS_PER_WATT if limit_mw is not None else None,
        utilization_pct=int(rates.gpu) if rates is not None else None,
        processes=_processes(nvml, handle, unknown),
        unknown=unknown,
    )


def _positive(nvml: Any, unknown: dict[str, str], key: str, call: Callable[[], int]) -> int | None:
    """A reading that must be positive to mean anything (a clock or a width of 0 is 'not reported')."""
    value = _query(nvml, unknown, key, call)
    if value is not None and int(value) <= 0:
        unknown[key] = f"NVML reported {value}"
        return None
    return int(value) if value is not None else None


def _processes(nvml: Any, handle: object, unknown: dict[str, str]) -> tuple[GpuProcess, ...]:
    """Compute and graphics processes holding memory on this GPU, one entry per pid."""
    seen: dict[int, GpuProcess] = {}
    for kind in ("Compute", "Graphics"):
        call = getattr(nvml, f"nvmlDeviceGet{kind}RunningProcesses")
        found: list[Any] = _query(nvml, unknown, f"{kind.lower()}_processes", partial(call, handle)) or []
        for info in found:
            used = getattr(info, "usedGpuMemory", None)
            seen.setdefault(int(info.pid), GpuProcess(int(info.pid), _process_name(int(info.pid)), used))
    return tuple(seen.values())


def _process_name(pid: int) -> str:
    try:
        return str(psutil.Process(pid).name())
    except (psutil.Error, OSError):
        return "?"  # another container's pid, or a process that just ended
