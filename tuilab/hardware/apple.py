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
from dataclasses import dataclass, field, replace

from tuilab.core.hardware import MIB, default_wired_limit_bytes, wired_limit_source
from tuilab.hardware.mlx_compat import device_info

CommandRunner = Callable[[Sequence[str]], str]
MlxInfo = Callable[[], Mapping[str, object] | None]

# system_profiler needs about a second on a cold Mac; anything slower is a hung probe, not a reading.
COMMAND_TIMEOUT_S = 10.0

SYSCTL_KEYS: tuple[str, ...] = (
    "machdep.cpu.brand_string",
    "hw.model",
    "hw.memsize",
    "hw.ncpu",
    "hw.nperflevels",
    "kern.osproductversion",
    "iogpu.wired_limit_mb",
    "debug.iogpu.wired_limit",
    "vm.swapusage",
    "kern.memorystatus_vm_pressure_level",
)
# Without hw.nperflevels, read two levels: 0 performance, 1 efficiency, as every Apple chip before M5 has.
DEFAULT_PERF_LEVELS = 2

# kern.memorystatus_vm_pressure_level takes the NOTE_MEMORYSTATUS_PRESSURE_* values of xnu's
# bsd/sys/event.h: 0x1 normal, 0x2 warn, 0x4 critical.
PRESSURE_LEVELS: Mapping[int, str] = {1: "normal", 2: "warn", 4: "critical"}

# `sysctl vm.swapusage` prints "total = 2048.00M  used = ..." with M = 2**20 bytes (usr.sbin/sysctl's
# S_xswusage divides by 1024*1024); G and K appear on some releases, with the same binary scale.
_SWAP_UNITS: Mapping[str, int] = {"K": 1024, "M": MIB, "G": 1024 * MIB}
_SWAP_FIELD = re.compile(r"(total|used|free)\s*=\s*([\d.]+)([KMG])")
_VM_STAT_PAGE = re.compile(r"page size of (\d+) bytes")
_VM_STAT_LINE = re.compile(r'^"?([^:"]+)"?:\s+(\d+)\.?\s*$')


@dataclass(frozen=True)
class CommandResult:
    """One command as it ran: what `tuilab hw --record` writes and `--replay` reads back."""

    argv: tuple[str, ...]
    stdout: str
    stderr: str
    returncode: int  # 127: the command could not start; 124: it timed out (the shell's conventions)


def run_command_result(argv: Sequence[str]) -> CommandResult:
    """Run a read-only command; one that cannot start or hangs is a result with no output, never a raise."""
    try:
        done = subprocess.run(
            list(argv), capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired:
        return CommandResult(tuple(argv), "", f"timed out after {COMMAND_TIMEOUT_S:.0f} s", 124)
    except OSError as exc:
        return CommandResult(tuple(argv), "", str(exc), 127)
    return CommandResult(tuple(argv), done.stdout, done.stderr, done.returncode)


def run_command(argv: Sequence[str]) -> str:
    """Run a read-only command and return its stdout; a command that cannot run returns ''."""
    return run_command_result(argv).stdout


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
    performance_cores: int | None  # Super plus Performance cores (M5 Pro/Max have both, no Efficiency)
    efficiency_cores: int | None  # Efficiency cores; 0 on a chip without them
    logical_cpus: int | None
    gpu_cores: int | None
    wired_limit: WiredLimit | None
    memory: AppleMemory | None
    unknown: Mapping[str, str] = field(default_factory=dict)
    perf_levels: tuple[PerfLevel, ...] = ()
    macos_version: str | None = None

    @property
    def cpu_cores(self) -> int | None:
        if self.perf_levels:
            return sum(level.physical_cores for level in self.perf_levels)
        if self.performance_cores is not None and self.efficiency_cores is not None:
            return self.performance_cores + self.efficiency_cores
        return self.logical_cpus

    @property
    def macos_major(self) -> int | None:
        head = (self.macos_version or "").split(".")[0]
        return int(head) if head.isdigit() else None


@dataclass(frozen=True)
class PerfLevel:
    """One CPU performance level (`hw.perflevelN.*`): "Super", "Performance" or "Efficiency" cores."""

    index: int
    name: str
    physical_cores: int


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


def read_sysctl(runner: CommandRunner, keys: Sequence[str]) -> dict[str, str]:
    """Every readable key of `keys`: one call for all, then one call per key the first call lost.

    Apple's `sysctl` up to macOS 14.3 stops at the first unknown key (issue 14, from system_cmds'
    sysctl.tproj), so on macOS 13 `iogpu.wired_limit_mb` would hide every key after it.
    """
    values = parse_sysctl(runner(["sysctl", *keys]))
    for key in keys:
        if key not in values:
            values.update(parse_sysctl(runner(["sysctl", key])))
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
        sysctl = read_sysctl(runner, ["vm.swapusage", "kern.memorystatus_vm_pressure_level"])
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

        return device_info(mx) or None
    except Exception:  # an old, broken or GPU-less MLX is "no reading", whatever it raises
        return None


def _positive_int(raw: str | None) -> int | None:
    return int(raw) if raw is not None and raw.isdigit() and int(raw) > 0 else None


def resolve_wired_limit(
    sysctl: Mapping[str, str],
    memory_bytes: int | None,
    mlx_info: MlxInfo,
    unknown: dict[str, str],
    macos_major: int | None = None,
) -> WiredLimit | None:
    """A raised limit when set; else macOS's default, read from MLX or estimated from RAM and macOS.

    With `iogpu.wired_limit_mb` at 0 (or absent), MLX's `max_recommended_working_set_size` is macOS's own
    default, not a raised limit: `is_default` says so either way.
    """
    raised_mb = _positive_int(sysctl.get("iogpu.wired_limit_mb"))
    if raised_mb is not None:
        return WiredLimit(raised_mb * MIB, "detected: sysctl iogpu.wired_limit_mb", is_default=False)
    raised_bytes = _positive_int(sysctl.get("debug.iogpu.wired_limit"))  # macOS 13's name, in bytes
    if raised_bytes is not None:
        return WiredLimit(raised_bytes, "detected: sysctl debug.iogpu.wired_limit", is_default=False)
    raw = sysctl.get("iogpu.wired_limit_mb")
    why_not = "iogpu.wired_limit_mb is 0 (not raised)" if raw is not None else "iogpu.wired_limit_mb missing"
    info = mlx_info()
    working_set = info.get("max_recommended_working_set_size") if info else None
    if isinstance(working_set, int) and working_set > 0:
        source = f"detected: macOS default, MLX max_recommended_working_set_size ({why_not})"
        return WiredLimit(working_set, source, is_default=True)
    if memory_bytes is None:
        unknown["wired_limit"] = f"{why_not}, no MLX reading and no hw.memsize"
        return None
    source = f"{wired_limit_source(memory_bytes, macos_major)} ({why_not}; MLX not readable)"
    return WiredLimit(default_wired_limit_bytes(memory_bytes, macos_major), source, is_default=True)


def read_perf_levels(
    runner: CommandRunner, sysctl: Mapping[str, str], unknown: dict[str, str]
) -> tuple[PerfLevel, ...]:
    """Every CPU performance level's name and core count (`hw.nperflevels`, `hw.perflevelN.*`)."""
    declared = sysctl.get("hw.nperflevels", "")
    n_levels = int(declared) if declared.isdigit() else DEFAULT_PERF_LEVELS
    keys = [f"hw.perflevel{i}.{what}" for i in range(n_levels) for what in ("name", "physicalcpu")]
    values = read_sysctl(runner, keys)
    levels: list[PerfLevel] = []
    for i in range(n_levels):
        cores = values.get(f"hw.perflevel{i}.physicalcpu", "")
        if not cores.isdigit():  # a level without its count: the levels do not add up, use hw.ncpu
            unknown[f"hw.perflevel{i}.physicalcpu"] = f"sysctl hw.perflevel{i}.physicalcpu missing"
            return ()
        # Before names were readable, level 0 was the performance cluster and level 1 the efficiency one.
        fallback = "Performance" if i == 0 else "Efficiency"
        levels.append(PerfLevel(i, values.get(f"hw.perflevel{i}.name", fallback), int(cores)))
    return tuple(levels)


def _cores_named(levels: Sequence[PerfLevel], *names: str) -> int:
    return sum(level.physical_cores for level in levels if level.name in names)


def probe_apple(runner: CommandRunner = run_command, mlx_info: MlxInfo = mlx_device_info) -> AppleProbe:
    """Read an Apple Silicon Mac through `runner`; every missing value lands in `unknown` with a reason."""
    sysctl = read_sysctl(runner, SYSCTL_KEYS)
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
    levels = read_perf_levels(runner, sysctl, unknown)
    macos = sysctl.get("kern.osproductversion")
    probe = AppleProbe(
        chip=chip,
        model=sysctl.get("hw.model"),
        memory_bytes=memory_bytes,
        performance_cores=_cores_named(levels, "Super", "Performance") if levels else None,
        efficiency_cores=_cores_named(levels, "Efficiency") if levels else None,
        logical_cpus=_int(sysctl, "hw.ncpu", unknown),
        gpu_cores=gpu_cores,
        wired_limit=None,
        memory=memory,
        unknown=unknown,
        perf_levels=levels,
        macos_version=macos,
    )
    wired = resolve_wired_limit(sysctl, memory_bytes, mlx_info, unknown, probe.macos_major)
    return replace(probe, wired_limit=wired)
