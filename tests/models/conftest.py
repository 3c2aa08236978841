"""Fixtures that write model files for the reader tests: GGUF files through gguf-py's GGUFWriter (the
writer llama.cpp's converters use), and Hugging Face directories with config.json and safetensors."""

from __future__ import annotations

import json
import struct
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gguf
import numpy as np
import pytest

# (name, ggml type, shape in ggml order) of a tiny Llama with hidden 256 (one K-quant block per row),
# 4 heads of 64, 2 KV heads, FFN 512, 300 tokens and 2 layers, in the mix of types a Q4_K_M file has.
TINY_HIDDEN, TINY_HEADS, TINY_KV_HEADS, TINY_FFN, TINY_VOCAB, TINY_LAYERS = 256, 4, 2, 512, 300, 2


def tiny_llama_tensors(
    n_layers: int = TINY_LAYERS, output: bool = True
) -> list[tuple[str, str, tuple[int, ...]]]:
    h, kv, f, v = TINY_HIDDEN, TINY_KV_HEADS * 64, TINY_FFN, TINY_VOCAB
    out = [("token_embd.weight", "Q8_0", (h, v))]
    for i in range(n_layers):
        p = f"blk.{i}."
        out += [
            (p + "attn_norm.weight", "F32", (h,)),
            (p + "attn_q.weight", "Q4_K", (h, h)),
            (p + "attn_k.weight", "Q4_K", (h, kv)),
            (p + "attn_v.weight", "Q6_K", (h, kv)),
            (p + "attn_output.weight", "Q4_0", (h, h)),
            (p + "ffn_norm.weight", "F32", (h,)),
            (p + "ffn_gate.weight", "Q5_K", (h, f)),
            (p + "ffn_up.weight", "BF16", (h, f)),
            (p + "ffn_down.weight", "F16", (f, h)),
        ]
    out.append(("output_norm.weight", "F32", (h,)))
    if output:
        out.append(("output.weight", "Q6_K", (h, v)))
    return out


def _tensor_bytes(type_name: str, shape: Sequence[int]) -> np.ndarray[Any, Any]:
    """Zeroed raw bytes for a tensor, shaped as GGUFWriter expects them (numpy order, bytes per row)."""
    qtype = gguf.GGMLQuantizationType[type_name]
    block_elems, block_bytes = gguf.GGML_QUANT_SIZES[qtype]
    return np.zeros((*reversed(shape[1:]), shape[0] // block_elems * block_bytes), dtype=np.uint8)


def write_gguf(
    path: Path,
    arch: str = "llama",
    kv: Mapping[str, Any] | None = None,
    tensors: Sequence[tuple[str, str, tuple[int, ...]]] | None = None,
    n_tokens: int = TINY_VOCAB,
) -> Path:
    """A GGUF with the tiny Llama's hyperparameters under `arch`, `kv` added or overriding them."""
    w = gguf.GGUFWriter(path, arch)
    values: dict[str, Any] = {
        "general.name": "tiny-llama",
        f"{arch}.block_count": TINY_LAYERS,
        f"{arch}.embedding_length": TINY_HIDDEN,
        f"{arch}.attention.head_count": TINY_HEADS,
        f"{arch}.attention.head_count_kv": TINY_KV_HEADS,
        f"{arch}.feed_forward_length": TINY_FFN,
        f"{arch}.context_length": 2048,
        "general.file_type": 15,
        **(kv or {}),
    }
    for key, value in values.items():
        if value is not None:
            _add_value(w, key, value)
    if n_tokens:
        w.add_token_list([f"tok{i}" for i in range(n_tokens)])
    for name, type_name, shape in tiny_llama_tensors() if tensors is None else tensors:
        qtype = gguf.GGMLQuantizationType[type_name]
        w.add_tensor(name, _tensor_bytes(type_name, shape), raw_shape=None, raw_dtype=qtype)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def _add_value(w: gguf.GGUFWriter, key: str, value: Any) -> None:
    if isinstance(value, bool):
        w.add_bool(key, value)
    elif isinstance(value, int):
        w.add_uint32(key, value)
    elif isinstance(value, float):
        w.add_float32(key, value)
    elif isinstance(value, str):
        w.add_string(key, value)
    else:
        w.add_array(key, list(value))


@dataclass(frozen=True)
class TinyLlama:
    """The tiny Llama's hyperparameters and tensor list, as the tests expect read_gguf to report them."""

    hidden: int = TINY_HIDDEN
    heads: int = TINY_HEADS
    kv_heads: int = TINY_KV_HEADS
    ffn: int = TINY_FFN
    vocab: int = TINY_VOCAB
    layers: int = TINY_LAYERS
    tensors: Callable[..., list[tuple[str, str, tuple[int, ...]]]] = tiny_llama_tensors


@pytest.fixture
def tiny_llama() -> TinyLlama:
    return TinyLlama()


@pytest.fixture
def make_gguf(tmp_path: Path) -> Callable[..., Path]:
    """`make_gguf(name="m.gguf", arch=..., kv={...}, tensors=[...])` writes a GGUF under tmp_path."""

    def make(name: str = "tiny.gguf", **kwargs: Any) -> Path:
        return write_gguf(tmp_path / name, **kwargs)

    return make


def write_safetensors(path: Path, tensors: Mapping[str, tuple[str, tuple[int, ...]]]) -> int:
    """A safetensors file of zeroed tensors {name: (dtype, shape)}; returns its data bytes."""
    sizes = {"F32": 4, "F16": 2, "BF16": 2, "U32": 4, "I8": 1, "U8": 1}
    header: dict[str, Any] = {"__metadata__": {"format": "mlx"}}
    offset = 0
    for name, (dtype, shape) in tensors.items():
        n = int(np.prod(shape)) * sizes[dtype]
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + n]}
        offset += n
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + bytes(offset))
    return offset


@pytest.fixture
def make_hf_dir(tmp_path: Path) -> Callable[..., Path]:
    """`make_hf_dir(config, name=..., weights={file: {tensor: (dtype, shape)}})` writes a model folder."""

    def make(
        config: Mapping[str, Any],
        name: str = "model",
        weights: Mapping[str, Mapping[str, tuple[str, tuple[int, ...]]]] | None = None,
    ) -> Path:
        directory = tmp_path / name
        directory.mkdir(parents=True)
        (directory / "config.json").write_text(json.dumps(config))
        for file_name, tensors in (weights or {}).items():
            write_safetensors(directory / file_name, tensors)
        return directory

    return make
