"""Quantization formats: ggml storage types, llama.cpp file types, MLX modes and KV cache types.

A `QuantSpec` is what a user names (`Q4_K_M`, `mlx-4bit-g32`); `parse_quant` reads the name and
`weight_tensors` turns it into exact bytes per tensor of a model. The ggml catalog and llama.cpp rules
live in `llama_quant`, the MLX rules in `mlx_quant`; this module is the one door to both.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

from tuilab.core.arch import LayerKind, ModelArch
from tuilab.core.errors import UnknownNameError, UsageError
from tuilab.core.ggml import GGML_TYPES, GGML_TYPES_BY_ID, GGMLType, ggml_type
from tuilab.core.llama_quant import LLAMA_FILE_TYPES, LlamaFileType, llama_file_type
from tuilab.core.mlx_quant import FLOAT_MODES, MIXED_RECIPES, UNQUANTIZED_BITS, MLXQuant

__all__ = [
    "GGML_TYPES",
    "GGML_TYPES_BY_ID",
    "KV_TYPES",
    "LLAMA_FILE_TYPES",
    "LLAMA_LADDER",
    "MLX_LADDER",
    "GGMLType",
    "KVType",
    "LlamaFileType",
    "MLXQuant",
    "QuantSpec",
    "SizedTensor",
    "all_quant_names",
    "ggml_type",
    "kv_type",
    "kv_type_refusal",
    "llama_file_type",
    "nominal_bits",
    "parse_quant",
    "quant_engine",
    "quant_name",
    "sized_to_weights",
    "weight_tensors",
]

QuantSpec = LlamaFileType | MLXQuant


@dataclass(frozen=True)
class KVType:
    """A KV cache element type; `engine` says who offers it."""

    name: str
    bits_per_element: float
    engine: str  # "llama.cpp", "mlx" or "any"


# llama.cpp --cache-type-k/v uses ggml types (sizes as above); MLX's QuantizedKVCache stores
# kv_bits with an fp16 scale and bias per group of 64 (mlx_lm/models/cache.py, kv_group_size=64).
KV_TYPES: dict[str, KVType] = {
    "f16": KVType("f16", 16.0, "any"),
    "q8_0": KVType("q8_0", GGML_TYPES["Q8_0"].bits_per_weight, "llama.cpp"),
    "q4_0": KVType("q4_0", GGML_TYPES["Q4_0"].bits_per_weight, "llama.cpp"),
    "mlx-kv8": KVType("mlx-kv8", 8 + 32 / 64, "mlx"),
    "mlx-kv4": KVType("mlx-kv4", 4 + 32 / 64, "mlx"),
}


def kv_type(name: str) -> KVType:
    try:
        return KV_TYPES[name.lower()]
    except KeyError:
        raise UnknownNameError("KV cache type", name, KV_TYPES) from None


def kv_types_for(engine: str) -> list[str]:
    """The KV cache types `engine` offers ("llama.cpp" or "mlx")."""
    return [name for name, kv in KV_TYPES.items() if kv.engine in ("any", engine)]


def kv_type_refusal(kv_name: str, arch: ModelArch, rotating_cache: bool = False) -> str | None:
    """Why `kv_name` cannot hold this model's cache, or None when it can.

    mlx-lm keeps a sliding-window layer in a RotatingKVCache (and every layer when --max-kv-size is given),
    and its RotatingKVCache.to_quantized raises "RotatingKVCache Quantization NYI" (mlx_lm/models/cache.py),
    so an MLX quantized KV cache fails mid-generation on those: refuse it before anything loads.
    """
    kv = kv_type(kv_name)
    if kv.engine != "mlx" or kv.name not in ("mlx-kv8", "mlx-kv4"):
        return None
    if rotating_cache:
        return (
            f"KV cache type {kv.name!r} cannot go with --max-kv-size: mlx-lm cannot quantize the "
            "rotating cache it makes (RotatingKVCache); use f16"
        )
    sliding = [i for i in range(arch.n_layers) if arch.layer_kind(i) is LayerKind.SLIDING]
    if sliding:
        return (
            f"KV cache type {kv.name!r} cannot hold {arch.name}: {len(sliding)} of its {arch.n_layers} "
            f"layers use a {arch.sliding_window}-token sliding window, which mlx-lm keeps in a "
            "RotatingKVCache that it cannot quantize; use f16"
        )
    return None


def kv_type_or_f16(engine: str, name: str) -> str:
    """`name` when `engine` offers it, else f16 (every engine's default): for views spanning engines."""
    return name if name.lower() in kv_types_for(engine) else "f16"


@dataclass(frozen=True)
class SizedTensor:
    """One stored tensor of a quantized model: its storage type and exact bytes."""

    name: str
    layer: int | None  # block index, None for embeddings, output and final norm
    type_name: str  # a ggml type name (Q4_K, F32) or an MLX label (affine4/g64, mxfp4/g32, bf16)
    n_bytes: int


# --- names -------------------------------------------------------------------------------------------

_IMATRIX_SUFFIX = "-imatrix"
_MLX_BITS_RE = re.compile(r"^mlx-(\d+)bit(?:-g(\d+))?$")
_MLX_MIXED_RE = re.compile(r"^mlx-(mixed_\d_\d)(?:-g(\d+))?$")


def parse_quant(name: str) -> QuantSpec:
    """Read what a user types: `Q4_K_M`, `q4_k_m`, `f16`, `IQ4_XS-imatrix`, `mlx-4bit`, `mlx-4bit-g32`,
    `mlx-bf16`, `mlx-fp16`, `mlx-mxfp4`, `mlx-nvfp4`, `mlx-mxfp8`, `mlx-mixed_3_6`."""
    key = name.strip()
    if key.lower().startswith("mlx-"):
        spec: QuantSpec | None = _parse_mlx(key.lower())
    else:
        spec = _parse_llama(key.upper())
    if spec is None:
        common = (*LLAMA_LADDER, *MLX_LADDER)
        raise UnknownNameError("quant", name, all_quant_names(), listing=common)
    return spec


def _parse_llama(key: str) -> LlamaFileType | None:
    imatrix = key.endswith(_IMATRIX_SUFFIX.upper())
    base = LLAMA_FILE_TYPES.get(key.removesuffix(_IMATRIX_SUFFIX.upper()))
    if base is None or not imatrix:
        return base
    return LlamaFileType(base.name, base.ftype_id, base.base, imatrix=True)


def _parse_mlx(key: str) -> MLXQuant | None:
    suffix = key.removeprefix("mlx-")
    if suffix in ("bf16", "fp16"):
        return MLXQuant(bits=UNQUANTIZED_BITS, dtype=suffix)
    if suffix in FLOAT_MODES:
        group, bits, _ = FLOAT_MODES[suffix]
        return MLXQuant(bits=bits, group_size=group, mode=suffix)
    group = 64
    try:
        if m := _MLX_MIXED_RE.match(key):
            recipe, group = m.group(1), int(m.group(2) or group)
            low_bits = MIXED_RECIPES[recipe][0] if recipe in MIXED_RECIPES else 0
            return MLXQuant(bits=low_bits, group_size=group, recipe=recipe)
        if m := _MLX_BITS_RE.match(key):
            return MLXQuant(bits=int(m.group(1)), group_size=int(m.group(2) or group))
        return None
    except UsageError:
        return None  # a well-formed name for a combination MLX does not offer: unknown name


def all_quant_names() -> list[str]:
    """Every canonical name `parse_quant` accepts (group-size variants of MLX names aside)."""
    mlx = [f"mlx-{b}bit" for b in (2, 3, 4, 5, 6, 8)] + ["mlx-bf16", "mlx-fp16"]
    mlx += [f"mlx-{m}" for m in FLOAT_MODES] + [f"mlx-{r}" for r in MIXED_RECIPES]
    return [*LLAMA_FILE_TYPES, *mlx]


def quant_engine(q: QuantSpec) -> str:
    return "llama.cpp" if isinstance(q, LlamaFileType) else "mlx"


def quant_name(q: QuantSpec) -> str:
    """Canonical name; `parse_quant(quant_name(q)) == q`."""
    if isinstance(q, MLXQuant):
        return q.name
    default_imatrix = LLAMA_FILE_TYPES[q.name].imatrix
    return q.name + (_IMATRIX_SUFFIX if q.imatrix and not default_imatrix else "")


def nominal_bits(q: QuantSpec) -> float:
    """Bits per weight the name promises: the base ggml type's (Q4_K_M: 4.5), MLX's with scales."""
    return q.base.bits_per_weight if isinstance(q, LlamaFileType) else q.nominal_bits


# --- sizes -------------------------------------------------------------------------------------------


def weight_tensors(q: QuantSpec | None, arch: ModelArch) -> tuple[SizedTensor, ...]:
    """Every stored tensor of `arch` under `q`, in the arch's order. With `q` None the tensors must carry
    their own `ggml_type` (and maybe `n_bytes`), as read from a GGUF file."""
    if q is None:
        return tuple(_as_read(t.name, t.layer, t.ggml_type, t.n_bytes, t.n_elements) for t in arch.tensors)
    if isinstance(q, MLXQuant):
        return tuple(
            SizedTensor(t.name, t.layer, q.type_name(t, arch), q.tensor_bytes(t, arch)) for t in arch.tensors
        )
    types = q.tensor_types(arch)
    return tuple(
        SizedTensor(t.name, t.layer, types[t.name].name, types[t.name].tensor_bytes(t.n_elements))
        for t in arch.tensors
    )


def _as_read(name: str, layer: int | None, type_name: str | None, n_bytes: int | None, n: int) -> SizedTensor:
    if type_name is None:
        raise UsageError(f"tensor {name} has no stored type: name a quantization for this model")
    if n_bytes is None:
        n_bytes = ggml_type(type_name).tensor_bytes(n)
    return SizedTensor(name, layer, type_name, n_bytes)


def sized_to_weights(arch: ModelArch, weights_bytes: int, label: str) -> ModelArch:
    """`arch` as read from one GGUF file, re-sized to stand for another file of the same model known only
    by its size (a GGUF repo's uploader recipe, such as unsloth's UD-Q4_K_XL): every stored tensor's bytes
    scaled by one factor so they total `weights_bytes`, types as read, the file type named `label`. The
    layer kinds, KV cache and compute buffers are the architecture's, and stay."""
    read = weight_tensors(None, arch)
    read_total = sum(t.n_bytes for t in read)
    if weights_bytes <= 0 or read_total <= 0:
        raise UsageError(f"{label}: {weights_bytes:,} bytes of weights cannot be planned from its size")
    tensors, done_read, done_scaled = [], 0, 0
    for info, sized in zip(arch.tensors, read, strict=True):
        done_read += sized.n_bytes  # cumulative rounding: the scaled bytes total weights_bytes exactly
        scaled = done_read * weights_bytes // read_total
        tensors.append(dataclasses.replace(info, ggml_type=sized.type_name, n_bytes=scaled - done_scaled))
        done_scaled = scaled
    return dataclasses.replace(arch, tensors=tuple(tensors), file_type=label)


# --- ladders -----------------------------------------------------------------------------------------

# What `--ladder` shows, top to bottom, as canonical names for `parse_quant`: llama.cpp file types from
# 16 bits down to the ternary types, MLX from bf16 down to 2 bits, then the mixed and float modes.
# IQ3_XXS sits above Q2_K: the Q2_K mixture is the smaller file (Llama-3.1-8B: 3.16 vs 3.25 bits per
# weight in llama.cpp's tools/quantize/README.md).
LLAMA_LADDER: tuple[str, ...] = (
    "F16",
    "Q8_0",
    "Q6_K",
    "Q5_K_M",
    "Q4_K_M",
    "Q4_K_S",
    "IQ4_XS",
    "Q3_K_M",
    "Q3_K_S",
    "IQ3_XXS",
    "Q2_K",
    "IQ2_XS",
    "IQ2_XXS",
    "IQ1_M",
    "IQ1_S",
    "TQ2_0",
    "TQ1_0",
)
MLX_LADDER: tuple[str, ...] = (
    "mlx-bf16",
    "mlx-8bit",
    "mlx-6bit",
    "mlx-5bit",
    "mlx-4bit",
    "mlx-3bit",
    "mlx-2bit",
    "mlx-mixed_3_6",
    "mlx-mxfp4",
)
