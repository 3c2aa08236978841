"""The machine a plan is made for: devices, memory, bandwidth, and where each number came from.

Probes (tuilab.hardware) and profiles (tuilab.models.profiles) both build a `HardwareSpec`; the fit
oracle only ever sees this type, so "this machine" and "what if an RTX 3060" are planned the same way.
"""

from __future__ import annotations

import itertools
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
    pcie_gbps: float | None = None  # host link, GB/s one way (PCIe generation x lanes), datasheet


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


# macOS's default GPU working set (MTLDevice.recommendedMaxWorkingSetSize) when iogpu.wired_limit_mb is 0.
# Up to macOS 14 it was two thirds of RAM up to 32 GiB and three quarters above, as llama.cpp's Metal log
# printed it in MiB (16 GiB: 10922.67; 32 GiB M2 Max: 21845.34, ollama/ollama#434; 64 GiB M1 Max: 49152.00,
# ggml-org/llama.cpp#1870; 96 GiB M2 Max: 73728.00, ggml-org/llama.cpp#3213).
SMALL_MAC_WIRED_FRACTION = 2 / 3
LARGE_MAC_WIRED_FRACTION = 3 / 4
LARGE_MAC_THRESHOLD_BYTES = 32 * GIB
# Recent macOS (15 and 26) grants more. Readings of recommendedMaxWorkingSetSize with the sysctl at 0, as
# today's llama.cpp logs them (`ggml_metal_device_init: recommendedMaxWorkingSetSize = X MB`, X in 1e6
# bytes; quoted in public repositories' test fixtures and benchmark notes), and MLX/exo reports:
#   16 GiB M4, macOS 15.6: ~10.67 GiB, still 2/3 (exo-explore/exo PR #1672);
#   32 GiB M2 Max and M4: 26800.60 MB (78%);
#   48 GiB M4 Pro, and M5 Max (ggml-org/llama.cpp PR #16634): 40200.90 MB (78%);
#   64 GiB M3 Max: 55662.79 MB (81%);
#   128 GiB M4 Max: 115448.73 MB (84%); 107.52 GiB on an M5 Max, macOS 26 (antirez/ds4 PR #893).
# Between readings the fraction is interpolated linearly in RAM; below 16 GiB and above 128 GiB the
# nearest reading's fraction holds. No 8, 24, 36, 96 or 192 GiB reading was found: those are interpolated.
RECENT_MACOS_WORKING_SET_BYTES: tuple[tuple[int, int], ...] = (
    (16 * GIB, 16 * GIB * 2 // 3),
    (32 * GIB, 26_800_600_000),
    (48 * GIB, 40_200_900_000),
    (64 * GIB, 55_662_790_000),
    (128 * GIB, 115_448_730_000),
)
_RECENT_READING_NOTES: dict[int, str] = {
    16 * GIB: "16 GiB M4 on macOS 15.6, exo-explore/exo PR #1672",
    32 * GIB: "26800.60 MB on 32 GiB M2 Max and M4 llama.cpp logs",
    48 * GIB: "40200.90 MB on 48 GiB M4 Pro and M5 Max llama.cpp logs, ggml-org/llama.cpp PR #16634",
    64 * GIB: "55662.79 MB on a 64 GiB M3 Max llama.cpp log",
    128 * GIB: "115448.73 MB on 128 GiB M4 Max/M5 Max, antirez/ds4 PR #893",
}
RECENT_MACOS_MAJOR = 15  # the oldest macOS among the readings above; older ones keep the 2/3, 3/4 rule
# What macOS itself needs when a user raises the wired limit: leave at least this much (community advice
# in ggml-org/llama.cpp discussion #2182; mlx-lm warns when a model is close to the working set).
MAC_MIN_OS_BYTES = 4 * GIB


def default_wired_limit_bytes(ram_bytes: int, macos_major: int | None = None) -> int:
    """macOS's default GPU wired limit for this much unified memory; `macos_major` None means a recent one."""
    if macos_major is not None and macos_major < RECENT_MACOS_MAJOR:
        large = ram_bytes > LARGE_MAC_THRESHOLD_BYTES
        return int(ram_bytes * (LARGE_MAC_WIRED_FRACTION if large else SMALL_MAC_WIRED_FRACTION))
    return int(ram_bytes * recent_working_set_fraction(ram_bytes))


def wired_limit_source(ram_bytes: int, macos_major: int | None = None) -> str:
    """Which macOS the default wired limit assumes for this RAM, and the reading behind its fraction."""
    if macos_major is not None and macos_major < RECENT_MACOS_MAJOR:
        rule = "3/4 of RAM above 32 GiB" if ram_bytes > LARGE_MAC_THRESHOLD_BYTES else "2/3 of RAM"
        return f"default: macOS {macos_major} recommendedMaxWorkingSetSize, {rule} (llama.cpp Metal logs)"
    fraction = recent_working_set_fraction(ram_bytes)
    note = _RECENT_READING_NOTES.get(ram_bytes, "interpolated between the recorded readings")
    return (
        f"default: macOS {RECENT_MACOS_MAJOR}+ recommendedMaxWorkingSetSize, {fraction:.1%} of RAM "
        f"({note}; core.hardware.RECENT_MACOS_WORKING_SET_BYTES)"
    )


def recent_working_set_fraction(ram_bytes: int) -> float:
    """The recorded working-set fraction for this RAM on recent macOS, linear between readings."""
    points = [(ram, limit / ram) for ram, limit in RECENT_MACOS_WORKING_SET_BYTES]
    if ram_bytes <= points[0][0]:
        return points[0][1]
    for (ram_lo, frac_lo), (ram_hi, frac_hi) in itertools.pairwise(points):
        if ram_bytes <= ram_hi:
            return frac_lo + (frac_hi - frac_lo) * (ram_bytes - ram_lo) / (ram_hi - ram_lo)
    return points[-1][1]


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
