"""`tuilab fit`: will MODEL fit at this quant and context, and how fast will it run.

Renders the typed `FitPlan` of `tuilab.lab.planning` as an aligned table, or one JSON object with
`--json`; `--ladder` plans every rung. A context past the model's trained one is planned at the trained
one, and the basis says so (the same rule as `tuilab run` and the lab). Imports
stay light (no textual, mlx or llama_cpp) so the answer comes back in well under half a second.
"""

from __future__ import annotations

import argparse
import json

from tuilab.cli import cluster
from tuilab.core.hardware import HardwareSpec, parse_size_bytes
from tuilab.core.plan_types import FitPlan, gb
from tuilab.lab.machine import machine_spec
from tuilab.lab.planning import DEFAULT_CTX_TOKENS, FitQuery, context_note, plan_fit, plan_ladder
from tuilab.models.resolve import resolve_model


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("fit", help="will a model fit, and how fast will it run", description=__doc__)
    p.add_argument(
        "model", help="profile name, GGUF path, model directory, HF repo id in the cache, or 'demo'"
    )
    p.add_argument(
        "--quant", help="e.g. Q4_K_M, Q8_0, IQ2_XS, mlx-4bit, mlx-8bit-g32 (default: the file's, or Q4_K_M)"
    )
    p.add_argument(
        "--ctx", type=int,
        help=f"context length in tokens (default {DEFAULT_CTX_TOKENS}); past the model's trained context "
        "the plan is made at the trained one, and says so",
    )  # fmt: skip
    p.add_argument("--kv-type", default="f16", help="KV cache type: f16, q8_0, q4_0, mlx-kv8, mlx-kv4")
    p.add_argument("--engine", choices=("llama.cpp", "mlx"), help="default: from the quant or model format")
    p.add_argument(
        "--hardware", metavar="PROFILE", help="plan for a hardware profile instead of this machine"
    )
    p.add_argument(
        "--hw-replay", metavar="DIR", help="plan for the machine recorded in DIR by `tuilab hw --record`"
    )
    p.add_argument("--gpu-layers", type=int, help="layers to offload (default: as many as fit)")
    p.add_argument("--gpu-budget", type=_size, metavar="SIZE", help="cap the GPU's free memory, e.g. 12GB")
    p.add_argument("--no-flash-attn", action="store_true", help="plan llama.cpp without flash attention")
    p.add_argument("--ladder", action="store_true", help="plan every quant rung side by side")
    p.add_argument("--json", action="store_true", help="one JSON object on stdout")
    cluster.add_fit_options(p)
    p.set_defaults(func=run_fit)


def _size(text: str) -> int:
    try:
        return parse_size_bytes(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def query_from(args: argparse.Namespace) -> FitQuery:
    """The fit question the options ask; a bad value (ctx 0, negative GPU layers) is a usage error."""
    return FitQuery(
        ctx_tokens=args.ctx, kv_type=args.kv_type, engine=args.engine, gpu_layers=args.gpu_layers,
        flash_attn=not args.no_flash_attn,
    )  # fmt: skip


def run_fit(args: argparse.Namespace) -> int:
    query = query_from(args)
    if cluster.wants_cluster(args):
        return cluster.run_cluster_fit(args, query)
    hw = machine_spec(args.hardware, args.gpu_budget, args.hw_replay)
    model = resolve_model(args.model, args.quant, args.engine)
    if args.ladder:
        return _ladder(args, model.name, hw, plan_ladder(model, hw, query))
    fit = plan_fit(model, hw, query)
    print(json.dumps(fit.to_dict(), indent=2) if args.json else render_plan(fit))
    return 0


def _ladder(args: argparse.Namespace, model: str, hw: HardwareSpec, rungs: list[FitPlan]) -> int:
    ctx = rungs[0].ctx_tokens
    if args.json:
        out = {"model": model, "hardware": hw.name, "ctx": ctx, "rungs": [r.to_dict() for r in rungs]}
        print(json.dumps(out, indent=2))
    else:
        print(render_ladder(model, hw, ctx, rungs))
    return 0


def render_plan(fit: FitPlan) -> str:
    m = fit.memory
    where = "profile" if fit.hardware_is_profile else "this machine"
    dev_label = "device" if fit.budget_bytes else "-"
    rows = [
        ("weights", m.weights_device_bytes, m.weights_host_bytes),
        ("KV cache", m.kv_device_bytes, m.kv_host_bytes),
        ("compute", m.compute_device_bytes, m.compute_host_bytes),
        ("overhead", m.overhead_device_bytes, m.overhead_host_bytes),
        ("total", m.device_bytes, m.host_bytes),
        ("budget", fit.budget_bytes, fit.host_budget_bytes),
    ]
    lines = [
        f"{fit.model}  {fit.quant}  {fit.engine}  on {fit.hardware} ({where})"
        f"  ctx {fit.ctx_tokens}  KV {fit.kv_type}",
        "",
        f"  {'':<10}{dev_label + ' (GPU)':>16}{'host (RAM)':>16}",
    ]
    lines += [f"  {name:<10}{gb(d):>16}{gb(h):>16}" for name, d, h in rows]
    lines += [
        "",
        f"  verdict    {fit.verdict.upper().replace('_', ' ')}: {fit.reason}",
        f"  headroom   {gb(fit.headroom_bytes)}",
        f"  GPU layers {fit.gpu_layers_label if fit.budget_bytes else '0 (no GPU)'}",
        f"  max ctx    {fit.max_ctx} tokens",
        f"  predicted  {fit.predicted_tg_tps:.1f} tok/s generation (empty context), "
        f"{fit.predicted_tg_tps_full_ctx:.1f} at a full context; {_pp(fit.predicted_pp_tps)}",
    ]
    if fit.advice:
        lines += ["", "  advice"] + [f"   - {a}" for a in fit.advice]
    lines += ["", "  basis"] + [f"   {k:<26} {v}" for k, v in fit.basis.items()]
    return "\n".join(lines)


def _pp(tps: float) -> str:
    return f"{tps:.0f} tok/s prompt" if tps > 0 else "prompt speed unknown (no FLOPS figure for this GPU)"


def render_ladder(model: str, hw: HardwareSpec, ctx: int, rungs: list[FitPlan]) -> str:
    where = "profile" if hw.is_profile else "this machine"
    head = (
        f"{'quant':<14}{'engine':<11}{'weights':>10}{'device':>10}{'verdict':>17}{'max ctx':>9}{'tok/s':>8}"
    )
    lines = [f"{model} on {hw.name} ({where}), ctx {ctx}", "", head, "-" * len(head)]
    note = context_note(rungs[0]) if rungs else None
    if note:
        lines[1:1] = [f"context: {note}"]
    for r in rungs:
        lines.append(
            f"{r.quant:<14}{r.engine:<11}{gb(r.weights_bytes)[:-3]:>10}{gb(r.memory.device_bytes)[:-3]:>10}"
            f"{r.verdict:>17}{r.max_ctx:>9}{r.predicted_tg_tps:>8.1f}"
        )
    lines += ["", "weights and device in GB (1e9 bytes); tok/s is predicted generation at an empty context"]
    return "\n".join(lines)
