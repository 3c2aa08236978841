"""Turn a GGUF header's metadata and tensor table into a `ModelArch`, the way llama.cpp reads them.

The parsing lives in `gguf.py`; this module only interprets `{arch}.*` keys and tensor names (bounded, with
per-layer arrays collapsed to their max), and holds the metadata value types both modules share.
Keys: https://github.com/ggml-org/ggml/blob/master/docs/gguf.md and src/llama-model.cpp (llama.cpp).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tuilab.core.arch import KNOWN_FAMILIES, ModelArch, RecurrentShape, TensorInfo, swa_layers_from_pattern
from tuilab.core.errors import ModelFileError

# Sliding-window layer patterns llama.cpp sets when the file has no pattern key
# (llama_hparams::set_swa_pattern calls in src/llama-model.cpp).
_DEFAULT_SWA_PATTERN = {"gemma2": 2, "gemma3": 6, "cohere2": 4, "gpt-oss": 2}
# Llama 4's chunked attention is fixed in llama.cpp, not a GGUF key: n_swa = 8192 with
# LLAMA_SWA_TYPE_CHUNKED on 3 of every 4 layers (set_swa_pattern(4), src/llama-model.cpp LLM_ARCH_LLAMA4).
_CHUNKED = {"llama4": (8192, 4)}
# Recurrent layers: the delta-net families put every full_attention_interval-th layer (default 4) on
# full attention (llama-model.cpp QWEN3NEXT/QWEN35: recurrent_layer_arr[i] = (i + 1) % interval != 0);
# the hybrids mark their recurrent layers with head_count_kv 0 (LFM2, Granite 4, Jamba, Nemotron-H);
# pure Mamba models are recurrent throughout.
_INTERVAL_FAMILIES = frozenset({"qwen3next", "qwen35", "qwen35moe"})
_KV_ZERO_FAMILIES = {"lfm2": "shortconv", "lfm2moe": "shortconv", "granitehybrid": "mamba2",
                     "jamba": "mamba", "nemotron_h": "mamba2", "nemotron_h_moe": "mamba2"}  # fmt: skip
_FFN_ONLY_FAMILIES = frozenset({"nemotron_h", "nemotron_h_moe"})
_NO_OP_ATTENTION_FAMILIES = frozenset({"deci"})
_PURE_RECURRENT = {"mamba": "mamba", "mamba2": "mamba2", "falcon-h1": "mamba2"}
# Falcon-H1 also attends on every layer (llama_memory_hybrid with both filters true, src/llama-model.cpp)
_PARALLEL_ATTENTION = frozenset({"falcon-h1"})
# Values later code loops over are bounded: LLAMA_MAX_LAYERS = 512 and LLAMA_MAX_EXPERTS = 512
# (src/llama-hparams.h), with 8x headroom; other sizes must fit the uint32 the spec gives them.
_MAX_LAYERS = 4096
_LOOPED_KEYS = frozenset({"block_count", "expert_count", "expert_used_count"})
_MAX_ARCH_VALUE = 2**32 - 1

Scalar = int | float | bool | str


@dataclass(frozen=True)
class ArrayInfo:
    """A metadata array: its element type and length; `values` only for short numeric arrays."""

    type: str
    length: int
    values: tuple[int | float | bool, ...] | None = None


MetaValue = Scalar | ArrayInfo


def build_arch(
    path: Path, meta: Mapping[str, MetaValue], tensors: tuple[TensorInfo, ...]
) -> tuple[ModelArch, tuple[str, ...]]:
    """The `ModelArch` the metadata and tensor table of the GGUF file at `path` describe, and notes."""
    family = meta.get("general.architecture")
    if not isinstance(family, str) or not family:
        raise ModelFileError(str(path), "missing general.architecture")
    if not tensors:
        raise ModelFileError(str(path), "holds no tensors (a vocabulary-only file?), not a model")
    fields = _Fields(path, meta, family)
    by_name = {t.name: t for t in tensors}
    hidden = fields.required("embedding_length")
    n_heads = fields.required("attention.head_count")
    window = fields.get("attention.sliding_window")
    n_layers = fields.required("block_count")
    swa_layers = _swa_layers(fields, family, n_layers, window)
    ffn_size = fields.get("feed_forward_length") or _shape_dim(by_name, "blk.0.ffn_down.weight", 0)
    n_experts = fields.get("expert_count") or 0
    expert_ffn = fields.get("expert_feed_forward_length") or (ffn_size if n_experts else 0)
    # DeepSeek-style files give the shared experts' count; their width is the routed experts'
    n_shared = fields.get("expert_shared_count") or 0
    shared_ffn = fields.get("expert_shared_feed_forward_length") or n_shared * expert_ffn
    mla = _mla(fields)
    if family not in KNOWN_FAMILIES:
        fields.notes.append(f"unknown architecture {family}: KV planned as full attention on every layer")
    arch = ModelArch(
        name=_name(meta, path),
        family=family,
        n_layers=n_layers,
        hidden_size=hidden,
        n_heads=n_heads,
        n_kv_heads=fields.get("attention.head_count_kv") or n_heads,
        head_dim=mla.pop("head_dim", 0) or fields.get("attention.key_length") or hidden // n_heads,
        ffn_size=ffn_size,
        vocab_size=_vocab_size(fields, by_name),
        tied_embeddings="output.weight" not in by_name,
        n_experts=n_experts,
        n_experts_used=fields.get("expert_used_count") or 0,
        expert_ffn_size=expert_ffn,
        shared_expert_ffn_size=shared_ffn,
        sliding_window=window or None,
        swa_layers=swa_layers,
        attn_bias="blk.0.attn_q.bias" in by_name or "blk.0.attn_qkv.bias" in by_name,
        qk_norm="blk.0.attn_q_norm.weight" in by_name,
        fused_qkv="blk.0.attn_qkv.weight" in by_name,
        max_ctx_tokens=fields.get("context_length") or ModelArch.max_ctx_tokens,
        attn_sinks="blk.0.attn_sinks.weight" in by_name or "blk.0.attn_sinks" in by_name,
        n_dense_lead_layers=fields.get("leading_dense_block_count") or 0,
        moe_layer_step=fields.get("interleave_moe_layer_step") or 1,
        known_family=family in KNOWN_FAMILIES,
        **mla,
        **_chunked(family, n_layers),
        **_recurrent(fields, family, n_layers, hidden),
        **_attention_free(fields, family, n_layers),
        sources={"file": str(path), **fields.sources},
        tensors=tensors,
    )
    return arch, tuple(fields.notes)


def _mla(fields: _Fields) -> dict[str, Any]:
    """DeepSeek-style MLA: the cache holds kv_lora_rank + the rope dimension per token (llama.cpp's
    n_embd_head_k for MLA files); key_length_mla / value_length_mla are the per-head widths, written by
    converters since the K/V split (older files carry them in key_length / value_length)."""
    lora = fields.get("attention.kv_lora_rank")
    if not lora:
        return {}
    rope = fields.get("rope.dimension_count") or 0
    head = fields.get("attention.key_length_mla") or fields.get("attention.key_length") or 0
    value = fields.get("attention.value_length_mla") or fields.get("attention.value_length") or 0
    mla = {"kv_lora_rank": lora, "q_lora_rank": fields.get("attention.q_lora_rank") or 0}
    mla |= {"qk_rope_head_dim": rope, "v_head_dim": value}
    return mla | ({"head_dim": head} if head else {})


def _chunked(family: str, n_layers: int) -> dict[str, Any]:
    if family not in _CHUNKED:
        return {}
    chunk, pattern = _CHUNKED[family]
    return {"chunk_tokens": chunk, "chunked_layers": swa_layers_from_pattern(n_layers, pattern)}


def _recurrent(fields: _Fields, family: str, n_layers: int, hidden: int) -> dict[str, Any]:
    """Which layers hold a fixed state instead of a KV cache, and the state's shape from `{arch}.ssm.*`
    and `{arch}.shortconv.l_cache` (src/llama-hparams.cpp n_embd_r / n_embd_s read these)."""
    layers: frozenset[int] = frozenset()
    kind = _KV_ZERO_FAMILIES.get(family) or _PURE_RECURRENT.get(family)
    if family in _INTERVAL_FAMILIES:
        interval = fields.get("full_attention_interval") or 4
        layers, kind = frozenset(i for i in range(n_layers) if (i + 1) % interval), "gated_delta"
    elif family in _PURE_RECURRENT:
        layers = frozenset(range(n_layers))
    elif kind is not None:
        kv_heads = _per_layer(fields, family, "attention.head_count_kv")[:n_layers]
        layers = frozenset(i for i, n in enumerate(kv_heads) if n == 0)
    ffn_only: frozenset[int] = frozenset()
    if family in _FFN_ONLY_FAMILIES:
        # Nemotron-H: a layer with neither KV heads nor a feed-forward is Mamba 2; one with a feed-forward
        # and no KV heads is a feed-forward block that keeps nothing (llama-model.cpp, is_recurrent(il))
        ffn = _per_layer(fields, family, "feed_forward_length")
        ffn_only = frozenset(i for i in layers if i < len(ffn) and ffn[i])
        layers -= ffn_only
    if not layers or kind is None:
        return {}
    shape = _recurrent_shape(fields, kind, hidden)
    return {
        "recurrent": shape,
        "recurrent_layers": layers,
        "ffn_only_layers": ffn_only,
        "parallel_attention": family in _PARALLEL_ATTENTION,
    }


def _attention_free(fields: _Fields, family: str, n_layers: int) -> dict[str, Any]:
    """Llama-Nemotron NAS files (deci) give a no-op attention block 0 KV heads in the per-layer
    head_count_kv; such a layer is its feed-forward alone and keeps no cache."""
    if family not in _NO_OP_ATTENTION_FAMILIES:
        return {}
    kv_heads = _per_layer(fields, family, "attention.head_count_kv")[:n_layers]
    return {"ffn_only_layers": frozenset(i for i, n in enumerate(kv_heads) if n == 0)}


def _per_layer(fields: _Fields, family: str, suffix: str) -> tuple[int | float | bool, ...]:
    """The values of a per-layer array `{arch}.{suffix}`; none when the key is a scalar or missing."""
    values = fields.meta.get(f"{family}.{suffix}")
    return values.values if isinstance(values, ArrayInfo) and values.values is not None else ()


def _recurrent_shape(fields: _Fields, kind: str, hidden: int) -> RecurrentShape:
    """llama.cpp requires the conv, inner and state sizes of every SSM family (load_hparams reads them
    without a default); a file without them is refused in one line."""
    if kind == "shortconv":
        return RecurrentShape(kind, d_conv=fields.required("shortconv.l_cache"), d_inner=hidden)
    return RecurrentShape(
        kind,
        d_conv=fields.required("ssm.conv_kernel"),
        d_inner=fields.required("ssm.inner_size"),
        d_state=fields.required("ssm.state_size"),
        n_group=fields.get("ssm.group_count") or (0 if kind == "mamba" else 1),
        n_heads=fields.get("ssm.time_step_rank") or 0,
        dt_rank=fields.get("ssm.time_step_rank") or 0,
    )


class _Fields:
    """Typed access to `{arch}.*` integer keys; per-layer arrays collapse to their max, with a note."""

    def __init__(self, path: Path, meta: Mapping[str, MetaValue], family: str) -> None:
        self._path, self.meta, self.family = path, meta, family
        self.sources: dict[str, str] = {}
        self.notes: list[str] = []

    def error(self, problem: str) -> ModelFileError:
        return ModelFileError(str(self._path), problem)

    def get(self, suffix: str) -> int | None:
        key = f"{self.family}.{suffix}"
        value = self.meta.get(key)
        if value is None:
            return None
        if isinstance(value, ArrayInfo):
            return self._array_max(key, value)
        return self._checked(key, value, suffix, key)

    def _checked(self, key: str, value: object, suffix: str, source: str) -> int:
        limit = _MAX_LAYERS if suffix in _LOOPED_KEYS else _MAX_ARCH_VALUE
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= limit:
            raise self.error(f"{key} is {value!r}, not an integer in 0..{limit}")
        self.sources[suffix] = source
        return value

    def required(self, suffix: str) -> int:
        value = self.get(suffix)
        if not value:
            raise self.error(f"missing or zero {self.family}.{suffix}")
        return value

    def _array_max(self, key: str, value: ArrayInfo) -> int:
        if value.values is None or value.type in ("float32", "float64", "bool") or not value.values:
            raise self.error(f"{key} is an array of {value.length} {value.type}, not per-layer integers")
        top = self._checked(key, max(value.values), key.split(".", 1)[1], f"max of per-layer {key}")
        self.notes.append(f"{key} varies per layer ({min(value.values)}..{top}); using the max, {top}")
        return top


def _swa_layers(fields: _Fields, family: str, n_layers: int, window: int | None) -> frozenset[int]:
    pattern = fields.meta.get(f"{family}.attention.sliding_window_pattern")
    if not window:
        return frozenset()
    if isinstance(pattern, ArrayInfo) and pattern.values is not None:
        fields.sources["swa_layers"] = f"per-layer flags in {family}.attention.sliding_window_pattern"
        return frozenset(i for i, flag in enumerate(pattern.values[:n_layers]) if flag)
    if isinstance(pattern, int) and not isinstance(pattern, bool):
        fields.sources["swa_layers"] = f"{family}.attention.sliding_window_pattern = {pattern}"
        return swa_layers_from_pattern(n_layers, pattern)
    if family in _DEFAULT_SWA_PATTERN:
        pattern = _DEFAULT_SWA_PATTERN[family]
        fields.sources["swa_layers"] = f"llama.cpp's default pattern {pattern} for {family}"
        return swa_layers_from_pattern(n_layers, pattern)
    fields.notes.append(f"{family} has a sliding window but llama.cpp applies it to no layer pattern we know")
    return frozenset()


def _vocab_size(fields: _Fields, by_name: Mapping[str, TensorInfo]) -> int:
    tokens = fields.meta.get("tokenizer.ggml.tokens")
    vocab = tokens.length if isinstance(tokens, ArrayInfo) else 0
    vocab = vocab or fields.get("vocab_size") or _shape_dim(by_name, "token_embd.weight", 1)
    if not vocab:
        raise fields.error(
            "cannot tell the vocabulary size: no tokenizer.ggml.tokens and no token_embd.weight"
        )
    return vocab


def _shape_dim(by_name: Mapping[str, TensorInfo], name: str, dim: int) -> int:
    t = by_name.get(name)
    return t.shape[dim] if t is not None and len(t.shape) > dim else 0


def _name(meta: Mapping[str, MetaValue], path: Path) -> str:
    name = meta.get("general.name")
    return name if isinstance(name, str) and name.strip() else path.stem
