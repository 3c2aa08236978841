"""Record this machine's raw probe outputs into a folder, and replay such a folder as if on that machine.

`tuilab hw --record DIR` is for bug reports: every command the probes run (argv, stdout, stderr, exit
status), what MLX, psutil and NVML answered (or the error they raised), as plain JSON files. `--replay DIR`
and `tuilab fit --hw-replay DIR` feed those answers back through the same probes, so a Mac's detection can
be reproduced on any machine. A folder holds:

    machine.json   {"format": 1, "sys_platform", "cpu_model", "recorded_at"}
    commands.json  [{"argv": [...], "stdout", "stderr", "returncode"}, ...]
    mlx.json       {"version", "device_info", "metal_device_info", "error"}  (macOS only)
    psutil.json    {"virtual_memory": {...} | {"error"}, "swap_memory": ..., "cpu_count_logical": ...,
                    "cpu_count_physical": ...}
    nvml.json      the NVIDIA probe's reading (what NVML answered), or absent
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import psutil

from tuilab.core.errors import UsageError
from tuilab.hardware.apple import CommandResult, CommandRunner, MlxInfo, run_command_result
from tuilab.hardware.host import HostProbe, cpu_model_name, probe_host
from tuilab.hardware.mlx_compat import device_info
from tuilab.hardware.nvidia import GpuProcess, NvidiaGPU, NvidiaProbe, probe_nvidia

FORMAT = 1
NOT_RECORDED_STATUS = 127  # a command the recording never ran: as if it could not start


@dataclass(frozen=True)
class Replay:
    """One recorded machine, ready to hand to `detect_hardware` in place of the live probes."""

    folder: Path
    system: str
    runner: CommandRunner
    mlx_info: MlxInfo
    host: HostProbe
    nvidia: NvidiaProbe | None  # None on a Mac: detection does not read NVML there


# ----------------------------------------------------------------------------------------------- record


class RecordingRunner:
    """A command runner that runs each command for real and keeps what it printed and how it ended."""

    def __init__(self) -> None:
        self.results: list[CommandResult] = []

    def __call__(self, argv: Sequence[str]) -> str:
        result = run_command_result(argv)
        self.results.append(result)
        return result.stdout


def _error(exc: BaseException) -> dict[str, str]:
    return {"error": f"{type(exc).__name__}: {exc}"}


def _call(read: Callable[[], Any]) -> Any:
    """A reading as JSON: named tuples become dicts; a raise becomes {"error": "Type: message"}."""
    try:
        value = read()
    except Exception as exc:  # recording what failed is the point
        return _error(exc)
    return value._asdict() if hasattr(value, "_asdict") else value


def psutil_record(ps: Any = psutil) -> dict[str, Any]:
    return {
        "virtual_memory": _call(ps.virtual_memory),
        "swap_memory": _call(ps.swap_memory),
        "cpu_count_logical": _call(lambda: ps.cpu_count(logical=True)),
        "cpu_count_physical": _call(lambda: ps.cpu_count(logical=False)),
    }


def mlx_record() -> dict[str, Any]:
    """What this MLX answers to both device_info calls (macOS only: elsewhere MLX has no Metal)."""
    try:
        import mlx.core as mx
    except Exception as exc:  # not installed, or broken: that is the reading
        return {"version": None, "device_info": None, "metal_device_info": None, **_error(exc)}
    top = getattr(mx, "device_info", None)
    metal = getattr(getattr(mx, "metal", None), "device_info", None)
    return {
        "version": getattr(mx, "__version__", None),
        "device_info": _call(top) if top is not None else None,
        "metal_device_info": _call(metal) if metal is not None else None,
        "error": None,
    }


def record_machine(folder: Path, system: str = sys.platform) -> None:
    """Run every probe on this machine and write its raw answers into `folder` (created if needed)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"--record {folder}: cannot create the folder ({exc.strerror or exc})") from None
    runner = RecordingRunner()
    if system == "darwin":
        from tuilab.hardware.apple import mlx_device_info, probe_apple

        probe_apple(runner, mlx_device_info)
        _write(folder / "mlx.json", mlx_record())
    else:
        _write(folder / "nvml.json", _nvidia_dict(probe_nvidia()))
    machine = {
        "format": FORMAT,
        "sys_platform": system,
        "cpu_model": cpu_model_name(runner),
        "recorded_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    _write(folder / "machine.json", machine)
    _write(folder / "psutil.json", psutil_record())
    _write(folder / "commands.json", [asdict(r) | {"argv": list(r.argv)} for r in runner.results])


def _write(path: Path, data: object) -> None:
    try:
        path.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"--record: cannot write {path} ({exc.strerror or exc})") from None


def _nvidia_dict(probe: NvidiaProbe) -> dict[str, Any]:
    data = asdict(probe)
    for gpu in data["gpus"]:
        gpu["unknown"] = dict(gpu["unknown"])
    return data


# ----------------------------------------------------------------------------------------------- replay


def _read(folder: Path, name: str, required: bool = True) -> Any:
    path = folder / name
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        if required:
            raise UsageError(
                f"replay {folder}: no {name}; record one with `tuilab hw --record DIR`"
            ) from None
        return None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(f"replay {folder}: {name} cannot be read ({exc})") from None


def replay_runner(commands: Sequence[Mapping[str, Any]]) -> CommandRunner:
    """A runner answering each recorded argv with its recorded stdout; an unrecorded one prints nothing."""
    answers = {tuple(c["argv"]): str(c.get("stdout", "")) for c in commands}
    return lambda argv: answers.get(tuple(argv), "")


class _Raising:
    """A psutil call that raises what the recording says it raised (RuntimeError on a macOS beta)."""

    def __init__(self, error: str) -> None:
        self.error = error

    def __call__(self, *args: object, **kwargs: object) -> Any:
        name, sep, message = self.error.partition(": ")
        if not sep or not name.isidentifier():
            raise RuntimeError(self.error)
        raise type(name, (RuntimeError,), {})(message)  # the recorded type's name, a RuntimeError to catch


def _replayed(value: Any) -> Callable[..., Any]:
    if isinstance(value, dict) and "error" in value:
        return _Raising(str(value["error"]))
    if isinstance(value, dict):
        return lambda *a, **k: SimpleNamespace(**value)
    return lambda *a, **k: value


def replay_psutil(record: Mapping[str, Any]) -> Any:
    """A psutil stand-in answering (or raising) as the recorded one did, for `probe_host`."""
    logical_count = _replayed(record.get("cpu_count_logical"))
    physical_count = _replayed(record.get("cpu_count_physical"))

    def cpu_count(logical: bool = True) -> Any:
        return logical_count() if logical else physical_count()

    return SimpleNamespace(
        virtual_memory=_replayed(record.get("virtual_memory")),
        swap_memory=_replayed(record.get("swap_memory")),
        cpu_count=cpu_count,
    )


def replay_mlx(record: Mapping[str, Any] | None) -> MlxInfo:
    """MLX's device info as the recorded MLX gave it, through the same version-aware call as live."""
    if not record or record.get("error"):
        return lambda: None
    module = SimpleNamespace(__version__=record.get("version"), metal=SimpleNamespace())
    for attr, owner in (("device_info", module), ("metal_device_info", module.metal)):
        value = record.get(attr)
        if isinstance(value, dict) and "error" not in value:
            owner.device_info = lambda answer=value: dict(answer)
        elif value is not None:
            owner.device_info = _replayed(value)

    def info() -> Mapping[str, object] | None:
        try:
            return device_info(module) or None
        except Exception:  # the recorded MLX raised: no reading, as live
            return None

    return info


def replay_nvidia(record: Mapping[str, Any] | None) -> NvidiaProbe | None:
    if record is None:
        return None
    gpus = tuple(
        NvidiaGPU(
            **{
                **g,
                "compute_capability": tuple(g["compute_capability"]) if g.get("compute_capability") else None,
                "processes": tuple(GpuProcess(**p) for p in g.get("processes", ())),
            }
        )
        for g in record.get("gpus", ())
    )
    return NvidiaProbe(
        gpus, record.get("driver_version"), record.get("cuda_version"), record.get("reason", "")
    )


def load_replay(folder: Path) -> Replay:
    """A recorded machine from `folder`; a missing or broken folder is a UsageError naming the file."""
    if not folder.is_dir():
        raise UsageError(f"replay {folder}: no such folder")
    machine = _read(folder, "machine.json")
    if not isinstance(machine, dict) or machine.get("format") != FORMAT:
        raise UsageError(f"replay {folder}: machine.json is not a format-{FORMAT} recording")
    runner = replay_runner(_read(folder, "commands.json"))
    host = probe_host(runner, replay_psutil(_read(folder, "psutil.json")))
    cpu_model = str(machine.get("cpu_model") or host.cpu_model)
    return Replay(
        folder=folder,
        system=str(machine.get("sys_platform", "")),
        runner=runner,
        mlx_info=replay_mlx(_read(folder, "mlx.json", required=False)),
        host=HostProbe(**{**asdict(host), "cpu_model": cpu_model, "unknown": dict(host.unknown)}),
        nvidia=replay_nvidia(_read(folder, "nvml.json", required=False)),
    )
