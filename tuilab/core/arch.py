"""Model architecture as the memory plan needs it: shapes, layers, attention and experts.

A `ModelArch` lists its tensors in GGUF naming (`blk.3.attn_q.weight`) with shapes in ggml order
(ne0, the row length, first), either read exactly from a GGUF header or derived from config values,
so quantization rules and placement work the same way for profiles, config.json and GGUF files. Each
layer has a kind (`LayerKind`): what it keeps per token (full, sliding or chunked attention, an MLA
latent) or per sequence (a recurrent state), as llama.cpp and mlx-lm store them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

_BLOCK_RE = re.compile(r"^blk\.(\d+)\.")


class LayerKind(StrEnum):
    """What a layer keeps between tokens."""

    FULL = "full"  # K and V of every token
    SLIDING = "sliding"  # K and V of the last `sliding_window` tokens
    CHUNKED = "chunked"  # K and V of the current `chunk_tokens` chunk (Llama 4)
    RECURRENT = "recurrent"  # a fixed state per sequence: SSM, linear attention or short convolution
    NONE = "none"  # nothing: a feed-forward-only block (Nemotron-H's MLP and MoE layers)


# The GGUF `general.architecture` names (src/llama-arch.cpp LLM_ARCH_NAMES) we plan from what we read:
# first those with layer kinds or MLA, then plain full-attention decoders (dense or MoE). Any other family
# is planned as full attention on every layer, and the plan says so.
KNOWN_FAMILIES = frozenset(
    {
        "gemma2", "gemma3", "cohere2", "gpt-oss", "llama4", "deepseek2", "qwen3next", "qwen35", "qwen35moe",
        "lfm2", "lfm2moe", "granitehybrid", "jamba", "mamba", "mamba2", "nemotron_h", "nemotron_h_moe",
        "falcon-h1", "deci",
        "llama", "mistral3", "qwen", "qwen2", "qwen2moe", "qwen2vl", "qwen3", "qwen3moe", "qwen3vl",
        "qwen3vlmoe", "gemma", "phi2", "phi3", "bitnet", "glm4", "glm4moe", "chatglm", "olmo", "olmo2",
        "olmoe", "smollm3", "granite", "granitemoe", "command-r", "falcon", "gptneox", "mpt", "stablelm",
        "internlm2", "baichuan", "ernie4_5", "ernie4_5-moe", "bailingmoe", "arcee", "seed_oss", "dots1",
        "hunyuan-moe", "minimax-m2",
    }
)  # fmt: skip


@dataclass(frozen=True)
class RecurrentShape:
    """The fixed per-sequence state of a recurrent layer, in llama.cpp's hparams terms
    (src/llama-hparams.cpp `n_embd_r()` / `n_embd_s()`).

    kind: "mamba" (Mamba 1, Jamba), "mamba2" (Granite 4, Nemotron-H), "gated_delta" (Qwen3-Next and
    Qwen3.5 linear attention: d_inner = value heads x value head dim, d_state = key head dim, n_group =
    key heads), "shortconv" (LFM2: d_conv is the conv cache length L, d_inner the hidden size).
    """

    kind: str
    d_conv: int
    d_inner: int
    d_state: int = 0
    n_group: int = 0
    n_heads: int = 0  # Mamba 2 heads, gated-delta value heads
    dt_rank: int = 0  # Mamba 1 time-step rank

    @property
    def conv_elems(self) -> int:
        """n_embd_r(): the convolution's last d_conv - 1 inputs (the first column is shifted out)."""
        if self.kind == "shortconv":
            return self.d_inner * (self.d_conv - 1)
        return max(self.d_conv - 1, 0) * (self.d_inner + 2 * self.n_group * self.d_state)

    @property
    def state_elems(self) -> int:
        """n_embd_s(): the SSM state, or the gated delta net's key x value matrix per value head."""
        return self.d_state * self.d_inner


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
    # Layer kinds besides full and sliding attention: chunked attention (Llama 4) and recurrent layers.
    chunk_tokens: int | None = None
    chunked_layers: frozenset[int] = frozenset()
    recurrent: RecurrentShape | None = None
    recurrent_layers: frozenset[int] = frozenset()
    parallel_attention: bool = False  # recurrent layers also attend to every token (Falcon-H1)
    # Single-block layers (Nemotron-H): a mixer (attention or recurrent) without a feed-forward, or a
    # feed-forward without a mixer, which keeps nothing between tokens. Each has its one pre-norm.
    mixer_only_layers: frozenset[int] = frozenset()
    ffn_only_layers: frozenset[int] = frozenset()
    gated_ffn: bool = True  # False: up and down projections only, no gate (Nemotron-H's squared ReLU)
    ffn_sizes: tuple[int, ...] = ()  # per-layer dense widths where they vary (Llama-Nemotron NAS), else ()
    # MLA (DeepSeek V2/V3, Kimi K2): llama.cpp and mlx-lm cache one latent of kv_lora_rank +
    # qk_rope_head_dim per token per layer; head_dim is then qk_nope_head_dim + qk_rope_head_dim.
    kv_lora_rank: int = 0
    q_lora_rank: int = 0
    qk_rope_head_dim: int = 0
    v_head_dim: int = 0  # value head width where it differs from head_dim (MLA), 0: head_dim
    attn_sinks: bool = False  # one learned sink logit per head (gpt-oss)
    attn_output_gate: bool = False  # q_proj also yields a per-head output gate (Qwen3-Next, Qwen3.5)
    # MoE layout: the first `n_dense_lead_layers` blocks are dense (DeepSeek, GLM-4.5 first_k_dense_replace)
    # and of the rest every `moe_layer_step`-th is MoE (Llama 4 interleave_moe_layer_step); dense blocks use
    # ffn_size, experts expert_ffn_size, the always-on shared expert(s) shared_expert_ffn_size in total.
    n_dense_lead_layers: int = 0
    moe_layer_step: int = 1
    expert_bias: bool = False  # biases on the router and the experts (gpt-oss)
    known_family: bool = True  # False: the family is not one we know; KV is planned as full attention
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
    def is_mla(self) -> bool:
        return self.kv_lora_rank > 0

    @property
    def k_elems_per_token(self) -> int:
        """Elements of K one attention layer caches per token: the MLA latent (kv_lora_rank +
        qk_rope_head_dim, one head) or n_kv_heads x head_dim."""
        return self.kv_lora_rank + self.qk_rope_head_dim if self.is_mla else self.kv_dim

    @property
    def v_elems_per_token(self) -> int:
        """Elements of V per token: none under MLA, whose V is a view of the latent in K (llama.cpp
        src/llama-kv-cache.cpp `has_v = !is_mla`; mlx_lm/models/deepseek_v3.py caches latent and k_pe)."""
        return 0 if self.is_mla else self.n_kv_heads * (self.v_head_dim or self.head_dim)

    def layer_kind(self, layer: int) -> LayerKind:
        if layer in self.ffn_only_layers:
            return LayerKind.NONE
        if layer in self.recurrent_layers:
            return LayerKind.RECURRENT
        if self.chunk_tokens is not None and layer in self.chunked_layers:
            return LayerKind.CHUNKED
        if self.is_sliding(layer):
            return LayerKind.SLIDING
        return LayerKind.FULL

    def window_tokens(self, layer: int) -> int | None:
        """Tokens a sliding or chunked layer attends to, None for full attention and recurrent layers."""
        kind = self.layer_kind(layer)
        if kind is LayerKind.SLIDING:
            return self.sliding_window
        return self.chunk_tokens if kind is LayerKind.CHUNKED else None

    def is_moe_layer(self, layer: int) -> bool:
        if not self.is_moe or layer < self.n_dense_lead_layers:
            return False
        return (layer + 1) % max(1, self.moe_layer_step) == 0

    def layer_kind_counts(self) -> dict[LayerKind, int]:
        counts: dict[LayerKind, int] = {}
        for i in range(self.n_layers):
            kind = self.layer_kind(i)
            counts[kind] = counts.get(kind, 0) + 1
        return counts

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
    has_mixer, has_ffn = i not in arch.ffn_only_layers, i not in arch.mixer_only_layers
    ts = [TensorInfo(p + "attn_norm.weight", (h,))]
    if has_mixer and has_ffn:
        ts.append(TensorInfo(p + "ffn_norm.weight", (h,)))
    ts += [TensorInfo(f"{p}extra_norm_{k}.weight", (h,)) for k in range(arch.extra_norms_per_layer)]
    attends = has_mixer
    if arch.layer_kind(i) is LayerKind.RECURRENT and arch.recurrent is not None:
        ts.extend(_recurrent_tensors(arch.recurrent, p, h))
        attends = arch.parallel_attention
    if attends:
        ts.extend(_mla_tensors(arch, p, h) if arch.is_mla else _attention_tensors(arch, p, h, q_dim, kv))
    if has_ffn:
        ts.extend(_ffn_tensors(arch, i, p, h))
    return ts


def _attention_tensors(arch: ModelArch, p: str, h: int, q_dim: int, kv: int) -> list[TensorInfo]:
    v_dim = arch.n_kv_heads * (arch.v_head_dim or arch.head_dim)
    if arch.fused_qkv:
        ts = [TensorInfo(p + "attn_qkv.weight", (h, q_dim + kv + v_dim))]
    else:
        # Qwen3-Next / Qwen3.5 full-attention layers project a sigmoid output gate with the queries
        q_width = 2 * q_dim if arch.attn_output_gate else q_dim
        ts = [
            TensorInfo(p + "attn_q.weight", (h, q_width)),
            TensorInfo(p + "attn_k.weight", (h, kv)),
            TensorInfo(p + "attn_v.weight", (h, v_dim)),
        ]
    if arch.attn_bias:
        ts += [TensorInfo(p + "attn_q.bias", (q_dim,)), TensorInfo(p + "attn_k.bias", (kv,))]
        ts.append(TensorInfo(p + "attn_v.bias", (v_dim,)))
    if arch.qk_norm:
        ts += [TensorInfo(p + "attn_q_norm.weight", (arch.head_dim,))]
        ts += [TensorInfo(p + "attn_k_norm.weight", (arch.head_dim,))]
    if arch.attn_sinks:
        ts.append(TensorInfo(p + "attn_sinks.weight", (arch.n_heads,)))
    ts.append(TensorInfo(p + "attn_output.weight", (arch.n_heads * (arch.v_head_dim or arch.head_dim), h)))
    if arch.attn_bias and arch.expert_bias:
        ts.append(TensorInfo(p + "attn_output.bias", (h,)))  # gpt-oss o_proj has a bias too
    return ts


def _mla_tensors(arch: ModelArch, p: str, h: int) -> list[TensorInfo]:
    """DeepSeek V2/V3 attention as llama.cpp's converter writes it (convert_hf_to_gguf.py DeepseekV2Model):
    queries through a q_lora_rank bottleneck (or one attn_q when q_lora_rank is 0, V2-Lite), the shared
    latent and rope key from attn_kv_a_mqa, and kv_b_proj split into per-head attn_k_b and attn_v_b."""
    n, rope, lora = arch.n_heads, arch.qk_rope_head_dim, arch.kv_lora_rank
    nope, v = arch.head_dim - rope, arch.v_head_dim or arch.head_dim
    if arch.q_lora_rank:
        ts = [
            TensorInfo(p + "attn_q_a.weight", (h, arch.q_lora_rank)),
            TensorInfo(p + "attn_q_a_norm.weight", (arch.q_lora_rank,)),
            TensorInfo(p + "attn_q_b.weight", (arch.q_lora_rank, n * arch.head_dim)),
        ]
    else:
        ts = [TensorInfo(p + "attn_q.weight", (h, n * arch.head_dim))]
    ts += [
        TensorInfo(p + "attn_kv_a_mqa.weight", (h, lora + rope)),
        TensorInfo(p + "attn_kv_a_norm.weight", (lora,)),
        TensorInfo(p + "attn_k_b.weight", (nope, lora, n)),
        TensorInfo(p + "attn_v_b.weight", (lora, v, n)),
        TensorInfo(p + "attn_output.weight", (n * v, h)),
    ]
    return ts


def _recurrent_tensors(r: RecurrentShape, p: str, h: int) -> list[TensorInfo]:
    """A recurrent layer's mixer in llama.cpp's tensor names (src/llama-arch.cpp LLM_TENSOR_SSM_*,
    LLM_TENSOR_SHORTCONV_*), shaped from the hparams llama-model.cpp loads them with."""
    if r.kind == "shortconv":  # LFM2: in_proj to B, C, x; a depthwise conv of length L; out_proj
        return [
            TensorInfo(p + "shortconv.in_proj.weight", (h, 3 * h)),
            TensorInfo(p + "shortconv.conv.weight", (r.d_conv, h)),
            TensorInfo(p + "shortconv.out_proj.weight", (h, h)),
        ]
    if r.kind == "gated_delta":
        key_dim = r.n_group * r.d_state
        conv_dim = 2 * key_dim + r.d_inner
        return [
            TensorInfo(p + "ssm_in.weight", (h, 2 * key_dim + 2 * r.d_inner)),  # q, k, v and the z gate
            TensorInfo(p + "ssm_beta_alpha.weight", (h, 2 * r.n_heads)),
            TensorInfo(p + "ssm_conv1d.weight", (r.d_conv, conv_dim)),
            TensorInfo(p + "ssm_dt.bias", (r.n_heads,)),
            TensorInfo(p + "ssm_a", (r.n_heads,)),
            TensorInfo(p + "ssm_norm.weight", (r.d_inner // max(1, r.n_heads),)),
            TensorInfo(p + "ssm_out.weight", (r.d_inner, h)),
        ]
    if r.kind == "mamba2":
        conv_dim = r.d_inner + 2 * r.n_group * r.d_state
        return [
            TensorInfo(p + "ssm_in.weight", (h, 2 * r.d_inner + 2 * r.n_group * r.d_state + r.n_heads)),
            TensorInfo(p + "ssm_conv1d.weight", (r.d_conv, conv_dim)),
            TensorInfo(p + "ssm_conv1d.bias", (conv_dim,)),
            TensorInfo(p + "ssm_dt.bias", (r.n_heads,)),
            TensorInfo(p + "ssm_a", (1, r.n_heads)),
            TensorInfo(p + "ssm_d", (1, r.n_heads)),
            TensorInfo(p + "ssm_norm.weight", (r.d_inner // max(1, r.n_group), max(1, r.n_group))),
            TensorInfo(p + "ssm_out.weight", (r.d_inner, h)),
        ]
    # Mamba 1 (Jamba): x_proj yields dt, B and C; dt_proj widens dt back to d_inner
    return [
        TensorInfo(p + "ssm_in.weight", (h, 2 * r.d_inner)),
        TensorInfo(p + "ssm_conv1d.weight", (r.d_conv, r.d_inner)),
        TensorInfo(p + "ssm_conv1d.bias", (r.d_inner,)),
        TensorInfo(p + "ssm_x.weight", (r.d_inner, r.dt_rank + 2 * r.d_state)),
        TensorInfo(p + "ssm_dt.weight", (r.dt_rank, r.d_inner)),
        TensorInfo(p + "ssm_dt.bias", (r.d_inner,)),
        TensorInfo(p + "ssm_a", (r.d_state, r.d_inner)),
        TensorInfo(p + "ssm_d", (r.d_inner,)),
        TensorInfo(p + "ssm_out.weight", (r.d_inner, h)),
    ]


# Families whose shared expert is scaled by a sigmoid gate, a (hidden,) weight: ffn_gate_inp_shexp in
# llama.cpp's QWEN2MOE, QWEN3NEXT and QWEN35MOE tensor lists (src/llama-arch.cpp).
_GATED_SHARED_EXPERT = frozenset({"qwen2moe", "qwen3next", "qwen35moe"})


def _shared_expert_tensors(arch: ModelArch, p: str, h: int) -> list[TensorInfo]:
    """The shared expert(s) every token passes through, stored as one FFN of their summed width."""
    s = arch.shared_expert_ffn_size
    if not s:
        return []
    ts = [TensorInfo(p + "ffn_gate_inp_shexp.weight", (h,))] if arch.family in _GATED_SHARED_EXPERT else []
    if arch.gated_ffn:
        ts.append(TensorInfo(p + "ffn_gate_shexp.weight", (h, s)))
    ts += [TensorInfo(p + "ffn_up_shexp.weight", (h, s)), TensorInfo(p + "ffn_down_shexp.weight", (s, h))]
    return ts


def _ffn_tensors(arch: ModelArch, i: int, p: str, h: int) -> list[TensorInfo]:
    if arch.is_moe_layer(i):
        f, e = arch.expert_ffn_size or arch.ffn_size, arch.n_experts
        routed = [TensorInfo(p + "ffn_gate_inp.weight", (h, e))]
        if arch.gated_ffn:
            routed.append(TensorInfo(p + "ffn_gate_exps.weight", (h, f, e)))
        routed.append(TensorInfo(p + "ffn_up_exps.weight", (h, f, e)))
        routed.append(TensorInfo(p + "ffn_down_exps.weight", (f, h, e)))
        if arch.expert_bias:
            routed += [TensorInfo(p + "ffn_gate_inp.bias", (e,))]
            routed += [TensorInfo(p + f"ffn_{k}_exps.bias", (f, e)) for k in ("gate", "up")]
            routed += [TensorInfo(p + "ffn_down_exps.bias", (h, e))]
        return routed + _shared_expert_tensors(arch, p, h)
    f = arch.ffn_sizes[i] if i < len(arch.ffn_sizes) else arch.ffn_size
    if arch.fused_gate_up or not arch.gated_ffn:
        up = 2 * f if arch.fused_gate_up else f
        return [TensorInfo(p + "ffn_up.weight", (h, up)), TensorInfo(p + "ffn_down.weight", (f, h))]
    return [
        TensorInfo(p + "ffn_gate.weight", (h, f)),
        TensorInfo(p + "ffn_up.weight", (h, f)),
        TensorInfo(p + "ffn_down.weight", (f, h)),
    ]
