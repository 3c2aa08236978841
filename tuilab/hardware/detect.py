"""Detect this machine: run the Apple, NVIDIA and host probes and combine them into one `HardwareSpec`.

Each number's origin goes into `spec.sources` ("detected: ...", "measured: ...", "profile NAME",
"default: ..."). Profiles live in tuilab.models, which this package may not import, so the caller passes a
lookup; a host bandwidth measured by `tuilab hw --measure` is read from its cache file.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from tuilab.core.hardware import GIB, GPUSpec, HardwareSpec, Platform
from tuilab.hardware.apple import (
    AppleProbe,
    CommandRunner,
    MlxInfo,
    mlx_device_info,
    probe_apple,
    run_command,
)
from tuilab.hardware.budget import detection_warnings
from tuilab.hardware.host import HostProbe, probe_host
from tuilab.hardware.membw import Measurement, load_measurement
from tuilab.hardware.nvidia import NvidiaGPU, NvidiaProbe, no_gpu, probe_nvidia

# (name, spec) of the profile that fits what was read, or None.
ProfileMatch = tuple[str, HardwareSpec]
# lookup(platform, chip or GPU name, memory bytes, GPU cores or None) -> match; tuilab.cli.hw builds one
# from tuilab.models.profiles.find_hardware_profile / load_hardware_profile.
ProfileLookup = Callable[[str, str, int, int | None], ProfileMatch | None]

# A PC with no profile: dual-channel DDR4-3200 moves 2 channels x 8 bytes x 3200 MT/s = 51.2 GB/s
# (JEDEC JESD79-4 speed bin; the commonest desktop memory of the RTX 30-series era).
DEFAULT_HOST_RAM_BANDWIDTH_GBPS = 51.2
DEFAULT_HOST_RAM_BANDWIDTH_SOURCE = "default: dual-channel DDR4-3200 (51.2 GB/s)"
UNKNOWN = 0.0  # a bandwidth of 0.0 means "unknown"; its source says why
MEASURE_HINT = "run `tuilab hw --measure` (about a second) to measure it once; detection then uses it"


@dataclass(frozen=True)
class Detection:
    """What was read, what it became, and what the user should know about it."""

    spec: HardwareSpec
    host: HostProbe
    apple: AppleProbe | None
    nvidia: NvidiaProbe
    profile_name: str | None
    warnings: tuple[str, ...]
    notes: tuple[str, ...]


def detect_hardware(
    profile_lookup: ProfileLookup | None = None,
    *,
    system: str = sys.platform,
    apple_runner: CommandRunner = run_command,
    mlx_info: MlxInfo = mlx_device_info,
    nvml: Any | None = None,
    host: HostProbe | None = None,
    measurement_file: Path | None = None,
    nvidia: NvidiaProbe | None = None,
) -> Detection:
    """Probe the machine (`system` is sys.platform; tests pass 'darwin' with recorded outputs).

    `measurement_file` is the `tuilab hw --measure` cache (default: config_dir()/measured.toml).
    """
    host = host or probe_host(apple_runner if system == "darwin" else run_command)
    lookup = profile_lookup or _no_profile
    cached, cache_note = load_measurement(measurement_file)
    measured = cached if cached is not None and cached.matches(host) else None
    apple: AppleProbe | None = None
    if system == "darwin":
        apple = probe_apple(apple_runner, mlx_info)
        nvidia = no_gpu("macOS has no NVML")
    elif nvidia is None:
        nvidia = probe_nvidia(nvml)
    if apple is not None and (apple.chip or "").startswith("Apple"):
        spec, profile = apple_spec(apple, host, lookup, measured)
    elif nvidia.available:
        spec, profile = nvidia_spec(nvidia, host, lookup, measured)
    else:
        spec, profile = cpu_spec(host, lookup, measured)
    notes = (
        *_notes(apple, nvidia),
        *_host_notes(host),
        *_bandwidth_notes(spec, cached, measured, cache_note),
    )
    return Detection(spec, host, apple, nvidia, profile, detection_warnings(spec, host, apple, nvidia), notes)


def detect_replay(folder: Path, profile_lookup: ProfileLookup | None = None) -> Detection:
    """Detection as it was on the machine recorded in `folder` (`tuilab hw --record`)."""
    from tuilab.hardware.record import load_replay

    replay = load_replay(folder)
    return detect_hardware(
        profile_lookup,
        system=replay.system,
        apple_runner=replay.runner,
        mlx_info=replay.mlx_info,
        host=replay.host,
        # a bandwidth measured on this machine says nothing about the recorded one
        measurement_file=folder / "measured.toml",
        nvidia=replay.nvidia if replay.nvidia is not None else no_gpu("not in the recording"),
    )


def _no_profile(platform: str, name: str, memory_bytes: int, gpu_cores: int | None) -> ProfileMatch | None:
    return None


def _gib(n_bytes: int) -> str:
    return f"{n_bytes / GIB:.0f} GB"


def apple_spec(
    apple: AppleProbe, host: HostProbe, lookup: ProfileLookup, measured: Measurement | None = None
) -> tuple[HardwareSpec, str | None]:
    """A Mac: unified memory from sysctl/vm_stat, bandwidth and TFLOPS from the matching profile.

    A `tuilab hw --measure` result is named in the source but not used: a Mac's unified bandwidth is what
    its GPU reaches, and a CPU copy loop reads well under it.
    """
    chip = apple.chip or "Apple Silicon"
    ram, ram_src = _either(apple.memory_bytes, "detected: sysctl hw.memsize", host.ram_total_bytes, "psutil")
    avail = apple.memory.available_bytes if apple.memory else None
    avail, avail_src = _either(
        avail, "detected: vm_stat free + inactive pages", host.ram_available_bytes, "psutil"
    )
    levels = " + ".join(f"{lv.physical_cores} {lv.name}" for lv in apple.perf_levels)
    cores, cores_src = _either(
        apple.cpu_cores,
        f"detected: sysctl hw.perflevelN ({levels or 'hw.ncpu'})",
        host.physical_cores,
        "psutil",
    )
    match = lookup("apple", chip, ram, apple.gpu_cores)
    profile = match[1] if match else None
    bandwidth, bw_src = _from_profile(match, lambda p: p.ram_bandwidth_gbps)
    if measured is not None:
        bw_src += (
            f" (not the {measured.ram_bandwidth_gbps:.0f} GB/s {measured.source}: on Apple Silicon the"
            " unified bandwidth is the GPU's, which a CPU copy loop under-reads)"
        )
    gpu_bw, gpu_bw_src = _from_profile(
        match, lambda p: p.gpus[0].bandwidth_gbps if p.gpus else p.ram_bandwidth_gbps, "gpu.bandwidth_gbps"
    )
    gpu_cores = f", {apple.gpu_cores}-core GPU" if apple.gpu_cores else ""
    gpu = GPUSpec(
        name=f"{chip}{gpu_cores}",
        memory_bytes=ram,
        free_bytes=avail,
        bandwidth_gbps=gpu_bw,
        fp16_tflops=profile.gpus[0].fp16_tflops if profile and profile.gpus else None,
        backend="metal",
    )
    wired = apple.wired_limit
    sources = {
        "name": "detected: sysctl machdep.cpu.brand_string" if apple.chip else "unknown: no brand string",
        "ram_bytes": ram_src,
        "ram_available_bytes": avail_src,
        "ram_bandwidth_gbps": bw_src,
        "cpu_cores": cores_src,
        "gpu0.memory_bytes": ram_src,
        "gpu0.free_bytes": avail_src,
        "gpu0.bandwidth_gbps": gpu_bw_src,
        "wired_limit_bytes": wired.source if wired else f"unknown: {apple.unknown.get('wired_limit', '')}",
    }
    spec = HardwareSpec(
        name=f"{chip} ({apple.model or 'Mac'}, {_gib(ram)}{gpu_cores})",
        platform=Platform.APPLE,
        ram_bytes=ram,
        ram_available_bytes=avail,
        ram_bandwidth_gbps=bandwidth,
        cpu_cores=cores,
        gpus=(gpu,),
        wired_limit_bytes=wired.limit_bytes if wired else None,
        wired_limit_is_default=wired.is_default if wired else True,
        cpu_tflops=profile.cpu_tflops if profile else None,
        sources=_with_profile(sources, match),
    )
    return _profile_policy(spec, profile), match[0] if match else None


def nvidia_spec(
    nvidia: NvidiaProbe, host: HostProbe, lookup: ProfileLookup, measured: Measurement | None = None
) -> tuple[HardwareSpec, str | None]:
    """A PC with NVIDIA GPUs: VRAM and bandwidth from NVML, host RAM from psutil, gaps from profiles."""
    sources = _host_sources()
    gpus: list[GPUSpec] = []
    first_match: ProfileMatch | None = None
    for i, gpu in enumerate(nvidia.gpus):
        match = lookup("nvidia", gpu.name, gpu.memory_total_bytes, None)
        first_match = first_match or match
        gpus.append(_cuda_gpu(gpu, match, sources, f"gpu{i}"))
    host_bw, host_bw_src = _host_bandwidth(first_match, measured)
    sources["ram_bandwidth_gbps"] = host_bw_src
    sources["name"] = "detected: NVML nvmlDeviceGetName"
    spec = HardwareSpec(
        name=" + ".join(g.name for g in gpus) + f" on {host.cpu_model}",
        platform=Platform.NVIDIA,
        ram_bytes=host.ram_total_bytes,
        ram_available_bytes=host.ram_available_bytes,
        ram_bandwidth_gbps=host_bw,
        ram_bandwidth_measured=measured is not None,
        cpu_cores=host.physical_cores,
        gpus=tuple(gpus),
        wired_limit_bytes=None,
        sources=_with_profile(sources, first_match),
    )
    return _profile_policy(spec, first_match[1] if first_match else None), first_match[
        0
    ] if first_match else None


def _cuda_gpu(gpu: NvidiaGPU, match: ProfileMatch | None, sources: dict[str, str], key: str) -> GPUSpec:
    profile_gpu = match[1].gpus[0] if match and match[1].gpus else None
    bandwidth, bw_src = gpu.bandwidth_gbps, gpu.bandwidth_reason
    if bandwidth is None and profile_gpu is not None and match is not None:
        cited = match[1].sources.get("gpu.bandwidth_gbps") or f"profile {match[0]}"
        bandwidth, bw_src = profile_gpu.bandwidth_gbps, f"{cited} ({gpu.bandwidth_reason})"
    sources[f"{key}.memory_bytes"] = "detected: NVML nvmlDeviceGetMemoryInfo total"
    sources[f"{key}.free_bytes"] = "detected: NVML nvmlDeviceGetMemoryInfo free"
    sources[f"{key}.bandwidth_gbps"] = bw_src
    if profile_gpu is not None and profile_gpu.pcie_gbps is not None and match is not None:
        cited = match[1].sources.get("gpu.pcie_gbps") or f"profile {match[0]}"
        sources[f"{key}.pcie_gbps"] = f"{cited} (the card's interface; the slot it sits in may be narrower)"
    return GPUSpec(
        name=gpu.name,
        memory_bytes=gpu.memory_total_bytes,
        free_bytes=gpu.memory_free_bytes,
        bandwidth_gbps=bandwidth if bandwidth is not None else UNKNOWN,
        fp16_tflops=profile_gpu.fp16_tflops if profile_gpu else None,
        backend="cuda",
        int8_tops=profile_gpu.int8_tops if profile_gpu else None,
        compute_arch=profile_gpu.compute_arch if profile_gpu else "",
        pcie_gbps=profile_gpu.pcie_gbps if profile_gpu else None,  # the card's own link, not the slot's
    )


def cpu_spec(
    host: HostProbe, lookup: ProfileLookup, measured: Measurement | None = None
) -> tuple[HardwareSpec, str | None]:
    """No usable GPU: the CPU engine's machine, with bandwidth measured, from a profile or the default."""
    match = lookup("cpu", host.cpu_model, host.ram_total_bytes, None)
    bandwidth, bw_src = _host_bandwidth(match, measured)
    sources = {**_host_sources(), "name": "detected: CPU model", "ram_bandwidth_gbps": bw_src}
    spec = HardwareSpec(
        name=host.cpu_model,
        platform=Platform.CPU,
        ram_bytes=host.ram_total_bytes,
        ram_available_bytes=host.ram_available_bytes,
        ram_bandwidth_gbps=bandwidth,
        ram_bandwidth_measured=measured is not None,
        cpu_cores=host.physical_cores,
        cpu_tflops=match[1].cpu_tflops if match else None,
        sources=_with_profile(sources, match),
    )
    return _profile_policy(spec, match[1] if match else None), match[0] if match else None


def _host_bandwidth(match: ProfileMatch | None, measured: Measurement | None) -> tuple[float, str]:
    """A PC's host RAM bandwidth: this host's measurement, else the profile's assumption, else DDR4-3200."""
    if measured is not None:
        return measured.ram_bandwidth_gbps, measured.source
    if match is None:
        return DEFAULT_HOST_RAM_BANDWIDTH_GBPS, DEFAULT_HOST_RAM_BANDWIDTH_SOURCE
    return _from_profile(match, lambda p: p.ram_bandwidth_gbps)


def _host_sources() -> dict[str, str]:
    return {
        "ram_bytes": "detected: psutil virtual_memory total",
        "ram_available_bytes": "detected: psutil virtual_memory available",
        "cpu_cores": "detected: psutil cpu_count(logical=False)",
    }


def _either(value: int | None, source: str, fallback: int, fallback_tool: str) -> tuple[int, str]:
    if value is not None:
        return value, source
    return fallback, f"detected: {fallback_tool} (the Apple reading was missing)"


def _from_profile(
    match: ProfileMatch | None, read: Callable[[HardwareSpec], float], key: str = "ram_bandwidth_gbps"
) -> tuple[float, str]:
    """A value only a profile knows, with the profile's own citation for it when it has one."""
    if match is None:
        return UNKNOWN, "unknown: no hardware profile matched (see `tuilab hw --profile`)"
    return read(match[1]), match[1].sources.get(key) or f"profile {match[0]}"


def _with_profile(sources: dict[str, str], match: ProfileMatch | None) -> dict[str, str]:
    """Add the profile line, and "gpu.*" aliases of GPU 0's keys (the names tuilab.core.fit reads)."""
    aliases = {f"gpu.{k[5:]}": v for k, v in sources.items() if k.startswith("gpu0.")}
    return {**sources, **aliases, "profile": f"profile {match[0]}" if match else "none matched"}


def _profile_policy(spec: HardwareSpec, profile: HardwareSpec | None) -> HardwareSpec:
    """The profile's OS reserve is policy, not a reading, so a matched profile's value wins."""
    if profile is None:
        return spec
    reserve_source = profile.sources.get("os_reserve_bytes", "profile")
    sources = {**spec.sources, "os_reserve_bytes": reserve_source}
    return replace(spec, os_reserve_bytes=profile.os_reserve_bytes, sources=sources)


def _notes(apple: AppleProbe | None, nvidia: NvidiaProbe) -> tuple[str, ...]:
    notes: list[str] = []
    if apple is not None:
        notes += [f"{key}: {why}" for key, why in apple.unknown.items()]
    elif nvidia.reason:
        notes.append(nvidia.reason)
    for gpu in nvidia.gpus:
        notes += [f"GPU {gpu.index} {key}: {why}" for key, why in gpu.unknown.items()]
    return tuple(notes)


def _host_notes(host: HostProbe) -> list[str]:
    return [f"host {key} unknown: {why}" for key, why in host.unknown.items()]


def _bandwidth_notes(
    spec: HardwareSpec, cached: Measurement | None, measured: Measurement | None, cache_note: str | None
) -> list[str]:
    """Why a cached measurement was not used, and how to measure where the host bandwidth is assumed."""
    notes = [cache_note] if cache_note else []
    if cached is not None and measured is None:
        notes.append(
            f"the host bandwidth measured on {cached.measured_on} was for {cached.cpu_model} with "
            f"{cached.physical_cores} cores, not this host; ignored"
        )
    if spec.platform is not Platform.APPLE and measured is None:
        bandwidth = spec.ram_bandwidth_gbps
        notes.append(f"host RAM bandwidth {bandwidth:.0f} GB/s is assumed, not measured: {MEASURE_HINT}")
    return notes
