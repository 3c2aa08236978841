"""Hugging Face model directories: config.json to `ModelArch` (a folder's, or contents held in memory
through `arch_from_config`), MLX quantization, weight bytes, and the local hub cache. Reads files only:
huggingface_hub is never imported (its import alone is slow, and `tuilab fit` must start fast), so the
cache layout is resolved here the way huggingface_hub does it.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tuilab.core.arch import ModelArch, RecurrentShape, swa_layers_from_pattern
from tuilab.core.errors import ModelFileError, UsageError
from tuilab.models.safetensors import load_json, read_safetensors, safetensors_files

_CONFIG_NAME = "config.json"
_MAX_CONFIG_BYTES = 16 * 1024 * 1024  # real config.json files are a few KiB; a bound against junk
_MLX_DEFAULT_MODE = "affine"  # mlx.nn.quantize(mode="affine") when mlx-lm writes no "mode"
# Bounds against hostile configs: the tensor list loops over layers, so cap them like the GGUF reader
# (LLAMA_MAX_LAYERS = 512 and LLAMA_MAX_EXPERTS = 512 in llama.cpp's src/llama-hparams.h, 8x headroom).
_MAX_LAYERS = 4096
_LOOPED_KEYS = frozenset(
    {"num_hidden_layers", "num_local_experts", "num_experts", "num_experts_per_tok", "n_routed_experts"}
)
_MAX_VALUE = 2**32 - 1


Extras = Callable[["_Config", int], dict[str, Any]]


@dataclass(frozen=True)
class _Family:
    """How one `model_type` maps onto ModelArch: defaults for keys its configs leave out (the
    transformers config class defaults), the structural facts fixed by its modeling code, and `extras`
    for the layer kinds, attention and MoE layout it reads from its own keys."""

    gguf_arch: str  # the family name llama.cpp's converter gives it (convert_hf_to_gguf.py)
    defaults: Mapping[str, Any] = field(default_factory=dict)
    attn_bias: bool | None = None  # None: read `attention_bias`
    qk_norm: bool = False
    extra_norms: int = 0
    fused_qkv: bool = False
    fused_gate_up: bool = False
    swa: str = "none"  # "all" layers, "qwen" (use_sliding_window), "pattern", "ignored"
    note: str = ""
    extras: Extras | None = None


def _layer_types(c: _Config, n_layers: int) -> list[str] | None:
    """transformers >= 4.53 configs list each layer's kind ("full_attention", "sliding_attention",
    "linear_attention", "conv", "mamba", ...)."""
    kinds = c.cfg.get("layer_types")
    if isinstance(kinds, list) and len(kinds) == n_layers and all(isinstance(k, str) for k in kinds):
        return kinds
    return None


_RECURRENT_LAYER_TYPES = frozenset({"linear_attention", "conv", "mamba"})


def _recurrent_from_types(c: _Config, n_layers: int) -> frozenset[int] | None:
    kinds = _layer_types(c, n_layers)
    return None if kinds is None else frozenset(i for i, k in enumerate(kinds) if k in _RECURRENT_LAYER_TYPES)


def _moe_counts(c: _Config) -> dict[str, Any]:
    n_experts = c.opt("n_routed_experts") or c.opt("num_local_experts") or c.opt("num_experts") or 0
    return {"n_experts": n_experts, "n_experts_used": c.opt("num_experts_per_tok") or 0}


def _mla_extras(c: _Config, n_layers: int) -> dict[str, Any]:
    """DeepSeek V2/V3 and Kimi K2 (configuration_deepseek_v3.py): MLA attention, routed experts of
    moe_intermediate_size, n_shared_experts of the same width, the first first_k_dense_replace layers
    dense with intermediate_size."""
    rope, nope = c.req("qk_rope_head_dim"), c.req("qk_nope_head_dim")
    moe = _moe_counts(c)
    expert = c.opt("moe_intermediate_size") or 0
    return {
        **moe,
        "head_dim": nope + rope,
        "kv_lora_rank": c.req("kv_lora_rank"),
        "q_lora_rank": c.opt("q_lora_rank") or 0,
        "qk_rope_head_dim": rope,
        "v_head_dim": c.opt("v_head_dim") or nope + rope,
        "expert_ffn_size": expert if moe["n_experts"] else 0,
        "shared_expert_ffn_size": (c.opt("n_shared_experts") or 0) * expert if moe["n_experts"] else 0,
        "n_dense_lead_layers": c.opt("first_k_dense_replace") or 0,
        "moe_layer_step": c.opt("moe_layer_freq") or 1,
    }


def _glm4_moe_extras(c: _Config, n_layers: int) -> dict[str, Any]:
    """GLM-4.5 (configuration_glm4_moe.py): DeepSeek-style MoE with GQA attention; the MTP layer
    (num_nextn_predict_layers) is not among num_hidden_layers and is left out."""
    moe = _moe_counts(c)
    expert = c.opt("moe_intermediate_size") or 0
    return {
        **moe,
        "expert_ffn_size": expert,
        "shared_expert_ffn_size": (c.opt("n_shared_experts") or 0) * expert,
        "n_dense_lead_layers": c.opt("first_k_dense_replace") or 0,
        "qk_norm": c.flag("use_qk_norm", False),
    }


def _gpt_oss_extras(c: _Config, n_layers: int) -> dict[str, Any]:
    """gpt-oss (modeling_gpt_oss.py): biased q/k/v/o, a learned sink per head, biased experts of
    intermediate_size, sliding window of 128 on every other layer (layer_types)."""
    used = c.opt("num_experts_per_tok") or c.opt("experts_per_token") or 0
    return {"attn_sinks": True, "expert_bias": True, "attn_bias": True, "n_experts_used": used}


def _qwen3_next_extras(c: _Config, n_layers: int) -> dict[str, Any]:
    """Qwen3-Next and Qwen3.5 (modeling_qwen3_next.py): gated delta net layers with every
    full_attention_interval-th layer full attention (or layer_types), gated queries, gated shared expert."""
    recurrent = _recurrent_from_types(c, n_layers)
    if recurrent is None:
        interval = c.opt("full_attention_interval") or 4
        recurrent = frozenset(i for i in range(n_layers) if (i + 1) % interval)
    v_heads, k_heads = c.req("linear_num_value_heads"), c.req("linear_num_key_heads")
    shape = RecurrentShape(
        kind="gated_delta",
        d_conv=c.opt("linear_conv_kernel_dim") or 4,
        d_inner=v_heads * c.req("linear_value_head_dim"),
        d_state=c.req("linear_key_head_dim"),
        n_group=k_heads,
        n_heads=v_heads,
    )
    extras: dict[str, Any] = {"recurrent": shape, "recurrent_layers": recurrent, "attn_output_gate": True}
    if c.opt("num_experts"):
        extras["shared_expert_ffn_size"] = c.opt("shared_expert_intermediate_size") or 0
        extras["ffn_size"] = _moe_only_ffn_size(c)
    return extras


def _moe_only_ffn_size(c: _Config) -> int:
    """The dense width of a MoE config. Qwen3.5/3.6 MoE configs name none: with mlp_only_layers empty every
    layer is MoE (Qwen3_5MoeDecoderLayer), so no dense FFN exists and the expert width stands in for it."""
    dense = c.opt("intermediate_size")
    if dense:
        return dense
    if c.cfg.get("mlp_only_layers"):
        raise ModelFileError(str(c.path), f"config.json has no positive 'intermediate_size' ({c.model_type})")
    return c.req("moe_intermediate_size")


def _lfm2_extras(c: _Config, n_layers: int) -> dict[str, Any]:
    """LFM2 (modeling_lfm2.py): short-convolution layers but the full_attn_idxs (or layer_types); the
    feed-forward width is block_ff_dim, auto-adjusted to 2/3, times the multiplier, rounded up to
    block_multiple_of (Lfm2MLP)."""
    hidden = c.req("hidden_size")
    recurrent = _recurrent_from_types(c, n_layers)
    if recurrent is None:
        idxs = c.cfg.get("full_attn_idxs")
        full = {i for i in idxs if isinstance(i, int)} if isinstance(idxs, list) else set(range(n_layers))
        recurrent = frozenset(i for i in range(n_layers) if i not in full)
    ff = c.opt("block_ff_dim") or c.req("intermediate_size")
    if c.flag("block_auto_adjust_ff_dim", False):
        ff = int(2 * ff / 3)
        multiplier = c.cfg.get("block_ffn_dim_multiplier")
        if isinstance(multiplier, (int, float)) and not isinstance(multiplier, bool):
            ff = int(multiplier * ff)
        multiple = c.opt("block_multiple_of") or 1
        ff = multiple * math.ceil(ff / multiple)
    shape = RecurrentShape(kind="shortconv", d_conv=c.opt("conv_L_cache") or 3, d_inner=hidden)
    return {"recurrent": shape, "recurrent_layers": recurrent, "ffn_size": ff}


def _lfm2_moe_extras(c: _Config, n_layers: int) -> dict[str, Any]:
    """LFM2-MoE (mlx_lm/models/lfm2_moe.py): LFM2's short-convolution and attention layers; the first
    num_dense_layers keep a dense MLP of intermediate_size, the rest num_experts experts of
    moe_intermediate_size with no shared expert (the router's per-expert bias is not planned)."""
    recurrent = _recurrent_from_types(c, n_layers)
    if recurrent is None:
        raise ModelFileError(str(c.path), "lfm2_moe config.json needs a layer_types list, one per layer")
    shape = RecurrentShape(kind="shortconv", d_conv=c.opt("conv_L_cache") or 3, d_inner=c.req("hidden_size"))
    return {
        "recurrent": shape,
        "recurrent_layers": recurrent,
        **_moe_counts(c),
        "expert_ffn_size": c.req("moe_intermediate_size"),
        "n_dense_lead_layers": c.opt("num_dense_layers") or 0,
    }


def _mamba2_shape(c: _Config, hidden: int) -> RecurrentShape:
    n_heads = c.req("mamba_n_heads")
    d_inner = (c.opt("mamba_d_head") or 0) * n_heads or (c.opt("mamba_expand") or 2) * hidden
    return RecurrentShape(
        kind="mamba2",
        d_conv=c.opt("mamba_d_conv") or 4,
        d_inner=d_inner,
        d_state=c.req("mamba_d_state"),
        n_group=c.opt("mamba_n_groups") or 1,
        n_heads=n_heads,
    )


def _granite_hybrid_extras(c: _Config, n_layers: int) -> dict[str, Any]:
    """Granite 4.0 hybrids (modeling_granitemoehybrid.py): Mamba 2 layers but the "attention" ones in
    layer_types; every layer has a shared MLP of shared_intermediate_size, plus experts of
    intermediate_size where num_local_experts > 0."""
    recurrent = _recurrent_from_types(c, n_layers) or frozenset()
    shared = c.opt("shared_intermediate_size") or c.req("intermediate_size")
    extras: dict[str, Any] = {
        "recurrent": _mamba2_shape(c, c.req("hidden_size")),
        "recurrent_layers": recurrent,
        **_moe_counts(c),
    }
    if extras["n_experts"]:
        extras |= {"expert_ffn_size": c.req("intermediate_size"), "shared_expert_ffn_size": shared}
    else:
        extras["ffn_size"] = shared
    return extras


def _falcon_h1_extras(c: _Config, n_layers: int) -> dict[str, Any]:
    """Falcon-H1 (modeling_falcon_h1.py): attention and a Mamba 2 mixer side by side in every layer, so
    every layer keeps both a KV cache and a state (mlx_lm/models/falcon_h1.py: CacheList(ArraysCache,
    KVCache) per layer); the mixer is mamba_d_ssm wide."""
    shape = _mamba2_shape(c, c.req("hidden_size"))
    d_ssm = c.opt("mamba_d_ssm")
    if d_ssm:
        shape = RecurrentShape("mamba2", shape.d_conv, d_ssm, shape.d_state, shape.n_group, shape.n_heads)
    return {"recurrent": shape, "recurrent_layers": frozenset(range(n_layers)), "parallel_attention": True}


# Nemotron-H's layers: one block each (configuration_nemotron_h.py: hybrid_override_pattern, or the newer
# layers_block_type list), as llama.cpp builds them (src/models/nemotron-h.cpp: a Mamba 2 layer, an
# attention layer, or a feed-forward layer): Mamba 2, attention, squared-ReLU MLP, MoE.
_NEMOTRON_BLOCKS = {"mamba": "M", "attention": "*", "mlp": "-", "moe": "E"}


def _nemotron_pattern(c: _Config, n_layers: int) -> str:
    pattern = c.cfg.get("hybrid_override_pattern")
    types = c.cfg.get("layers_block_type")
    if isinstance(types, list) and all(isinstance(t, str) for t in types):
        pattern = "".join(_NEMOTRON_BLOCKS.get(t, "?") for t in types)
    if not isinstance(pattern, str) or len(pattern) != n_layers or set(pattern) - set("M*-E"):
        raise ModelFileError(str(c.path), "hybrid_override_pattern must name one of M, *, -, E per layer")
    return pattern


def _nemotron_h_extras(c: _Config, n_layers: int) -> dict[str, Any]:
    """Nemotron-H and Nemotron 3 (modeling_nemotron_h.py): each layer is a single block with one pre-norm;
    the MLP, the experts and the shared expert have no gate (squared ReLU), Mamba 2 is mamba_num_heads x
    mamba_head_dim wide. Only the attention layers keep a KV cache; the MLP and MoE layers keep nothing."""
    pattern = _nemotron_pattern(c, n_layers)
    if "-" in pattern and "E" in pattern:
        raise ModelFileError(str(c.path), "dense and MoE feed-forward layers in one model are not planned")
    n_heads, hidden = c.req("mamba_num_heads"), c.req("hidden_size")
    head_dim = c.opt("head_dim") or c.opt("attention_head_dim") or hidden // c.req("num_attention_heads")
    shape = RecurrentShape(
        kind="mamba2",
        d_conv=c.opt("conv_kernel") or 4,
        d_inner=n_heads * c.req("mamba_head_dim"),
        d_state=c.req("ssm_state_size"),
        n_group=c.opt("n_groups") or 1,
        n_heads=n_heads,
    )
    extras: dict[str, Any] = {
        "recurrent": shape,
        "recurrent_layers": frozenset(i for i, b in enumerate(pattern) if b == "M"),
        "mixer_only_layers": frozenset(i for i, b in enumerate(pattern) if b in "M*"),
        "ffn_only_layers": frozenset(i for i, b in enumerate(pattern) if b in "-E"),
        "gated_ffn": False,
        "head_dim": head_dim,
        **_moe_counts(c),
    }
    if "E" in pattern:
        shared = (c.opt("n_shared_experts") or 1) * c.req("moe_shared_expert_intermediate_size")
        extras |= {"expert_ffn_size": c.req("moe_intermediate_size"), "shared_expert_ffn_size": shared}
        extras["family"] = "nemotron_h_moe"  # llama.cpp's name for the MoE variant (src/llama-arch.cpp)
    else:
        extras |= {"n_experts": 0, "n_experts_used": 0, "expert_ffn_size": 0, "shared_expert_ffn_size": 0}
    return extras


# Llama-Nemotron NAS (modeling_decilm.py _ffn_mult_to_intermediate_size): a block's FFN width is
# int(2 * ffn_mult * hidden / 3) rounded up to a multiple of 256.
_DECI_FFN_MULTIPLE = 256
_DECI_UNPLANNED_ATTENTION = ("replace_with_linear", "window_length", "num_sink_tokens", "sparsify")


def _nemotron_nas_extras(c: _Config, n_layers: int) -> dict[str, Any]:
    """Llama-Nemotron Super/Ultra (DeciLM, modeling_decilm.py): block_configs give each layer its own FFN
    width (ffn_mult) and may make its attention or FFN a no-op; a layer without attention keeps nothing.
    Linear replacements, windows, sinks and per-layer KV head counts are refused rather than misplanned."""
    blocks = c.cfg.get("block_configs")
    if not isinstance(blocks, list) or len(blocks) != n_layers:
        raise ModelFileError(str(c.path), "block_configs must give one block per layer")
    hidden = c.req("hidden_size")
    parts = [_deci_block(c, b, hidden) for b in blocks]
    groups = {group for group, _ in parts if group}
    if len(groups) != 1:
        raise ModelFileError(str(c.path), "attention with different KV head counts per layer is not planned")
    widths = tuple(width for _, width in parts)
    return {
        "n_kv_heads": c.req("num_attention_heads") // groups.pop(),
        "ffn_only_layers": frozenset(i for i, (group, _) in enumerate(parts) if not group),
        "mixer_only_layers": frozenset(i for i, width in enumerate(widths) if not width),
        "ffn_sizes": widths,
        "ffn_size": max(widths),
    }


def _deci_block(c: _Config, block: object, hidden: int) -> tuple[int, int]:
    """(n_heads_in_group or 0 for a no-op attention, FFN width or 0 for a no-op FFN) of one block."""
    attn = block.get("attention") if isinstance(block, dict) else None
    ffn = block.get("ffn") if isinstance(block, dict) else None
    if not isinstance(attn, dict) or not isinstance(ffn, dict):
        raise ModelFileError(str(c.path), "each of block_configs needs an attention and an ffn object")
    unplanned = [k for k in _DECI_UNPLANNED_ATTENTION if attn.get(k)]
    unplanned += [f"ffn {k}" for k in ("replace_with_linear", "sparsify") if ffn.get(k)]
    if unplanned:
        raise ModelFileError(str(c.path), f"block_configs with {', '.join(unplanned)} are not planned")
    group = 0 if attn.get("no_op") else attn.get("n_heads_in_group")
    mult = ffn.get("ffn_mult")
    if not isinstance(group, int) or isinstance(group, bool) or group < 0:
        raise ModelFileError(str(c.path), f"n_heads_in_group is {group!r}, not a positive integer")
    if ffn.get("no_op"):
        return group, 0
    if not isinstance(mult, (int, float)) or isinstance(mult, bool) or not 0 < mult <= 64:
        raise ModelFileError(str(c.path), f"ffn_mult is {mult!r}, not a number in (0, 64]")
    width = int(2 * mult * hidden / 3)
    return group, -(-width // _DECI_FFN_MULTIPLE) * _DECI_FFN_MULTIPLE


def _jamba_extras(c: _Config, n_layers: int) -> dict[str, Any]:
    """Jamba (configuration_jamba.py): attention on layers i % attn_layer_period == attn_layer_offset,
    Mamba 1 elsewhere; experts on layers i % expert_layer_period == expert_layer_offset."""
    hidden = c.req("hidden_size")
    period, offset = c.opt("attn_layer_period") or 8, c.opt("attn_layer_offset") or 4
    dt_rank = c.cfg.get("mamba_dt_rank")
    shape = RecurrentShape(
        kind="mamba",
        d_conv=c.opt("mamba_d_conv") or 4,
        d_inner=(c.opt("mamba_expand") or 2) * hidden,
        d_state=c.opt("mamba_d_state") or 16,
        dt_rank=dt_rank if isinstance(dt_rank, int) and dt_rank > 0 else math.ceil(hidden / 16),
    )
    step, expert_offset = c.opt("expert_layer_period") or 2, c.opt("expert_layer_offset") or 1
    if (expert_offset + 1) % step:
        raise ModelFileError(
            str(c.path), f"expert_layer_offset {expert_offset} with period {step} is not planned"
        )
    return {
        "recurrent": shape,
        "recurrent_layers": frozenset(i for i in range(n_layers) if i % period != offset),
        "moe_layer_step": step,
        **_moe_counts(c),
    }


def _llama4_extras(c: _Config, n_layers: int) -> dict[str, Any]:
    """Llama 4 (modeling_llama4.py): chunked attention of attention_chunk_size on the RoPE layers (all but
    every 4th, no_rope_layers), MoE every interleave_moe_layer_step-th layer with one shared expert of
    intermediate_size, dense layers of intermediate_size_mlp."""
    no_rope = c.cfg.get("no_rope_layers")
    if isinstance(no_rope, list) and len(no_rope) == n_layers:
        chunked = frozenset(i for i, use_rope in enumerate(no_rope) if use_rope)
    else:
        chunked = frozenset(i for i in range(n_layers) if (i + 1) % 4)
    expert = c.req("intermediate_size")
    return {
        **_moe_counts(c),
        "chunk_tokens": c.opt("attention_chunk_size") or None,
        "chunked_layers": chunked,
        "ffn_size": c.opt("intermediate_size_mlp") or expert,
        "expert_ffn_size": expert,
        "shared_expert_ffn_size": expert,
        "moe_layer_step": c.opt("interleave_moe_layer_step") or 1,
    }


_UNTIED = {"tie_word_embeddings": False}  # LlamaConfig and kin default to separate lm_head weights
# Gemma3TextConfig defaults (transformers configuration_gemma3.py): gemma-3-4b-it's text_config names
# only hidden_size, intermediate_size, num_hidden_layers, rope_scaling and sliding_window
_GEMMA3_TEXT_DEFAULTS = {
    "vocab_size": 262_208, "num_attention_heads": 8, "num_key_value_heads": 4, "head_dim": 256,
    "max_position_embeddings": 131_072, "sliding_window": 4096, "sliding_window_pattern": 6,
    "tie_word_embeddings": True,
}  # fmt: skip
_MLA = _Family("deepseek2", _UNTIED, attn_bias=False, extras=_mla_extras)
# Multi-token-prediction layers (num_nextn_predict_layers, mtp_*) sit outside num_hidden_layers: llama.cpp's
# converters and mlx-lm drop them, so plans leave them out, though the Hub's parameter totals count them.
_MTP_NOTE = "the multi-token-prediction layer is not planned (llama.cpp and mlx-lm leave it out)"
_QWEN3_NEXT = _Family("qwen3next", _UNTIED, qk_norm=True, extras=_qwen3_next_extras)
_FAMILIES: dict[str, _Family] = {
    "llama": _Family("llama", _UNTIED),
    "mistral": _Family("llama", _UNTIED, swa="all"),
    "ministral3": _Family("mistral3", _UNTIED),
    "mixtral": _Family("llama", _UNTIED, swa="all"),
    "granite": _Family("granite", _UNTIED),
    # Granite 3.x MoE (modeling_granitemoe.py): every layer's MLP is num_local_experts experts of
    # intermediate_size (fused gate and up in input_linear) and no shared expert
    "granitemoe": _Family("granitemoe", _UNTIED),
    "smollm3": _Family("smollm3", _UNTIED),
    "olmo2": _Family("olmo2", _UNTIED, qk_norm=True, extra_norms=0),
    # Qwen2Attention builds q/k/v with bias=True regardless of config (modeling_qwen2.py)
    "qwen2": _Family("qwen2", _UNTIED, attn_bias=True, swa="qwen"),
    "qwen2_moe": _Family("qwen2moe", _UNTIED, attn_bias=True, swa="qwen"),
    "qwen3": _Family("qwen3", _UNTIED, qk_norm=True, swa="qwen"),
    "qwen3_moe": _Family("qwen3moe", _UNTIED, qk_norm=True, swa="qwen"),
    "qwen3_next": _QWEN3_NEXT,
    # the text towers of Qwen2.5-VL and Qwen3-VL are Qwen2 and Qwen3 decoders (llama.cpp qwen2vl, qwen3vl)
    "qwen2_5_vl": _Family("qwen2vl", _UNTIED, attn_bias=True),
    "qwen2_5_vl_text": _Family("qwen2vl", _UNTIED, attn_bias=True),
    "qwen3_vl_text": _Family("qwen3vl", _UNTIED, qk_norm=True),
    "qwen3_vl_moe_text": _Family("qwen3vlmoe", _UNTIED, qk_norm=True),
    "ernie4_5": _Family("ernie4_5", {"tie_word_embeddings": True}),
    "glm4": _Family("glm4", _UNTIED),
    "qwen3_5_text": _Family("qwen35", _UNTIED, qk_norm=True, extras=_qwen3_next_extras),
    "qwen3_5_moe_text": _Family("qwen35moe", _UNTIED, qk_norm=True, extras=_qwen3_next_extras),
    # Gemma2Config defaults (configuration_gemma2.py); pre/post feed-forward norms are the 2 extras
    "gemma2": _Family(
        "gemma2",
        {"tie_word_embeddings": True, "head_dim": 256, "sliding_window": 4096, "sliding_window_pattern": 2},
        extra_norms=2,
        swa="pattern",
    ),
    "gemma3_text": _Family("gemma3", _GEMMA3_TEXT_DEFAULTS, qk_norm=True, extra_norms=2, swa="pattern"),
    # Cohere2Config (configuration_cohere2.py): 3 sliding layers of 4096 to 1 global, tied embeddings
    "cohere2": _Family("cohere2", {"tie_word_embeddings": True, "sliding_window_pattern": 4}, swa="pattern"),
    # Phi-3 stores qkv_proj and gate_up_proj fused; llama.cpp disables its sliding window
    # ("Phi SWA is currently disabled", src/llama-model.cpp) and mlx_lm/models/phi3.py keeps a full cache
    "phi3": _Family(
        "phi3", _UNTIED, fused_qkv=True, fused_gate_up=True, swa="ignored", note="sliding_window is unused"
    ),
    # BitNet adds attn_sub_norm and ffn_sub_norm per layer (modeling_bitnet.py)
    "bitnet": _Family("bitnet", _UNTIED, extra_norms=2),
    # GemmaConfig defaults (configuration_gemma.py): head_dim 256 and tied embeddings; GeGLU feed-forward
    "gemma": _Family("gemma", {"tie_word_embeddings": True, "head_dim": 256}),
    # MiMo-7B is a Qwen2 decoder (q/k/v bias) plus MTP layers (mlx_lm/models/mimo.py)
    "mimo": _Family("qwen2", _UNTIED, attn_bias=True, swa="qwen", note=_MTP_NOTE),
    # MiniMax-M2: full attention with q/k norms, 256 routed experts and no shared one (modeling_minimax_m2.py)
    "minimax_m2": _Family("minimax-m2", _UNTIED, qk_norm=True, note=_MTP_NOTE),
    "deepseek_v2": _MLA,
    "deepseek_v3": _MLA,
    "kimi_k2": _MLA,
    # DeepSeek-V3.2 adds a lightning indexer whose small per-token key cache is not planned
    "deepseek_v32": _Family(
        "deepseek2",
        _UNTIED,
        attn_bias=False,
        extras=_mla_extras,
        note="the sparse-attention indexer's cache is not planned",
    ),
    "glm4_moe": _Family("glm4moe", _UNTIED, extras=_glm4_moe_extras),
    # GLM-4.7-Flash: DeepSeek-V2 MLA attention and MoE; llama.cpp converts it as deepseek2
    "glm4_moe_lite": _Family("deepseek2", _UNTIED, attn_bias=False, extras=_mla_extras, note=_MTP_NOTE),
    # GLM-5.x: DeepSeek-V3.2's layout (MLA, a lightning indexer, MoE with one shared expert)
    "glm_moe_dsa": _Family(
        "deepseek2",
        _UNTIED,
        attn_bias=False,
        extras=_mla_extras,
        note="the sparse-attention indexer's cache and the multi-token-prediction layer are not planned",
    ),
    # gpt-oss: head_dim 64 and sliding_window 128 on alternate layers (layer_types)
    "gpt_oss": _Family(
        "gpt-oss", {**_UNTIED, "sliding_window_pattern": 2}, swa="pattern", extras=_gpt_oss_extras
    ),
    "llama4_text": _Family("llama4", _UNTIED, extras=_llama4_extras),
    "lfm2": _Family("lfm2", {"tie_word_embeddings": True}, qk_norm=True, extras=_lfm2_extras),
    "lfm2_moe": _Family("lfm2moe", {"tie_word_embeddings": True}, qk_norm=True, extras=_lfm2_moe_extras),
    "granitemoehybrid": _Family("granitehybrid", _UNTIED, extras=_granite_hybrid_extras),
    "jamba": _Family("jamba", _UNTIED, extras=_jamba_extras),
    "falcon_h1": _Family("falcon-h1", _UNTIED, extras=_falcon_h1_extras),
    "nemotron_h": _Family("nemotron_h", _UNTIED, extras=_nemotron_h_extras),
    "nemotron-nas": _Family("deci", _UNTIED, extras=_nemotron_nas_extras),
}
_LLAMA_LIKE = _Family("", _UNTIED, note="unknown model_type: read as a Llama-shaped decoder")


@dataclass(frozen=True)
class HFModel:
    """A Hugging Face model directory: architecture, MLX quantization if any, and weight bytes."""

    path: Path
    name: str
    model_type: str
    arch: ModelArch
    mlx_bits: int | None = None
    mlx_group_size: int | None = None
    mlx_mode: str | None = None
    quant_method: str | None = None  # quantization_config.quant_method of non-MLX formats (bitnet, awq)
    weights_bytes: int | None = None  # safetensors tensor data, when weights are present
    dtype: str | None = None
    notes: tuple[str, ...] = ()

    @property
    def is_mlx_quantized(self) -> bool:
        return self.mlx_bits is not None


def read_hf_config(path: Path) -> HFModel:
    """Read a model directory (or its config.json); raise ModelFileError for missing or bad keys."""
    config_path = path / _CONFIG_NAME if path.is_dir() else path
    raw = load_json(config_path, _MAX_CONFIG_BYTES)
    if not isinstance(raw, dict):
        raise ModelFileError(str(config_path), "config.json is not a JSON object")
    directory = config_path.parent
    arch, model_type, notes = _parse_config(raw, _model_name(directory), str(config_path))
    bits, group_size, mode = _mlx_quantization(raw)
    return HFModel(
        path=directory,
        name=arch.name,
        model_type=model_type,
        arch=arch,
        mlx_bits=bits,
        mlx_group_size=group_size,
        mlx_mode=mode,
        quant_method=_quant_method(raw),
        weights_bytes=read_safetensors(directory).tensor_bytes if safetensors_files(directory) else None,
        dtype=_str_or_none(raw.get("torch_dtype") or raw.get("dtype")),
        notes=notes,
    )


def known_model_type(model_type: str) -> bool:
    """Whether config.json files of this model_type are read by a family rule (else as Llama-shaped)."""
    return model_type in _FAMILIES or _TEXT_MODEL_TYPES.get(model_type, "") in _FAMILIES


def arch_from_config(config: Mapping[str, Any], name: str, source: str = "config.json") -> ModelArch:
    """The `ModelArch` a config.json's contents describe (text_config nesting included), for configs held
    in memory such as a catalog's; `source` names where it came from in errors and the plan's basis.
    Raises ModelFileError for missing or bad keys."""
    return _parse_config(config, name, source)[0]


def _parse_config(raw: Mapping[str, Any], name: str, source: str) -> tuple[ModelArch, str, tuple[str, ...]]:
    text = raw["text_config"] if isinstance(raw.get("text_config"), dict) else raw
    model_type = _model_type(raw, text)
    family = _FAMILIES.get(model_type, _LLAMA_LIKE)
    cfg = {**family.defaults, **{k: v for k, v in text.items() if v is not None or k == "sliding_window"}}
    arch = _build_arch(_Config(Path(source), model_type, cfg), family, name)
    return arch, model_type, tuple(n for n in (family.note,) if n)


# Multimodal wrappers whose text model_type the config may leave implicit in text_config.
_TEXT_MODEL_TYPES = {
    "gemma3": "gemma3_text",
    "llama4": "llama4_text",
    "qwen3_vl": "qwen3_vl_text",
    "qwen3_vl_moe": "qwen3_vl_moe_text",
    "qwen3_5": "qwen3_5_text",
    "qwen3_5_moe": "qwen3_5_moe_text",
}


def _model_type(raw: Mapping[str, Any], text: Mapping[str, Any]) -> str:
    model_type = str(text.get("model_type") or raw.get("model_type") or "")
    return _TEXT_MODEL_TYPES.get(model_type, model_type)


class _Config:
    """Typed reads of config keys, with errors that name the file, the key and the model_type."""

    def __init__(self, path: Path, model_type: str, cfg: Mapping[str, Any]) -> None:
        self.path, self.model_type, self.cfg = path, model_type, cfg

    def opt(self, key: str) -> int | None:
        value = self.cfg.get(key)
        if value is None:
            return None
        limit = _MAX_LAYERS if key in _LOOPED_KEYS else _MAX_VALUE
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= limit:
            raise ModelFileError(str(self.path), f"{key!r} is {value!r}, not an integer in 0..{limit}")
        return value

    def req(self, key: str, *alternatives: str) -> int:
        for k in (key, *alternatives):
            value = self.opt(k)
            if value:
                return value
        kind = f"model_type {self.model_type!r}" if self.model_type else "no model_type"
        raise ModelFileError(str(self.path), f"config.json has no positive {key!r} ({kind})")

    def flag(self, key: str, default: bool) -> bool:
        value = self.cfg.get(key, default)
        return value if isinstance(value, bool) else default


def _build_arch(c: _Config, family: _Family, name: str) -> ModelArch:
    hidden, n_heads, n_layers = c.req("hidden_size"), c.req("num_attention_heads"), c.req("num_hidden_layers")
    window, swa_layers = _sliding_window(c, family, n_layers)
    ffn_size = c.opt("intermediate_size") or 0
    moe = _moe_counts(c)
    n_experts = moe["n_experts"]
    fields: dict[str, Any] = dict(
        name=name,
        family=family.gguf_arch or c.model_type or "llama",
        n_layers=n_layers,
        hidden_size=hidden,
        n_heads=n_heads,
        n_kv_heads=c.opt("num_key_value_heads") or n_heads,
        head_dim=c.opt("head_dim") or hidden // n_heads,
        ffn_size=ffn_size,
        vocab_size=c.req("vocab_size"),
        tied_embeddings=c.flag("tie_word_embeddings", False),
        n_experts=n_experts,
        n_experts_used=moe["n_experts_used"],
        # Mixtral's experts are intermediate_size wide; Qwen MoE names their width separately
        expert_ffn_size=(c.opt("moe_intermediate_size") or ffn_size) if n_experts else 0,
        shared_expert_ffn_size=(c.opt("shared_expert_intermediate_size") or 0) if n_experts else 0,
        sliding_window=window,
        swa_layers=swa_layers,
        attn_bias=family.attn_bias if family.attn_bias is not None else c.flag("attention_bias", False),
        qk_norm=family.qk_norm,
        fused_qkv=family.fused_qkv,
        fused_gate_up=family.fused_gate_up,
        extra_norms_per_layer=family.extra_norms,
        max_ctx_tokens=c.opt("max_position_embeddings") or ModelArch.max_ctx_tokens,
        known_family=family is not _LLAMA_LIKE,
        sources={"config": str(c.path), "model_type": c.model_type},
    )
    if family.extras is not None:
        fields.update(family.extras(c, n_layers))
    if not fields["ffn_size"]:
        raise ModelFileError(str(c.path), f"config.json has no positive 'intermediate_size' ({c.model_type})")
    return ModelArch(**fields)


def _sliding_window(c: _Config, family: _Family, n_layers: int) -> tuple[int | None, frozenset[int]]:
    window = c.opt("sliding_window")
    if not window or family.swa == "none":
        return None, frozenset()
    if family.swa == "qwen" and not c.flag("use_sliding_window", False):
        return None, frozenset()  # Qwen configs carry a window that is off unless use_sliding_window
    layer_types = _layer_types(c, n_layers)
    if layer_types is not None:
        layers = frozenset(i for i, kind in enumerate(layer_types) if kind == "sliding_attention")
    elif family.swa == "all":
        layers = frozenset(range(n_layers))
    elif family.swa == "qwen":
        # Qwen2: layers from max_window_layers on use the window (modeling_qwen2.py)
        layers = frozenset(range(c.opt("max_window_layers") or 0, n_layers))
    elif family.swa == "pattern":
        layers = swa_layers_from_pattern(n_layers, c.opt("sliding_window_pattern") or 0)
    else:
        layers = frozenset()  # "ignored": engines run every layer with full attention
    return window, layers


def _mlx_quantization(raw: Mapping[str, Any]) -> tuple[int | None, int | None, str | None]:
    """mlx-lm writes {"group_size": 64, "bits": 4, "mode": ...} as "quantization" (and copies it to
    "quantization_config"); other formats' quantization_config carries a "quant_method" instead."""
    q = raw.get("quantization")
    if not isinstance(q, dict):
        qc = raw.get("quantization_config")
        q = qc if isinstance(qc, dict) and "quant_method" not in qc else None
    if q is None or not _is_positive_int(q.get("bits")):
        return None, None, None
    group_size = q.get("group_size")
    mode = q.get("mode")
    return (
        q["bits"],
        group_size if _is_positive_int(group_size) else None,
        mode if isinstance(mode, str) else _MLX_DEFAULT_MODE,
    )


def _quant_method(raw: Mapping[str, Any]) -> str | None:
    qc = raw.get("quantization_config")
    return _str_or_none(qc.get("quant_method")) if isinstance(qc, dict) else None


def _is_positive_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _model_name(directory: Path) -> str:
    """`org/name` for a hub cache snapshot (models--org--name/snapshots/<rev>), else the folder name."""
    repo_dir = directory.parent.parent
    if directory.parent.name == "snapshots" and repo_dir.name.startswith("models--"):
        return repo_dir.name.removeprefix("models--").replace("--", "/")
    return directory.name


# Hub repo ids: an optional namespace and a name of letters, digits, "-", "_" and "." (huggingface_hub
# validate_repo_id), without ".." or "--", which the cache folder naming could not tell apart.
_REPO_ID_RE = re.compile(r"^(?:[\w.-]+/)?[\w.-]+$")
_REVISION_RE = re.compile(r"^[\w.-]+$")
_COMMIT_RE = re.compile(r"^[0-9a-f]{40}$")  # a git commit sha1, what refs/<name> files hold


def hf_hub_cache_dir() -> Path:
    """The hub cache folder, resolved like huggingface_hub.constants: HF_HUB_CACHE, the legacy
    HUGGINGFACE_HUB_CACHE, then $HF_HOME/hub with HF_HOME defaulting to $XDG_CACHE_HOME/huggingface."""
    env = os.environ
    explicit = env.get("HF_HUB_CACHE") or env.get("HUGGINGFACE_HUB_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    hf_home = env.get("HF_HOME") or os.path.join(env.get("XDG_CACHE_HOME") or "~/.cache", "huggingface")
    return Path(hf_home).expanduser() / "hub"


def find_in_hf_cache(repo_id: str, revision: str = "main") -> Path | None:
    """The snapshot folder of `repo_id` at `revision` (a ref such as main, or a commit) in the local
    hub cache, or None when it has not been downloaded."""
    if not _REPO_ID_RE.match(repo_id) or ".." in repo_id or "--" in repo_id:
        raise UsageError(f"{repo_id!r} is not a Hugging Face repo id (expected org/name)")
    if not _REVISION_RE.match(revision) or ".." in revision:
        raise UsageError(f"{revision!r} is not a revision name or commit")
    repo_dir = hf_hub_cache_dir() / f"models--{repo_id.replace('/', '--')}"
    commit = revision if _COMMIT_RE.match(revision) else _read_ref(repo_dir / "refs" / revision)
    if commit is None:
        return None
    snapshot = repo_dir / "snapshots" / commit
    return snapshot if snapshot.is_dir() else None


def _read_ref(ref: Path) -> str | None:
    try:
        commit = ref.read_text(encoding="ascii", errors="replace").strip()
    except OSError:
        return None
    return commit if _COMMIT_RE.match(commit) else None
