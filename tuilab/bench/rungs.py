"""The rungs of a ladder: which quantizations, where each lives on disk, and making the missing ones.

The input model is the top rung and the reference every other rung is compared with. Rungs are written
under the output directory, named by quant, and reused when already there; writes are atomic (a .part
file or directory renamed into place), so anything found on disk is complete.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tuilab.bench.child import StopSignal
from tuilab.bench.quantize_llama import imatrix_message, needs_imatrix, quantize_llama
from tuilab.bench.quantize_mlx import quantize_mlx
from tuilab.core.errors import UsageError
from tuilab.core.quant import (
    LlamaFileType,
    MLXQuant,
    QuantSpec,
    all_quant_names,
    nominal_bits,
    parse_quant,
    quant_engine,
    quant_name,
)

# The study's rungs (issue 6): 16-bit down to the 2-bit importance-matrix type, and MLX's affine widths
# plus one mixed recipe. The MLX top rung is the source's own 16-bit dtype, filled in by default_quants.
DEFAULT_LLAMA_QUANTS: tuple[str, ...] = ("F16", "Q8_0", "Q6_K", "Q4_K_M", "Q3_K_M", "IQ2_XS")
DEFAULT_MLX_QUANTS: tuple[str, ...] = (
    "mlx-8bit",
    "mlx-6bit",
    "mlx-4bit",
    "mlx-3bit",
    "mlx-2bit",
    "mlx-mixed_3_6",
)
SOURCE_LLAMA_TYPES = ("F32", "F16", "BF16")  # types a ladder may start from: quantizing twice compounds error


@dataclass(frozen=True)
class Rung:
    quant: str  # canonical quant name
    spec: QuantSpec
    path: Path  # a GGUF file or an MLX directory
    is_source: bool  # the input model itself: the reference rung


def slug(name: str) -> str:
    """A file-name-safe form of a model or machine name."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.").lower() or "model"


def normalize_quant(name: str, engine: str) -> QuantSpec:
    """A quant the user typed, read for `engine`: `8bit`, `4bit-g32`, `fp16` mean MLX's on the MLX engine."""
    key = name.strip()
    if engine == "mlx" and not key.lower().startswith("mlx-"):
        short = "mlx-" + {"f16": "fp16"}.get(key.lower(), key.lower())
        if short in all_quant_names() or short.split("-g")[0] in all_quant_names():
            key = short
    spec = parse_quant(key)
    if quant_engine(spec) != engine:
        raise UsageError(f"{name!r} is a {quant_engine(spec)} quant; this ladder runs on {engine}")
    return spec


def default_quants(engine: str, source_quant: str) -> list[str]:
    if engine == "mlx":
        return [source_quant, *DEFAULT_MLX_QUANTS]
    return list(DEFAULT_LLAMA_QUANTS)


def plan_rungs(
    source: Path, engine: str, source_quant: str, quants: Sequence[str], out_dir: Path
) -> list[Rung]:
    """One Rung per distinct quant, highest bits first; the source's own quant is the source itself."""
    specs: dict[str, QuantSpec] = {}
    for name in quants:
        spec = normalize_quant(name, engine)
        specs.setdefault(quant_name(spec), spec)
    ordered = sorted(specs.items(), key=lambda item: -nominal_bits(item[1]))
    return [_rung(source, name, spec, source_quant, out_dir) for name, spec in ordered]


def _rung(source: Path, name: str, spec: QuantSpec, source_quant: str, out_dir: Path) -> Rung:
    if name == source_quant:
        return Rung(name, spec, source, True)
    if isinstance(spec, MLXQuant):
        return Rung(name, spec, out_dir / name, False)
    return Rung(name, spec, out_dir / f"{slug(source.stem)}-{name.lower()}.gguf", False)


def rung_on_disk(rung: Rung) -> bool:
    if isinstance(rung.spec, MLXQuant):
        return (rung.path / "config.json").is_file()
    return rung.path.is_file() and rung.path.stat().st_size > 0


def make_rung(rung: Rung, source: Path, stop: StopSignal | None = None) -> str:
    """Make the rung if it is missing: "source", "reused", "made", or "needs_imatrix" (nothing written)."""
    if rung.is_source:
        return "source"
    if rung_on_disk(rung):
        return "reused"
    if isinstance(rung.spec, LlamaFileType):
        if needs_imatrix(rung.spec):
            return "needs_imatrix"
        quantize_llama(source, rung.path, rung.spec, stop=stop)
    else:
        quantize_mlx(source, rung.path, rung.spec, stop=stop)
    return "made"


def imatrix_hint(rung: Rung, source: Path) -> str:
    assert isinstance(rung.spec, LlamaFileType)
    return imatrix_message(source, rung.path, rung.spec)


def rung_bytes(rung: Rung) -> int:
    """Bytes on disk: the GGUF file, or the weight files of an MLX directory."""
    if rung.path.is_file():
        return rung.path.stat().st_size
    return sum(p.stat().st_size for p in rung.path.glob("*.safetensors"))
