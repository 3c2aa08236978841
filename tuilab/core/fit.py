"""The fit oracle: will this model, at this quant and context, fit this machine, and how fast will it run.

`plan()` is the only entry point the UI and CLI need: it returns a frozen `FitPlan` holding bytes per
term and per device, the verdict with its reason in words, advice, the GPU layer count, the largest
context that keeps the verdict, and predicted tokens/s with the basis of every number.
"""

from __future__ import annotations

import dataclasses
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
    mlx_memory,
)
from tuilab.core.placement import LlamaPlacement, PlacedMemory, layer_split, llama_placed_memory
from tuilab.core.plan_types import (
    OFFLOAD_MODES,
    RUNS_ON_DEVICE,
    DevicePlan,
    FitPlan,
    Request,
    Verdict,
    gb,
    pool_verdict,
)
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
    layout: LlamaPlacement | None = None  # llama.cpp on discrete GPUs: where each block lives
    devices: tuple[DevicePlan, ...] = ()
    offload_mode: str = "layers"


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
    offload_mode: str | None = None,
    cpu_moe_layers: int | None = None,
    tensor_split: tuple[float, ...] | None = None,
) -> FitPlan:
    """The full plan: placement, verdict, max context, speed and (optionally) advice.

    `offload_mode` "layers" offloads whole blocks; "experts" keeps the expert tensors of the first
    `cpu_moe_layers` blocks in host RAM (chosen for the budget when None); None picks experts for a MoE
    model that does not fit whole, as llama.cpp's `--fit` does. `tensor_split` shares the layers over
    several GPUs (default: by free memory)."""
    engine = engine or (quant_engine(quant) if quant is not None else "llama.cpp")
    if engine not in ENGINES:
        raise UnknownNameError("engine", engine, ENGINES)
    if ctx_tokens < 1:
        raise UsageError(f"context must be at least 1 token, got {ctx_tokens}")
    if quant is not None and quant_engine(quant) != engine:
        raise UsageError(
            f"{quant_name(quant)} is a {quant_engine(quant)} format; the {engine} engine cannot load it"
        )
    _check_offload(arch, hw, offload_mode, cpu_moe_layers, tensor_split)
    if cpu_moe_layers is not None and offload_mode is None:
        offload_mode = "experts"
    req = Request(
        ctx_tokens, kv_type, engine, gpu_layers, flash_attn, offload_mode, cpu_moe_layers, tensor_split
    )
    weights = weight_tensors(quant, arch)
    placed = _place(arch, weights, hw, req)
    max_ctx = _max_ctx(arch, weights, hw, req, placed.verdict)
    prediction = speed.predict(
        _traffic(arch, weights, hw, req, placed), ctx_tokens, _host_copy(arch, weights, hw, req, placed)
    )
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
        predicted_ttft_s=prediction.ttft_s(ctx_tokens),
        basis=_basis(arch, hw, req, prediction, placed),
        speed_model=prediction,
        offload_mode=placed.offload_mode,
        cpu_moe_layers=placed.layout.cpu_moe_layers if placed.layout is not None else 0,
        devices=placed.devices or _one_device(hw, placed, arch.n_layers),
    )
    if advise:  # a plan that fits gets advice too where a better device waits (core.advice)
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


def _check_offload(
    arch: ModelArch,
    hw: HardwareSpec,
    mode: str | None,
    cpu_moe_layers: int | None,
    tensor_split: tuple[float, ...] | None,
) -> None:
    if mode is not None and mode not in OFFLOAD_MODES:
        raise UnknownNameError("offload mode", mode, OFFLOAD_MODES)
    if (mode == "experts" or cpu_moe_layers is not None) and not arch.is_moe:
        raise UsageError(f"{arch.name} has no experts: only whole layers can be offloaded")
    if cpu_moe_layers is not None and not 0 <= cpu_moe_layers <= arch.n_layers:
        raise UsageError(f"--cpu-moe must be between 0 and {arch.n_layers} layers, got {cpu_moe_layers}")
    if tensor_split is not None:
        if len(tensor_split) != len(hw.gpus):
            raise UsageError(f"--tensor-split has {len(tensor_split)} shares for {len(hw.gpus)} GPUs")
        if any(x < 0 for x in tensor_split) or sum(tensor_split) <= 0:
            raise UsageError("--tensor-split shares must be non-negative and not all zero")


def _place(arch: ModelArch, weights: tuple[SizedTensor, ...], hw: HardwareSpec, req: Request) -> _Placement:
    if req.engine == "mlx":
        return _place_mlx(arch, weights, hw, req)
    if not hw.gpus:
        return _place_llama(arch, weights, hw, req, 0)
    if not hw.unified:
        return _place_discrete(arch, weights, hw, req)
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


def _split_of(hw: HardwareSpec, req: Request) -> tuple[float, ...]:
    """llama.cpp's default split is by each GPU's free memory (llama-model.cpp load_tensors)."""
    return req.tensor_split or tuple(float(g.free_bytes) for g in hw.gpus)


def _place_discrete(
    arch: ModelArch, weights: tuple[SizedTensor, ...], hw: HardwareSpec, req: Request
) -> _Placement:
    """llama.cpp on one or more discrete GPUs: everything if it fits, else the experts of the first N
    blocks in host RAM (a MoE model, unless whole layers are asked for), else the most whole layers."""
    n = arch.n_layers
    split = _split_of(hw, req)
    if req.gpu_layers is not None and req.offload_mode != "experts":
        return _place_split(arch, weights, hw, req, layer_split(n, min(req.gpu_layers, n + 1), split))
    if req.cpu_moe_layers is not None:
        return _place_split(arch, weights, hw, req, layer_split(n, n + 1, split, req.cpu_moe_layers))
    full = _place_split(arch, weights, hw, req, layer_split(n, n + 1, split))
    if full.verdict is not Verdict.NO_FIT:
        return full
    if arch.is_moe and req.offload_mode != "layers":
        experts = _fit_experts(arch, weights, hw, req, split)
        if experts is not None or req.offload_mode == "experts":
            return experts or _place_split(arch, weights, hw, req, layer_split(n, n + 1, split, n))
    return _fit_layers(arch, weights, hw, req, split)


def _spare_ok(placed: _Placement) -> bool:
    """Every GPU keeps llama.cpp's fit margin free, and the host holds the rest."""
    if placed.verdict is Verdict.NO_FIT and "host memory" in placed.reason:
        return False
    return all(d.budget_bytes - d.device_bytes >= PARTIAL_MARGIN_BYTES for d in placed.devices)


def _fit_layers(
    arch: ModelArch,
    weights: tuple[SizedTensor, ...],
    hw: HardwareSpec,
    req: Request,
    split: tuple[float, ...],
) -> _Placement:
    """The most whole layers that leave the margin free on every GPU. Device use grows with every layer
    offloaded, so bisect; host use only shrinks with more layers, so if the host cannot hold the rest,
    fewer layers cannot help and that placement's no_fit names the real constraint."""

    def at(layers: int) -> _Placement:
        return _place_split(arch, weights, hw, req, layer_split(arch.n_layers, layers, split))

    lo, hi = 0, arch.n_layers  # at(0) holds (nothing offloaded); find the largest that holds
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if _spare_ok(at(mid)) else (lo, mid - 1)
    return at(lo)


def _fit_experts(
    arch: ModelArch,
    weights: tuple[SizedTensor, ...],
    hw: HardwareSpec,
    req: Request,
    split: tuple[float, ...],
) -> _Placement | None:
    """Every block on the GPUs with the experts of the first N in host RAM, N the fewest that leave
    llama.cpp's fit margin free (common/fit.cpp, common_params_fit_impl steps 3-4: dense parts of every
    layer on the devices first, then whole layers from the back while they fit, which leaves exactly the
    front layers' experts on the CPU). None when even all experts in RAM leave too little room."""

    def at(n_cpu: int) -> _Placement:
        layout = layer_split(arch.n_layers, arch.n_layers + 1, split, n_cpu)
        return _place_split(arch, weights, hw, req, layout)

    if not _spare_ok(at(arch.n_layers)):
        return None
    lo, hi = 0, arch.n_layers  # at(hi) holds; find the smallest that does
    while lo < hi:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if _spare_ok(at(mid)) else (mid + 1, hi)
    return at(lo)


def _place_split(
    arch: ModelArch, weights: tuple[SizedTensor, ...], hw: HardwareSpec, req: Request, layout: LlamaPlacement
) -> _Placement:
    placed = llama_placed_memory(
        arch, weights, layout, ctx_tokens=req.ctx_tokens, kv=kv_type(req.kv_type), backend=_device_class(hw),
        flash_attn=req.flash_attn,
    )  # fmt: skip
    devices = tuple(
        DevicePlan(
            g.name,
            m.device_bytes,
            g.free_bytes,
            layout.blocks_on(i),
            m.weights_device_bytes,
            m.kv_device_bytes,
            m.compute_device_bytes,
            m.overhead_device_bytes,
        )
        for i, (g, m) in enumerate(zip(hw.gpus, placed.per_device, strict=True))
    )
    verdict, reason = _split_verdict(arch, hw, layout, placed, devices)
    mode = "experts" if layout.cpu_moe_layers else "layers"
    budget = sum(d.budget_bytes for d in devices)
    return _Placement(placed.total, verdict, layout.gpu_layers, reason, budget, layout, devices, mode)


def _split_verdict(
    arch: ModelArch,
    hw: HardwareSpec,
    layout: LlamaPlacement,
    placed: PlacedMemory,
    devices: tuple[DevicePlan, ...],
) -> tuple[Verdict, str]:
    mem, layers = placed.total, layout.gpu_layers
    where, budget = _where(hw), sum(d.budget_bytes for d in devices)
    over = [d for d in devices if d.device_bytes > d.budget_bytes]
    if over:
        d = over[0]
        return Verdict.NO_FIT, (
            f"{_layers_words(arch, layout)} need {gb(d.device_bytes)} on {d.name}, over its "
            f"{gb(d.budget_bytes)} budget"
        )
    host_need = mem.total_bytes if hw.gpu_shares_ram else mem.host_bytes  # one pool: both count
    if host_need > hw.host_budget_bytes:
        return Verdict.NO_FIT, (
            f"host memory needs {gb(host_need)}, over the {gb(hw.host_budget_bytes)} available"
        )
    if layout.cpu_moe_layers:
        expert_bytes = mem.weights_host_bytes
        return Verdict.PARTIAL_OFFLOAD, (
            f"experts of the first {layout.cpu_moe_layers} of {arch.n_layers} layers stay in system RAM "
            f"({gb(expert_bytes)} of weights there), everything else on {where} ({gb(mem.device_bytes)} of "
            f"{gb(budget)}); a token reads only the {arch.n_experts_used} of {arch.n_experts} "
            f"experts it picks from RAM"
        )
    if layers > arch.n_layers:
        i_worst, worst = min(enumerate(devices), key=lambda x: x[1].headroom_bytes)
        verdict = pool_verdict(worst.device_bytes, worst.budget_bytes)
        if len(devices) == 1:
            return verdict, (
                f"{gb(mem.device_bytes)} of {gb(budget)} all layers on {where}; "
                f"{gb(worst.headroom_bytes)} headroom"
            )
        return verdict, (
            f"all layers split over {where}: {_per_device_words(devices)}; "
            f"{gb(worst.headroom_bytes)} headroom on the fullest (GPU {i_worst}, {worst.name})"
        )
    if layers == 0:
        return Verdict.CPU_ONLY, (
            f"not one layer fits on {where}; runs on the CPU from RAM ({gb(mem.host_bytes)})"
        )
    return Verdict.PARTIAL_OFFLOAD, (
        f"only {layers} of {arch.n_layers} layers fit on {where} ({gb(mem.device_bytes)} of "
        f"{gb(budget)}); {gb(mem.weights_host_bytes)} of weights stay in system RAM, which is "
        f"many times slower"
    )


def _layers_words(arch: ModelArch, layout: LlamaPlacement) -> str:
    if layout.cpu_moe_layers:
        return f"all layers with the experts of {layout.cpu_moe_layers} in RAM"
    return f"{layout.gpu_layers} GPU layers"


def _per_device_words(devices: tuple[DevicePlan, ...]) -> str:
    return ", ".join(
        f"{d.n_layers} on {d.name} ({gb(d.device_bytes)} of {gb(d.budget_bytes)})" for d in devices
    )


def _where(hw: HardwareSpec) -> str:
    if len(hw.gpus) > 1:
        return f"{len(hw.gpus)} GPUs"
    return _gpu_name(hw)


def _one_device(hw: HardwareSpec, placed: _Placement, n_layers: int) -> tuple[DevicePlan, ...]:
    """The single GPU of a Mac (Metal, unified) as a device entry; none for a CPU plan."""
    if not hw.gpus or placed.budget_bytes == 0:
        return ()
    m = placed.memory
    return (
        DevicePlan(
            hw.gpus[0].name, m.device_bytes, placed.budget_bytes, min(placed.gpu_layers, n_layers),
            m.weights_device_bytes, m.kv_device_bytes, m.compute_device_bytes, m.overhead_device_bytes,
        ),
    )  # fmt: skip


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
    return dataclasses.replace(req, ctx_tokens=ctx)


def _traffic(
    arch: ModelArch, weights: tuple[SizedTensor, ...], hw: HardwareSpec, req: Request, placed: _Placement
) -> tuple[speed.DeviceTraffic, ...]:
    """Bytes each device reads per token, from where the plan put each tensor. Several GPUs form a layer
    split pipeline: a token passes each in turn, so their times add up (speed.predict sums them)."""
    layout = placed.layout or _simple_layout(arch, hw, req, placed)
    by_place = read_bytes_per_token(arch, weights, layout)
    flops = 2.0 * arch.n_active_params
    # Each prompt token's scores and weighted sum over the tokens before it: 2 x 2 x head_dim per head.
    attn_per_layer = 4.0 * arch.n_heads * arch.head_dim
    devices = []
    for i in range(layout.n_devices):
        n_blocks = layout.blocks_on(i)
        if not n_blocks and layout.output_device != i:
            continue
        g = hw.gpus[i]
        # MLX on a Mac has its own kernels and its own calibration (core.speed.MLX_*)
        kind = ("mlx" if req.engine == "mlx" else "metal") if hw.unified else g.backend
        kv = placed.memory.kv_device_bytes if layout.n_devices == 1 else _kv_share(placed, n_blocks, arch)
        share = flops * max(n_blocks, 1) / arch.n_layers
        devices.append(
            speed.DeviceTraffic(
                kind, g.bandwidth_gbps, by_place.get(i, {}), kv, n_blocks, g.fp16_tflops, share,
                int8_tops=g.int8_tops, compute_arch=g.compute_arch,
                attn_flops_per_token_per_depth=attn_per_layer * n_blocks, chip=g.name,
            )
        )  # fmt: skip
    host = by_place.get(None, {})
    n_host = sum(d is None for d in layout.layer_device)
    # Each block with experts in RAM adds one CPU step per token (thread sync), as a whole CPU block does.
    n_cpu_steps = n_host + layout.cpu_moe_layers
    if n_cpu_steps or host:
        cpu_tflops = hw.cpu_tflops or hw.cpu_cores * speed.CPU_TFLOPS_PER_CORE
        share = 2.0 * sum(host.values()) if layout.cpu_moe_layers else flops * n_host / arch.n_layers
        # MLX off a Mac runs on its own CPU backend, not llama.cpp's: its own costs, and no prompt-speed
        # figure (none measured; unknown beats a guess several hundred times too fast).
        mlx_cpu = req.engine == "mlx" and not hw.unified
        devices.append(
            speed.DeviceTraffic(
                "mlx-cpu" if mlx_cpu else "cpu",
                hw.ram_bandwidth_gbps,
                host,
                placed.memory.kv_host_bytes,
                n_cpu_steps,
                None if mlx_cpu else cpu_tflops,
                share,
                bandwidth_measured=hw.ram_bandwidth_measured,
                attn_flops_per_token_per_depth=attn_per_layer * n_host,
            )
        )
    return tuple(devices)


def _host_copy(
    arch: ModelArch, weights: tuple[SizedTensor, ...], hw: HardwareSpec, req: Request, placed: _Placement
) -> speed.HostCopy | None:
    """The host-resident block weights llama.cpp's CUDA op offload copies to the first GPU for each large
    prompt ubatch (core.speed.OP_OFFLOAD_MIN_BATCH_TOKENS); None when nothing is copied. The output layer
    is left out: a prompt batch asks for one row of logits, too few to be offloaded."""
    if req.engine != "llama.cpp" or hw.unified or not hw.gpus or hw.gpus[0].backend != "cuda":
        return None
    layout = placed.layout or _simple_layout(arch, hw, req, placed)
    host = [w for w in weights if w.layer is not None and layout.where(w, arch.tied_embeddings) is None]
    if not host:
        return None
    expert_bytes = sum(w.n_bytes for w in host if "_exps." in w.name)
    n_host = sum(d is None for d in layout.layer_device)
    link_gbps, link_basis = _host_link(hw)
    return speed.HostCopy(
        link_gbps=link_gbps,
        dense_bytes=sum(w.n_bytes for w in host) - expert_bytes,
        expert_bytes=expert_bytes,
        expert_share=arch.n_experts_used / arch.n_experts if arch.is_moe else 1.0,
        flops_per_token=2.0 * arch.n_active_params * n_host / arch.n_layers,
        attn_flops_per_token_per_depth=4.0 * arch.n_heads * arch.head_dim * n_host,
        link_basis=link_basis,
        kv_bytes_per_token=placed.memory.kv_host_bytes / max(req.ctx_tokens, 1),
    )


def _host_link(hw: HardwareSpec) -> tuple[float, str]:
    """GB/s one way between host RAM and the first GPU, and where the figure came from."""
    g = hw.gpus[0]
    if hw.gpu_shares_ram:
        return hw.ram_bandwidth_gbps, "one memory pool: a copy runs at the RAM's rate"
    if g.pcie_gbps is not None:
        return g.pcie_gbps, "the GPU's PCIe link, see hardware.gpu.pcie_gbps"
    return speed.DEFAULT_PCIE_GBPS, "the GPU's PCIe link is unknown: 4.0 x16 assumed"


def _kv_share(placed: _Placement, n_blocks: int, arch: ModelArch) -> int:
    return placed.memory.kv_device_bytes * n_blocks // max(1, arch.n_layers)


def _simple_layout(arch: ModelArch, hw: HardwareSpec, req: Request, placed: _Placement) -> LlamaPlacement:
    """One pool: MLX or Metal (every block on the GPU, or MLX on a CPU), or llama.cpp without a GPU."""
    n = arch.n_layers
    if not hw.gpus or (req.engine == "mlx" and not hw.unified):
        return layer_split(n, 0, ())
    layers = n + 1 if req.engine == "mlx" else placed.gpu_layers
    return layer_split(n, layers, (1.0,))


def read_bytes_per_token(
    arch: ModelArch, weights: tuple[SizedTensor, ...], layout: LlamaPlacement
) -> dict[int | None, dict[str, int]]:
    """Weight bytes read per generated token on each GPU (by index) and the host (None), by storage type.

    The token embedding contributes one row (nothing worth counting) unless tied to the output, which
    reads all of it; MoE expert tensors count at the fraction of experts used per token.
    """
    moe_share = arch.n_experts_used / arch.n_experts if arch.is_moe else 1.0
    out: dict[int | None, dict[str, int]] = {}
    for w in weights:
        if w.name == "token_embd.weight":
            if not arch.tied_embeddings:
                continue
            where = layout.output_device
        else:
            where = layout.where(w, arch.tied_embeddings)
        share = moe_share if "_exps." in w.name else 1.0
        bucket = out.setdefault(where, {})
        bucket[w.type_name] = bucket.get(w.type_name, 0) + int(w.n_bytes * share)
    return out


def _basis(
    arch: ModelArch, hw: HardwareSpec, req: Request, prediction: speed.SpeedPrediction, placed: _Placement
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
    pcie = hw.sources.get("gpu.pcie_gbps") or hw.sources.get("gpu0.pcie_gbps")
    if prediction.host_copy is not None and pcie is not None:
        b["hardware.gpu.pcie_gbps"] = pcie
    if placed.layout is not None and placed.layout.n_devices > 1:
        b["split"] = _split_basis(hw, req)
    if placed.offload_mode == "experts":
        b["offload"] = (
            "experts (ffn_*_exps) of the first N layers in host RAM, as llama.cpp --n-cpu-moe N; N the "
            "fewest that leave 1 GiB free per GPU (common/fit.cpp); a token reads n_experts_used/n_experts "
            "of them"
        )
    return b


def _split_basis(hw: HardwareSpec, req: Request) -> str:
    how = "--tensor-split" if req.tensor_split else "free memory"
    shares = (
        ", ".join(f"{x:g}" for x in _split_of(hw, req))
        if req.tensor_split
        else ", ".join(gb(g.free_bytes) for g in hw.gpus)
    )
    return (
        f"llama.cpp layer split over {len(hw.gpus)} GPUs in proportion to {how} ({shares}); each GPU holds "
        "a CUDA context and a full-size compute buffer (per-device buffers unmeasured: planned high); a "
        "token passes the GPUs in turn, so their times add"
    )


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
    first = "; ".join(f"free VRAM on {g.name}: {gb(g.free_bytes)}" for g in hw.gpus)
    return f"{first}; {host}"


__all__ = ["FitPlan", "Request", "Verdict", "gb", "plan"]
