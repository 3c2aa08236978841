"""Where llama.cpp puts each part of a model across GPUs and host RAM, and the memory of each place.

Two choices decide it: the layer split (which GPU holds each offloaded block, llama.cpp's
`split_mode = LAYER`, proportional to free memory or a `tensor_split`) and the expert offload (the
`ffn_*_exps` tensors of the first N blocks kept in host memory, `--n-cpu-moe N`). The memory of each term
per device comes from `tuilab.core.memory`'s sizing; this module only decides where each byte lives.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence
from dataclasses import dataclass

from tuilab.core.arch import ModelArch
from tuilab.core.memory import (
    CUDA_CONTEXT_BYTES,
    HOST_RUNTIME_BYTES,
    LLAMA_KV_PAD_TOKENS,
    LLAMA_N_UBATCH,
    METAL_CONTEXT_BYTES,
    OP_OFFLOAD_LAYER_COPIES,
    MemoryBreakdown,
    _llama_compute_bytes,
    kv_layer_bytes,
    pad_tokens,
)
from tuilab.core.quant import KVType, SizedTensor

# The expert tensors `--n-cpu-moe` moves: common/common.h LLM_FFN_EXPS_REGEX,
# "\.ffn_(up|down|gate|gate_up)_(ch|)exps" (ggml-org/llama.cpp 001d906a), matched per block as
# llm_ffn_block_regex builds it: "blk\.N" followed by that.
EXPERT_TENSOR_RE = re.compile(r"\.ffn_(up|down|gate|gate_up)_(ch|)exps")


def is_expert_tensor(name: str) -> bool:
    return EXPERT_TENSOR_RE.search(name) is not None


def cpu_moe_pattern(layer: int) -> str:
    """The override pattern llama.cpp's `--n-cpu-moe` adds for one block (common.h llm_ffn_block_regex)."""
    return rf"blk\.{layer}{EXPERT_TENSOR_RE.pattern}"


@dataclass(frozen=True)
class LlamaPlacement:
    """Where each block lives: a GPU index per block (None: host RAM), the output layer's GPU, and how many
    leading blocks keep their expert tensors in host memory."""

    layer_device: tuple[int | None, ...]
    output_device: int | None
    n_devices: int
    cpu_moe_layers: int = 0

    @property
    def gpu_layers(self) -> int:
        """llama.cpp's n_gpu_layers for this placement (n_layers + 1 also offloads the output)."""
        blocks = sum(d is not None for d in self.layer_device)
        return blocks + (self.output_device is not None)

    def blocks_on(self, device: int) -> int:
        return sum(d == device for d in self.layer_device)

    def where(self, tensor: SizedTensor, tied: bool) -> int | None:
        """The GPU a tensor's bytes live on, None for host memory."""
        if tensor.layer is not None:
            if tensor.layer < self.cpu_moe_layers and is_expert_tensor(tensor.name):
                return None
            return self.layer_device[tensor.layer]
        if tensor.name == "token_embd.weight":
            return None  # the input layer always stays in host memory (llama-model.cpp, dev_input)
        return self.output_device  # output.weight and output_norm move with the output layer


def normalized_split(weights: Sequence[float]) -> tuple[float, ...]:
    """Cumulative shares, as llama-model.cpp turns free memory (or a user's tensor_split) into `splits`."""
    total = sum(weights)
    if total <= 0:
        return tuple(float(i + 1) / len(weights) for i in range(len(weights)))
    running, out = 0.0, []
    for w in weights:
        running += w
        out.append(running / total)
    return tuple(out)


def layer_split(
    n_layers: int, gpu_layers: int, split: Sequence[float], cpu_moe_layers: int = 0
) -> LlamaPlacement:
    """llama-model.cpp load_tensors: the last `gpu_layers` blocks are offloaded (i_gpu_start), and offloaded
    block il goes to the device upper_bound(splits, (il - i_gpu_start) / act_gpu_layers) names; the output
    layer is index n_layers in the same rule."""
    n_dev = len(split)
    cumulative = normalized_split(split)
    start = max(n_layers - gpu_layers, 0)
    active = min(gpu_layers, n_layers + 1) if n_dev else 0

    def device_of(il: int) -> int | None:
        if il < start or il - start >= active:
            return None
        return min(bisect.bisect_right(cumulative, (il - start) / active), n_dev - 1)

    return LlamaPlacement(
        tuple(device_of(i) for i in range(n_layers)),
        device_of(n_layers),
        n_dev,
        min(cpu_moe_layers, n_layers),
    )


@dataclass(frozen=True)
class PlacedMemory:
    """The whole machine's breakdown (device terms summed over GPUs) and one breakdown per GPU."""

    total: MemoryBreakdown
    per_device: tuple[MemoryBreakdown, ...]


def llama_placed_memory(
    arch: ModelArch,
    weights: Sequence[SizedTensor],
    placement: LlamaPlacement,
    *,
    ctx_tokens: int,
    kv: KVType,
    backend: str,
    flash_attn: bool,
    n_ubatch: int = LLAMA_N_UBATCH,
) -> PlacedMemory:
    """Weights, KV cache, compute buffers and contexts on each GPU and on the host for this placement."""
    n_dev = placement.n_devices
    w_dev, w_host = [0] * n_dev, 0
    host_by_layer: dict[int, int] = {}
    for w in weights:
        where = placement.where(w, arch.tied_embeddings)
        if where is None:
            w_host += w.n_bytes
            if w.layer is not None:
                host_by_layer[w.layer] = host_by_layer.get(w.layer, 0) + w.n_bytes
        else:
            w_dev[where] += w.n_bytes
        if w.name == "token_embd.weight" and arch.tied_embeddings and placement.output_device is not None:
            w_dev[placement.output_device] += w.n_bytes  # a tied output is duplicated onto its device
    ctx = pad_tokens(ctx_tokens, LLAMA_KV_PAD_TOKENS)
    kv_dev, kv_host = [0] * n_dev, 0
    for i, d in enumerate(placement.layer_device):
        n = kv_layer_bytes(arch, i, ctx, kv, n_ubatch)
        if d is None:
            kv_host += n
        else:
            kv_dev[d] += n
    comp_dev, comp_host = _compute(arch, ctx, n_ubatch, flash_attn, placement, backend, host_by_layer)
    context = CUDA_CONTEXT_BYTES if backend == "cuda" else METAL_CONTEXT_BYTES
    used = [placement.blocks_on(d) > 0 or placement.output_device == d for d in range(n_dev)]
    per = tuple(
        MemoryBreakdown(w_dev[d], 0, kv_dev[d], 0, comp_dev[d], 0, context if used[d] else 0, 0)
        for d in range(n_dev)
    )
    total = MemoryBreakdown(
        sum(w_dev), w_host, sum(kv_dev), kv_host, sum(comp_dev), comp_host,
        sum(p.overhead_device_bytes for p in per), HOST_RUNTIME_BYTES,
    )  # fmt: skip
    return PlacedMemory(total, per)


def _compute(
    arch: ModelArch,
    ctx: int,
    n_ubatch: int,
    flash_attn: bool,
    placement: LlamaPlacement,
    backend: str,
    host_by_layer: dict[int, int],
) -> tuple[list[int], int]:
    """Compute buffers per GPU and on the host.

    Each GPU that holds blocks gets the full single-device estimate, logits stage included, even where
    only the last GPU computes logits: llama.cpp's per-device buffers under a layer split (and the extra
    input copies of pipeline parallelism) are not measured here, so the plan errs high. With weights left
    in host memory (whole blocks or experts), CUDA's op_offload stages host weights on the first GPU
    (memory.py OP_OFFLOAD_LAYER_COPIES, measured for whole blocks, assumed the same for expert tensors).
    """
    n_dev = placement.n_devices
    full = _llama_compute_bytes(arch, ctx, n_ubatch, flash_attn, with_logits=True)
    used = [placement.blocks_on(d) > 0 or placement.output_device == d for d in range(n_dev)]
    comp = [full if used[d] else 0 for d in range(n_dev)]
    if n_dev == 1 and used[0]:
        comp[0] = _llama_compute_bytes(arch, ctx, n_ubatch, flash_attn, placement.output_device == 0)
    if backend == "cuda" and host_by_layer and used and used[0]:
        comp[0] = max(comp[0], OP_OFFLOAD_LAYER_COPIES * max(host_by_layer.values()))
    if not any(used):
        return comp, full
    host = full if placement.output_device is None else 2 * n_ubatch * arch.hidden_size * 4
    if placement.output_device is not None and host_by_layer:
        # Host-resident experts run on the CPU backend too: it needs the FFN stage of one micro-batch.
        host = max(host, _llama_compute_bytes(arch, ctx, n_ubatch, True, with_logits=False))
    return comp, host
