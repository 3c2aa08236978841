"""`tuilab fit`: will MODEL fit at this quant and context, and how fast will it run.

Renders the typed `FitPlan` of `tuilab.lab.planning` as an aligned table, or one JSON object with
`--json`; `--ladder` plans every rung. A context past the model's trained one is planned at the trained
one, and the basis says so (the same rule as `tuilab run` and the lab). Imports
stay light (no textual, mlx or llama_cpp) so the answer comes back in well under half a second.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace

from tuilab.cli import cluster, fit_hub
from tuilab.cli.offload import add_offload_options, offload_kwargs
from tuilab.core.errors import UsageError
from tuilab.core.hardware import HardwareSpec, parse_size_bytes
from tuilab.core.plan_types import FitPlan, gb
from tuilab.lab.machine import machine_spec
from tuilab.lab.planning import DEFAULT_CTX_TOKENS, FitQuery, context_note, plan_fit, plan_ladder
from tuilab.models.resolve import resolve_model


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("fit", help="will a model fit, and how fast will it run", description=__doc__)
    p.add_argument(
        "model",
        nargs="?",
        help="profile or catalog name, GGUF path, model directory, HF repo id (cached, or read from the "
        "Hub), or 'demo'",
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
    add_offload_options(p)
    p.add_argument("--ladder", action="store_true", help="plan every quant rung side by side")
    p.add_argument("--json", action="store_true", help="one JSON object on stdout")
    p.add_argument(
        "--rank",
        action="store_true",
        help="list the catalog models that run on the device, best first: each at the best quant of 4 bits "
        "or more that fits (fits or tight) at --ctx and reaches --min-tps; sorted by parameters, then bits, "
        "then tok/s",
    )
    p.add_argument(
        "--min-tps",
        type=float,
        metavar="TOK_S",
        help="the slowest predicted generation to accept: shows the largest context keeping that rate; "
        "with --rank, models slower than it are left out",
    )
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
        flash_attn=not args.no_flash_attn, **offload_kwargs(args),
    )  # fmt: skip


def run_fit(args: argparse.Namespace) -> int:
    query = query_from(args)
    if cluster.wants_cluster(args):
        return cluster.run_cluster_fit(args, query)
    hw = machine_spec(args.hardware, args.gpu_budget, args.hw_replay)
    if args.rank:
        from tuilab.cli.fit_rank import run_rank

        return run_rank(args, hw, query)
    if args.model is None:
        raise UsageError("fit needs a MODEL (or --rank to list the catalog models that fit)")
    model = resolve_model(
        args.model, args.quant, args.engine, hub=True, started_s=getattr(args, "started_s", None)
    )
    if args.ladder and fit_hub.is_hub_gguf(model):
        return fit_hub.hub_ladder(
            args, model, hw, lambda a, q: plan_fit(replace(model, arch=a, quant=q), hw, query, advise=False)
        )
    if args.ladder:
        return _ladder(args, model.name, hw, plan_ladder(model, hw, query))
    fit = fit_hub.with_hub_basis(plan_fit(model, hw, query), model)
    if args.min_tps is not None and args.min_tps <= 0:
        raise UsageError(f"--min-tps must be above 0, got {args.min_tps:g}")
    if args.json:
        out = fit_hub.plan_json(fit, model)
        if args.min_tps is not None:
            out["min_tps"], out["max_ctx_at_min_tps"] = args.min_tps, fit.max_ctx_at_tps(args.min_tps)
        print(json.dumps(out, indent=2))
    else:
        print(render_plan(fit, args.min_tps))
    return 0


def _ladder(args: argparse.Namespace, model: str, hw: HardwareSpec, rungs: list[FitPlan]) -> int:
    ctx = rungs[0].ctx_tokens
    if args.json:
        out = {"model": model, "hardware": hw.name, "ctx": ctx, "rungs": [r.to_dict() for r in rungs]}
        print(json.dumps(out, indent=2))
    else:
        print(render_ladder(model, hw, ctx, rungs))
    return 0


def render_plan(fit: FitPlan, min_tps: float | None = None) -> str:
    where = "profile" if fit.hardware_is_profile else "this machine"
    heads, columns = _memory_columns(fit)
    names = ("weights", "KV cache", "compute", "overhead", "total", "budget")
    lines = [
        f"{fit.model}  {fit.quant}  {fit.engine}  on {fit.hardware} ({where})"
        f"  ctx {fit.ctx_tokens}  KV {fit.kv_type}",
        "",
        f"  {'':<10}" + "".join(f"{h:>16}" for h in heads),
    ]
    lines += [f"  {name:<10}" + "".join(f"{gb(c[i]):>16}" for c in columns) for i, name in enumerate(names)]
    lines += [
        "",
        f"  verdict    {fit.verdict.upper().replace('_', ' ')}: {fit.reason}",
        f"  headroom   {gb(fit.headroom_bytes)}",
        f"  GPU layers {_gpu_layers_label(fit)}",
    ]
    if fit.budget_bytes and fit.engine == "llama.cpp":
        lines.append(f"  offload    {_offload_words(fit)}")
    lines += [
        f"  max ctx    {_max_ctx_label(fit.max_ctx)}",
        f"  predicted  {fit.predicted_tg_tps:.1f} tok/s generation (empty context), "
        f"{fit.predicted_tg_tps_full_ctx:.1f} at a full context; {_pp(fit.predicted_pp_tps)}",
        f"  first tok  {_ttft(fit)}",
    ]
    if min_tps is not None:
        lines.append(f"  max ctx    {fit.max_ctx_at_tps(min_tps)} tokens at {min_tps:g} tok/s or faster")
    if fit.advice:
        lines += ["", "  advice"] + [f"   - {a}" for a in fit.advice]
    lines += ["", "  basis"] + [f"   {k:<26} {v}" for k, v in fit.basis.items()]
    return "\n".join(lines)


def _cpu_only(fit: FitPlan) -> bool:
    """Nothing planned on a GPU and no GPU budget: a CPU-only machine, or MLX's CPU backend off a Mac."""
    return not fit.budget_bytes and not fit.memory.device_bytes


def _gpu_layers_label(fit: FitPlan) -> str:
    if fit.budget_bytes:
        return fit.gpu_layers_label
    return "0 (MLX runs on its CPU backend off Apple silicon)" if fit.engine == "mlx" else "0 (no GPU)"


def _planned_bytes(fit: FitPlan) -> int:
    return fit.memory.total_bytes if _cpu_only(fit) else fit.memory.device_bytes


def _max_ctx_label(max_ctx: int) -> str:
    return f"{max_ctx} tokens" if max_ctx > 0 else "none: not even 256 tokens fit"


def _memory_columns(fit: FitPlan) -> tuple[list[str], list[tuple[int, ...]]]:
    """Column heads and (weights, KV, compute, overhead, total, budget) per column: one per GPU, then host."""
    m = fit.memory
    host = (m.weights_host_bytes, m.kv_host_bytes, m.compute_host_bytes, m.overhead_host_bytes, m.host_bytes,
            fit.host_budget_bytes)  # fmt: skip
    if _cpu_only(fit):  # one memory pool: a GPU column would be all zeros
        return ["RAM (CPU)"], [host]
    if len(fit.devices) > 1:
        gpus = [
            (
                d.weights_bytes,
                d.kv_cache_bytes,
                d.compute_bytes,
                d.overhead_bytes,
                d.device_bytes,
                d.budget_bytes,
            )
            for d in fit.devices
        ]
        return [f"GPU {i}" for i in range(len(gpus))] + ["host (RAM)"], [*gpus, host]
    device = (m.weights_device_bytes, m.kv_device_bytes, m.compute_device_bytes, m.overhead_device_bytes,
              m.device_bytes, fit.budget_bytes)  # fmt: skip
    return ["device (GPU)", "host (RAM)"], [device, host]


def _offload_words(fit: FitPlan) -> str:
    if fit.offload_mode == "experts":
        return f"experts of the first {fit.cpu_moe_layers} layers in system RAM (llama.cpp --n-cpu-moe)"
    split = ""
    if len(fit.devices) > 1:
        split = "; layers per GPU " + ", ".join(str(d.n_layers) for d in fit.devices)
    return f"whole layers{split}"


def _ttft(fit: FitPlan) -> str:
    if fit.predicted_pp_tps <= 0:  # no prompt speed, so no time to the first token either
        return f"unknown for a {fit.ctx_tokens}-token prompt (no prompt speed for this device)"
    return f"{fit.predicted_ttft_s:.2f} s for a {fit.ctx_tokens}-token prompt"


def _pp(tps: float) -> str:
    return f"{tps:.0f} tok/s prompt" if tps > 0 else "prompt speed unknown (no FLOPS figure for this device)"


def render_ladder(model: str, hw: HardwareSpec, ctx: int, rungs: list[FitPlan]) -> str:
    where = "profile" if hw.is_profile else "this machine"
    head = (
        f"{'quant':<14}{'engine':<11}{'weights':>10}{'planned':>10}{'verdict':>17}{'max ctx':>9}{'tok/s':>8}"
        f"{'prompt':>8}{'TTFT s':>8}"
    )
    lines = [f"{model} on {hw.name} ({where}), ctx {ctx}", "", head, "-" * len(head)]
    note = context_note(rungs[0]) if rungs else None
    if note:
        lines[1:1] = [f"context: {note}"]
    for r in rungs:
        lines.append(
            f"{r.quant:<14}{r.engine:<11}{gb(r.weights_bytes)[:-3]:>10}{gb(_planned_bytes(r))[:-3]:>10}"
            f"{r.verdict:>17}{r.max_ctx:>9}{r.predicted_tg_tps:>8.1f}"
            f"{fit_hub.predicted_cell(r.predicted_pp_tps, '.0f'):>8}"
            f"{fit_hub.predicted_cell(r.predicted_ttft_s, '.2f'):>8}"
        )
    lines += [
        "",
        "weights and planned in GB (1e9 bytes); planned is on the GPU, or in RAM for a plan that runs on the",
        "CPU; tok/s is predicted generation at an empty context, prompt the predicted prompt tok/s of a",
        f"512-token batch from empty, TTFT s the seconds to the first token for a {ctx}-token prompt",
    ]
    return "\n".join(lines)
