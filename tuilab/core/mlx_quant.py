"""MLX quantization as mlx-lm's `convert` writes it: bytes per tensor for each bit width and mode.

Follows mlx_lm/utils.py `quantize_model`, mlx_lm/convert.py `mixed_quant_predicate_builder` and
mlx/nn/layers/quantized.py (mlx-lm 0.28+, mlx 0.29+): Linear, Embedding and SwitchLinear weights whose
input width is a whole number of groups are quantized; everything else stays in the 16-bit dtype.
"""

from __future__ import annotations

from dataclasses import dataclass

from tuilab.core.arch import ModelArch, TensorInfo
from tuilab.core.errors import UsageError

# mode -> (required group size, bits, scale bytes per group); mx.quantize refuses other group sizes
# for the float modes ("mxfp4 quantization requires group size 32"). Scales are e8m0 (mxfp4/mxfp8)
# or e4m3 (nvfp4) bytes, with no bias (mx.quantize returns (w, scales) for these modes).
FLOAT_MODES: dict[str, tuple[int, int, int]] = {
    "mxfp4": (32, 4, 1),
    "nvfp4": (16, 4, 1),
    "mxfp8": (32, 8, 1),
}
AFFINE_BITS = (2, 3, 4, 5, 6, 8)  # mx.quantize affine bit widths
AFFINE_GROUP_SIZES = (32, 64, 128)
UNQUANTIZED_BITS = 16
DTYPE_BYTES = {"bf16": 2, "fp16": 2}  # the dtype mlx-lm saves unquantized weights, scales and biases in

# mlx_lm/convert.py QUANT_RECIPES: recipe -> (low bits, high bits).
MIXED_RECIPES: dict[str, tuple[int, int]] = {
    "mixed_2_6": (2, 6),
    "mixed_3_4": (3, 4),
    "mixed_3_6": (3, 6),
    "mixed_4_6": (4, 6),
}

# Families whose mlx-lm model class has a `quant_predicate` keeping the MoE router at 8 bits, group 64
# (mlx_lm/models/qwen3_moe.py, qwen3_next.py, gpt_oss.py, minimax.py, granitemoe.py, jamba.py,
# lfm2_moe.py, afmoe.py, bailing_moe.py, Klear.py, kimi_linear.py, gemma4_text.py), named as GGUF
# `general.architecture` names them.
ROUTER_8BIT_FAMILIES = frozenset(
    {
        "qwen3moe",
        "qwen3next",
        "qwen35moe",
        "gpt-oss",
        "minimax-m2",
        "granitemoe",
        "granitehybrid",
        "jamba",
        "lfm2moe",
        "afmoe",
        "bailingmoe",
        "bailingmoe2",
        "kimi-linear",
        "gemma4",
    }
)
_ROUTER_LAYER = (8, 64, "affine")


@dataclass(frozen=True)
class MLXQuant:
    """One mlx-lm quantization: `bits` 16 means unquantized weights in `dtype`."""

    bits: int = 4
    group_size: int = 64
    mode: str = "affine"  # affine | mxfp4 | nvfp4 | mxfp8
    recipe: str | None = None  # one of MIXED_RECIPES; `bits` is then its low bit width
    dtype: str = "bf16"  # storage of unquantized tensors and of affine scales and biases

    def __post_init__(self) -> None:
        problem = self._problem()
        if problem:
            raise UsageError(f"invalid MLX quantization: {problem}")

    def _problem(self) -> str | None:
        if self.dtype not in DTYPE_BYTES:
            return f"dtype {self.dtype!r} is not one of {sorted(DTYPE_BYTES)}"
        if self.recipe is not None:
            if self.recipe not in MIXED_RECIPES or self.mode != "affine":
                return f"recipe {self.recipe!r} (mixed recipes are affine only: {sorted(MIXED_RECIPES)})"
            if self.bits != MIXED_RECIPES[self.recipe][0]:
                return f"recipe {self.recipe} has low bits {MIXED_RECIPES[self.recipe][0]}, not {self.bits}"
        if self.mode in FLOAT_MODES:
            group, bits, _ = FLOAT_MODES[self.mode]
            ok = (self.group_size, self.bits) == (group, bits)
            return None if ok else f"{self.mode} is {bits}-bit with group size {group}"
        if self.mode != "affine":
            return f"mode {self.mode!r} is not affine, {', '.join(FLOAT_MODES)}"
        if self.bits != UNQUANTIZED_BITS and self.bits not in AFFINE_BITS:
            return f"{self.bits} bits (affine offers {AFFINE_BITS}, or 16 for unquantized)"
        return None if self.group_size in AFFINE_GROUP_SIZES else f"group size {self.group_size}"

    @property
    def name(self) -> str:
        """Canonical name: mlx-4bit, mlx-4bit-g32, mlx-bf16, mlx-mxfp4, mlx-mixed_3_6."""
        if self.bits == UNQUANTIZED_BITS:
            return f"mlx-{self.dtype}"
        if self.mode in FLOAT_MODES:
            return f"mlx-{self.mode}"
        core = self.recipe if self.recipe else f"{self.bits}bit"
        return f"mlx-{core}" + ("" if self.group_size == 64 else f"-g{self.group_size}")

    @property
    def nominal_bits(self) -> float:
        """Bits per quantized weight with its share of scales (and biases): 4-bit g64 is 4.5."""
        if self.bits == UNQUANTIZED_BITS:
            return float(UNQUANTIZED_BITS)
        if self.mode in FLOAT_MODES:
            group, bits, scale_bytes = FLOAT_MODES[self.mode]
            return bits + scale_bytes * 8 / group
        return self.bits + 2 * DTYPE_BYTES[self.dtype] * 8 / self.group_size

    def layer_quant(self, tensor: TensorInfo, arch: ModelArch) -> tuple[int, int, str] | None:
        """(bits, group size, mode) mlx-lm gives this tensor, or None when it stays unquantized."""
        if self.bits == UNQUANTIZED_BITS or not _is_quantizable(tensor):
            return None
        if tensor.shape[0] % self.group_size:  # quantize_model: weight.shape[-1] % group_size
            return None
        if self.recipe is not None:
            return self._mixed(tensor, arch)
        if "ffn_gate_inp" in tensor.name and arch.family in ROUTER_8BIT_FAMILIES:
            return _ROUTER_LAYER
        return (self.bits, self.group_size, self.mode)

    def _mixed(self, tensor: TensorInfo, arch: ModelArch) -> tuple[int, int, str]:
        """mixed_quant_predicate: lm_head, and v_proj and down_proj of "more bits" layers, get high bits."""
        low, high = MIXED_RECIPES[self.recipe or ""]
        i, n = tensor.layer or 0, arch.n_layers
        more = i < n // 8 or i >= 7 * n // 8 or (i - n // 8) % 3 == 2
        name = tensor.name
        # mlx-lm tests "v_proj" in the path, which phi3's fused "qkv_proj" matches too.
        high_role = any(k in name for k in (".attn_v.", ".attn_qkv.", ".ffn_down"))
        if (more and high_role) or name == "output.weight":
            return (high, self.group_size, "affine")
        return (low, self.group_size, "affine")

    def tensor_bytes(self, tensor: TensorInfo, arch: ModelArch) -> int:
        """Bytes mlx-lm saves for this tensor: packed uint32 weights plus per-group scales (and biases)."""
        lq = self.layer_quant(tensor, arch)
        if lq is None:
            return tensor.n_elements * DTYPE_BYTES[self.dtype]
        bits, group, mode = lq
        row_elems = tensor.shape[0]
        n_rows = tensor.n_elements // row_elems
        packed_bytes = -(-row_elems * bits // 32) * 4  # mx.quantize packs each row into uint32 words
        groups = row_elems // group
        # float modes: one scale byte per group; affine: a scale and a bias in the weights' dtype
        per_group_bytes = FLOAT_MODES[mode][2] if mode in FLOAT_MODES else 2 * DTYPE_BYTES[self.dtype]
        return n_rows * (packed_bytes + groups * per_group_bytes)

    def type_name(self, tensor: TensorInfo, arch: ModelArch) -> str:
        """Short label for one tensor's storage: `affine4/g64`, `mxfp4/g32`, `bf16`."""
        lq = self.layer_quant(tensor, arch)
        if lq is None:
            return self.dtype
        bits, group, mode = lq
        return f"{mode}/g{group}" if mode in FLOAT_MODES else f"affine{bits}/g{group}"


def _is_quantizable(tensor: TensorInfo) -> bool:
    """Weights of Linear, Embedding and SwitchLinear layers: matrices that are not norms or biases."""
    name = tensor.name
    return tensor.is_matrix and name.endswith(".weight") and "norm" not in name
