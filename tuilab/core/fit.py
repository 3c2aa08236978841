"""The fit oracle: will this model, at this quant and context, fit this machine, and how fast will it run.

`plan()` is the only entry point the UI and CLI need: it returns a frozen `FitPlan` holding bytes per
term and per device, the verdict with its reason in words, advice, the GPU layer count, the largest
context that keeps the verdict, and predicted tokens/s with the basis of every number.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from tuilab.core import speed
from tuilab.core.advice import advise_plan
from tuilab.core.arch import ModelArch
from tuilab.core.errors import UnknownNameError, UsageError
from tuilab.core.hardware import MIB, HardwareSpec
from tuilab.core.memory import (
    MemoryBreakdown,
    describe_kv,
    llama_cpp_memory,
    llama_gpu_layer_range,
    mlx_memory,
)
from tuilab.core.plan_types import RUNS_ON_DEVICE, FitPlan, Request, Verdict, gb, pool_verdict
from tuilab.core.quant import QuantSpec, SizedTensor, kv_type, quant_engine, quant_name, weight_tensors

CTX_STEP_TOKENS = 256
# When only part of a model fits, leave this much of the GPU free: the per-device margin llama.cpp's own
# layer fitting keeps by default (llama_params_fit, `--fit-target`, 1024 MiB; tools/fit-params/README.md).
PARTIAL_MARGIN_BYTES = 1024 * MIB  # max_ctx is searched in llama.cpp's KV padding unit
ENGINES = ("llama.cpp", "mlx")


@dataclass(frozen=True)
class _Placement:
    memory: MemoryBreakdown
    verdict: Verdict
    gpu_layers: int
    reason: str
    budget_bytes: int


def plan(
    arch: ModelArch,
    quant: QuantSpec | None,
    hw: HardwareSpec,
    *,
    ctx_tokens: int,
    kv_type: str = "f16",
    engine: str | None = None,
    gpu_layers: int | None = None,
    flash_attn: bool = True,
    advise: bool = True,
) -> FitPlan:
    """The full plan: placement, verdict, max context, speed and (optionally) advice."""
    engine = engine or (quant_engine(quant) if quant is not None else "llama.cpp")
    if engine not in ENGINES:
        raise UnknownNameError("engine", engine, ENGINES)
    if ctx_tokens < 1:
        raise UsageError(f"context must be at least 1 token, got {ctx_tokens}")
    if quant is not None and quant_engine(quant) != engine:
        raise UsageError(
            f"{quant_name(quant)} is a {quant_engine(quant)} format; the {engine} engine cannot load it"
        )
    req = Request(ctx_tokens, kv_type, engine, gpu_layers, flash_attn)
    weights = weight_tensors(quant, arch)
    placed = _place(arch, weights, hw, req)
    max_ctx = _max_ctx(arch, weights, hw, req, placed.verdict)
    prediction = speed.predict(_traffic(arch, weights, hw, req, placed))
    fit = FitPlan(
        model=arch.name,
        quant=quant_name(quant) if quant is not None else arch.file_type or _file_quant_name(weights),
        engine=engine,
        hardware=hw.name,
        hardware_is_profile=hw.is_profile,
        ctx_tokens=ctx_tokens,
        kv_type=kv_type,
        memory=placed.memory,
        budget_bytes=placed.budget_bytes,
        host_budget_bytes=hw.host_budget_bytes,
        verdict=placed.verdict,
        reason=placed.reason,
        gpu_layers=placed.gpu_layers,
        n_layers=arch.n_layers,
        max_ctx=max_ctx,
        predicted_tg_tps=prediction.tg_tps,
        predicted_tg_tps_full_ctx=prediction.tg_tps_full_ctx,
        predicted_pp_tps=prediction.pp_tps,
        basis=_basis(arch, hw, req, prediction),
    )
    if advise and fit.verdict is not Verdict.FITS:
        return advise_plan(fit, arch, quant, hw, req, plan)
    return fit


def _file_quant_name(weights: tuple[SizedTensor, ...]) -> str:
    by_type: dict[str, int] = {}
    for w in weights:
        if w.layer is not None:
            by_type[w.type_name] = by_type.get(w.type_name, 0) + w.n_bytes
    return max(by_type, key=lambda k: by_type[k]) if by_type else "unknown"


def _device_class(hw: HardwareSpec) -> str:
    if not hw.gpus:
        return "cpu"
    return "metal" if hw.unified else hw.gpus[0].backend


def _place(arch: ModelArch, weights: tuple[SizedTensor, ...], hw: HardwareSpec, req: Request) -> _Placement:
    if req.engine == "mlx":
        return _place_mlx(arch, weights, hw, req)
    if not hw.gpus:
        return _place_llama(arch, weights, hw, req, 0)
    if req.gpu_layers is not None:
        return _place_llama(arch, weights, hw, req, min(req.gpu_layers, arch.n_layers + 1))
    full = _place_llama(arch, weights, hw, req, arch.n_layers + 1)
    if full.verdict is not Verdict.NO_FIT:
        return full

    # Device use grows with every layer offloaded, so bisect for the most layers that leave the margin
    # free; host use only shrinks with more layers, so if the host cannot hold the rest there, it cannot
    # with fewer either: that placement's no_fit names the real constraint.
    def spare_ok(layers: int) -> bool:
        placed = _place_llama(arch, weights, hw, req, layers)
        return placed.budget_bytes - placed.memory.device_bytes >= PARTIAL_MARGIN_BYTES

    lo, hi = 0, arch.n_layers  # spare_ok(0) holds (nothing offloaded); find the largest that holds
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if spare_ok(mid) else (lo, mid - 1)
    return _place_llama(arch, weights, hw, req, lo)


def _place_llama(
    arch: ModelArch, weights: tuple[SizedTensor, ...], hw: HardwareSpec, req: Request, layers: int
) -> _Placement:
    cls = _device_class(hw)
    kv = kv_type(req.kv_type)
    mem = llama_cpp_memory(
        arch,
        weights,
        ctx_tokens=req.ctx_tokens,
        kv=kv,
        gpu_layers=layers,
        backend=cls,
        flash_attn=req.flash_attn,
    )
    host_budget = hw.host_budget_bytes
    if cls == "cpu":
        return _verdict_on_one_pool(mem, host_budget, "RAM", 0)
    budget = hw.gpu_budget_bytes
    host_need = mem.total_bytes if hw.unified else mem.host_bytes
    where = _gpu_name(hw)
    if mem.device_bytes > budget:
        reason = f"{layers} GPU layers need {gb(mem.device_bytes)} on {where}, over its {gb(budget)} budget"
        return _Placement(mem, Verdict.NO_FIT, layers, reason, budget)
    if host_need > host_budget:
        reason = f"host memory needs {gb(host_need)}, over the {gb(host_budget)} available"
        return _Placement(mem, Verdict.NO_FIT, layers, reason, budget)
    if layers > arch.n_layers:
        return _verdict_on_one_pool(mem, budget, where, layers, device=True)
    if layers == 0:
        reason = f"not one layer fits on {where}; runs on the CPU from RAM ({gb(mem.host_bytes)})"
        return _Placement(mem, Verdict.CPU_ONLY, 0, reason, budget)
    reason = (
        f"only {layers} of {arch.n_layers} layers fit on {where} ({gb(mem.device_bytes)} of {gb(budget)}); "
        f"{gb(mem.weights_host_bytes)} of weights stay in system RAM, which is many times slower"
    )
    return _Placement(mem, Verdict.PARTIAL_OFFLOAD, layers, reason, budget)


def _verdict_on_one_pool(
    mem: MemoryBreakdown, budget: int, where: str, layers: int, device: bool = False
) -> _Placement:
    need = mem.device_bytes if device else mem.total_bytes
    headroom = budget - need
    verdict = pool_verdict(need, budget)
    if verdict is Verdict.NO_FIT:
        reason = f"needs {gb(need)}, over the {gb(budget)} {where} budget by {gb(-headroom)}"
        return _Placement(mem, Verdict.NO_FIT, layers, reason, budget if device else 0)
    on = f"all layers on {where}" if device else f"in {where} on the CPU"
    reason = f"{gb(need)} of {gb(budget)} {on}; {gb(headroom)} headroom"
    return _Placement(mem, verdict, layers, reason, budget if device else 0)


def _place_mlx(
    arch: ModelArch, weights: tuple[SizedTensor, ...], hw: HardwareSpec, req: Request
) -> _Placement:
    mem = mlx_memory(arch, weights, ctx_tokens=req.ctx_tokens, kv=kv_type(req.kv_type))
    if not hw.unified:
        # MLX off Apple Silicon runs on its CPU backend: everything lives in RAM.
        mem = MemoryBreakdown(
            0,
            mem.weights_device_bytes,
            0,
            mem.kv_device_bytes,
            0,
            mem.compute_device_bytes,
            0,
            mem.overhead_host_bytes,
        )
        return _verdict_on_one_pool(mem, hw.host_budget_bytes, "RAM", 0)
    budget = hw.gpu_budget_bytes
    placed = _verdict_on_one_pool(mem, budget, "the GPU wired limit", arch.n_layers + 1, device=True)
    if placed.verdict is Verdict.NO_FIT:
        reason = placed.reason + "; MLX cannot offload part of a model, so past the limit macOS swaps"
        return _Placement(mem, Verdict.NO_FIT, 0, reason, budget)
    return placed


def _gpu_name(hw: HardwareSpec) -> str:
    if hw.unified:
        return "the GPU (wired limit)"
    return hw.gpus[0].name if hw.gpus else "the GPU"


def _max_ctx(
    arch: ModelArch, weights: tuple[SizedTensor, ...], hw: HardwareSpec, req: Request, verdict: Verdict
) -> int:
    """Largest context (a multiple of 256, up to the trained context) whose verdict holds.

    For a plan that fits on the device, the largest context that still does; otherwise the largest that
    still runs at all (partial offload or CPU). 0 when not even 256 tokens run.
    """
    wanted = (
        RUNS_ON_DEVICE if verdict in RUNS_ON_DEVICE else tuple(v for v in Verdict if v is not Verdict.NO_FIT)
    )

    def ok(ctx: int) -> bool:
        return _place(arch, weights, hw, _with_ctx(req, ctx)).verdict in wanted

    top = arch.max_ctx_tokens
    if ok(top):
        return top
    lo, hi = 0, top // CTX_STEP_TOKENS  # ok(lo*step) assumed for lo=0; not ok(hi*step)
    if not ok(CTX_STEP_TOKENS):
        return 0
    lo = 1
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if ok(mid * CTX_STEP_TOKENS):
            lo = mid
        else:
            hi = mid
    return lo * CTX_STEP_TOKENS


def _with_ctx(req: Request, ctx: int) -> Request:
    return Request(ctx, req.kv_type, req.engine, req.gpu_layers, req.flash_attn)


def _traffic(
    arch: ModelArch, weights: tuple[SizedTensor, ...], hw: HardwareSpec, req: Request, placed: _Placement
) -> tuple[speed.DeviceTraffic, ...]:
    """Bytes each device reads per token, from where the plan put each layer."""
    cls = _device_class(hw)
    on_gpu: set[int] = set()
    output_on_gpu = False
    if req.engine == "mlx":
        on_gpu = set(range(arch.n_layers)) if hw.unified else set()
        output_on_gpu = hw.unified
    elif cls != "cpu":
        on_gpu = set(llama_gpu_layer_range(arch.n_layers, placed.gpu_layers))
        output_on_gpu = placed.gpu_layers > arch.n_layers
    dev, host = read_bytes_per_token(arch, weights, on_gpu, output_on_gpu)
    m = placed.memory
    flops = 2.0 * arch.n_active_params
    n_dev, n_host = len(on_gpu), arch.n_layers - len(on_gpu)
    devices = []
    if n_dev or output_on_gpu:
        g = hw.gpus[0]
        share = flops * max(n_dev, 1) / arch.n_layers
        # MLX on a Mac has its own kernels and its own calibration (core.speed.MLX_*)
        kind = ("mlx" if req.engine == "mlx" else "metal") if hw.unified else g.backend
        devices.append(
            speed.DeviceTraffic(kind, g.bandwidth_gbps, dev, m.kv_device_bytes, n_dev, g.fp16_tflops, share)
        )
    if n_host or host:
        cpu_tflops = hw.cpu_tflops or hw.cpu_cores * speed.CPU_TFLOPS_PER_CORE
        share = flops * n_host / arch.n_layers
        devices.append(
            speed.DeviceTraffic(
                "cpu",
                hw.ram_bandwidth_gbps,
                host,
                m.kv_host_bytes,
                n_host,
                cpu_tflops,
                share,
                bandwidth_measured=hw.ram_bandwidth_measured,
            )
        )
    return tuple(devices)


def read_bytes_per_token(
    arch: ModelArch, weights: tuple[SizedTensor, ...], on_gpu: set[int], output_on_gpu: bool
) -> tuple[dict[str, int], dict[str, int]]:
    """Weight bytes read per generated token on the GPU and on the host, by storage type.

    The token embedding contributes one row (nothing worth counting) unless tied to the output, which
    reads all of it; MoE expert tensors count at the fraction of experts used per token.
    """
    moe_share = arch.n_experts_used / arch.n_experts if arch.is_moe else 1.0
    dev: dict[str, int] = {}
    host: dict[str, int] = {}
    for w in weights:
        if w.name == "token_embd.weight":
            if not arch.tied_embeddings:
                continue
            on_dev = output_on_gpu
        else:
            on_dev = w.layer in on_gpu if w.layer is not None else output_on_gpu
        share = moe_share if "_exps." in w.name else 1.0
        bucket = dev if on_dev else host
        bucket[w.type_name] = bucket.get(w.type_name, 0) + int(w.n_bytes * share)
    return dev, host


def _basis(
    arch: ModelArch, hw: HardwareSpec, req: Request, prediction: speed.SpeedPrediction
) -> dict[str, str]:
    b: dict[str, str] = {
        "model": f"{arch.name}: {_model_origin(arch)}",
        "hardware": f"{hw.name} ({'profile' if hw.is_profile else 'this machine'})",
        "budget": _budget_basis(hw, req),
        "kv_cache": describe_kv(arch, req.kv_type, req.ctx_tokens),
        "speed": " | ".join(prediction.basis),
    }
    for key in (
        "ram_bytes",
        "ram_bandwidth_gbps",
        "gpu.memory_bytes",
        "gpu.bandwidth_gbps",
        "wired_limit_bytes",
    ):
        if key in hw.sources:
            b[f"hardware.{key}"] = hw.sources[key]
    return b


def _model_origin(arch: ModelArch) -> str:
    """Where the architecture came from: the GGUF file, the config.json (Hugging Face and MLX folders),
    else the source most of its values cite."""
    if "file" in arch.sources:
        return f"GGUF header of {arch.sources['file']}"
    if "config" in arch.sources:
        return f"config.json at {arch.sources['config']}"
    counts = Counter(arch.sources.values())
    return counts.most_common(1)[0][0] if counts else "given directly"


def _budget_basis(hw: HardwareSpec, req: Request) -> str:
    host = f"RAM available {gb(hw.ram_available_bytes)} less {gb(hw.os_reserve_bytes)} for the OS"
    if not hw.gpus:
        return host
    if hw.unified:
        wired = hw.wired_limit_bytes or hw.ram_bytes
        kind = "macOS default" if hw.wired_limit_is_default else "iogpu.wired_limit_mb"
        return f"min(GPU wired limit {gb(wired)} ({kind}), {host})"
    first = f"free VRAM on {hw.gpus[0].name}: {gb(hw.gpus[0].free_bytes)}"
    if len(hw.gpus) > 1:
        first += f" (GPU 0 of {len(hw.gpus)}: multi-GPU layer splits are not planned)"
    return f"{first}; {host}"


__all__ = ["FitPlan", "Request", "Verdict", "gb", "plan"]
