"""Turn what a user typed as MODEL into an architecture, a quant and an engine.

MODEL is a GGUF path, a model directory (Hugging Face or MLX format), a profile name, a catalog name
(case-insensitive; a profile of the same name wins), an HF repo id found in the local cache, or
`demo`. Nothing is downloaded and no engine is imported.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tuilab.core.arch import ModelArch
from tuilab.core.errors import UnknownNameError, UsageError
from tuilab.core.quant import MLXQuant, QuantSpec, parse_quant, quant_engine, quant_name

if TYPE_CHECKING:
    from tuilab.models.catalog import CatalogEntry

DEFAULT_LLAMA_QUANT = "Q4_K_M"  # the usual sweet spot (README: the ladder)
DEFAULT_MLX_QUANT = "mlx-4bit"
_MLX_FLOAT_NAMES = {"f16": "mlx-fp16", "bf16": "mlx-bf16"}  # `--engine mlx --quant f16` means unquantized


@dataclass(frozen=True)
class ResolvedModel:
    name: str
    arch: ModelArch
    quant: QuantSpec | None  # None: the exact tensors of a GGUF file
    quant_name: str | None
    path: Path | None
    engine: str  # "llama.cpp" or "mlx"
    format: str  # "gguf", "mlx", "hf", "profile" or "catalog"


def resolve_model(spec: str, quant: str | None = None, engine: str | None = None) -> ResolvedModel:
    """Resolve MODEL (and an optional --quant / --engine) without loading anything."""
    path = Path(spec).expanduser()
    if spec == "demo":
        from tuilab.models.tiny import ensure_demo_model

        return _from_gguf(ensure_demo_model() / "tiny-f16.gguf", quant, engine)
    if path.is_file():
        return _from_gguf(path, quant, engine)
    if path.is_dir():
        return _from_dir(path, quant, engine)
    from tuilab.models import profiles

    if spec in profiles.model_profile_names():
        return _from_profile(spec, quant, engine)
    from tuilab.models.catalog import catalog_names, find_catalog_entry

    entry = find_catalog_entry(spec)
    if entry is not None:
        return _from_catalog(entry, quant, engine)
    if spec.count("/") == 1 and not spec.startswith((".", "/")):
        from tuilab.models.hf import find_in_hf_cache

        cached = find_in_hf_cache(spec)
        if cached is not None:
            return _from_dir(cached, quant, engine)
        raise UsageError(
            f"{spec!r} is not in the local Hugging Face cache; fetch it with `tuilab pull {spec}`"
        )
    raise UnknownNameError("model", spec, [*profiles.model_profile_names(), *catalog_names(), "demo"])


def _pick_quant(quant: str | None, engine: str | None, default: str) -> QuantSpec:
    if quant is None:
        return parse_quant(DEFAULT_MLX_QUANT if engine == "mlx" else default)
    q = parse_quant(quant)
    if engine == "mlx" and quant_engine(q) != "mlx" and quant.lower() in _MLX_FLOAT_NAMES:
        return parse_quant(_MLX_FLOAT_NAMES[quant.lower()])
    return q


def _from_gguf(path: Path, quant: str | None, engine: str | None) -> ResolvedModel:
    from tuilab.models.gguf import read_gguf

    if path.suffix.lower() != ".gguf":
        raise UsageError(f"{path}: not a .gguf file or a model directory")
    model = read_gguf(path)
    if engine == "mlx":
        raise UsageError(f"{path}: GGUF files run on llama.cpp; MLX needs a model directory")
    q = parse_quant(quant) if quant else None
    name = quant_name(q) if q is not None else model.file_type_name
    return ResolvedModel(model.name, model.arch, q, name, path, "llama.cpp", "gguf")


def _from_dir(path: Path, quant: str | None, engine: str | None) -> ResolvedModel:
    from tuilab.models.hf import read_hf_config

    model = read_hf_config(path)
    if model.mlx_bits is not None and quant is None:
        q: QuantSpec = MLXQuant(bits=model.mlx_bits, group_size=model.mlx_group_size or 64)
        fmt = "mlx"
    else:
        # Unquantized: plan it as stored unless a quant is asked for ("what if I convert it to 4 bits").
        stored = "mlx-bf16" if (model.dtype or "").lower() in ("bfloat16", "bf16") else "mlx-fp16"
        q = _pick_quant(quant or stored, engine or "mlx", stored)
        fmt = "hf"
    return ResolvedModel(model.arch.name, model.arch, q, quant_name(q), path, quant_engine(q), fmt)


def _from_catalog(entry: CatalogEntry, quant: str | None, engine: str | None) -> ResolvedModel:
    """A catalog model: nothing on disk yet, so any quant (the engine follows it), Q4_K_M by default. A
    model_type the config parser does not know yet is refused rather than planned as a Llama."""
    from tuilab.models.catalog import unplannable_reason

    reason = unplannable_reason(entry)
    if reason is not None:
        raise UsageError(f"catalog model {entry.name} ({entry.repo}): {reason}")
    q = _pick_quant(quant, engine, DEFAULT_LLAMA_QUANT)
    return ResolvedModel(entry.name, entry.arch(), q, quant_name(q), None, quant_engine(q), "catalog")


def _from_profile(name: str, quant: str | None, engine: str | None) -> ResolvedModel:
    from tuilab.models.profiles import load_model_profile

    prof = load_model_profile(name)
    q = _pick_quant(quant, engine, prof.default_quant or DEFAULT_LLAMA_QUANT)
    return ResolvedModel(prof.name, prof.arch, q, quant_name(q), None, quant_engine(q), "profile")
