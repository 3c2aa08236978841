"""Apple Silicon speed constants per chip generation and tier, for llama.cpp's Metal backend and MLX.

Not every Apple GPU reaches its datasheet bandwidth (the M1 Ultra least of all), and the fixed cost of a
layer falls from one generation to the next. Both are fitted per generation on llama.cpp's public Apple
Silicon table (docs/benchmarks/calibration.md, "llama.cpp Metal per chip generation"); this module
reads a chip's generation and tier from its name and returns them. MLX has its own constants: one fit for
M2 to M4, and the M1's own, whose GPU reaches far less of its bandwidth under MLX.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Fitted, per generation, on the full-core chip of every tier in ggml-org/llama.cpp discussion #4167
# (LLaMA-2 7B F16, Q8_0 and Q4_0, llama-bench tg128, against the datasheet bandwidth); the binned chips
# are held out and checked (docs/benchmarks/calibration.md, "llama.cpp Metal per chip generation").
# Ultra chips (two dies joined by UltraFusion) reach less of their bandwidth than one die does.


@dataclass(frozen=True)
class MetalConstants:
    """Share of the datasheet bandwidth decode reaches, and the fixed cost per layer, for one chip."""

    efficiency: float
    per_layer_s: float
    basis: str  # which fit these come from, for a plan's explanation


_FITTED: dict[tuple[int, bool], tuple[float, float]] = {
    (1, False): (0.878, 177e-6),  # M1, M1 Pro, M1 Max
    (1, True): (0.775, 177e-6),  # M1 Ultra
    (2, False): (0.921, 158e-6),
    (2, True): (0.861, 158e-6),
    (3, False): (0.916, 153e-6),
    (3, True): (0.810, 153e-6),
    (4, False): (0.858, 119e-6),  # M4, M4 Pro, M4 Max (no M4 Ultra was made)
}
# A chip whose generation or name is not known: the 2023 fit on an M1 Max and an M2 Ultra (F16 and Q4_0
# rows of the same discussion), which the per-generation fit replaced.
UNKNOWN_CHIP = MetalConstants(0.88, 165e-6, "no chip generation known: the M1 Max / M2 Ultra fit")

_CHIP_RE = re.compile(r"\bM(\d+)(?:\s+(Pro|Max|Ultra))?\b", re.IGNORECASE)


def chip_generation(chip_name: str) -> tuple[int, str] | None:
    """(generation, tier) from a chip or GPU name ("Apple M3 Max" -> (3, "Max")); tier "" for the base
    chip; None when the name is not an Apple M-series chip."""
    m = _CHIP_RE.search(chip_name)
    if m is None:
        return None
    return int(m.group(1)), (m.group(2) or "").capitalize()


def metal_constants(chip_name: str) -> MetalConstants:
    """The constants for this chip: its own generation's fit, else the nearest earlier generation fitted
    for its tier (an M5 Max takes the M4 fit, an M5 Ultra the M3 Ultra one), else `UNKNOWN_CHIP`."""
    parsed = chip_generation(chip_name)
    if parsed is None:
        return UNKNOWN_CHIP
    generation, tier = parsed
    ultra = tier == "Ultra"
    fitted = sorted((g for g, u in _FITTED if u == ultra and g <= generation), reverse=True)
    if not fitted:
        return UNKNOWN_CHIP
    efficiency, per_layer_s = _FITTED[(fitted[0], ultra)]
    label = f"M{fitted[0]}{' Ultra' if ultra else ''} fit"
    if fitted[0] != generation:
        label += f", borrowed: no M{generation} row measured"
    return MetalConstants(efficiency, per_layer_s, label)


# MLX (mlx-lm): least squares over public MLX decode rates on M2 Ultra, M3 Ultra, M3 Max and M3 Pro, checked
# on five held-out M4 Max rows of mlx-lm's own BENCHMARKS.md (-12% to +8%) and one M5 Max row (+7%), so
# M4 and M5 keep it (docs/benchmarks/calibration.md, "MLX generation" and "MLX per chip generation").
MLX_FIT = MetalConstants(0.865, 85e-6, "M2/M3 MLX fit")
# M1: fitted on three dense 4-bit rows on an M1 Max 32-core (vllm-mlx's M1 Max benchmark page: Llama 3.2 1B
# 253.5, 3B 113.0, Mistral 7B v0.3 55.6 tok/s); the M2/M3 constants predicted 16-26% too fast there.
MLX_M1_FIT = MetalConstants(0.654, 79e-6, "M1 MLX fit")


def mlx_constants(chip_name: str) -> MetalConstants:
    """MLX's constants for this chip: the M1's own fit, else the M2/M3 one (a chip of unknown name too)."""
    parsed = chip_generation(chip_name)
    return MLX_M1_FIT if parsed is not None and parsed[0] == 1 else MLX_FIT
