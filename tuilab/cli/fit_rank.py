"""`tuilab fit --rank`: the catalog models that run on this machine (or a profile), best first.

Renders `lab.ranking.rank_catalog` (core.rank over the built-in catalog) as a table, or as a JSON list
of the usual fit objects with `model` and `quant`. Stays headless and light like the rest of `fit`.
"""

from __future__ import annotations

import argparse
import json

from tuilab.core.errors import UsageError
from tuilab.core.hardware import HardwareSpec
from tuilab.core.plan_types import gb
from tuilab.core.rank import Ranked, RankQuery
from tuilab.lab.planning import FitQuery
from tuilab.lab.ranking import on_device_bytes, rank_catalog


def run_rank(args: argparse.Namespace, hw: HardwareSpec, query: FitQuery) -> int:
    if args.model is not None or args.quant or args.ladder or args.gpu_layers is not None:
        raise UsageError(
            "--rank takes no MODEL, --quant, --ladder or --gpu-layers: it picks the quant itself"
        )
    min_tps = 0.0 if args.min_tps is None else args.min_tps
    if min_tps < 0:
        raise UsageError(f"--min-tps must be 0 or more, got {min_tps}")
    result = rank_catalog(hw, query, min_tps)
    if args.json:
        rows = [{**r.plan.to_dict(), "model": r.name, "quant": r.quant} for r in result.ranked]
        print(json.dumps(rows, indent=2))
    else:
        print(render_rank(hw, result.query, result.ranked, result.planned, result.left_out))
    return 0


def render_rank(hw: HardwareSpec, q: RankQuery, ranked: list[Ranked], planned: int, left_out: int) -> str:
    where = "profile" if hw.is_profile else "this machine"
    speed = f", at least {q.min_tps:g} tok/s" if q.min_tps else ""
    head = f"{'#':>3}  {'model':<36}{'params':>8}  {'quant':<10}{'verdict':<9}{'device':>9}"
    head += f"{'max ctx':>9}{'tok/s':>8}"
    lines = [
        f"catalog models that run on {hw.name} ({where}), {q.engine}, ctx {q.ctx_tokens}{speed}",
        "",
        head,
        "-" * len(head),
    ]
    for i, r in enumerate(ranked, 1):
        p = r.plan
        lines.append(
            f"{i:>3}  {r.name[:35]:<36}{r.n_params / 1e9:>7.1f}B  {r.quant:<10}{p.verdict:<9}"
            f"{gb(on_device_bytes(r))[:-3]:>9}{p.max_ctx:>9}{p.predicted_tg_tps:>8.1f}"
        )
    lines += [
        "",
        f"{len(ranked)} of {planned} planned models run here; {planned - len(ranked)} fit at no quant"
        f"{f' or only below {q.min_tps:g} tok/s' if q.min_tps else ''}, {left_out} have an architecture"
        " not planned yet.",
        "Each at the best quant (4 bits or more) that fits; sorted by parameters, then bits, then tok/s.",
        "device: GB (1e9 bytes) on the GPU, or in RAM without one; tok/s: predicted generation at ctx 0.",
    ]
    return "\n".join(lines)
