"""Memory an engine needs for a model, term by term and device by device.

llama.cpp places weights per layer (the token embeddings stay in host memory, offloaded layers take
their weights and KV cache to the GPU, the output layer moves last), adds compute buffers sized by the
micro-batch and a backend context. MLX keeps everything in one unified pool. Constants cite
docs/benchmarks/calibration.md or the engine source they come from.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tuilab.core.arch import LayerKind, ModelArch
from tuilab.core.hardware import MIB
from tuilab.core.quant import GGML_TYPES, KVType, SizedTensor

# llama.cpp defaults: n_ubatch 512 (common/common.h, `n_ubatch = 512`); KV cells are padded to 256
# (llama-kv-cache.cpp, `get_padding`: 256 with flash attention, 32 without; we use 256 for both, the
# larger, so the plan never undercounts).
LLAMA_N_UBATCH = 512
LLAMA_KV_PAD_TOKENS = 256
# CUDA context and cuBLAS workspace on the device: 16.38 GB measured minus the planned weights, KV and
# compute buffer of a Llama-3-8B at ctx 4096 on an H100 (docs/benchmarks/calibration.md).
CUDA_CONTEXT_BYTES = 562_000_000
# Partial offload on CUDA: llama.cpp runs large-batch matmuls of host layers on the GPU (op_offload, on by
# default) and its scheduler stages the weights there. Measured on an H100: F16 Llama-3-8B with 22 of 32
# layers offloaded used 0.867 GB of GPU compute buffer, two host layers' weights (2 x 0.436 GB)
# (docs/benchmarks/cuda-nvidia-h100-80gb-hbm3.md).
OP_OFFLOAD_LAYER_COPIES = 2
# Metal keeps no comparable context; command buffers and pipeline state stay small. Unmeasured default.
METAL_CONTEXT_BYTES = 128 * MIB
# Host process: Python, the engine's runtime and its logits buffer. Measured on the dev box: the worker
# running the tiny demo peaked at 57 MB RSS; a shape-true Llama-3.2-1B F16 peaked 0.22 GB above its
# 2.47 GB file with its KV cache and compute buffer included (docs/benchmarks.md). 128 MiB covers it.
HOST_RUNTIME_BYTES = 128 * MIB
# mlx-lm prefills in chunks of 2048 tokens (generate.py, `prefill_step_size=2048`) and keeps bf16 logits
# and activations of one chunk alive.
MLX_PREFILL_STEP_TOKENS = 2048
MLX_KV_STEP_TOKENS = 256  # mlx_lm/models/cache.py KVCache.step


@dataclass(frozen=True)
class MemoryBreakdown:
    """Bytes per term on the accelerator ("device") and in host RAM."""

    weights_device_bytes: int
    weights_host_bytes: int
    kv_device_bytes: int
    kv_host_bytes: int
    compute_device_bytes: int
    compute_host_bytes: int
    overhead_device_bytes: int
    overhead_host_bytes: int

    @property
    def device_bytes(self) -> int:
        return (
            self.weights_device_bytes
            + self.kv_device_bytes
            + self.compute_device_bytes
            + self.overhead_device_bytes
        )

    @property
    def host_bytes(self) -> int:
        return (
            self.weights_host_bytes + self.kv_host_bytes + self.compute_host_bytes + self.overhead_host_bytes
        )

    @property
    def total_bytes(self) -> int:
        return self.device_bytes + self.host_bytes


def pad_tokens(ctx_tokens: int, pad: int) -> int:
    return -(-max(ctx_tokens, 1) // pad) * pad


def kv_layer_bytes(
    arch: ModelArch, layer: int, ctx_tokens: int, kv: KVType, n_ubatch: int, *, engine: str = "llama.cpp"
) -> int:
    """What one layer keeps for one sequence: K and V of the tokens it attends to, or its fixed state.

    Sliding-window and chunked layers keep the window plus one micro-batch: llama.cpp sizes that cache
    GGML_PAD(min(n_ctx, n_swa + n_ubatch), 256) (src/llama-kv-cache-iswa.cpp, quoted in
    ikawrakow/ik_llama.cpp#1607), for chunked attention with n_swa the chunk size; mlx-lm's
    RotatingKVCache and ChunkedKVCache (mlx_lm/models/cache.py) hold the window plus the prefill chunk it
    is processing. MLA layers cache their latent in K only; feed-forward-only layers keep nothing.
    Recurrent layers hold their state whatever
    the context."""
    state = 0
    if arch.layer_kind(layer) is LayerKind.NONE:
        return 0
    if arch.layer_kind(layer) is LayerKind.RECURRENT:
        state = recurrent_state_bytes(arch, engine)
        if not arch.parallel_attention:
            return state
    cells = ctx_tokens
    window = arch.window_tokens(layer)
    if window is not None:
        if engine == "llama.cpp":
            cells = min(ctx_tokens, pad_tokens(window + n_ubatch, LLAMA_KV_PAD_TOKENS))
        else:  # "The largest size is self.max_size + S - 1" (RotatingKVCache._update_concat)
            cells = min(ctx_tokens, window + max(n_ubatch - 1, 0))
    k_bytes = _kv_row_bytes(arch.k_elems_per_token * cells, kv)
    return state + k_bytes + _kv_row_bytes(arch.v_elems_per_token * cells, kv)


def _kv_row_bytes(n_elements: int, kv: KVType) -> int:
    if not n_elements:
        return 0
    ggml = GGML_TYPES.get(kv.name.upper())
    return ggml.tensor_bytes(n_elements) if ggml is not None else int(n_elements * kv.bits_per_element / 8)


# llama.cpp keeps recurrent states in F32 whatever the KV type (`GGML_TYPE_F32` for type_r and type_s where
# src/llama-model.cpp creates llama_memory_recurrent and llama_memory_hybrid), one row per sequence.
LLAMA_STATE_BYTES_PER_ELEMENT = 4
# mlx-lm keeps the convolution state in the activations' dtype (bf16) and the SSM / delta-net state in
# float32 (mlx_lm/models/gated_delta.py and ssm.py create it with dtype=mx.float32).
MLX_CONV_STATE_BYTES_PER_ELEMENT = 2
MLX_SSM_STATE_BYTES_PER_ELEMENT = 4


def recurrent_state_bytes(arch: ModelArch, engine: str = "llama.cpp") -> int:
    """The fixed state of one recurrent layer for one sequence: n_embd_r() + n_embd_s() elements
    (src/llama-memory-recurrent.cpp allocates r_l and s_l of those widths, one row per sequence)."""
    r = arch.recurrent
    if r is None:
        return 0
    if engine == "mlx":
        return (
            r.conv_elems * MLX_CONV_STATE_BYTES_PER_ELEMENT + r.state_elems * MLX_SSM_STATE_BYTES_PER_ELEMENT
        )
    return (r.conv_elems + r.state_elems) * LLAMA_STATE_BYTES_PER_ELEMENT


def describe_kv(arch: ModelArch, kv_type_name: str, ctx_tokens: int) -> str:
    """The KV plan in words: how many layers of each kind, their widths and windows."""
    counts = arch.layer_kind_counts()
    unknown = ""
    if not arch.known_family:
        unknown = f" (unknown architecture {arch.family}: KV planned as full attention on every layer)"
    if counts == {LayerKind.FULL: arch.n_layers} and not arch.is_mla:
        return f"{kv_type_name}, {ctx_tokens} tokens, {arch.n_layers} layers x {arch.kv_dim} wide{unknown}"
    parts = []
    width = f"{arch.k_elems_per_token}-wide MLA latent" if arch.is_mla else f"{arch.kv_dim} wide"
    for kind, what in (
        (LayerKind.FULL, f"full attention, {width}"),
        (LayerKind.SLIDING, f"sliding window of {arch.sliding_window}, {width}"),
        (LayerKind.CHUNKED, f"chunked attention of {arch.chunk_tokens}, {width}"),
    ):
        if counts.get(kind):
            parts.append(f"{counts[kind]} layers {what}")
    if counts.get(LayerKind.RECURRENT) and arch.recurrent is not None:
        r = arch.recurrent
        alongside = f", alongside full attention {width}" if arch.parallel_attention else ""
        parts.append(
            f"{counts[LayerKind.RECURRENT]} {r.kind} layers with a fixed state of "
            f"{r.conv_elems + r.state_elems} elements each{alongside}"
        )
    if counts.get(LayerKind.NONE):
        parts.append(f"{counts[LayerKind.NONE]} feed-forward-only layers with no cache")
    return f"{kv_type_name}, {ctx_tokens} tokens: " + "; ".join(parts) + unknown


def llama_gpu_layer_range(n_layers: int, gpu_layers: int) -> range:
    """llama.cpp offloads the last `gpu_layers` blocks (llama-model.cpp, i_gpu_start)."""
    return range(max(0, n_layers - gpu_layers), n_layers)


def llama_cpp_memory(
    arch: ModelArch,
    weights: Sequence[SizedTensor],
    *,
    ctx_tokens: int,
    kv: KVType,
    gpu_layers: int,
    backend: str,
    flash_attn: bool,
    n_ubatch: int = LLAMA_N_UBATCH,
) -> MemoryBreakdown:
    """llama.cpp's placement with `gpu_layers` offloaded (n_layers + 1 also offloads the output)."""
    n = arch.n_layers
    on_gpu = set(llama_gpu_layer_range(n, gpu_layers)) if backend != "cpu" else set()
    output_on_gpu = backend != "cpu" and gpu_layers > n
    w_dev, w_host = _place_weights(weights, on_gpu, output_on_gpu, arch.tied_embeddings)
    ctx = pad_tokens(ctx_tokens, LLAMA_KV_PAD_TOKENS)
    kv_dev = sum(kv_layer_bytes(arch, i, ctx, kv, n_ubatch) for i in on_gpu)
    kv_host = sum(kv_layer_bytes(arch, i, ctx, kv, n_ubatch) for i in range(n) if i not in on_gpu)
    full_stage = _llama_compute_bytes(arch, ctx, n_ubatch, flash_attn, with_logits=True)
    if not on_gpu and not output_on_gpu:
        comp_dev, comp_host = 0, full_stage
    else:
        comp_dev = _llama_compute_bytes(arch, ctx, n_ubatch, flash_attn, with_logits=output_on_gpu)
        if backend == "cuda" and len(on_gpu) < n:
            comp_dev = max(comp_dev, OP_OFFLOAD_LAYER_COPIES * _largest_layer_bytes(weights, on_gpu))
        # With the output offloaded, the host only stages the input embeddings (2 x n_ubatch x n_embd f32,
        # the 16 MiB "CUDA_Host compute buffer" llama.cpp prints for Llama-3-8B).
        comp_host = 2 * n_ubatch * arch.hidden_size * 4 if output_on_gpu else full_stage
    overhead_dev = 0
    if on_gpu or output_on_gpu:
        overhead_dev = CUDA_CONTEXT_BYTES if backend == "cuda" else METAL_CONTEXT_BYTES
    return MemoryBreakdown(
        w_dev, w_host, kv_dev, kv_host, comp_dev, comp_host, overhead_dev, HOST_RUNTIME_BYTES
    )


def _largest_layer_bytes(weights: Sequence[SizedTensor], on_gpu: set[int]) -> int:
    """Weight bytes of the largest block left in host memory."""
    per_layer: dict[int, int] = {}
    for w in weights:
        if w.layer is not None and w.layer not in on_gpu:
            per_layer[w.layer] = per_layer.get(w.layer, 0) + w.n_bytes
    return max(per_layer.values(), default=0)


def _place_weights(
    weights: Sequence[SizedTensor], on_gpu: set[int], output_on_gpu: bool, tied: bool
) -> tuple[int, int]:
    dev = host = 0
    for w in weights:
        if w.layer is not None:
            gpu = w.layer in on_gpu
        elif w.name == "token_embd.weight":
            gpu = False  # the input layer always lives in host memory (llama-model.cpp, dev_input)
            if tied and output_on_gpu:
                dev += w.n_bytes  # tied output: llama.cpp loads a duplicate onto the output's device
        else:
            gpu = output_on_gpu  # output.weight and output_norm move with the output layer
        if gpu:
            dev += w.n_bytes
        else:
            host += w.n_bytes
    return dev, host


def _llama_compute_bytes(
    arch: ModelArch, ctx: int, n_ubatch: int, flash_attn: bool, with_logits: bool
) -> int:
    """Peak of llama.cpp's graph allocator: it reuses memory across stages, so the largest stage wins.

    Logits stage: n_ubatch x (n_vocab + n_embd) f32 (258.5 MiB for Llama-3-8B, as llama.cpp prints).
    Layer stage: FFN activations. Without flash attention the KQ matrix (n_kv x n_ubatch x n_head f32)
    plus a few n_embd-wide tensors (560 MiB for Llama-3-8B at 8k without FA).
    """
    ffn = arch.expert_ffn_size * max(1, arch.n_experts_used) if arch.is_moe else arch.ffn_size
    layer_stage = n_ubatch * 4 * (2 * ffn + arch.hidden_size)
    logits_stage = n_ubatch * 4 * (arch.vocab_size + arch.hidden_size) if with_logits else 0
    attn_stage = 0
    if not flash_attn:
        attn_stage = ctx * n_ubatch * arch.n_heads * 4 + 6 * n_ubatch * arch.hidden_size * 4
    return max(layer_stage, logits_stage, attn_stage)


def mlx_memory(
    arch: ModelArch, weights: Sequence[SizedTensor], *, ctx_tokens: int, kv: KVType
) -> MemoryBreakdown:
    """MLX: weights, KV cache and working memory all in the unified (wired) pool."""
    ctx = pad_tokens(ctx_tokens, MLX_KV_STEP_TOKENS)
    step = MLX_PREFILL_STEP_TOKENS
    kv_total = sum(kv_layer_bytes(arch, i, ctx, kv, step, engine="mlx") for i in range(arch.n_layers))
    chunk = min(ctx, MLX_PREFILL_STEP_TOKENS)
    ffn = arch.expert_ffn_size * max(1, arch.n_experts_used) if arch.is_moe else arch.ffn_size
    # bf16 logits of the chunk, and its widest activations (gate and up of the FFN) in bf16.
    working = chunk * 2 * (arch.vocab_size + 2 * ffn + 2 * arch.hidden_size)
    weights_total = sum(w.n_bytes for w in weights)
    return MemoryBreakdown(weights_total, 0, kv_total, 0, working, 0, METAL_CONTEXT_BYTES, HOST_RUNTIME_BYTES)
