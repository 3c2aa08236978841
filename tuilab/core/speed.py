"""Speed prediction: the memory wall for generation, compute for prompt processing.

Generating a token reads every active weight once, so time per token is a fixed per-layer cost plus the
bytes read on each device over that device's bandwidth, scaled by how close its kernels get to peak for
that weight type. Constants are fitted to measurements in docs/benchmarks/calibration.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from tuilab.core import apple_speed

# Fraction of peak memory bandwidth llama.cpp's CUDA kernels reach per weight type, fitted on an H100
# (docs/benchmarks/calibration.md: F16 0.876, Q8_0 0.71, Q4_K_M 0.50).
CUDA_EFFICIENCY: Mapping[str, float] = {"F16": 0.876, "BF16": 0.876, "F32": 0.876, "Q8_0": 0.71}
CUDA_DEFAULT_EFFICIENCY = 0.50
CUDA_PER_LAYER_S = 31e-6  # 1.0 ms for 32 layers, same fit
# Metal (llama.cpp on a Mac): per chip generation and tier, from the chip's name (core.apple_speed;
# calibration.md, "llama.cpp Metal per chip generation"). A chip of unknown generation keeps the 2023 fit.
METAL_EFFICIENCY = apple_speed.UNKNOWN_CHIP.efficiency
METAL_PER_LAYER_S = apple_speed.UNKNOWN_CHIP.per_layer_s
# MLX (mlx-lm) on Apple Silicon, fitted on its own: least squares over four public MLX decode measurements
# on M2 Ultra, M3 Ultra, M3 Max and M3 Pro (docs/benchmarks/calibration.md, "MLX generation"); residuals
# within 11%, against -25% to +1% with the Metal constants above, which MLX's kernels outrun. An M1 has its
# own, slower constants (core.apple_speed.mlx_constants).
MLX_EFFICIENCY = apple_speed.MLX_FIT.efficiency
MLX_PER_LAYER_S = apple_speed.MLX_FIT.per_layer_s
# CPU: share of the host's memory bandwidth a multi-threaded llama.cpp decode loop reaches, against the
# copy bandwidth `tuilab hw --measure` reads (STREAM convention). On the 2-core dev VM (41 GB/s measured)
# a shape-true Llama-3.2-1B read 40.8 GB/s at F16, 37.9 at Q8_0, 36.2 at Q4_K_M and 36.7 at Q4_0; on
# an H100 host (80.8 GB/s measured, 16 threads) the 12 CPU layers of a partial F16 offload read 81
# (docs/benchmarks/calibration.md). Decode is memory-bound on both: no compute term is needed.
CPU_EFFICIENCY: Mapping[str, float] = {"F16": 1.0, "BF16": 1.0, "F32": 1.0, "Q8_0": 0.92}
CPU_DEFAULT_EFFICIENCY = 0.88
# A datasheet peak (a profile's or the DDR4-3200 default) is not what a copy reaches: the dev VM's
# measured 41 GB/s is 0.80 of the 51.2 GB/s default it would otherwise be planned with.
CPU_DATASHEET_FACTOR = 0.80
CPU_PER_LAYER_S = 20e-6  # thread sync per layer; unmeasured default
# MLX off Apple silicon runs on its CPU backend ("mlx-cpu"), which is far from memory-bound: on the 2-core
# dev VM the tiny model (2 layers, 2.9 MB at F16) took 2.6 ms a token at F16 and 35.8 ms at 4 bits
# (docs/benchmarks.md, engine overhead table; docs/benchmarks/calibration.md, "MLX on the Linux CPU").
# F16 is nearly all fixed cost: (2.6 ms - 2.9 MB / 41 GB/s) / 2 layers = 1.27 ms a layer. Quantized weights
# go through a dequantizing kernel at 0.82 MB / (35.8 - 2.5 ms) = 0.025 GB/s, a compute rate (not a share of
# the bus); float weights read as llama.cpp's CPU path does. One model size: the split of the fixed cost
# between layers and the token is not measured, nor a second CPU.
MLX_CPU_PER_LAYER_S = 1.27e-3
MLX_CPU_QUANT_GBPS = 0.025
_MLX_FLOAT_TYPES = frozenset({"fp16", "bf16", "fp32", "f16", "f32", "float16", "bfloat16", "float32"})
# Prompt processing: fraction of a dense tensor-core peak llama.cpp reaches on 512-token batches. Quantized
# weights run on INT8 tensor cores (MMQ), float weights on FP16 ones (cuBLAS); both against the profile's
# datasheet rate. Every point is in docs/benchmarks/calibration.md ("Prompt processing"):
# Ada: RTX 4090 Llama-3-8B Q4_0 pp512 10359 tok/s (llama.cpp PR #7676) -> 0.25 of 660.6 INT8 TOPS, and
# Q4_K_S pp2048 11032 tok/s (PR #8416) -> 0.28; mean 0.265. Ampere: RTX 3090 Q6_K pp2048 3491 tok/s
# (PR #7860) -> 0.20 of 284 INT8 TOPS. Other NVIDIA architectures have no cited point: the Ampere value.
# Metal: M2 Ultra F16 pp512 1401 tok/s for a 6.7B model is 18.9 of 27.2 TFLOPS (discussion #4167).
# CPU: unmeasured default.
PP_ARCH_EFFICIENCY: Mapping[str, float] = {"ampere": 0.20, "ada": 0.265}
# An architecture without a fitted point (Turing, Hopper, Blackwell) takes the lowest fitted figure, so its
# prompt rate errs slow: held out, an RTX 5090 row is planned 26% under (docs/benchmarks/calibration.md).
# MLX takes Metal's figure: no public MLX prompt measurement was fitted yet.
PP_EFFICIENCY: Mapping[str, float] = {
    "cuda": min(PP_ARCH_EFFICIENCY.values()), "metal": 0.69, "mlx": 0.69, "cpu": 0.30
}  # fmt: skip
# Attention over the filled context (flash attention, FP16 tensor cores): RTX 3090 Llama-3-8B Q4_0
# pp512@d32768 1448 tok/s (PR #17505) leaves 0.41 ms a token after the weights' 0.28 ms at the Ampere
# efficiency; 17.3 GFLOP of attention a token in that time is 0.30 of 142 FP16 TFLOPS.
ATTN_EFFICIENCY: Mapping[str, float] = {"cuda": 0.30, "metal": 0.69, "mlx": 0.69, "cpu": 0.30}
# llama.cpp's default physical batch (n_ubatch 512): a prompt chunk's tokens see on average half of it.
PP_CHUNK_TOKENS = 512
_FLOAT_TYPES = frozenset({"F16", "BF16", "F32"})
# A CPU core with AVX2 FMA does 32 fp32 FLOP per cycle at ~3 GHz: ~0.1 TFLOPS per core.
CPU_TFLOPS_PER_CORE = 0.1
# Partial offload on CUDA (llama.cpp op offload): an op whose weights stay in host RAM runs on the GPU when
# its batch has at least this many tokens (ggml/src/ggml-cuda/ggml-cuda.cu, ggml_backend_cuda_device_
# offload_op: 32 unless GGML_OP_OFFLOAD_MIN_BATCH says otherwise; on unless --no-op-offload, PR #13386). The
# scheduler then copies those weights to the GPU for every ubatch (PR #6083), and of expert tensors only the
# experts the ubatch routes to (PR #15346). Copy and compute run in turn on one stream, so their times add
# (ggml-backend.cpp ggml_backend_sched_compute_splits). Decode (one token) stays on the CPU.
OP_OFFLOAD_MIN_BATCH_TOKENS = 32
# Share of a PCIe link's one-way rate that a pinned host-to-device copy reaches: 24.66 GB/s measured on an
# RTX 4090 (PCIe 4.0 x16, 31.51 GB/s) copying 328 MB of pinned weights (efeslab/fiddler issue #7): 0.78.
# llama.cpp pins the model's host memory for these copies (PR #6083; its buffer logs as CUDA_Host).
PCIE_EFFICIENCY = 0.78
# A GPU whose link is unknown: PCIe 4.0 x16, 16 GT/s x 16 lanes x 128/130 / 8 = 31.51 GB/s one way (PCI-SIG).
DEFAULT_PCIE_GBPS = 31.51


@dataclass(frozen=True)
class HostCopy:
    """What llama.cpp's CUDA op offload moves for each prompt ubatch: the host-resident weights of the
    blocks (experts at the share a ubatch routes to) over the GPU's host link; the host blocks' compute then
    runs on that GPU."""

    link_gbps: float  # one way, before PCIE_EFFICIENCY
    dense_bytes: int
    expert_bytes: int
    expert_share: float  # n_experts_used / n_experts: the experts one token routes to
    flops_per_token: float  # the host blocks' matrix products, now run on the GPU
    attn_flops_per_token_per_depth: float = 0.0
    link_basis: str = ""
    # The host blocks' KV cache per token of context: their attention runs on the GPU too (the scheduler
    # gives FLASH_ATTN_EXT the GPU of the offloaded ops around it), so the cache's used part crosses as well.
    kv_bytes_per_token: float = 0.0

    def bytes_at(self, ubatch_tokens: int) -> float:
        """Bytes copied for one ubatch: every dense host weight, and the experts at least one of its tokens
        routes to (routing taken as uniform: 1 - (1 - share)^n of them)."""
        used = 1.0 - (1.0 - self.expert_share) ** max(ubatch_tokens, 0)
        return self.dense_bytes + used * self.expert_bytes

    def seconds_at(self, ubatch_tokens: int) -> float:
        return self.bytes_at(ubatch_tokens) / self._rate_bytes_per_s()

    def kv_seconds_per_token(self) -> float:
        """Copy time of the host blocks' KV for one token of context: a ubatch starting at depth d copies
        that of d + n tokens."""
        return self.kv_bytes_per_token / self._rate_bytes_per_s()

    def _rate_bytes_per_s(self) -> float:
        return self.link_gbps * 1e9 * PCIE_EFFICIENCY


@dataclass(frozen=True)
class DeviceTraffic:
    """Bytes one device reads per generated token, by weight type, with its bandwidth and class."""

    device_class: str  # "cuda", "metal" (llama.cpp on a Mac), "mlx", "cpu" or "mlx-cpu" (MLX's CPU backend)
    bandwidth_gbps: float
    weight_bytes_by_type: Mapping[str, int]
    kv_bytes_full_ctx: int
    n_layers: int
    tflops: float | None = None
    flops_per_token: float = 0.0
    bandwidth_measured: bool = False  # CPU: measured by `tuilab hw --measure`, not a datasheet figure
    int8_tops: float | None = None  # quantized weights' prompt rate on CUDA (MMQ); None: tflops
    compute_arch: str = ""
    attn_flops_per_token_per_depth: float = 0.0  # 4 x layers here x heads x head_dim
    chip: str = ""  # the GPU's name ("Apple M3 Max"): picks Metal's per-generation constants


@dataclass(frozen=True)
class SpeedPrediction:
    tg_tps: float  # generation at an almost empty context (what llama-bench tg128 measures)
    tg_tps_full_ctx: float  # generation with the whole context filled
    pp_tps: float
    basis: tuple[str, ...]
    # The depth model: seconds per token of generation, empty and with the whole context filled, and of
    # prompt processing: a fixed part (the weights) plus a part per token of depth (attention).
    tg_s_empty: float = 0.0
    tg_s_full: float = 0.0
    ctx_tokens: int = 0
    pp_s_per_token: float = 0.0
    pp_s_per_token_per_depth: float = 0.0
    # Partial offload on CUDA: the weights copied each ubatch (pp_s_per_token is then the GPU's compute
    # alone), and the rates of batches too small to be offloaded, whose host blocks run on the CPU.
    host_copy: HostCopy | None = None
    pp_s_per_token_small: float = 0.0
    pp_s_per_token_per_depth_small: float = 0.0

    def tg_tps_at(self, depth_tokens: int) -> float:
        """Generation rate with `depth_tokens` already in the context: the KV read grows linearly."""
        if not self.ctx_tokens:
            return self.tg_tps
        share = min(max(depth_tokens, 0), self.ctx_tokens) / self.ctx_tokens
        return _rate(self.tg_s_empty + share * (self.tg_s_full - self.tg_s_empty))

    def depth_at_tps(self, min_tps: float) -> int | None:
        """The deepest context at which generation still runs at `min_tps` or faster (the KV read grows
        linearly with depth); None when even an empty context is slower; -1 when depth never matters."""
        if min_tps <= 0:
            return -1
        budget_s = 1.0 / min_tps
        if self.tg_tps < min_tps or not self.ctx_tokens:
            return None if self.tg_tps < min_tps else -1
        per_token_s = (self.tg_s_full - self.tg_s_empty) / self.ctx_tokens
        if per_token_s <= 0:
            return -1
        return int((budget_s - self.tg_s_empty) / per_token_s)

    def pp_tps_at(
        self, depth_tokens: int, chunk_tokens: int = PP_CHUNK_TOKENS, ubatch_tokens: int = PP_CHUNK_TOKENS
    ) -> float:
        """Prompt rate of a `chunk_tokens` prompt after `depth_tokens` (llama-bench's pp512@d), run in
        ubatches of `ubatch_tokens` (llama.cpp -ub)."""
        mean_depth = max(depth_tokens, 0) + chunk_tokens / 2
        batch = max(1, min(chunk_tokens, ubatch_tokens))
        return _rate(self.prompt_s_per_token(batch) + mean_depth * self._depth_s_per_token(batch))

    def prompt_s_per_token(self, batch_tokens: int) -> float:
        """Seconds per prompt token in a batch of `batch_tokens`, before attention over the context: with
        host weights on CUDA, a large batch pays their copy to the GPU once, a small one runs the host
        blocks on the CPU. A token at mean depth D of a ubatch of n copies KV for D + n/2 tokens, over n."""
        if self.host_copy is None:
            return self.pp_s_per_token
        if batch_tokens < OP_OFFLOAD_MIN_BATCH_TOKENS:
            return self.pp_s_per_token_small
        copy = self.host_copy
        return (
            self.pp_s_per_token
            + copy.seconds_at(batch_tokens) / batch_tokens
            + copy.kv_seconds_per_token() / 2
        )

    def _depth_s_per_token(self, batch_tokens: int) -> float:
        if self.host_copy is None:
            return self.pp_s_per_token_per_depth
        if batch_tokens < OP_OFFLOAD_MIN_BATCH_TOKENS:
            return self.pp_s_per_token_per_depth_small
        return self.pp_s_per_token_per_depth + self.host_copy.kv_seconds_per_token() / batch_tokens

    def ttft_s(
        self, prompt_tokens: int, depth_tokens: int = 0, ubatch_tokens: int = PP_CHUNK_TOKENS
    ) -> float:
        """Seconds from sending a `prompt_tokens` prompt (after `depth_tokens` of history) to the first
        token: every prompt token's weights, ubatch by ubatch, its attention over all before it, then one
        decode step."""
        if self.pp_s_per_token in (0.0, float("inf")) or prompt_tokens < 1:
            return 0.0
        n, d = prompt_tokens, max(depth_tokens, 0)
        full, rest = divmod(n, ubatch_tokens)
        weights_s = full * ubatch_tokens * self.prompt_s_per_token(ubatch_tokens)
        weights_s += rest * self.prompt_s_per_token(rest) if rest else 0.0
        attention_token_depths = n * d + n * (n - 1) / 2
        tg = self.tg_s_empty if self.tg_s_empty > 0 else 0.0
        return weights_s + attention_token_depths * self._depth_s_per_token(min(n, ubatch_tokens)) + tg


def efficiency(device_class: str, type_name: str, bandwidth_measured: bool = False, chip: str = "") -> float:
    """Fraction of the device's bandwidth reached for this weight type (for "mlx-cpu" quantized weights,
    which are compute-bound, see `_weight_seconds`); Metal's depends on the chip's generation."""
    if device_class == "cuda":
        return CUDA_EFFICIENCY.get(type_name.upper(), CUDA_DEFAULT_EFFICIENCY)
    if device_class == "metal":
        return apple_speed.metal_constants(chip).efficiency
    if device_class == "mlx":
        return apple_speed.mlx_constants(chip).efficiency
    measured = CPU_EFFICIENCY.get(type_name.upper(), CPU_DEFAULT_EFFICIENCY)
    return measured if bandwidth_measured else measured * CPU_DATASHEET_FACTOR


def _per_layer_s(device_class: str, chip: str = "") -> float:
    if device_class == "metal":
        return apple_speed.metal_constants(chip).per_layer_s
    if device_class == "mlx":
        return apple_speed.mlx_constants(chip).per_layer_s
    per_layer = {
        "cuda": CUDA_PER_LAYER_S,
        "mlx-cpu": MLX_CPU_PER_LAYER_S,
    }
    return per_layer.get(device_class, CPU_PER_LAYER_S)


def mlx_cpu_quantized(device_class: str, type_name: str) -> bool:
    """Weights MLX's CPU backend dequantizes in a compute-bound kernel (every non-float MLX type)."""
    return device_class == "mlx-cpu" and type_name.lower() not in _MLX_FLOAT_TYPES


def _weight_seconds(d: DeviceTraffic, type_name: str, n_bytes: int) -> float:
    if mlx_cpu_quantized(d.device_class, type_name):
        return n_bytes / (MLX_CPU_QUANT_GBPS * 1e9)
    return n_bytes / (d.bandwidth_gbps * 1e9 * _efficiency_of(d, type_name))


def _efficiency_of(d: DeviceTraffic, type_name: str) -> float:
    return efficiency(d.device_class, type_name, d.bandwidth_measured, d.chip)


def _device_seconds(d: DeviceTraffic, kv_share: float) -> float:
    if d.bandwidth_gbps <= 0:
        return float("inf")
    bw = d.bandwidth_gbps * 1e9
    t = d.n_layers * _per_layer_s(d.device_class, d.chip)
    for type_name, n_bytes in d.weight_bytes_by_type.items():
        t += _weight_seconds(d, type_name, n_bytes)
    return t + kv_share * d.kv_bytes_full_ctx / (bw * _efficiency_of(d, "F16"))


def predict(
    devices: tuple[DeviceTraffic, ...], ctx_tokens: int = 0, host_copy: HostCopy | None = None
) -> SpeedPrediction:
    """Tokens per second when each device in turn processes its share of every token. `host_copy`: the
    host weights llama.cpp's CUDA op offload copies to the first GPU for each large prompt batch."""
    active = tuple(d for d in devices if d.n_layers or sum(d.weight_bytes_by_type.values()))
    if not active:
        return SpeedPrediction(0.0, 0.0, 0.0, ("nothing to run",))
    t_empty = sum(_device_seconds(d, 0.0) for d in active)
    t_full = sum(_device_seconds(d, 1.0) for d in active)
    # Prompt speed is unknown (0.0) when a device has no FLOPS figure; better no number than a guess.
    t_pp = sum(_pp_seconds(d) for d in active)
    t_attn = sum(_attn_seconds_per_depth(d) for d in active)
    basis = tuple(_describe(d) for d in active)
    p = SpeedPrediction(_rate(t_empty), _rate(t_full), 0.0, basis, t_empty, t_full, ctx_tokens, t_pp, t_attn)
    if host_copy is not None:
        p = _with_op_offload(p, active, host_copy)
    return replace(p, pp_tps=p.pp_tps_at(0))  # a pp512 from an empty context


def _with_op_offload(
    p: SpeedPrediction, active: tuple[DeviceTraffic, ...], copy: HostCopy
) -> SpeedPrediction:
    """Large prompt batches run the host blocks on the first CUDA GPU after copying their weights there;
    the rates above stay those of batches too small to be offloaded (the host blocks on the CPU)."""
    gpu = next((d for d in active if d.device_class == "cuda"), None)
    host = next((d for d in active if d.device_class == "cpu"), None)
    if gpu is None or host is None:
        return p
    on_gpu = replace(
        gpu, weight_bytes_by_type=host.weight_bytes_by_type, flops_per_token=copy.flops_per_token,
        attn_flops_per_token_per_depth=copy.attn_flops_per_token_per_depth,
    )  # fmt: skip
    large = (*(d for d in active if d is not host), on_gpu)
    p = replace(
        p, pp_s_per_token=sum(_pp_seconds(d) for d in large), host_copy=copy,
        pp_s_per_token_per_depth=sum(_attn_seconds_per_depth(d) for d in large),
        pp_s_per_token_small=p.pp_s_per_token, pp_s_per_token_per_depth_small=p.pp_s_per_token_per_depth,
    )  # fmt: skip
    return replace(p, basis=(*p.basis, _describe_copy(copy, p)))


def pp_efficiency(d: DeviceTraffic) -> float:
    if d.device_class == "cuda":
        return PP_ARCH_EFFICIENCY.get(d.compute_arch, PP_EFFICIENCY["cuda"])
    return PP_EFFICIENCY.get(d.device_class, PP_EFFICIENCY["cpu"])


def _pp_rate_tflops(d: DeviceTraffic) -> float | None:
    """The peak the weights' matrix products run on: INT8 tensor cores for quantized weights on CUDA."""
    quantized = sum(n for t, n in d.weight_bytes_by_type.items() if t.upper() not in _FLOAT_TYPES)
    floats = sum(d.weight_bytes_by_type.values()) - quantized
    if d.device_class == "cuda" and d.int8_tops and quantized > floats:
        return d.int8_tops
    return d.tflops


def _pp_seconds(d: DeviceTraffic) -> float:
    peak = _pp_rate_tflops(d)
    if not peak:
        return float("inf")
    return d.flops_per_token / (peak * 1e12 * pp_efficiency(d))


def _attn_seconds_per_depth(d: DeviceTraffic) -> float:
    if not d.tflops:
        return 0.0
    return d.attn_flops_per_token_per_depth / (d.tflops * 1e12 * ATTN_EFFICIENCY.get(d.device_class, 0.3))


def _rate(seconds: float) -> float:
    return 0.0 if seconds <= 0 or seconds == float("inf") else 1.0 / seconds


def _describe(d: DeviceTraffic) -> str:
    gb = sum(d.weight_bytes_by_type.values()) / 1e9
    effs = sorted(
        f"{t} at {MLX_CPU_QUANT_GBPS} GB/s (dequantizing kernel)"
        if mlx_cpu_quantized(d.device_class, t)
        else f"{t} {_efficiency_of(d, t):.2f}"
        for t in d.weight_bytes_by_type
    )
    how = ""
    if d.device_class in ("cpu", "mlx-cpu"):
        how = (
            " (measured)"
            if d.bandwidth_measured
            else f" (a datasheet figure: x{CPU_DATASHEET_FACTOR} included)"
        )
    peak = _pp_rate_tflops(d)
    unit = "INT8 TOPS" if peak is not None and peak == d.int8_tops and peak != d.tflops else "FP16 TFLOPS"
    prompt = f"; prompt {peak:g} {unit} x {pp_efficiency(d):.3g}" if peak else ""
    return (
        f"{d.device_class}: {gb:.2f} GB of weights read per token over {d.bandwidth_gbps:g} GB/s{how}, "
        f"efficiency {', '.join(effs) or '-'}, {d.n_layers} layers x "
        f"{_per_layer_s(d.device_class, d.chip) * 1e6:.0f} us fixed{prompt}{_chip_basis(d)} "
        "(docs/benchmarks/calibration.md)"
    )


def _describe_copy(copy: HostCopy, p: SpeedPrediction) -> str:
    """The op-offload term of a partial plan, with the rate a larger -ub would give."""
    ub, prompt, ubatches = PP_CHUNK_TOKENS, 4096, (PP_CHUNK_TOKENS, 2048, 4096)
    rates = ", ".join(f"{p.pp_tps_at(0, prompt, n):.0f}" for n in ubatches)
    return (
        f"prompt batches of {OP_OFFLOAD_MIN_BATCH_TOKENS}+ tokens (smaller ones: the cpu rate above) run "
        f"the host blocks on the GPU: {copy.bytes_at(ub) / 1e9:.2f} GB of host weights copied per {ub}-token "
        f"ubatch over {copy.link_gbps:g} GB/s x {PCIE_EFFICIENCY} ({copy.link_basis}) = "
        f"{copy.seconds_at(ub):.2f} s; a {prompt}-token prompt at -ub {', '.join(map(str, ubatches))}: "
        f"{rates} tok/s (llama.cpp op offload; docs/benchmarks/calibration.md)"
    )


def _chip_basis(d: DeviceTraffic) -> str:
    """Which per-generation fit a plan used ("; M3 fit"), so a user can see why two Macs differ."""
    if d.device_class == "metal":
        return f"; {apple_speed.metal_constants(d.chip).basis}"
    return f"; {apple_speed.mlx_constants(d.chip).basis}" if d.device_class == "mlx" else ""
