"""Turn a GGUF header's metadata and tensor table into a `ModelArch`, the way llama.cpp reads them.

The parsing lives in `gguf.py`; this module only interprets `{arch}.*` keys and tensor names (bounded, with
per-layer arrays collapsed to their max), and holds the metadata value types both modules share.
Keys: https://github.com/ggml-org/ggml/blob/master/docs/gguf.md and src/llama-model.cpp (llama.cpp).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from tuilab.core.arch import ModelArch, TensorInfo, swa_layers_from_pattern
from tuilab.core.errors import ModelFileError

# Sliding-window layer patterns llama.cpp sets when the file has no pattern key
# (llama_hparams::set_swa_pattern calls in src/llama-model.cpp).
_DEFAULT_SWA_PATTERN = {"gemma2": 2, "gemma3": 6, "cohere2": 4}
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
    arch = ModelArch(
        name=_name(meta, path),
        family=family,
        n_layers=n_layers,
        hidden_size=hidden,
        n_heads=n_heads,
        n_kv_heads=fields.get("attention.head_count_kv") or n_heads,
        head_dim=fields.get("attention.key_length") or hidden // n_heads,
        ffn_size=ffn_size,
        vocab_size=_vocab_size(fields, by_name),
        tied_embeddings="output.weight" not in by_name,
        n_experts=n_experts,
        n_experts_used=fields.get("expert_used_count") or 0,
        expert_ffn_size=fields.get("expert_feed_forward_length") or (ffn_size if n_experts else 0),
        shared_expert_ffn_size=fields.get("expert_shared_feed_forward_length") or 0,
        sliding_window=window or None,
        swa_layers=swa_layers,
        attn_bias="blk.0.attn_q.bias" in by_name or "blk.0.attn_qkv.bias" in by_name,
        qk_norm="blk.0.attn_q_norm.weight" in by_name,
        fused_qkv="blk.0.attn_qkv.weight" in by_name,
        max_ctx_tokens=fields.get("context_length") or ModelArch.max_ctx_tokens,
        sources={"file": str(path), **fields.sources},
        tensors=tensors,
    )
    return arch, tuple(fields.notes)


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
