"""The ladder's input: a 16/32-bit GGUF for llama.cpp or an unquantized model directory for MLX.

A quantized input is refused (quantizing it again compounds the error and the reference would not be the
model's own weights); a corrupt file fails here, with the reader's message, before any engine starts.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

from tuilab.bench.rungs import SOURCE_LLAMA_TYPES
from tuilab.core.arch import ModelArch
from tuilab.core.errors import UsageError
from tuilab.engines.protocol import engine_name
from tuilab.models.resolve import ResolvedModel, resolve_model


@dataclass(frozen=True)
class Source:
    name: str
    path: Path
    engine: str
    quant: str  # the top rung's quant name: F16/BF16/F32, or mlx-fp16/mlx-bf16
    arch: ModelArch


def resolve_source(model: str, engine: str | None = None) -> Source:
    wanted = engine_name(engine) if engine else None
    return source_of(resolve_model(model, None, wanted), model)


def source_of(resolved: ResolvedModel, typed: str) -> Source:
    """The ladder's input for a resolved model; a UsageError saying why when a ladder cannot start there."""
    if resolved.path is None:
        raise UsageError(
            f"{typed!r} is a profile without weights; the ladder needs a GGUF or a model directory"
        )
    if resolved.format == "gguf":
        quant = resolved.quant_name or "?"
        if quant.upper() not in SOURCE_LLAMA_TYPES:
            raise UsageError(
                f"{resolved.path}: a {quant} file; the ladder starts from F16, BF16 or F32 weights"
            )
        return Source(resolved.name, resolved.path, "llama.cpp", quant.upper(), resolved.arch)
    if resolved.format == "mlx":
        raise UsageError(f"{resolved.path}: already MLX-quantized; the ladder starts from 16-bit weights")
    return Source(resolved.name, resolved.path, "mlx", _mlx_top_quant(resolved.path), resolved.arch)


def bench_command(resolved: ResolvedModel) -> str | None:
    """The `tuilab bench ...` line that ladders this model (its file or folder, quoted for a shell), or
    None when no ladder can start from it (a profile without weights, an already-quantized model)."""
    try:
        source = source_of(resolved, resolved.name)
    except UsageError:
        return None
    return f"tuilab bench {shlex.quote(str(source.path))}"


def _mlx_top_quant(path: Path) -> str:
    from tuilab.models.hf import read_hf_config

    dtype = (read_hf_config(path).dtype or "bfloat16").lower()
    return "mlx-fp16" if dtype in ("float16", "fp16") else "mlx-bf16"
