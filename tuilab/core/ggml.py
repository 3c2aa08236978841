"""ggml storage types: how many bytes a block of weights takes, for every type GGUF files use.

Sizes come from ggml's block structs (ggml/src/ggml-common.h) and are checked against gguf-py's
GGML_QUANT_SIZES in tests/core/test_quant.py.
"""

from __future__ import annotations

from dataclasses import dataclass

from tuilab.core.errors import UnknownNameError


@dataclass(frozen=True)
class GGMLType:
    """One ggml storage type: `block_bytes` hold `block_elems` weights."""

    name: str
    type_id: int  # enum ggml_type in ggml/include/ggml.h
    block_elems: int
    block_bytes: int

    @property
    def bits_per_weight(self) -> float:
        return self.block_bytes * 8 / self.block_elems

    @property
    def is_quantized(self) -> bool:
        """ggml_is_quantized: block types; plain floats and ints are not (ggml/src/ggml.c type_traits)."""
        return self.block_elems > 1

    def tensor_bytes(self, n_elements: int) -> int:
        """Bytes of a tensor with this many elements (rows are whole blocks in valid tensors)."""
        blocks = -(-n_elements // self.block_elems)
        return blocks * self.block_bytes


# (name, ggml_type id, elements per block, bytes per block), from the block_* structs in
# ggml/src/ggml-common.h and enum ggml_type in ggml/include/ggml.h (llama.cpp b6xxx, 2025); checked
# against gguf-py's GGML_QUANT_SIZES in tests/core/test_quant.py.
_GGML_TABLE: tuple[tuple[str, int, int, int], ...] = (
    ("F32", 0, 1, 4),
    ("F16", 1, 1, 2),
    ("Q4_0", 2, 32, 18),  # fp16 d + 16 nibble bytes
    ("Q4_1", 3, 32, 20),  # fp16 d, m + 16
    ("Q5_0", 6, 32, 22),  # fp16 d + 4 qh + 16
    ("Q5_1", 7, 32, 24),  # fp16 d, m + 4 qh + 16
    ("Q8_0", 8, 32, 34),  # fp16 d + 32 int8
    ("Q2_K", 10, 256, 84),  # 16 scales + 64 qs + fp16 d, dmin
    ("Q3_K", 11, 256, 110),  # 32 hmask + 64 qs + 12 scales + fp16 d
    ("Q4_K", 12, 256, 144),  # fp16 d, dmin + 12 scales + 128 qs
    ("Q5_K", 13, 256, 176),  # fp16 d, dmin + 12 scales + 32 qh + 128 qs
    ("Q6_K", 14, 256, 210),  # 128 ql + 64 qh + 16 scales + fp16 d
    ("IQ2_XXS", 16, 256, 66),  # fp16 d + 64 qs
    ("IQ2_XS", 17, 256, 74),  # fp16 d + 64 qs + 8 scales
    ("IQ3_XXS", 18, 256, 98),  # fp16 d + 96 qs
    ("IQ1_S", 19, 256, 50),  # fp16 d + 32 qs + 16 qh
    ("IQ4_NL", 20, 32, 18),  # fp16 d + 16 qs
    ("IQ3_S", 21, 256, 110),  # fp16 d + 64 qs + 8 qh + 32 signs + 4 scales
    ("IQ2_S", 22, 256, 82),  # fp16 d + 64 qs + 8 qh + 8 scales
    ("IQ4_XS", 23, 256, 136),  # fp16 d + 2 scales_h + 4 scales_l + 128 qs
    ("I8", 24, 1, 1),
    ("I16", 25, 1, 2),
    ("I32", 26, 1, 4),
    ("I64", 27, 1, 8),
    ("F64", 28, 1, 8),
    ("IQ1_M", 29, 256, 56),  # 32 qs + 16 qh + 8 scales
    ("BF16", 30, 1, 2),
    ("TQ1_0", 34, 256, 54),  # 48 base-3 qs + 4 qh + fp16 d
    ("TQ2_0", 35, 256, 66),  # 64 2-bit qs + fp16 d
    ("MXFP4", 39, 32, 17),  # e8m0 scale + 16 fp4 bytes
    ("NVFP4", 40, 64, 36),  # 4 ue4m3 sub-block scales + 32 fp4 bytes
    ("Q1_0", 41, 128, 18),  # fp16 d + 16 sign-bit bytes
    ("Q2_0", 42, 64, 18),  # fp16 d + 16 2-bit bytes
)

GGML_TYPES: dict[str, GGMLType] = {n: GGMLType(n, i, e, b) for n, i, e, b in _GGML_TABLE}
GGML_TYPES_BY_ID: dict[int, GGMLType] = {t.type_id: t for t in GGML_TYPES.values()}


def ggml_type(name: str) -> GGMLType:
    try:
        return GGML_TYPES[name.upper()]
    except KeyError:
        raise UnknownNameError("ggml type", name, GGML_TYPES) from None
