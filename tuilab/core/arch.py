"""Model architecture as the memory plan needs it: shapes, layers, attention and experts.

A `ModelArch` lists its tensors in GGUF naming (`blk.3.attn_q.weight`) with shapes in ggml order
(ne0, the row length, first), either read exactly from a GGUF header or derived from config values,
so quantization rules and placement work the same way for profiles, config.json and GGUF files.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

_BLOCK_RE = re.compile(r"^blk\.(\d+)\.")


@dataclass(frozen=True)
class TensorInfo:
    """One weight tensor. `shape` is in ggml order: shape[0] is the row length."""

    name: str
    shape: tuple[int, ...]
    ggml_type: str | None = None  # exact storage type when read from a GGUF file
    n_bytes: int | None = None  # exact bytes when read from a GGUF file

    @property
    def n_elements(self) -> int:
        return math.prod(self.shape)

    @property
    def layer(self) -> int | None:
        """The block index for `blk.N.*` tensors, None for embeddings, output and norms."""
        m = _BLOCK_RE.match(self.name)
        return int(m.group(1)) if m else None

    @property
    def is_matrix(self) -> bool:
        return len(self.shape) >= 2


@dataclass(frozen=True)
class ModelArch:
    """Architecture facts of one model; `tensors` is filled by `with_tensors` or `llama_tensors`."""

    name: str
    family: str  # llama, qwen2, gemma2, phi3, mixtral, qwen3moe, bitnet, ...
    n_layers: int
    hidden_size: int
    n_heads: int
    n_kv_heads: int
    head_dim: int
    ffn_size: int
    vocab_size: int
    tied_embeddings: bool = False
    n_experts: int = 0
    n_experts_used: int = 0
    expert_ffn_size: int = 0
    shared_expert_ffn_size: int = 0  # an always-on expert beside the routed ones (Qwen2-MoE), 0: none
    sliding_window: int | None = None
    swa_layers: frozenset[int] = frozenset()
    attn_bias: bool = False
    qk_norm: bool = False
    fused_qkv: bool = False
    fused_gate_up: bool = False
    extra_norms_per_layer: int = 0
    max_ctx_tokens: int = 8192
    file_type: str | None = None  # the llama.cpp file type a GGUF declares (general.file_type), e.g. Q4_K_M
    sources: Mapping[str, str] = field(default_factory=dict)
    tensors: tuple[TensorInfo, ...] = ()

    def __post_init__(self) -> None:
        if not self.tensors:
            object.__setattr__(self, "tensors", llama_tensors(self))

    @property
    def is_moe(self) -> bool:
        return self.n_experts > 0

    @property
    def n_params(self) -> int:
        return sum(t.n_elements for t in self.tensors)

    @property
    def n_active_params(self) -> int:
        """Parameters read per token: all but the unused experts and all but one embedding row."""
        total = 0
        for t in self.tensors:
            if t.name == "token_embd.weight":
                total += t.shape[0]
            elif "_exps." in t.name and self.n_experts:
                total += t.n_elements * self.n_experts_used // self.n_experts
            else:
                total += t.n_elements
        return total

    @property
    def kv_dim(self) -> int:
        """Width of one K (or V) row per token per layer."""
        return self.n_kv_heads * self.head_dim

    @property
    def gqa_ratio(self) -> int:
        return max(1, self.n_heads // max(1, self.n_kv_heads))

    def is_sliding(self, layer: int) -> bool:
        return self.sliding_window is not None and layer in self.swa_layers


def swa_layers_from_pattern(n_layers: int, pattern: int) -> frozenset[int]:
    """Sliding-window layers: pattern 0 makes every layer sliding; pattern N makes the last of every N
    layers global and the rest sliding (Gemma 2: N=2, Gemma 3: N=6, as llama.cpp's `n_swa_pattern`)."""
    if pattern <= 0:
        return frozenset(range(n_layers))
    return frozenset(i for i in range(n_layers) if (i + 1) % pattern != 0)


def llama_tensors(arch: ModelArch) -> tuple[TensorInfo, ...]:
    """The tensor list llama.cpp's converters write for a Llama-shaped decoder with these values."""
    h, q_dim, kv = arch.hidden_size, arch.n_heads * arch.head_dim, arch.kv_dim
    out = [TensorInfo("token_embd.weight", (h, arch.vocab_size))]
    for i in range(arch.n_layers):
        out.extend(_block_tensors(arch, i, h, q_dim, kv))
    out.append(TensorInfo("output_norm.weight", (h,)))
    if not arch.tied_embeddings:
        out.append(TensorInfo("output.weight", (h, arch.vocab_size)))
    return tuple(out)


def _block_tensors(arch: ModelArch, i: int, h: int, q_dim: int, kv: int) -> list[TensorInfo]:
    p = f"blk.{i}."
    ts = [TensorInfo(p + "attn_norm.weight", (h,)), TensorInfo(p + "ffn_norm.weight", (h,))]
    ts += [TensorInfo(f"{p}extra_norm_{k}.weight", (h,)) for k in range(arch.extra_norms_per_layer)]
    if arch.fused_qkv:
        ts.append(TensorInfo(p + "attn_qkv.weight", (h, q_dim + 2 * kv)))
    else:
        ts += [
            TensorInfo(p + "attn_q.weight", (h, q_dim)),
            TensorInfo(p + "attn_k.weight", (h, kv)),
            TensorInfo(p + "attn_v.weight", (h, kv)),
        ]
    if arch.attn_bias:
        ts += [TensorInfo(p + "attn_q.bias", (q_dim,)), TensorInfo(p + "attn_k.bias", (kv,))]
        ts.append(TensorInfo(p + "attn_v.bias", (kv,)))
    if arch.qk_norm:
        ts += [TensorInfo(p + "attn_q_norm.weight", (arch.head_dim,))]
        ts += [TensorInfo(p + "attn_k_norm.weight", (arch.head_dim,))]
    ts.append(TensorInfo(p + "attn_output.weight", (q_dim, h)))
    ts.extend(_ffn_tensors(arch, p, h))
    return ts


def _shared_expert_tensors(arch: ModelArch, p: str, h: int) -> list[TensorInfo]:
    """The shared expert every token passes through; Qwen2-MoE scales its output by a sigmoid gate, a
    1-D weight (ffn_gate_inp_shexp in llama.cpp's QWEN2MOE tensors)."""
    s = arch.shared_expert_ffn_size
    if not s:
        return []
    ts = [TensorInfo(p + "ffn_gate_inp_shexp.weight", (h,))] if arch.family == "qwen2moe" else []
    ts += [TensorInfo(p + "ffn_gate_shexp.weight", (h, s)), TensorInfo(p + "ffn_up_shexp.weight", (h, s))]
    ts.append(TensorInfo(p + "ffn_down_shexp.weight", (s, h)))
    return ts


def _ffn_tensors(arch: ModelArch, p: str, h: int) -> list[TensorInfo]:
    if arch.is_moe:
        f, e = arch.expert_ffn_size or arch.ffn_size, arch.n_experts
        routed = [
            TensorInfo(p + "ffn_gate_inp.weight", (h, e)),
            TensorInfo(p + "ffn_gate_exps.weight", (h, f, e)),
            TensorInfo(p + "ffn_up_exps.weight", (h, f, e)),
            TensorInfo(p + "ffn_down_exps.weight", (f, h, e)),
        ]
        return routed + _shared_expert_tensors(arch, p, h)
    f = arch.ffn_size
    if arch.fused_gate_up:
        return [TensorInfo(p + "ffn_up.weight", (h, 2 * f)), TensorInfo(p + "ffn_down.weight", (f, h))]
    return [
        TensorInfo(p + "ffn_gate.weight", (h, f)),
        TensorInfo(p + "ffn_up.weight", (h, f)),
        TensorInfo(p + "ffn_down.weight", (f, h)),
    ]
