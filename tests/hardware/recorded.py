"""Stand-ins for what this Linux box lacks, built only from recorded real outputs in fixtures/.

`recorded_mac(name)` answers `sysctl`, `system_profiler` and `vm_stat` the way that Mac did;
`RecordedNVML(*dumps)` is a pynvml look-alike that reads `nvidia-smi -q` dumps and raises pynvml's own
NVMLError classes where the dump says N/A. See fixtures/README.md for where each output came from.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pynvml

FIXTURES = Path(__file__).parent / "fixtures"
APPLE = FIXTURES / "apple"
NVIDIA = FIXTURES / "nvidia"
MACS = ("m1", "m2-pro", "m3-max", "m4-max")


def recorded_mac(name: str, drop: Sequence[str] = ()) -> Callable[[Sequence[str]], str]:
    """A command runner replaying one Mac; `drop` lists sysctl keys or tools to pretend are missing."""
    folder = APPLE / name
    sysctl = dict(line.split(": ", 1) for line in (folder / "sysctl.txt").read_text().splitlines() if line)

    def run(argv: Sequence[str]) -> str:
        tool = argv[0]
        if tool in drop:
            return ""
        if tool == "sysctl":
            return "".join(f"{key}: {sysctl[key]}\n" for key in argv[1:] if key in sysctl and key not in drop)
        if tool == "system_profiler":
            return (folder / "system_profiler.json").read_text()
        if tool == "vm_stat":
            return (folder / "vm_stat.txt").read_text()
        return ""

    return run


def recorded_mlx(name: str) -> Callable[[], dict[str, object] | None]:
    """MLX's device_info() as recorded on that Mac, or None where no reading was kept."""
    path = APPLE / name / "mlx_device_info.json"
    return lambda: json.loads(path.read_text()) if path.exists() else None


def parse_smi(text: str) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """`nvidia-smi -q` as (header values, per-GPU {"Section/Key": value} plus a "processes" list)."""
    header: dict[str, str] = {}
    gpus: list[dict[str, Any]] = []
    stack: list[tuple[int, str]] = []
    for line in text.splitlines():
        if not line.strip() or line.startswith("="):
            continue
        indent = len(line) - len(line.lstrip())
        key, _, value = (part.strip() for part in line.partition(":"))
        if indent == 0 and key.startswith("GPU "):
            gpus.append({"_processes": []})
            stack = []
            continue
        if not gpus:
            header[key] = value
            continue
        while stack and stack[-1][0] >= indent:
            stack.pop()
        path = "/".join([*(name for _, name in stack), key]).lower()
        gpu = gpus[-1]
        if value or ":" in line:
            gpu[path] = value
            _note_process(gpu, key, value)
        if not value:
            stack.append((indent, key))
    return header, gpus


def _note_process(gpu: dict[str, Any], key: str, value: str) -> None:
    if key == "Process ID":
        gpu["_processes"].append({"pid": int(value)})
    elif key in ("Name", "Used GPU Memory") and gpu["_processes"]:
        gpu["_processes"][-1][key] = value


def _mib(value: str) -> int:
    return int(value.split()[0]) * 1024 * 1024


def _number(value: str | None) -> float:
    match = re.match(r"([\d.]+)", value or "")
    if match is None:
        raise pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)
    return float(match.group(1))


@dataclass
class RecordedGPU:
    values: dict[str, Any]
    extra: dict[str, Any] = field(default_factory=dict)

    def get(self, *paths: str) -> str | None:
        for path in paths:
            value = self.values.get(path.lower())
            if value not in (None, "N/A", "[N/A]"):
                return str(value)
        return None


class RecordedNVML:
    """Just enough of pynvml for tuilab.hardware, answering from recorded dumps (one GPU per dump)."""

    NVMLError = pynvml.NVMLError
    NVML_CLOCK_MEM = pynvml.NVML_CLOCK_MEM

    def __init__(self, *dumps: str, broken: Sequence[str] = ()) -> None:
        self.gpus: list[RecordedGPU] = []
        self.header: dict[str, str] = {}
        self.broken = set(broken)  # NVML functions that raise NotSupported, as on odd cards
        for name in dumps:
            self.header, gpus = parse_smi((NVIDIA / f"{name}.txt").read_text())
            extra = NVIDIA / f"{name}.extra.toml"
            extras = tomllib.loads(extra.read_text()) if extra.exists() else {}
            self.gpus += [RecordedGPU(values, extras) for values in gpus]
        self.initialised = 0

    def __getattribute__(self, name: str) -> Any:
        if name.startswith("nvml") and name in object.__getattribute__(self, "broken"):
            return _not_supported
        return object.__getattribute__(self, name)

    def nvmlInit(self) -> None:
        self.initialised += 1

    def nvmlShutdown(self) -> None:
        self.initialised -= 1

    def nvmlDeviceGetCount(self) -> int:
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> RecordedGPU:
        return self.gpus[index]

    def nvmlSystemGetDriverVersion(self) -> str:
        return self.header["Driver Version"]

    def nvmlSystemGetCudaDriverVersion(self) -> int:
        major, minor = self.header["CUDA Version"].split(".")
        return int(major) * 1000 + int(minor) * 10

    def nvmlDeviceGetName(self, gpu: RecordedGPU) -> str:
        return gpu.get("Product Name") or ""

    def nvmlDeviceGetMemoryInfo(self, gpu: RecordedGPU) -> SimpleNamespace:
        total, free = (
            _mib(gpu.get("FB Memory Usage/Total") or ""),
            _mib(gpu.get("FB Memory Usage/Free") or ""),
        )
        return SimpleNamespace(total=total, free=free, used=total - free)

    def nvmlDeviceGetMemoryBusWidth(self, gpu: RecordedGPU) -> int:
        return int(_number(str(gpu.extra.get("bus_width_bits", ""))))

    def nvmlDeviceGetMaxClockInfo(self, gpu: RecordedGPU, clock: int) -> int:
        assert clock == pynvml.NVML_CLOCK_MEM
        return int(_number(gpu.get("Max Clocks/Memory")))

    def nvmlDeviceGetCudaComputeCapability(self, gpu: RecordedGPU) -> tuple[int, int]:
        major, minor = gpu.extra["compute_capability"]
        return int(major), int(minor)

    def nvmlDeviceGetPowerUsage(self, gpu: RecordedGPU) -> int:
        paths = ("GPU Power Readings/Power Draw", "GPU Power Readings/Instantaneous Power Draw")
        return int(_number(gpu.get(*paths)) * 1000)

    def nvmlDeviceGetEnforcedPowerManagementLimit(self, gpu: RecordedGPU) -> int:
        return int(_number(gpu.get("GPU Power Readings/Current Power Limit")) * 1000)

    def nvmlDeviceGetUtilizationRates(self, gpu: RecordedGPU) -> SimpleNamespace:
        return SimpleNamespace(gpu=int(_number(gpu.get("Utilization/GPU", "Utilization/Gpu"))), memory=0)

    def nvmlDeviceGetComputeRunningProcesses(self, gpu: RecordedGPU) -> list[SimpleNamespace]:
        return [
            SimpleNamespace(pid=p["pid"], usedGpuMemory=_mib(p["Used GPU Memory"]))
            for p in gpu.values["_processes"]
        ]

    def nvmlDeviceGetGraphicsRunningProcesses(self, gpu: RecordedGPU) -> list[SimpleNamespace]:
        return []


def _not_supported(*args: object) -> Any:
    raise pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)
