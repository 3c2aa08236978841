"""`tuilab hw`: this machine as the fit oracle sees it: budget per engine, each number's source, warnings.

The machine comes from `tuilab.lab.machine` (detection joined with the hardware profiles), as every
face gets it. `--watch` streams memory;
`--measure` times the host's memory bandwidth once and caches it for every later detection.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from tuilab.core.errors import UsageError
from tuilab.core.hardware import GIB, MIB, HardwareSpec
from tuilab.core.plan_types import gb
from tuilab.hardware.budget import EngineBudget, engine_budgets
from tuilab.hardware.detect import Detection
from tuilab.hardware.host import probe_host
from tuilab.hardware.membw import measure_host, save_measurement
from tuilab.hardware.record import record_machine
from tuilab.hardware.sampler import DEFAULT_INTERVAL_S, MemorySampler, Sample
from tuilab.lab.machine import detect, profile_spec

# One --watch line a second: readable live, while the sampler underneath reads at 2 Hz.
WATCH_INTERVAL_S = 1.0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "hw",
        help="this machine as the fit oracle sees it",
        description="Show the machine, the memory budget of each engine, where each number came from, "
        "and warnings. With --watch, print live memory and GPU power lines until Ctrl-C.",
    )
    parser.add_argument("--profile", metavar="NAME", help="show a hardware profile instead of this machine")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--watch", action="store_true", help="print live memory and power until Ctrl-C")
    parser.add_argument(
        "--interval", type=float, default=WATCH_INTERVAL_S, help="seconds between --watch lines (1.0)"
    )
    parser.add_argument("--count", type=int, default=0, help="with --watch: stop after N lines (0: never)")
    parser.add_argument(
        "--measure",
        action="store_true",
        help="time the host's memory bandwidth (about a second), save it and use it from now on",
    )
    parser.add_argument(
        "--record",
        metavar="DIR",
        help="write this machine's raw probe outputs into DIR (for bug reports), then show them replayed",
    )
    parser.add_argument("--replay", metavar="DIR", help="answer as the machine recorded in DIR")
    parser.set_defaults(func=run)


def check_watch_options(interval_s: float, count: int) -> None:
    """A negative or zero interval, or a negative count, is a usage error (issue 12 item 3)."""
    if not interval_s > 0 or interval_s == float("inf"):
        raise UsageError(f"--interval must be a positive number of seconds, got {interval_s:g}")
    if count < 0:
        raise UsageError(f"--count must be 0 (never stop) or a positive number of lines, got {count}")


def run(args: argparse.Namespace) -> int:
    check_watch_options(args.interval, args.count)
    if args.measure and (args.watch or args.profile):
        raise UsageError("--measure measures this machine; it does not go with --watch or --profile")
    sources = [flag for flag, on in (("--profile", args.profile), ("--record", args.record),
                                      ("--replay", args.replay), ("--watch", args.watch)) if on]  # fmt: skip
    if len(sources) > 1:
        raise UsageError(f"{' and '.join(sources)} do not go together; give one")
    if args.watch:
        return watch(args.interval, args.count)
    measured = measure() if args.measure else None
    if args.record:
        record_machine(Path(args.record))
        print(f"recorded this machine's probe outputs in {args.record}", file=sys.stderr)
    if args.profile:
        report = report_dict(profile_spec(args.profile), None, args.profile)
    else:
        detection = detect(args.record or args.replay)
        report = report_dict(detection.spec, detection, None)
    if measured is not None:
        report["measured"] = measured
    print(json.dumps(report, indent=2) if args.json else render(report))
    return 0


def measure() -> dict[str, Any]:
    """Time the host's copy bandwidth, cache it in config_dir()/measured.toml and say so on stderr."""
    measurement = measure_host(probe_host())
    path = save_measurement(measurement)
    print(
        f"host RAM bandwidth: {measurement.ram_bandwidth_gbps:.1f} GB/s with {measurement.threads} threads; "
        f"saved to {path}",
        file=sys.stderr,
    )
    return {**asdict(measurement), "path": str(path)}


def report_dict(spec: HardwareSpec, detection: Detection | None, profile: str | None) -> dict[str, Any]:
    """Everything `hw` knows as plain JSON types: spec, sources, budgets, warnings and raw readings."""
    machine = asdict(spec)
    machine["platform"] = spec.platform.value
    machine.pop("sources")
    return {
        "machine": machine,
        "profile": profile if profile else (detection.profile_name if detection else None),
        "sources": dict(spec.sources),
        "budgets": [asdict(b) for b in engine_budgets(spec)],
        "warnings": list(detection.warnings) if detection else [],
        "notes": list(detection.notes) if detection else [f"hardware profile {profile}, not this machine"],
        "readings": _readings(detection) if detection else None,
    }


def _readings(detection: Detection) -> dict[str, Any]:
    nvidia = asdict(detection.nvidia)
    for gpu_dict, gpu in zip(nvidia["gpus"], detection.nvidia.gpus, strict=True):
        gpu_dict["bandwidth_gbps"] = gpu.bandwidth_gbps
    return {
        "host": asdict(detection.host),
        "apple": asdict(detection.apple) if detection.apple else None,
        "nvidia": nvidia,
    }


def _size(n_bytes: float | None) -> str:
    """Decimal GB first, as `tuilab fit` shows budgets; GiB beside it, as RAM and VRAM are sold."""
    return "unknown" if n_bytes is None else f"{gb(n_bytes)} ({n_bytes / GIB:.1f} GiB)"


def _gbps(bandwidth_gbps: float) -> str:
    return f"{bandwidth_gbps:.0f} GB/s" if bandwidth_gbps > 0 else "unknown"


def _table(rows: Sequence[tuple[str, ...]], indent: str = "  ") -> list[str]:
    """Left-aligned columns; the last column (a source, often long) is not padded."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return [
        indent + "  ".join([*(c.ljust(w) for c, w in zip(row, widths, strict=False)), row[-1]])
        for row in rows
    ]


def _machine_rows(report: dict[str, Any]) -> list[tuple[str, str, str]]:
    m, src = report["machine"], report["sources"]
    rows = [
        ("RAM", _size(m["ram_bytes"]), src.get("ram_bytes", "unknown")),
        ("RAM available", _size(m["ram_available_bytes"]), src.get("ram_available_bytes", "unknown")),
        ("RAM bandwidth", _gbps(m["ram_bandwidth_gbps"]), src.get("ram_bandwidth_gbps", "unknown")),
        ("CPU cores", str(m["cpu_cores"]), src.get("cpu_cores", "unknown")),
    ]
    apple = (report.get("readings") or {}).get("apple") or {}
    if apple.get("macos_version"):  # the wired-limit default depends on it
        rows.append(("macOS", apple["macos_version"], "detected: sysctl kern.osproductversion"))
    for i, gpu in enumerate(m["gpus"]):
        rows.append((f"GPU {i}", gpu["name"], f"backend {gpu['backend']}"))
        rows.append(("  memory", _size(gpu["memory_bytes"]), _gpu_source(src, i, "memory_bytes")))
        rows.append(("  free", _size(gpu["free_bytes"]), _gpu_source(src, i, "free_bytes")))
        rows.append(("  bandwidth", _gbps(gpu["bandwidth_gbps"]), _gpu_source(src, i, "bandwidth_gbps")))
    if m["wired_limit_bytes"] is not None:
        rows.append(("wired limit", _size(m["wired_limit_bytes"]), src.get("wired_limit_bytes", "unknown")))
    return rows


def _gpu_source(sources: dict[str, str], index: int, key: str) -> str:
    """Detection names GPU sources gpu0.*, gpu1.*; a profile describes its one GPU as gpu.*."""
    return sources.get(f"gpu{index}.{key}") or (index == 0 and sources.get(f"gpu.{key}")) or "unknown"


def render(report: dict[str, Any]) -> str:
    """The human view: machine, budget per engine, warnings and notes, in aligned columns."""
    m = report["machine"]
    profile = report["profile"] or "no profile matched"
    lines = [f"Machine: {m['name']}  [{m['platform']}; {'profile ' if report['profile'] else ''}{profile}]"]
    lines += _table([("what", "value", "source"), *_machine_rows(report)])
    budgets = [EngineBudget(**b) for b in report["budgets"]]
    lines += ["", "Budget per engine"]
    lines += _table(
        [("engine", "device", "budget", "source")]
        + [(b.engine, b.device, _size(b.budget_bytes), b.source) for b in budgets]
    )
    for title, items, mark in (("Warnings", report["warnings"], "!"), ("Notes", report["notes"], "-")):
        if items:
            lines += ["", title, *(f"  {mark} {item}" for item in items)]
    return "\n".join(lines)


def watch_line(sample: Sample) -> str:
    """One live line: host RAM, swap, this process, and each GPU's memory and power."""
    parts = [
        time.strftime("%H:%M:%S"),
        f"RAM {gb(sample.ram_used_bytes)} / {gb(sample.ram_total_bytes)} used",
        f"avail {gb(sample.ram_available_bytes)}",
        f"swap {gb(sample.swap_used_bytes)}",
        f"tuilab rss {sample.process_rss_bytes / MIB:.0f} MiB",
    ]
    for gpu in sample.gpus:
        power = f", {gpu.power_w:.0f} W" if gpu.power_w is not None else ""
        parts.append(f"GPU {gpu.index} {gb(gpu.used_bytes)} / {gb(gpu.total_bytes)}{power}")
    return "  ".join(parts)


def _try_sample(sampler: MemorySampler) -> Sample | None:
    try:
        return sampler.sample_now()
    except Exception as exc:  # psutil failing on an unknown OS build: say so and keep watching
        sampler.last_error = f"{type(exc).__name__}: {exc}"
        return None


def watch(interval_s: float, count: int) -> int:
    """Print a line per interval until Ctrl-C (exit 0, no traceback) or `count` lines."""
    printed = 0
    sampler = MemorySampler(interval_s=min(interval_s, DEFAULT_INTERVAL_S)).start()
    try:
        while True:
            sample = sampler.latest()
            if sample is None:
                sample = _try_sample(sampler)
            print(watch_line(sample) if sample else f"memory unreadable: {sampler.last_error}", flush=True)
            printed += 1
            if 0 < count <= printed:
                break
            time.sleep(interval_s)
    except KeyboardInterrupt:
        print(file=sys.stderr)  # end the ^C line cleanly
    finally:
        sampler.stop()
    return 0
