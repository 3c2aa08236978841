#!/usr/bin/env python3
"""Turn the raw results of scripts/gpu_check.sh into docs/benchmarks/cuda-<card>.md (with --recheck,
those of scripts/gpu_recheck.sh into cuda-<card>-recheck.md: speed and partial offload only).

Reads the folder the device run wrote ($OUT there): hw.json, fit-*.json, loads*.jsonl, bench*.json,
run-*.txt; prints the Markdown table and writes it. Runs here, not on the GPU machine, so no device time
is spent formatting.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import sys
from pathlib import Path
from typing import Any

GOAL_MEMORY_ERROR = 0.05
GOAL_TPS_RATIO = 0.97
GOAL_PARTIAL_ERROR = 0.25


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.startswith("{")]


def _last_json_line(path: Path) -> dict[str, Any] | None:
    if not path.exists():
        return None
    for line in reversed(path.read_text().splitlines()):
        if line.startswith("{"):
            try:
                return dict(json.loads(line))
            except ValueError:
                return None
    return None


def _quant_of(file: str) -> str:
    m = re.search(r"(f16|q8_0|q4_k_m)", Path(file).name.lower())
    return m.group(1).upper() if m else Path(file).stem


def _bench_tps(bench: Any) -> dict[str, float]:
    out: dict[str, float] = {}
    for row in bench or []:
        if row.get("n_gen", 0) > 0:
            out[_quant_of(row["model_filename"])] = float(row["avg_ts"])
    return out


def _device_delta(load: dict[str, Any], idle: int) -> int:
    """NVML use after the load less the idle reading (rows from before gpu_measure kept one: the smallest
    'before' of the run, taken before that process made its CUDA context)."""
    return int(load["nvml_used_after_bytes"]) - int(load.get("nvml_idle_bytes", idle))


def memory_rows(d: Path) -> list[str]:
    loads = _jsonl(d / "loads.jsonl")
    idle = min((int(x["nvml_used_before_bytes"]) for x in loads if "nvml_used_before_bytes" in x), default=0)
    rows = [
        "| quant | ctx | predicted device GB | measured GB (NVML, less idle) | error |",
        "|---|---:|---:|---:|---:|",
    ]
    for load in loads:
        q, ctx = _quant_of(load["file"]), load["ctx"]
        fit = _json(d / f"fit-{Path(load['file']).stem}-{ctx}.json") or {}
        if "error" in load or "device_bytes" not in fit:
            rows.append(f"| {q} | {ctx} | - | - | {load.get('error', 'no prediction')} |")
            continue
        pred, meas = fit["device_bytes"], _device_delta(load, idle)
        rows.append(f"| {q} | {ctx} | {pred / 1e9:.2f} | {meas / 1e9:.2f} | {(pred - meas) / meas:+.1%} |")
    return rows


def speed_rows(d: Path) -> list[str]:
    bench: dict[str, float] = {}
    for f in sorted(d.glob("bench*.json")):
        if "partial" not in f.name:
            bench.update(_bench_tps(_json(f)))
    rows = [
        "| quant | llama-bench tg128 tok/s | tuilab run tok/s | ratio | predicted tok/s |",
        "|---|---:|---:|---:|---:|",
    ]
    for q in ("F16", "Q8_0", "Q4_K_M"):
        run = _last_json_line(d / f"run-llama-3-8b-{q.lower()}.txt") or _last_json_line(
            d / f"run-{q.lower()}.txt"
        )
        ref = bench.get(q)
        got = run.get("gen_tps") if run else None
        pred = run.get("predicted_tg_tps") if run else None
        ratio = f"{got / ref:.3f}" if got and ref else "-"
        rows.append(f"| {q} | {_num(ref)} | {_num(got)} | {ratio} | {_num(pred)} |")
    return rows


def _num(x: Any) -> str:
    return f"{x:.1f}" if isinstance(x, int | float) else "-"


def partial_rows(d: Path) -> list[str]:
    fit = _json(d / "fit-partial.json") or {}
    load = (_jsonl(d / "loads-partial.jsonl") or [{}])[0]
    bench = _bench_tps(_json(d / "bench-partial.json")).get("F16")
    run = _last_json_line(d / "run-partial.txt") or {}
    pred_tps = fit.get("predicted_tg_tps")
    measured = load.get("nvml_delta_bytes")  # gpu_check.sh loads it; gpu_recheck.sh does not
    err = f"{(pred_tps - bench) / bench:+.1%}" if pred_tps and bench else "-"
    return [
        "| GPU layers chosen | predicted device GB | measured GB (NVML delta) | within 12 GB | "
        "predicted tok/s | llama-bench tok/s | tuilab run tok/s | error |",
        "|---:|---:|---:|---|---:|---:|---:|---:|",
        f"| {fit.get('gpu_layers', '-')} | {fit.get('device_bytes', 0) / 1e9:.2f} | "
        f"{_num(measured and measured / 1e9)} | {'-' if measured is None else measured <= 12e9} | "
        f"{_num(pred_tps)} | {_num(bench)} | {_num(run.get('gen_tps'))} | {err} |",
    ]


def partial_prompt_rows(d: Path) -> list[str]:
    """llama-bench's prompt rows at the partial offload (bench-partial-pp.json: -p P -ub U) beside what
    scripts/predict_prompt.py planned for the same P and U (pred-partial-pp.jsonl)."""
    planned = {
        (r["n_prompt"], r["n_ubatch"]): r.get("predicted_pp_tps") for r in _jsonl(d / "pred-partial-pp.jsonl")
    }
    rows = [
        "| -p | -ub | llama-bench tok/s | predicted tok/s | error |",
        "|---:|---:|---:|---:|---:|",
    ]
    for row in _json(d / "bench-partial-pp.json") or []:
        if not row.get("n_prompt"):
            continue
        got, pred = float(row["avg_ts"]), planned.get((row["n_prompt"], row["n_ubatch"]))
        err = f"{(pred - got) / got:+.1%}" if pred and got else "-"
        rows.append(f"| {row['n_prompt']} | {row['n_ubatch']} | {got:.1f} | {_num(pred)} | {err} |")
    return rows


def host_bandwidth_line(d: Path) -> str:
    """What `tuilab hw --measure --json` saved: the host RAM bandwidth partial-offload plans read."""
    m = (_json(d / "hw-measured.json") or {}).get("measured") or {}
    if "ram_bandwidth_gbps" not in m:
        return "Host RAM bandwidth: not measured (see hw.err)."
    gbps, threads = m["ram_bandwidth_gbps"], m.get("threads")
    return f"Host RAM bandwidth measured there: {gbps} GB/s with {threads} threads."


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("results", type=Path, help="the folder gpu_check.sh (or gpu_recheck.sh) wrote")
    p.add_argument("--docs", type=Path, default=Path("docs/benchmarks"))
    p.add_argument("--recheck", action="store_true", help="the results are gpu_recheck.sh's")
    args = p.parse_args()
    hw = _json(args.results / "hw.json") or {}
    smi = (
        (args.results / "nvidia-smi-q.txt").read_text()
        if (args.results / "nvidia-smi-q.txt").exists()
        else ""
    )
    card = re.search(r"Product Name\s*:\s*(.+)", smi)
    driver = re.search(r"Driver Version\s*:\s*(.+)", smi)
    cuda = re.search(r"CUDA Version\s*:\s*(.+)", smi)
    name = card.group(1).strip() if card else "unknown"
    drv = driver.group(1).strip() if driver else "?"
    cu = cuda.group(1).strip() if cuda else "?"
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    if args.recheck:
        lines = [
            f"# CUDA recheck on {name}",
            "",
            f"Run by `scripts/gpu_recheck.sh` on {dt.date.today()}; driver {drv}, CUDA {cu}; llama.cpp",
            "built off the GPU machine by `scripts/build_llama_cuda_here.sh`. The same synthetic Llama-3-8B",
            "as the first pass.",
            host_bandwidth_line(args.results),
            "",
            "## Speed: tuilab run against llama-bench tg128",
            "",
            *speed_rows(args.results),
            "",
            "## Partial offload: F16 with the GPU capped at 12 GB, host bandwidth measured",
            "",
            *partial_rows(args.results),
            "",
            "Prompt at that offload (llama.cpp copies the host layers to the GPU once per ubatch):",
            "",
            *partial_prompt_rows(args.results),
        ]
        return _write(args.docs / f"cuda-{slug}-recheck.md", lines)
    lines = [
        f"# CUDA check on {name}",
        "",
        f"Run by `scripts/gpu_check.sh` on {dt.date.today()}; driver {drv}, CUDA {cu}.",
        "Model: a shape-true synthetic Llama-3-8B (random weights, real shapes); llama.cpp built from the",
        "llama-cpp-python source with CUDA; flash attention on.",
        f"Goals: device memory within {GOAL_MEMORY_ERROR:.0%}, run/bench ratio >= {GOAL_TPS_RATIO},",
        f"partial-offload tok/s within {GOAL_PARTIAL_ERROR:.0%}.",
        "",
        "## Fit: predicted against measured device memory after load",
        "",
        *memory_rows(args.results),
        "",
        "## Speed: tuilab run against llama-bench tg128",
        "",
        *speed_rows(args.results),
        "",
        "## Partial offload: F16 with the GPU capped at 12 GB (as on an RTX 3060)",
        "",
        *partial_rows(args.results),
        "",
        "Prompt at that offload (llama.cpp copies the host layers to the GPU once per ubatch):",
        "",
        *partial_prompt_rows(args.results),
        "",
        "## Detection (`tuilab hw --json`)",
        "",
        "```json",
        json.dumps(hw, indent=1)[:4000],
        "```",
    ]
    return _write(args.docs / f"cuda-{slug}.md", lines)


def _write(path: Path, lines: list[str]) -> int:
    text = "\n".join(lines) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
