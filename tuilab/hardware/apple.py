"""Apple Silicon probe: chip, cores, GPU cores, unified memory, the GPU wired limit and live memory.

Reads `sysctl`, `system_profiler SPDisplaysDataType -json` and `vm_stat` through an injectable command
runner (argv in, stdout out), so tests feed recorded outputs of real Macs; a missing reading says why.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from tuilab.core.hardware import MIB, default_wired_limit_bytes

CommandRunner = Callable[[Sequence[str]], str]
MlxInfo = Callable[[], Mapping[str, object] | None]

# system_profiler needs about a second on a cold Mac; anything slower is a hung probe, not a reading.
COMMAND_TIMEOUT_S = 10.0

SYSCTL_KEYS: tuple[str, ...] = (
    "machdep.cpu.brand_string",
    "hw.model",
    "hw.memsize",
    "hw.ncpu",
    "hw.perflevel0.physicalcpu",
    "hw.perflevel1.physicalcpu",
    "iogpu.wired_limit_mb",
    "vm.swapusage",
    "kern.memorystatus_vm_pressure_level",
)

# kern.memorystatus_vm_pressure_level takes the NOTE_MEMORYSTATUS_PRESSURE_* values of xnu's
# bsd/sys/event.h: 0x1 normal, 0x2 warn, 0x4 critical.
PRESSURE_LEVELS: Mapping[int, str] = {1: "normal", 2: "warn", 4: "critical"}

# `sysctl vm.swapusage` prints "total = 2048.00M  used = ..." with M = 2**20 bytes (usr.sbin/sysctl's
# S_xswusage divides by 1024*1024); G and K appear on some releases, with the same binary scale.
_SWAP_UNITS: Mapping[str, int] = {"K": 1024, "M": MIB, "G": 1024 * MIB}
_SWAP_FIELD = re.compile(r"(total|used|free)\s*=\s*([\d.]+)([KMG])")
_VM_STAT_PAGE = re.compile(r"page size of (\d+) bytes")
_VM_STAT_LINE = re.compile(r'^"?([^:"]+)"?:\s+(\d+)\.?\s*$')


def run_command(argv: Sequence[str]) -> str:
    """Run a read-only command and return its stdout; a command that cannot run returns ''."""
    try:
        done = subprocess.run(
            list(argv), capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout


@dataclass(frozen=True)
class AppleMemory:
    """One reading of `vm_stat` plus swap and pressure from sysctl; byte counts, not pages."""

    page_size_bytes: int
    free_bytes: int
    active_bytes: int
    inactive_bytes: int
    speculative_bytes: int
    wired_bytes: int
    compressed_bytes: int  # "Pages occupied by compressor": RAM the compressor holds
    swapins: int
    swap_total_bytes: int | None
    swap_used_bytes: int | None
    pressure: str  # "normal", "warn", "critical" or "unknown"

    @property
    def available_bytes(self) -> int:
        """Free plus inactive pages: psutil's `available` on macOS (psutil/_psosx.py virtual_memory)."""
        return self.free_bytes + self.inactive_bytes


@dataclass(frozen=True)
class WiredLimit:
    """How much unified memory the GPU may wire, and which of the three ways we learned it."""

    limit_bytes: int
    source: str
    is_default: bool  # True when it is tuilab's estimate of macOS's default, not a reading


@dataclass(frozen=True)
class AppleProbe:
    """What an Apple Silicon Mac says about itself. None means unknown; `unknown` says why."""

    chip: str | None
    model: str | None
    memory_bytes: int | None
    performance_cores: int | None
    efficiency_cores: int | None
    logical_cpus: int | None
    gpu_cores: int | None
    wired_limit: WiredLimit | None
    memory: AppleMemory | None
    unknown: Mapping[str, str] = field(default_factory=dict)

    @property
    def cpu_cores(self) -> int | None:
        if self.performance_cores is not None and self.efficiency_cores is not None:
            return self.performance_cores + self.efficiency_cores
        return self.logical_cpus


def parse_sysctl(text: str) -> dict[str, str]:
    """`sysctl a b c` output ("key: value" lines) as a mapping; unknown oids are simply absent."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(": ")
        key = key.strip()
        # Every oid is dotted ("hw.memsize"); "sysctl: unknown oid ..." lines are errors, not values.
        if sep and "." in key and " " not in key:
            values[key] = value.strip()
    return values


def parse_swapusage(value: str) -> tuple[int, int] | None:
    """(total, used) bytes from a vm.swapusage value, or None when it does not parse."""
    fields = {name: float(number) * _SWAP_UNITS[unit] for name, number, unit in _SWAP_FIELD.findall(value)}
    if "total" not in fields or "used" not in fields:
        return None
    return int(fields["total"]), int(fields["used"])


def parse_vm_stat(text: str) -> tuple[int, dict[str, int]] | None:
    """(page size, {lower-cased label: count}) from `vm_stat`, or None without its header."""
    header = _VM_STAT_PAGE.search(text)
    if header is None:
        return None
    counts: dict[str, int] = {}
    for line in text.splitlines()[1:]:
        match = _VM_STAT_LINE.match(line.strip())
        if match:
            counts[match.group(1).strip().lower()] = int(match.group(2))
    return int(header.group(1)), counts


def parse_gpu_cores(text: str) -> int | None:
    """The integrated GPU's core count (`sppci_cores`) from `system_profiler SPDisplaysDataType -json`."""
    try:
        items = json.loads(text).get("SPDisplaysDataType", [])
    except (json.JSONDecodeError, AttributeError):
        return None
    for item in items if isinstance(items, list) else []:
        cores = item.get("sppci_cores") if isinstance(item, dict) else None
        if isinstance(cores, str | int) and str(cores).isdigit():
            return int(cores)
    return None


def _int(values: Mapping[str, str], key: str, unknown: dict[str, str]) -> int | None:
    raw = values.get(key)
    if raw is None:
        unknown[key] = f"sysctl {key} missing"
        return None
    try:
        return int(raw)
    except ValueError:
        unknown[key] = f"sysctl {key} unreadable: {raw!r}"
        return None


def read_memory(runner: CommandRunner, sysctl: Mapping[str, str] | None = None) -> AppleMemory | None:
    """Live memory from `vm_stat` plus swap and pressure (from `sysctl` when not given)."""
    parsed = parse_vm_stat(runner(["vm_stat"]))
    if parsed is None:
        return None
    page, counts = parsed
    if sysctl is None:
        sysctl = parse_sysctl(runner(["sysctl", "vm.swapusage", "kern.memorystatus_vm_pressure_level"]))
    swap = parse_swapusage(sysctl.get("vm.swapusage", ""))
    level = sysctl.get("kern.memorystatus_vm_pressure_level", "")
    return AppleMemory(
        page_size_bytes=page,
        free_bytes=counts.get("pages free", 0) * page,
        active_bytes=counts.get("pages active", 0) * page,
        inactive_bytes=counts.get("pages inactive", 0) * page,
        speculative_bytes=counts.get("pages speculative", 0) * page,
        wired_bytes=counts.get("pages wired down", 0) * page,
        compressed_bytes=counts.get("pages occupied by compressor", 0) * page,
        swapins=counts.get("swapins", 0),
        swap_total_bytes=swap[0] if swap else None,
        swap_used_bytes=swap[1] if swap else None,
        pressure=PRESSURE_LEVELS.get(int(level), "unknown") if level.isdigit() else "unknown",
    )


def mlx_device_info() -> Mapping[str, object] | None:
    """MLX's Metal device info on macOS, else None; never imports mlx anywhere else (it is slow)."""
    if sys.platform != "darwin":
        return None
    try:
        import mlx.core as mx

        info = mx.device_info() if hasattr(mx, "device_info") else mx.metal.device_info()
    except Exception:  # an old, broken or GPU-less MLX is "no reading", whatever it raises
        return None
    return dict(info)


def resolve_wired_limit(
    sysctl: Mapping[str, str], memory_bytes: int | None, mlx_info: MlxInfo, unknown: dict[str, str]
) -> WiredLimit | None:
    """iogpu.wired_limit_mb when set; else MLX's max_recommended_working_set_size; else the default."""
    raw = sysctl.get("iogpu.wired_limit_mb")
    if raw is not None and raw.isdigit() and int(raw) > 0:
        return WiredLimit(int(raw) * MIB, "detected: sysctl iogpu.wired_limit_mb", is_default=False)
    why_not = "iogpu.wired_limit_mb is 0 (not raised)" if raw is not None else "iogpu.wired_limit_mb missing"
    info = mlx_info()
    working_set = info.get("max_recommended_working_set_size") if info else None
    if isinstance(working_set, int) and working_set > 0:
        source = "detected: mlx.core.device_info() max_recommended_working_set_size"
        return WiredLimit(working_set, source, is_default=False)
    if memory_bytes is None:
        unknown["wired_limit"] = f"{why_not}, no MLX reading and no hw.memsize"
        return None
    source = f"default: macOS default fraction of RAM ({why_not}; MLX not readable)"
    return WiredLimit(default_wired_limit_bytes(memory_bytes), source, is_default=True)


def probe_apple(runner: CommandRunner = run_command, mlx_info: MlxInfo = mlx_device_info) -> AppleProbe:
    """Read an Apple Silicon Mac through `runner`; every missing value lands in `unknown` with a reason."""
    sysctl = parse_sysctl(runner(["sysctl", *SYSCTL_KEYS]))
    unknown: dict[str, str] = {}
    chip = sysctl.get("machdep.cpu.brand_string")
    if chip is None:
        unknown["chip"] = "sysctl machdep.cpu.brand_string missing"
    memory_bytes = _int(sysctl, "hw.memsize", unknown)
    gpu_cores = parse_gpu_cores(runner(["system_profiler", "SPDisplaysDataType", "-json"]))
    if gpu_cores is None:
        unknown["gpu_cores"] = "system_profiler SPDisplaysDataType gave no sppci_cores"
    memory = read_memory(runner, sysctl)
    if memory is None:
        unknown["memory"] = "vm_stat gave no readable output"
    return AppleProbe(
        chip=chip,
        model=sysctl.get("hw.model"),
        memory_bytes=memory_bytes,
        performance_cores=_int(sysctl, "hw.perflevel0.physicalcpu", unknown),
        efficiency_cores=_int(sysctl, "hw.perflevel1.physicalcpu", unknown),
        logical_cpus=_int(sysctl, "hw.ncpu", unknown),
        gpu_cores=gpu_cores,
        wired_limit=resolve_wired_limit(sysctl, memory_bytes, mlx_info, unknown),
        memory=memory,
        unknown=unknown,
    )
