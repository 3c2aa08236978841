"""Tiny (and shape-true large) Llama-shaped models with random weights, written without any network.

One seeded set of weights goes out as an F16 GGUF (plus llama.cpp quantizations) and as an MLX
directory (plus an MLX 4-bit copy) with one locally built tokenizer, so the same prompt gives the same
token ids and, at F16, the same greedy tokens on both engines. It also provides tuilab's demo model.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tuilab import paths
from tuilab.core.errors import UnknownNameError
from tuilab.models.model_writers import (
    F16Array,
    ModelShape,
    ModelWriteError,
    TensorSpec,
    WeightFill,
    llama_cpp_available,
    mlx_available,
    quantize_gguf,
    quantize_mlx,
    write_gguf_f16,
    write_mlx_dir,
)
from tuilab.models.tiny_vocab import Vocab, build_vocab

__all__ = [
    "DEFAULT_QUANTS",
    "SHAPES",
    "ModelShape",
    "ModelWriteError",
    "TinyModels",
    "ensure_demo_model",
    "gguf_file_name",
    "llama_cpp_available",
    "mlx_available",
    "pool_weights",
    "write_gguf_set",
    "write_shape_true",
    "write_tiny_set",
]

Progress = Callable[[Path, float], None]  # (path written, seconds it took)
DEFAULT_QUANTS: tuple[str, ...] = ("Q8_0", "Q4_K_M", "Q4_0")

SHAPES: Mapping[str, ModelShape] = {
    # Multiples of 256 so every K-quant block fits (QK_K = 256 in ggml/src/ggml-common.h).
    "tiny": ModelShape("tiny", 256, 2, 4, 2, 512, 512, 2048, 10000.0),
    # A tiny Mixtral-style MoE (llama architecture with experts): 4 experts of 512, 2 picked per token. It
    # exercises expert offload (--n-cpu-moe) on a CPU; GGUF only.
    "tiny-moe": ModelShape("tiny-moe", 256, 2, 4, 2, 512, 512, 2048, 10000.0, n_experts=4, n_experts_used=2),
    # https://huggingface.co/meta-llama/Llama-3.2-1B/blob/main/config.json
    "llama-3.2-1b": ModelShape("llama-3.2-1b", 2048, 16, 32, 8, 8192, 128256, 131072, 500000.0, True),
    # https://huggingface.co/meta-llama/Meta-Llama-3-8B/blob/main/config.json
    "llama-3-8b": ModelShape("llama-3-8b", 4096, 32, 32, 8, 14336, 128256, 8192, 500000.0),
}


# ---------------------------------------------------------------- weights


def tiny_weights(shape: ModelShape, vocab: Vocab, seed: int) -> WeightFill:
    """Seeded per-tensor weights, scaled so each block changes the residual stream about as much as the
    embedding (std 1/sqrt(fan_in)) and the logits spread widely (std ~6), so greedy picks are far apart and
    F16 rounding differences between engines do not flip them (a design choice, checked by the tests)."""
    # Zero output rows: logits 0 < the max of the rest, so greedy output is plain printable ASCII text.
    silent = [i for i in range(shape.vocab_size) if not _is_printable(vocab, i)]

    def fill(spec: TensorSpec) -> F16Array:
        rng = np.random.default_rng([seed, spec.index])
        if len(spec.shape) == 1:
            return (1.0 + 0.1 * rng.standard_normal(spec.shape)).astype(np.float16)
        std = 1.0 if spec.gguf_name == "token_embd.weight" else 1.0 / np.sqrt(spec.shape[-1])
        if spec.gguf_name == "output.weight":
            std *= 6.0
        data = (std * rng.standard_normal(spec.shape, dtype=np.float32)).astype(np.float16)
        if spec.gguf_name == "output.weight":
            data[silent] = 0
        return data

    return fill


def _is_printable(vocab: Vocab, token_id: int) -> bool:
    text = vocab.text_of(token_id)
    return bool(text) and all(0x20 <= b < 0x7F for b in text)


def pool_weights(seed: int, pool_elems: int = 1 << 22) -> WeightFill:
    """Fast weights for shape-true models: one random pool (std 0.02, as HF's initializer_range) tiled at a
    per-tensor offset; speed and memory depend only on shapes and types, so the values need not be fresh."""
    pool = (0.02 * np.random.default_rng(seed).standard_normal(pool_elems, dtype=np.float32)).astype(
        np.float16
    )

    def fill(spec: TensorSpec) -> F16Array:
        if len(spec.shape) == 1:
            return np.ones(spec.shape, dtype=np.float16)
        start = (spec.index * 7919) % pool_elems  # any prime stride: tensors start at different offsets
        n = int(np.prod(spec.shape))
        return np.resize(np.roll(pool, -start), n).reshape(spec.shape)

    return fill


# ---------------------------------------------------------------- sets


@dataclass(frozen=True)
class TinyModels:
    """Where one tiny set lives; quantized entries are None when their engine library is missing."""

    root: Path
    gguf: Mapping[str, Path]  # quant name ("F16", "Q4_K_M") -> file
    mlx_dir: Path
    mlx_4bit_dir: Path | None = None
    moe: Mapping[str, Path] = field(default_factory=dict)  # the tiny MoE GGUF: "F16", and "Q4_0" if quantized

    @property
    def gguf_f16(self) -> Path:
        return self.gguf["F16"]

    @property
    def gguf_q8_0(self) -> Path | None:
        return self.gguf.get("Q8_0")

    @property
    def gguf_q4_k_m(self) -> Path | None:
        return self.gguf.get("Q4_K_M")

    @property
    def gguf_q4_0(self) -> Path | None:
        return self.gguf.get("Q4_0")


def gguf_file_name(shape_name: str, quant: str) -> str:
    return f"{shape_name}-{quant.lower()}.gguf"


def write_gguf_set(
    out: Path,
    shape: ModelShape,
    fill: WeightFill,
    quants: tuple[str, ...],
    progress: Progress | None = None,
) -> dict[str, Path]:
    """The F16 GGUF, then each quant from it; quants are skipped (not an error) without llama-cpp-python."""
    out.mkdir(parents=True, exist_ok=True)
    vocab = build_vocab(shape.vocab_size)
    files = {"F16": out / gguf_file_name(shape.name, "F16")}
    _timed(lambda: write_gguf_f16(files["F16"], shape, vocab, fill), files["F16"], progress)
    if quants and not llama_cpp_available():
        return files
    for quant in quants:
        dst = out / gguf_file_name(shape.name, quant)
        _timed(functools.partial(quantize_gguf, files["F16"], dst, quant), dst, progress)
        files[quant.upper()] = dst
    return files


def write_tiny_set(
    out: Path,
    *,
    seed: int = 0,
    quants: tuple[str, ...] = DEFAULT_QUANTS,
    mlx_4bit: bool = True,
    progress: Progress | None = None,
    moe: bool = True,
) -> TinyModels:
    """The tiny model as GGUF (F16 + quants) and MLX (F16 + optional 4-bit), all from one set of weights;
    with `moe` also the tiny MoE GGUF (F16, and Q4_0 when quants are made) for expert-offload checks."""
    shape = SHAPES["tiny"]
    fill = tiny_weights(shape, build_vocab(shape.vocab_size), seed)
    files = write_gguf_set(out, shape, fill, quants, progress)
    mlx_dir = out / "tiny-mlx"
    _timed(lambda: write_mlx_dir(mlx_dir, shape, build_vocab(shape.vocab_size), fill), mlx_dir, progress)
    mlx_4bit_dir = None
    if mlx_4bit and mlx_available():
        mlx_4bit_dir = out / "tiny-mlx-4bit"
        shutil.rmtree(mlx_4bit_dir, ignore_errors=True)  # mlx_lm.convert refuses an existing directory
        _timed(lambda: quantize_mlx(mlx_dir, mlx_4bit_dir), mlx_4bit_dir, progress)
    moe_files: dict[str, Path] = {}
    if moe:
        moe_shape = SHAPES["tiny-moe"]
        moe_fill = tiny_weights(moe_shape, build_vocab(moe_shape.vocab_size), seed)
        moe_files = write_gguf_set(out, moe_shape, moe_fill, ("Q4_0",) if quants else (), progress)
    return TinyModels(out, files, mlx_dir, mlx_4bit_dir, moe_files)


def write_shape_true(
    out: Path,
    shape_name: str,
    *,
    seed: int = 0,
    quants: tuple[str, ...] = (),
    progress: Progress | None = None,
) -> dict[str, Path]:
    """A GGUF with a real model's tensor shapes and random weights, for speed and memory checks."""
    if shape_name not in SHAPES:
        raise UnknownNameError("model shape", shape_name, SHAPES)
    shape = SHAPES[shape_name]
    fill = (
        tiny_weights(shape, build_vocab(shape.vocab_size), seed)
        if shape_name.startswith("tiny")
        else pool_weights(seed)
    )
    return write_gguf_set(out, shape, fill, quants, progress)


def _timed(action: Callable[[], object], path: Path, progress: Progress | None) -> None:
    start_s = time.perf_counter()
    try:
        action()
    except OSError as exc:
        raise ModelWriteError(f"cannot write {path}: {exc.strerror or exc}") from exc
    if progress is not None:
        progress(path, time.perf_counter() - start_s)


def ensure_demo_model() -> Path:
    """tuilab's built-in demo model (tiny GGUF F16 + Q4_K_M when possible, MLX F16), written once into
    the models directory; a half-written set never appears there because it is renamed into place."""
    root = paths.models_dir() / "demo"
    if (root / gguf_file_name("tiny", "F16")).is_file() and (root / "tiny-mlx" / "config.json").is_file():
        return root
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".demo-", dir=root.parent))
    try:
        write_tiny_set(tmp, quants=(), mlx_4bit=False, moe=False)
        _quantize_in_child(tmp / gguf_file_name("tiny", "F16"), tmp / gguf_file_name("tiny", "Q4_K_M"))
        shutil.rmtree(root, ignore_errors=True)  # a broken earlier demo
        os.replace(tmp, root)
    except OSError:
        if not (root / gguf_file_name("tiny", "F16")).is_file():  # not a concurrent writer that won the race
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return root


def _quantize_in_child(src: Path, dst: Path) -> None:
    """Quantize in a child process, so llama.cpp never loads into the caller (`tuilab fit demo` stays
    headless and light); the demo is still usable at F16 when this fails, so failure is quiet."""
    if not llama_cpp_available():
        return
    code = "import sys, pathlib as p; from tuilab.models.model_writers import quantize_gguf as q; "
    code += "q(p.Path(sys.argv[1]), p.Path(sys.argv[2]), 'Q4_K_M')"
    package_root = str(Path(__file__).resolve().parents[2])
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")])),
    }
    subprocess.run(
        [sys.executable, "-c", code, str(src), str(dst)], env=env, capture_output=True, check=False
    )
