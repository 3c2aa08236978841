"""ggml storage types and llama.cpp file types, with the per-tensor type each file type picks.

`LlamaFileType.tensor_type` follows `llama_tensor_get_type` in llama.cpp's src/llama-quant.cpp
(ggml-org/llama.cpp, read at commit 007dbbf3): which tensors stay unquantized, the output and
embedding special cases, the "more bits" layers, GQA/MoE/70B bumps and the block-size fallbacks.
"""

from __future__ import annotations

from dataclasses import dataclass

from tuilab.core.arch import ModelArch, TensorInfo
from tuilab.core.errors import UnknownNameError
from tuilab.core.ggml import GGML_TYPES, GGMLType

# Types that need an importance matrix for some of their tensors (tensor_requires_imatrix in
# llama-quant.cpp), so every published file of these file types was made with one.
_NEEDS_IMATRIX = frozenset(
    {"IQ1_S", "IQ1_M", "IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ2_M", "IQ3_XXS", "IQ3_XS", "Q2_K_S"}
)


@dataclass(frozen=True)
class LlamaFileType:
    """A llama.cpp file type (`llama-quantize` TYPE): its llama_ftype id and default ggml type.

    `imatrix` says whether the file was made with an importance matrix; llama.cpp picks a few
    tensor types differently with one (IQ3_XXS, IQ4_XS/NL, Q4_0/Q5_0 ffn_down).
    """

    name: str
    ftype_id: int  # enum llama_ftype in include/llama.h
    base: GGMLType  # llama_ftype_get_default_type in src/llama-quant.cpp
    imatrix: bool = False

    def tensor_type(self, tensor: TensorInfo, arch: ModelArch) -> GGMLType:
        """The ggml type llama-quantize writes `tensor` as, in a model shaped like `arch`."""
        tensors = arch.tensors
        if all(t.name != tensor.name for t in tensors):
            tensors = (*tensors, tensor)
        return self.tensor_types(arch, tensors)[tensor.name]

    def tensor_types(self, arch: ModelArch, tensors: tuple[TensorInfo, ...] = ()) -> dict[str, GGMLType]:
        """Types for all of `tensors` (default: the arch's), visited in llama.cpp's order.

        The order matters: the "more bits" rules count attn_v and ffn_down tensors as they come, and
        llama.cpp's loader sorts weights by layer number, then name (weight_name_comparer in
        src/llama-model-loader.h)."""
        return _pick_types(self, arch, tensors or arch.tensors)


# (name, llama_ftype id, default ggml type) from enum llama_ftype in include/llama.h and
# llama_ftype_get_default_type in src/llama-quant.cpp.
_FTYPE_TABLE: tuple[tuple[str, int, str], ...] = (
    ("F32", 0, "F32"),
    ("F16", 1, "F16"),
    ("Q4_0", 2, "Q4_0"),
    ("Q4_1", 3, "Q4_1"),
    ("Q8_0", 7, "Q8_0"),
    ("Q5_0", 8, "Q5_0"),
    ("Q5_1", 9, "Q5_1"),
    ("Q2_K", 10, "Q2_K"),
    ("Q3_K_S", 11, "Q3_K"),
    ("Q3_K_M", 12, "Q3_K"),
    ("Q3_K_L", 13, "Q3_K"),
    ("Q4_K_S", 14, "Q4_K"),
    ("Q4_K_M", 15, "Q4_K"),
    ("Q5_K_S", 16, "Q5_K"),
    ("Q5_K_M", 17, "Q5_K"),
    ("Q6_K", 18, "Q6_K"),
    ("IQ2_XXS", 19, "IQ2_XXS"),
    ("IQ2_XS", 20, "IQ2_XS"),
    ("Q2_K_S", 21, "Q2_K"),
    ("IQ3_XS", 22, "IQ3_S"),
    ("IQ3_XXS", 23, "IQ3_XXS"),
    ("IQ1_S", 24, "IQ1_S"),
    ("IQ4_NL", 25, "IQ4_NL"),
    ("IQ3_S", 26, "IQ3_S"),
    ("IQ3_M", 27, "IQ3_S"),
    ("IQ2_S", 28, "IQ2_XS"),
    ("IQ2_M", 29, "IQ2_S"),
    ("IQ4_XS", 30, "IQ4_XS"),
    ("IQ1_M", 31, "IQ1_M"),
    ("BF16", 32, "BF16"),
    ("TQ1_0", 36, "TQ1_0"),
    ("TQ2_0", 37, "TQ2_0"),
    ("MXFP4_MOE", 38, "MXFP4"),
    ("Q1_0", 40, "Q1_0"),
    ("Q2_0", 41, "Q2_0"),
)

LLAMA_FILE_TYPES: dict[str, LlamaFileType] = {
    n: LlamaFileType(n, i, GGML_TYPES[b], imatrix=n in _NEEDS_IMATRIX) for n, i, b in _FTYPE_TABLE
}


def llama_file_type(name: str) -> LlamaFileType:
    try:
        return LLAMA_FILE_TYPES[name.upper()]
    except KeyError:
        raise UnknownNameError("llama.cpp file type", name, LLAMA_FILE_TYPES) from None


# --- llama_tensor_get_type, transcribed rule by rule (src/llama-quant.cpp) ---------------------------

# Substrings of weights llama.cpp never quantizes (tensor_allows_quantization); "_norm.weight" and the
# MoE router "ffn_gate_inp" are the ones our architectures have.
_KEEP_SUBSTRINGS = (
    "_norm.weight",
    "ffn_gate_inp.weight",
    "altup",
    "laurel",
    "per_layer_model_proj",
    "ssm_conv1d",
    "shortconv.conv.weight",  # LFM2's convolution, "small yet 2D" like Mamba's
    "attn_rel_b.weight",
    "time_mix_",
    "position_embd",
    "token_types",
)
_IQ_LOW = frozenset({"IQ2_XXS", "IQ2_XS", "IQ1_S", "IQ2_S", "IQ2_M", "IQ1_M"})
_IQ2_SM = frozenset({"IQ2_S", "IQ2_M"})
# Block-size fallback when a row (ne0) is not a whole number of blocks (tensor_type_fallback).
_FALLBACK = {
    **dict.fromkeys(("IQ1_S", "IQ1_M", "IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ3_XXS", "IQ3_S", "IQ4_XS"), "IQ4_NL"),
    **dict.fromkeys(("Q2_K", "Q3_K", "TQ1_0", "TQ2_0", "Q2_0"), "Q4_0"),
    "Q4_K": "Q5_0",
    "Q5_K": "Q5_1",
    "Q6_K": "Q8_0",
}
# llm_type 70B: n_layer 80 in these archs (load_hparams in src/llama-model.cpp; llama needs GQA too).
_FAMILIES_70B = frozenset({"llama", "qwen2", "deci", "mpt"})


def ggml_n_dims(shape: tuple[int, ...]) -> int:
    """ggml_n_dims: trailing dimensions of size 1 do not count (a (4096, 1) tensor is 1-D)."""
    dims = len(shape)
    while dims > 1 and shape[dims - 1] == 1:
        dims -= 1
    return dims


def allows_quantization(tensor: TensorInfo) -> bool:
    """tensor_allows_quantization: 2-D and 3-D `*weight` tensors but norms, routers and a few small ones."""
    if ggml_n_dims(tensor.shape) < 2 or not tensor.name.endswith("weight"):
        return False
    return not any(s in tensor.name for s in _KEEP_SUBSTRINGS)


def _category(name: str) -> str:
    """tensor_get_category: substring tests in llama.cpp's order (attn_qkv before attn_v, ...)."""
    if name == "output.weight":
        return "output"
    if name in ("token_embd.weight", "per_layer_token_embd.weight"):
        return "token_embd"
    for key in ("attn_qkv.weight", "attn_kv_b.weight", "attn_v.weight", "attn_k.weight", "attn_q.weight"):
        if key in name:
            return "attn_v" if key in ("attn_qkv.weight", "attn_kv_b.weight") else key[:-7]
    if "attn_output.weight" in name:
        return "attn_output"
    return next((k for k in ("ffn_up", "ffn_gate", "ffn_down") if k in name), "other")


@dataclass(frozen=True)
class _Ctx:
    """What the rules read from the model besides the tensor: llama.cpp's hparams and counters."""

    ft: str
    imatrix: bool
    n_layers: int
    n_gqa: int
    n_expert: int
    falcon: bool
    is_70b: bool
    tied: bool
    n_attn_v: int


def _make_ctx(ft: LlamaFileType, arch: ModelArch, tensors: tuple[TensorInfo, ...]) -> _Ctx:
    is_70b = arch.n_layers == 80 and arch.family in _FAMILIES_70B
    if arch.family == "llama":
        is_70b = is_70b and arch.n_heads != arch.n_kv_heads
    return _Ctx(
        ft=ft.name,
        imatrix=ft.imatrix,
        n_layers=arch.n_layers,
        n_gqa=arch.n_heads // max(1, arch.n_kv_heads),
        n_expert=arch.n_experts,
        falcon=arch.family == "falcon",
        is_70b=is_70b,
        tied=all(t.name != "output.weight" for t in tensors),
        n_attn_v=sum(_category(t.name) == "attn_v" for t in tensors),
    )


def _use_more_bits(i_layer: int, n_layers: int) -> bool:
    return i_layer < n_layers // 8 or i_layer >= 7 * n_layers // 8 or (i_layer - n_layers // 8) % 3 == 2


def _pick_types(ft: LlamaFileType, arch: ModelArch, tensors: tuple[TensorInfo, ...]) -> dict[str, GGMLType]:
    ctx = _make_ctx(ft, arch, tensors)
    counters = {"attn_v": 0, "ffn_down": 0, "ffn_gate": 0, "ffn_up": 0}
    out: dict[str, GGMLType] = {}
    for t in sorted(tensors, key=lambda t: (-1 if t.layer is None else t.layer, t.name)):
        if not allows_quantization(t):
            out[t.name] = GGML_TYPES["F32"]  # convert_hf_to_gguf writes 1-D and router tensors as F32
            continue
        if not ft.base.is_quantized:
            out[t.name] = ft.base  # no mixture rules for F32/F16/BF16 files
            continue
        cat = _category(t.name)
        name = _pick(ctx, ft.base.name, t, cat, counters.get(cat, 0))
        if cat in counters:
            counters[cat] += 1
        out[t.name] = _fallback(GGML_TYPES[name], t.shape[0])
    return out


def _fallback(chosen: GGMLType, ncols: int) -> GGMLType:
    if ncols % chosen.block_elems == 0:
        return chosen
    # llama.cpp throws for types without a fallback (Q8_0, Q4_0, ...); F16 is what it does after one.
    alt = GGML_TYPES[_FALLBACK.get(chosen.name, "F16")]
    return alt if ncols % alt.block_elems == 0 else GGML_TYPES["F16"]


def _pick(c: _Ctx, base: str, t: TensorInfo, cat: str, i: int) -> str:
    """llama_tensor_get_type_impl: the branch order is llama.cpp's, since the first match wins.

    `i` counts earlier tensors of the same kind; past the i-quant branch, MoE models use the layer
    number from the name instead, since experts may come out of order (layer_info in llama-quant.cpp)."""
    if cat == "output" or (c.tied and cat == "token_embd"):
        return _output(c, base, t)
    if c.ft == "MXFP4_MOE":
        return "MXFP4" if len(t.shape) > 2 and t.shape[2] > 1 else "Q8_0"
    if cat == "token_embd":
        return _token_embd(c, base)
    if c.ft in _IQ_LOW:
        return _iq_low(c, base, cat, i)
    if c.n_expert > 1 and cat != "attn_v":
        i = t.layer or 0
    if cat == "attn_v":
        return _attn_v(c, base, i)
    if cat in ("attn_k", "attn_q"):
        if cat == "attn_k" and c.n_expert == 8:
            return "Q8_0"  # "bumping this to Q8_0 trades just ~128MB"
        return {"IQ3_XS": "IQ3_XXS", "IQ3_XXS": "IQ2_S"}.get(c.ft, base)
    if cat == "ffn_down":
        return _ffn_down(c, base, i)
    if cat == "attn_output":
        return _attn_output(c, base)
    if cat in ("ffn_gate", "ffn_up") and c.ft == "IQ3_XS" and c.n_layers // 8 <= i < 7 * c.n_layers // 8:
        return "IQ3_XXS"
    return base


def _output(c: _Ctx, base: str, t: TensorInfo) -> str:
    if c.ft == "MXFP4_MOE" or c.falcon or t.shape[0] % GGML_TYPES[base].block_elems:
        return "Q8_0"
    if c.ft in _IQ_LOW or c.ft == "IQ3_XXS":
        return "Q5_K"
    return base if base == "Q8_0" else "Q6_K"


def _token_embd(c: _Ctx, base: str) -> str:
    if c.ft in ("IQ2_XXS", "IQ2_XS", "IQ1_S", "IQ1_M"):
        return "Q2_K"
    if c.ft in ("IQ2_S", "IQ2_M", "IQ3_XXS"):
        return "IQ3_S"
    return "Q4_K" if c.ft in ("TQ1_0", "TQ2_0", "Q2_0") else base


def _iq_low(c: _Ctx, base: str, cat: str, i: int) -> str:
    """The 1- and 2-bit i-quant mixtures: attn_v, ffn_down and attn_output get more bits."""
    low_bump = "IQ3_S" if c.ft in _IQ2_SM else "Q2_K"
    if cat == "attn_v":
        return "Q4_K" if c.n_gqa >= 4 or c.n_expert >= 4 else low_bump
    if cat == "attn_k" and c.n_expert == 8:
        return "Q4_K"
    if cat == "ffn_down":
        return low_bump if i < c.n_layers // 8 else base
    if cat == "attn_output":
        if c.n_expert == 8:
            return "Q5_K"
        if c.ft in ("IQ1_S", "IQ1_M"):
            return "IQ2_XXS"
        return "IQ3_S" if c.ft in _IQ2_SM else base
    return base


def _attn_v(c: _Ctx, base: str, i: int) -> str:
    new = _attn_v_mixture(c, base, i)
    if c.is_70b and new in ("Q3_K", "Q4_K"):
        new = "Q5_K"  # 8 heads share attn_v in 70B: more bits for little size
    return "Q8_0" if c.n_expert == 8 else new


def _attn_v_mixture(c: _Ctx, base: str, i: int) -> str:
    ft, gqa4 = c.ft, c.n_gqa >= 4
    if ft == "Q2_K":
        return "Q4_K" if gqa4 else "Q3_K"
    if ft == "Q2_K_S" and gqa4:
        return "Q4_K"
    if ft == "IQ3_XXS":
        return "Q4_K" if gqa4 else ("IQ3_XXS" if c.imatrix else "IQ3_S")
    if (ft in ("IQ3_XS", "IQ3_S") and gqa4) or ft == "IQ3_M":
        return "Q4_K"
    if ft == "Q3_K_M":
        return "Q5_K" if i < 2 else "Q4_K"
    if ft == "Q3_K_L" or (ft in ("IQ4_NL", "IQ4_XS") and gqa4):
        return "Q5_K"
    if ft in ("Q4_K_M", "Q5_K_M") and _use_more_bits(i, c.n_attn_v):
        return "Q6_K"
    if ft == "Q4_K_S" and i < 4:
        return "Q5_K"
    return base


def _ffn_down(c: _Ctx, base: str, i: int) -> str:
    ft, n, more = c.ft, c.n_layers, _use_more_bits(i, c.n_layers)
    if ft == "Q2_K":
        return "Q3_K"
    if ft == "Q2_K_S":
        return "Q4_K" if i < n // 8 else base
    if ft == "IQ3_XXS" and not c.imatrix:
        return "Q4_K" if i < n // 8 else "Q3_K"
    if ft == "Q3_K_M":
        return "Q5_K" if i < n // 16 else ("Q4_K" if not c.falcon or more else "Q3_K")
    if ft == "IQ3_M" and (i < n // 8 or (c.n_expert == 8 and more)):
        return "Q4_K"
    if ft == "Q3_K_L":
        return "Q4_K" if c.falcon else "Q5_K"
    if ft == "Q4_K_M":
        if c.falcon:
            return "Q6_K" if i < n // 16 else ("Q5_K" if more else "Q4_K")
        return "Q6_K" if more else base
    if i < n // 8 and ft in ("IQ4_NL", "IQ4_XS") and not c.imatrix:
        return "Q5_K"
    if ft == "Q5_K_M" and more:
        return "Q6_K"
    if ft == "Q4_K_S" and not c.falcon and i < n // 8:
        return "Q5_K"
    if ft in ("Q4_0", "Q5_0") and c.imatrix and i < n // 8:
        return "Q4_1" if ft == "Q4_0" else "Q5_1"  # guard against "craziness" in the first ffn_down layers
    return base


_ATTN_OUT_8X = frozenset(
    {
        "Q2_K",
        "IQ3_XS",
        "IQ3_XXS",
        "Q3_K_S",
        "Q3_K_M",
        "IQ4_NL",
        "Q4_K_S",
        "Q4_K_M",
        "IQ3_S",
        "IQ3_M",
        "IQ4_XS",
    }
)


def _attn_output(c: _Ctx, base: str) -> str:
    if c.falcon:
        return "Q4_K" if c.ft == "Q3_K_L" else base
    if c.n_expert == 8:
        return "Q5_K" if c.ft in _ATTN_OUT_8X else base
    bumps = {"Q2_K": "Q3_K", "IQ3_XXS": "IQ3_S", "Q3_K_M": "Q4_K", "Q3_K_L": "Q5_K", "IQ3_M": "Q4_K"}
    return bumps.get(c.ft, base)
