#!/usr/bin/env python3
"""Planned prompt rates of one model under partial offload, per prompt length and ubatch, one JSON line
each: what scripts/gpu_check.sh and gpu_recheck.sh set beside llama-bench's `-p P -ub U` rows. With layers
or experts in host RAM, llama.cpp's CUDA op offload copies their weights to the GPU once per ubatch, so the
rate depends on `-ub` (docs/benchmarks/calibration.md, "Prompt speed under partial offload").

    python scripts/predict_prompt.py MODEL [--hardware PROFILE | --gpu-budget 12GB] [--gpu-layers N]
        [--cpu-moe N] [--ctx 4096] [--prompts 512,4096] [--ubatches 512,2048]

Runs anywhere tuilab does (it plans, it measures nothing); a bad argument is one line and exit 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from tuilab.core.errors import TuilabError
from tuilab.core.plan_types import FitPlan
from tuilab.lab.machine import machine_spec
from tuilab.lab.planning import FitQuery, plan_fit
from tuilab.models.resolve import resolve_model

_GB = 1e9


def _ints(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers like 512,2048, got {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"every value must be at least 1, got {text!r}")
    return values


def _gigabytes(text: str) -> int:
    try:
        return int(float(text.upper().removesuffix("GB")) * _GB)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a size like 12GB, got {text!r}") from None


def rows(fit: FitPlan, prompts: tuple[int, ...], ubatches: tuple[int, ...]) -> list[dict[str, Any]]:
    """One row per (prompt, ubatch), named as llama-bench's JSON names them (n_prompt, n_ubatch)."""
    m = fit.speed_model
    return [
        {
            "n_prompt": p,
            "n_ubatch": u,
            "gpu_layers": fit.gpu_layers,
            "cpu_moe_layers": fit.cpu_moe_layers,
            "predicted_pp_tps": round(m.pp_tps_at(0, p, u), 1) if m else None,
        }
        for p in prompts
        for u in ubatches
    ]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", help="a profile or catalog name, or a GGUF file")
    p.add_argument("--hardware", help="plan for this hardware profile instead of this machine")
    p.add_argument("--gpu-budget", type=_gigabytes, help="cap the GPU's free memory, e.g. 12GB")
    p.add_argument("--gpu-layers", type=int, help="llama.cpp -ngl (default: as many as fit)")
    p.add_argument("--cpu-moe", type=int, help="llama.cpp --n-cpu-moe")
    p.add_argument("--ctx", type=int, default=4096)
    p.add_argument("--prompts", type=_ints, default=(512, 4096), help="llama-bench -p values")
    p.add_argument("--ubatches", type=_ints, default=(512, 2048), help="llama-bench -ub values")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    query = FitQuery(ctx_tokens=args.ctx, gpu_layers=args.gpu_layers, cpu_moe_layers=args.cpu_moe)
    try:
        hw = machine_spec(args.hardware, args.gpu_budget)
        fit = plan_fit(resolve_model(args.model, None, "llama.cpp"), hw, query, advise=False)
    except TuilabError as exc:
        print(f"predict_prompt: {exc}", file=sys.stderr)
        return 2
    for row in rows(fit, args.prompts, args.ubatches):
        print(json.dumps(row))
    return 0


if __name__ == "__main__":
    sys.exit(main())
