"""Read safetensors headers (never tensor data) of one file or of a model directory.

A safetensors file is an 8-byte little-endian header length, a JSON header mapping tensor names to
dtype, shape and data offsets, then the data (https://github.com/huggingface/safetensors#format).
Every header is bounded and checked against the file size, so broken files raise `ModelFileError`.
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tuilab.core.errors import ModelFileError

# issue 2's bound; the safetensors crate itself refuses headers over 100_000_000 bytes (MAX_HEADER_SIZE)
_MAX_HEADER_BYTES = 100 * 1024 * 1024
_INDEX_NAME = "model.safetensors.index.json"
_SINGLE_NAME = "model.safetensors"
_MAX_INDEX_BYTES = 64 * 1024 * 1024  # index files list tensor names only: a few MiB for 1000+ tensors
# Bytes per element of each dtype (safetensors/src/tensor.rs `Dtype::bitsize`); sub-byte
# dtypes (F4, F6_*) are left out: their size is only checked through the offsets.
_DTYPE_BYTES: dict[str, int] = {
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "F8_E8M0": 1,
    "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
    "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8,
}  # fmt: skip


@dataclass(frozen=True)
class SafetensorsTensor:
    name: str
    dtype: str
    shape: tuple[int, ...]
    n_bytes: int


@dataclass(frozen=True)
class SafetensorsInfo:
    """The tensors of one file or of all shards of a model; `tensor_bytes` is their data size."""

    files: tuple[Path, ...]
    tensors: tuple[SafetensorsTensor, ...]

    @property
    def tensor_bytes(self) -> int:
        return sum(t.n_bytes for t in self.tensors)

    @property
    def dtypes(self) -> frozenset[str]:
        return frozenset(t.dtype for t in self.tensors)


def read_safetensors(path: Path) -> SafetensorsInfo:
    """Headers of a .safetensors file, or of a directory's model.safetensors or its indexed shards."""
    files = safetensors_files(path) if path.is_dir() else (path,)
    if not files:
        raise ModelFileError(str(path), "no safetensors weights found")
    tensors: list[SafetensorsTensor] = []
    for f in files:
        tensors.extend(read_header(f))
    return SafetensorsInfo(files=files, tensors=tuple(tensors))


def safetensors_files(directory: Path) -> tuple[Path, ...]:
    """The weight files of a model directory: the shards its index names, model.safetensors, or
    every *.safetensors (MLX writes model.safetensors or indexed model-0000N-of-0000M shards)."""
    index = directory / _INDEX_NAME
    if index.is_file():
        return _indexed_shards(index)
    if (directory / _SINGLE_NAME).is_file():
        return (directory / _SINGLE_NAME,)
    return tuple(sorted(directory.glob("*.safetensors")))


def _indexed_shards(index: Path) -> tuple[Path, ...]:
    data = load_json(index, _MAX_INDEX_BYTES)
    weight_map = data.get("weight_map") if isinstance(data, dict) else None
    if not isinstance(weight_map, dict) or not all(isinstance(v, str) for v in weight_map.values()):
        raise ModelFileError(str(index), "no weight_map of tensor name -> shard file")
    shards = []
    for name in sorted(set(weight_map.values())):
        shard = index.parent / name
        # a shard name is a bare file name; anything else could point outside the model
        if Path(name).name != name or not shard.is_file():
            raise ModelFileError(str(index), f"shard {name!r} is missing or not a plain file name")
        shards.append(shard)
    return tuple(shards)


def read_header(path: Path) -> tuple[SafetensorsTensor, ...]:
    """The tensor table of one safetensors file, validated against the file size."""
    try:
        with open(path, "rb") as f:
            file_bytes = f.seek(0, 2)
            f.seek(0)
            header_bytes = _header_length(path, f.read(8), file_bytes)
            raw = f.read(header_bytes)
    except OSError as e:
        raise ModelFileError(str(path), f"cannot read: {e.strerror or e}") from None
    header = _parse_json(path, raw)
    data_bytes = file_bytes - 8 - header_bytes
    return tuple(
        _tensor(path, name, entry, data_bytes) for name, entry in header.items() if name != "__metadata__"
    )


def _header_length(path: Path, prefix: bytes, file_bytes: int) -> int:
    if len(prefix) < 8:
        raise ModelFileError(str(path), f"not a safetensors file: only {file_bytes} bytes")
    (n,) = struct.unpack("<Q", prefix)
    if n > _MAX_HEADER_BYTES:
        raise ModelFileError(str(path), f"header claims {n} bytes, more than the {_MAX_HEADER_BYTES} allowed")
    if 8 + n > file_bytes:
        raise ModelFileError(str(path), f"truncated: header claims {n} bytes but the file has {file_bytes}")
    return int(n)


def _parse_json(path: Path, raw: bytes) -> dict[str, Any]:
    try:
        header = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise ModelFileError(str(path), f"header is not valid JSON: {e}") from None
    if not isinstance(header, dict):
        raise ModelFileError(str(path), "header is not a JSON object")
    return header


def _tensor(path: Path, name: str, entry: object, data_bytes: int) -> SafetensorsTensor:
    def bad(problem: str) -> ModelFileError:
        return ModelFileError(str(path), f"tensor {name!r}: {problem}")

    if not isinstance(entry, dict):
        raise bad("entry is not an object")
    dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
    if not isinstance(dtype, str):
        raise bad(f"dtype {dtype!r} is not a string")
    if not isinstance(shape, list) or not all(_is_count(d) for d in shape):
        raise bad(f"shape {shape!r} is not a list of non-negative integers")
    if not isinstance(offsets, list) or len(offsets) != 2 or not all(_is_count(o) for o in offsets):
        raise bad(f"data_offsets {offsets!r} is not [begin, end]")
    begin, end = offsets
    if begin > end:
        raise bad(f"data_offsets {offsets} run backwards")
    if end > data_bytes:
        raise bad(f"truncated: data ends at {end} but the file holds {data_bytes} data bytes")
    elem_bytes = _DTYPE_BYTES.get(dtype)
    if elem_bytes is not None and math.prod(shape) * elem_bytes != end - begin:
        raise bad(f"{end - begin} bytes do not hold shape {shape} of {dtype}")
    return SafetensorsTensor(name, dtype, tuple(shape), end - begin)


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def load_json(path: Path, max_bytes: int) -> Any:
    """A small JSON file (an index or a config), refused when larger than `max_bytes`."""
    try:
        with open(path, "rb") as f:
            raw = f.read(max_bytes + 1)
    except OSError as e:
        raise ModelFileError(str(path), f"cannot read: {e.strerror or e}") from None
    if len(raw) > max_bytes:
        raise ModelFileError(str(path), f"larger than the {max_bytes} bytes allowed")
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise ModelFileError(str(path), f"not valid JSON: {e}") from None
