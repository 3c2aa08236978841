"""Advice for a plan that does not simply fit: what change would make it fit, in the user's words.

Each suggestion is checked by planning it: a smaller quant, a shorter context, a quantized KV cache, or on
a Mac the `iogpu.wired_limit_mb` value that would fit while leaving macOS enough memory. An MLX plan off
Apple silicon, which runs on the CPU, fits or not, gets the same model planned on the machine's GPU.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

from tuilab.core.arch import ModelArch
from tuilab.core.hardware import MAC_MIN_OS_BYTES, MIB, HardwareSpec
from tuilab.core.plan_types import RUNS_ON_DEVICE, FitPlan, Request, Verdict, gb
from tuilab.core.quant import LLAMA_LADDER, MLX_LADDER, QuantSpec, nominal_bits, parse_quant, quant_name

# Sibling KV types to try, per engine (tuilab.core.quant.KV_TYPES).
_KV_STEPS = {"llama.cpp": ("q8_0", "q4_0"), "mlx": ("mlx-kv8", "mlx-kv4")}
# MLX off Apple silicon runs on its CPU backend (core.fit's "mlx-cpu"); where the machine has a CUDA GPU,
# llama.cpp runs the model there, and the tip plans it at llama.cpp's usual quant (README: the ladder).
GPU_ENGINE_TIP_QUANT = "Q4_K_M"
# Margin on top of the planned need when suggesting a wired limit: allocations round up to pages and
# Metal heaps; 1 GiB keeps the suggestion valid for a somewhat longer prompt.
WIRED_MARGIN_BYTES = 1024 * MIB

Planner = Callable[..., FitPlan]


def advise_plan(
    fit: FitPlan, arch: ModelArch, quant: QuantSpec | None, hw: HardwareSpec, req: Request, planner: Planner
) -> FitPlan:
    """`fit` with its `advice` filled in."""

    def try_plan(q: QuantSpec | None, ctx: int, kv: str) -> FitPlan:
        return planner(
            arch,
            q,
            hw,
            ctx_tokens=ctx,
            kv_type=kv,
            engine=req.engine,
            gpu_layers=req.gpu_layers,
            flash_attn=req.flash_attn,
            advise=False,
            offload_mode=req.offload_mode,
            cpu_moe_layers=req.cpu_moe_layers,
            tensor_split=req.tensor_split,
        )

    def other_mode() -> FitPlan | None:
        if fit.verdict is not Verdict.PARTIAL_OFFLOAD or not arch.is_moe or req.gpu_layers is not None:
            return None
        mode = "layers" if fit.offload_mode == "experts" else "experts"
        return planner(
            arch, quant, hw, ctx_tokens=req.ctx_tokens, kv_type=req.kv_type, engine=req.engine,
            flash_attn=req.flash_attn, advise=False, offload_mode=mode, tensor_split=req.tensor_split,
        )  # fmt: skip

    tips: list[str] = []
    if fit.verdict is Verdict.TIGHT:
        users = "GPU users" if hw.unified or fit.gpu_layers > 0 else "programs"  # a CPU plan: RAM users
        tips.append(f"headroom is only {gb(fit.headroom_bytes)}: close other {users} or shorten the context")
    for tip in (
        wired_limit_tip(fit, hw),
        offload_modes_tip(fit, other_mode()),
        gpu_engine_tip(arch, hw, req, planner),
    ):
        if tip:
            tips.append(tip)
    if fit.verdict not in RUNS_ON_DEVICE:
        tips += _alternatives(fit, quant, req, try_plan)
    return dataclasses.replace(fit, advice=tuple(tips))


def _alternatives(
    fit: FitPlan,
    quant: QuantSpec | None,
    req: Request,
    try_plan: Callable[[QuantSpec | None, int, str], FitPlan],
) -> list[str]:
    tips: list[str] = []
    smaller = _smaller_quant_that_fits(quant, req.engine, lambda q: try_plan(q, req.ctx_tokens, req.kv_type))
    if smaller:
        tips.append(smaller)
    short = try_plan(quant, 256, req.kv_type)
    if short.verdict in RUNS_ON_DEVICE and short.max_ctx < req.ctx_tokens:
        tips.append(f"a context of up to {short.max_ctx} tokens fits on the device (--ctx {short.max_ctx})")
    for kv in _KV_STEPS.get(req.engine, ()):
        if kv != req.kv_type and try_plan(quant, req.ctx_tokens, kv).verdict in RUNS_ON_DEVICE:
            tips.append(f"a {kv} KV cache (--kv-type {kv}) makes it fit at this context")
            break
    return tips


def gpu_engine_tip(arch: ModelArch, hw: HardwareSpec, req: Request, planner: Planner) -> str | None:
    """An MLX plan on a machine whose GPU is not Apple's runs on the CPU: the same model on that GPU with
    llama.cpp, planned, so the user sees the answer the machine is for."""
    if req.engine != "mlx" or hw.unified or not hw.gpus:
        return None
    q = GPU_ENGINE_TIP_QUANT
    other = planner(arch, parse_quant(q), hw, ctx_tokens=req.ctx_tokens, engine="llama.cpp", advise=False)
    return (
        f"MLX runs on the CPU here; llama.cpp at {q} on {hw.gpus[0].name}: {other.verdict}, "
        f"~{other.predicted_tg_tps:.0f} tok/s predicted (--quant {q})"
    )


def wired_limit_tip(fit: FitPlan, hw: HardwareSpec) -> str | None:
    """On a Mac held back by the GPU wired limit, the sysctl that would fit while leaving macOS enough."""
    if not hw.unified or fit.verdict in RUNS_ON_DEVICE:
        return None
    need = _device_need_all_layers(fit) + WIRED_MARGIN_BYTES
    wired = hw.wired_limit_bytes or hw.ram_bytes
    if need <= wired:
        return None
    if need > hw.ram_bytes - MAC_MIN_OS_BYTES:
        return (
            f"even raising the GPU wired limit cannot fit it: {gb(need)} needed of {gb(hw.ram_bytes)} RAM, "
            f"and macOS needs at least {gb(MAC_MIN_OS_BYTES)}"
        )
    limit_mb = math.ceil(need / MIB / 1024) * 1024
    left = hw.ram_bytes - limit_mb * MIB
    return (
        f"raise the GPU wired limit: sudo sysctl iogpu.wired_limit_mb={limit_mb} "
        f"(leaves {gb(left)} for macOS; resets at reboot)"
    )


def offload_modes_tip(fit: FitPlan, other: FitPlan | None) -> str | None:
    """A MoE model that only partly fits can leave experts or whole layers in RAM: compare the two."""
    if other is None or other.verdict is Verdict.NO_FIT:
        return None
    by_mode = {fit.offload_mode: fit, other.offload_mode: other}
    if set(by_mode) != {"experts", "layers"}:
        return None
    experts, layers = by_mode["experts"], by_mode["layers"]
    flag = "--offload layers" if fit.offload_mode == "experts" else f"--cpu-moe {experts.cpu_moe_layers}"
    return (
        f"experts on the CPU (those of {experts.cpu_moe_layers} of {experts.n_layers} layers): "
        f"{gb(experts.memory.device_bytes)} on the GPU, ~{experts.predicted_tg_tps:.1f} tok/s; "
        f"whole layers ({layers.gpu_layers_label} on the GPU): {gb(layers.memory.device_bytes)}, "
        f"~{layers.predicted_tg_tps:.1f} tok/s (the other: {flag})"
    )


def _device_need_all_layers(fit: FitPlan) -> int:
    m = fit.memory
    if fit.engine == "mlx" or fit.gpu_layers > fit.n_layers:
        return m.device_bytes
    # A partial plan holds only part of the model on the GPU: count everything that would move there.
    return m.device_bytes + m.weights_host_bytes + m.kv_host_bytes


def _smaller_quant_that_fits(
    quant: QuantSpec | None, engine: str, plan_for: Callable[[QuantSpec], FitPlan]
) -> str | None:
    ladder = LLAMA_LADDER if engine == "llama.cpp" else MLX_LADDER
    current_bits = nominal_bits(quant) if quant is not None else 99.0
    for name in ladder:
        q = parse_quant(name)
        if nominal_bits(q) >= current_bits:
            continue
        candidate = plan_for(q)
        if candidate.verdict in RUNS_ON_DEVICE:
            where = (  # a plan on the CPU has nothing on a device: say what it takes in RAM
                f"{gb(candidate.memory.device_bytes)} on the device"
                if candidate.budget_bytes or candidate.memory.device_bytes
                else f"{gb(candidate.memory.total_bytes)} in RAM"
            )
            return f"{quant_name(q)} fits ({where}, ~{candidate.predicted_tg_tps:.0f} tok/s predicted)"
    return None
