"""Hugging Face model directories: config.json to `ModelArch`, MLX quantization, weight bytes, and the
local hub cache. Reads files only: huggingface_hub is never imported (its import alone is slow, and
`tuilab fit` must start fast), so the cache layout is resolved here the way huggingface_hub does it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tuilab.core.arch import ModelArch, swa_layers_from_pattern
from tuilab.core.errors import ModelFileError, UsageError
from tuilab.models.safetensors import load_json, read_safetensors, safetensors_files

_CONFIG_NAME = "config.json"
_MAX_CONFIG_BYTES = 16 * 1024 * 1024  # real config.json files are a few KiB; a bound against junk
_MLX_DEFAULT_MODE = "affine"  # mlx.nn.quantize(mode="affine") when mlx-lm writes no "mode"
# Bounds against hostile configs: the tensor list loops over layers, so cap them like the GGUF reader
# (LLAMA_MAX_LAYERS = 512 and LLAMA_MAX_EXPERTS = 512 in llama.cpp's src/llama-hparams.h, 8x headroom).
_MAX_LAYERS = 4096
_LOOPED_KEYS = frozenset({"num_hidden_layers", "num_local_experts", "num_experts", "num_experts_per_tok"})
_MAX_VALUE = 2**32 - 1


@dataclass(frozen=True)
class _Family:
    """How one `model_type` maps onto ModelArch: defaults for keys its configs leave out (the
    transformers config class defaults) and the structural facts fixed by its modeling code."""

    gguf_arch: str  # the family name llama.cpp's converter gives it (convert_hf_to_gguf.py)
    defaults: Mapping[str, Any] = field(default_factory=dict)
    attn_bias: bool | None = None  # None: read `attention_bias`
    qk_norm: bool = False
    extra_norms: int = 0
    fused_qkv: bool = False
    fused_gate_up: bool = False
    swa: str = "none"  # "all" layers, "qwen" (use_sliding_window), "pattern", "ignored"
    note: str = ""


_UNTIED = {"tie_word_embeddings": False}  # LlamaConfig and kin default to separate lm_head weights
# Gemma3TextConfig defaults (transformers configuration_gemma3.py): gemma-3-4b-it's text_config names
# only hidden_size, intermediate_size, num_hidden_layers, rope_scaling and sliding_window
_GEMMA3_TEXT_DEFAULTS = {
    "vocab_size": 262_208, "num_attention_heads": 8, "num_key_value_heads": 4, "head_dim": 256,
    "max_position_embeddings": 131_072, "sliding_window": 4096, "sliding_window_pattern": 6,
    "tie_word_embeddings": True,
}  # fmt: skip
_FAMILIES: dict[str, _Family] = {
    "llama": _Family("llama", _UNTIED),
    "mistral": _Family("llama", _UNTIED, swa="all"),
    "mixtral": _Family("llama", _UNTIED, swa="all"),
    # Qwen2Attention builds q/k/v with bias=True regardless of config (modeling_qwen2.py)
    "qwen2": _Family("qwen2", _UNTIED, attn_bias=True, swa="qwen"),
    "qwen2_moe": _Family("qwen2moe", _UNTIED, attn_bias=True, swa="qwen"),
    "qwen3": _Family("qwen3", _UNTIED, qk_norm=True, swa="qwen"),
    "qwen3_moe": _Family("qwen3moe", _UNTIED, qk_norm=True, swa="qwen"),
    # Gemma2Config defaults (configuration_gemma2.py); pre/post feed-forward norms are the 2 extras
    "gemma2": _Family(
        "gemma2",
        {"tie_word_embeddings": True, "head_dim": 256, "sliding_window": 4096, "sliding_window_pattern": 2},
        extra_norms=2,
        swa="pattern",
    ),
    "gemma3_text": _Family("gemma3", _GEMMA3_TEXT_DEFAULTS, qk_norm=True, extra_norms=2, swa="pattern"),
    # Phi-3 stores qkv_proj and gate_up_proj fused; llama.cpp disables its sliding window
    # ("Phi SWA is currently disabled", src/llama-model.cpp) and mlx_lm/models/phi3.py keeps a full cache
    "phi3": _Family(
        "phi3", _UNTIED, fused_qkv=True, fused_gate_up=True, swa="ignored", note="sliding_window is unused"
    ),
    # BitNet adds attn_sub_norm and ffn_sub_norm per layer (modeling_bitnet.py)
    "bitnet": _Family("bitnet", _UNTIED, extra_norms=2),
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
    arch, model_type, family = _parse_config(raw, config_path, _model_name(directory))
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
        notes=tuple(n for n in (family.note,) if n),
    )


def known_model_type(model_type: str) -> bool:
    """Whether config.json files of this model_type are read by a family rule (else as Llama-shaped)."""
    return model_type in _FAMILIES or model_type == "gemma3"


def arch_from_config(config: Mapping[str, Any], name: str, source: str = "config.json") -> ModelArch:
    """The `ModelArch` a config.json's contents describe (text_config nesting included), for configs held
    in memory such as the catalog's; `source` names where it came from in errors."""
    return _parse_config(config, Path(source), name)[0]


def _parse_config(raw: Mapping[str, Any], config_path: Path, name: str) -> tuple[ModelArch, str, _Family]:
    text = raw["text_config"] if isinstance(raw.get("text_config"), dict) else raw
    model_type = _model_type(raw, text)
    family = _FAMILIES.get(model_type, _LLAMA_LIKE)
    cfg = {**family.defaults, **{k: v for k, v in text.items() if v is not None or k == "sliding_window"}}
    return _build_arch(_Config(config_path, model_type, cfg), family, name), model_type, family


def _model_type(raw: Mapping[str, Any], text: Mapping[str, Any]) -> str:
    model_type = text.get("model_type") or raw.get("model_type") or ""
    # gemma3 multimodal configs may leave the text model_type implicit
    if model_type == "gemma3":
        return "gemma3_text"
    return str(model_type)


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
    ffn_size, n_experts = c.req("intermediate_size"), c.opt("num_local_experts") or c.opt("num_experts") or 0
    return ModelArch(
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
        n_experts_used=c.opt("num_experts_per_tok") or 0,
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
        sources={"file": str(c.path), "model_type": c.model_type},
    )


def _sliding_window(c: _Config, family: _Family, n_layers: int) -> tuple[int | None, frozenset[int]]:
    window = c.opt("sliding_window")
    if not window or family.swa == "none":
        return None, frozenset()
    if family.swa == "qwen" and not c.flag("use_sliding_window", False):
        return None, frozenset()  # Qwen configs carry a window that is off unless use_sliding_window
    layer_types = c.cfg.get("layer_types")
    if isinstance(layer_types, list) and len(layer_types) == n_layers:
        # transformers >= 4.53 writes the per-layer kinds explicitly
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
