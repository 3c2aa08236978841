"""The machine a plan is made for: devices, memory, bandwidth, and where each number came from.

Probes (tuilab.hardware) and profiles (tuilab.models.profiles) both build a `HardwareSpec`; the fit
oracle only ever sees this type, so "this machine" and "what if an RTX 3060" are planned the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum

from tuilab.core.errors import UsageError

GIB = 1024**3
MIB = 1024**2


class Platform(StrEnum):
    APPLE = "apple"
    NVIDIA = "nvidia"
    CPU = "cpu"


@dataclass(frozen=True)
class GPUSpec:
    """One GPU. On Apple Silicon the single 'GPU' is the unified memory seen through Metal."""

    name: str
    memory_bytes: int
    free_bytes: int  # what a new process may allocate now (a profile assumes an idle card)
    bandwidth_gbps: float  # GB/s, 1e9 bytes per second
    fp16_tflops: float | None = None  # dense tensor-core FP16 (FP16 accumulate on GeForce), datasheet
    backend: str = "cuda"  # "cuda" or "metal"
    int8_tops: float | None = None  # dense tensor-core INT8, datasheet: llama.cpp's MMQ kernels run on it
    compute_arch: str = ""  # "ampere", "ada", "hopper", ...: picks the prompt-speed efficiency


@dataclass(frozen=True)
class HardwareSpec:
    """A whole machine. `sources` maps a field name to where its value came from."""

    name: str
    platform: Platform
    ram_bytes: int
    ram_available_bytes: int
    ram_bandwidth_gbps: float
    cpu_cores: int
    gpus: tuple[GPUSpec, ...] = ()
    wired_limit_bytes: int | None = None  # Apple: what the GPU may wire (iogpu.wired_limit_mb)
    wired_limit_is_default: bool = True
    os_reserve_bytes: int = 2 * GIB
    cpu_tflops: float | None = None
    ram_bandwidth_measured: bool = False  # taken by `tuilab hw --measure` on this host, not a datasheet's
    gpu_shares_ram: bool = False  # an NVIDIA GPU on the host's RAM (DGX Spark's GB10): one pool for both
    is_profile: bool = False
    sources: Mapping[str, str] = field(default_factory=dict)

    @property
    def unified(self) -> bool:
        return self.platform is Platform.APPLE

    @property
    def host_budget_bytes(self) -> int:
        """RAM tuilab may plan to use on the host: available memory less what the OS keeps."""
        return max(0, self.ram_available_bytes - self.os_reserve_bytes)

    @property
    def gpu_budget_bytes(self) -> int:
        """What the first GPU can hold: free VRAM, or on a Mac the wired limit capped by free RAM."""
        if not self.gpus:
            return 0
        if self.unified:
            wired = self.wired_limit_bytes if self.wired_limit_bytes is not None else self.ram_bytes
            return min(wired, self.host_budget_bytes)
        return self.gpus[0].free_bytes

    def source(self, key: str) -> str:
        return self.sources.get(key, "unknown")


# macOS's default GPU working set (MTLDevice.recommendedMaxWorkingSetSize) when iogpu.wired_limit_mb is
# unset: about two thirds of RAM up to 32 GiB and three quarters above, as llama.cpp's Metal log prints
# it (e.g. 16 GiB M1 Pro: 10922.67 MB; 36 GiB M3 Max: 27648 MB; 192 GiB M2 Ultra: 147456 MB), reported in
# https://github.com/ggml-org/llama.cpp/discussions/2182 and mlx-lm's README "large models" note.
SMALL_MAC_WIRED_FRACTION = 2 / 3
LARGE_MAC_WIRED_FRACTION = 3 / 4
LARGE_MAC_THRESHOLD_BYTES = 32 * GIB
# What macOS itself needs when a user raises the wired limit: leave at least this much (community advice
# in the same discussion; mlx-lm warns when a model is close to the working set).
MAC_MIN_OS_BYTES = 4 * GIB


def default_wired_limit_bytes(ram_bytes: int) -> int:
    """macOS's default GPU wired limit for a Mac with this much unified memory."""
    fraction = LARGE_MAC_WIRED_FRACTION if ram_bytes > LARGE_MAC_THRESHOLD_BYTES else SMALL_MAC_WIRED_FRACTION
    return int(ram_bytes * fraction)


def with_gpu_budget(hw: HardwareSpec, budget_bytes: int) -> HardwareSpec:
    """The same machine with each GPU capped at `budget_bytes` free ("what if only 12 GB were free")."""
    if not hw.gpus:
        return hw
    capped = tuple(replace(g, free_bytes=min(g.free_bytes, budget_bytes)) for g in hw.gpus)
    each = " each" if len(capped) > 1 else ""
    sources = {**hw.sources, "gpu.free_bytes": f"capped at {budget_bytes / 1e9:.2f} GB{each} by --gpu-budget"}
    if hw.unified:
        wired = min(hw.wired_limit_bytes or hw.ram_bytes, budget_bytes)
        return replace(hw, gpus=capped, wired_limit_bytes=wired, sources=sources)
    return replace(hw, gpus=capped, sources=sources)


# More GPUs than this in one host is not a desktop or workstation any profile describes (8 is the usual
# most a server board carries, e.g. an HGX/DGX 8-GPU baseboard).
MAX_GPUS_PER_HOST = 8


def with_gpu_count(hw: HardwareSpec, count: int) -> HardwareSpec:
    """The same host with `count` of its GPU ("2x rtx-3090-24gb"); a Mac's GPU is its memory, one only."""
    if not hw.gpus or hw.unified:
        raise UsageError(f"{hw.name}: only a machine with a discrete GPU can have several")
    if not 1 <= count <= MAX_GPUS_PER_HOST:
        raise UsageError(f"a GPU count must be between 1 and {MAX_GPUS_PER_HOST}, got {count}")
    if count == 1:
        return hw
    same = {
        f"gpu{i}.{key[4:]}": f"{value} (GPU {i} is the same card: {count}x the profile's)"
        for i in range(1, count)
        for key, value in hw.sources.items()
        if key.startswith("gpu.")
    }
    return replace(hw, name=f"{count}x {hw.name}", gpus=hw.gpus[:1] * count, sources={**hw.sources, **same})


_SIZE_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12}
_SIZE_UNITS.update({"kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40})


def parse_size_bytes(text: str) -> int:
    """'12GB' -> 12e9, '12GiB' -> 12*2**30, '512MiB', '1.5e9'; raises ValueError on anything else."""
    s = text.strip().lower().replace(" ", "")
    number = s.rstrip("kmgtib")
    unit = s[len(number) :]
    if unit not in _SIZE_UNITS or not number:
        raise ValueError(f"not a size: {text!r} (try 12GB, 12GiB or 512MiB)")
    return int(float(number) * _SIZE_UNITS[unit])
