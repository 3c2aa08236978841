"""Read a GGUF file's header (metadata and tensor table) safely; `gguf_arch` turns it into a `ModelArch`.

Our own bounded reader, not `gguf.GGUFReader` (which memory-maps the file and trusts its counts): every
count, length and offset is checked against hard limits and the file size before it is used, so a
corrupt or hostile file fails fast with a `ModelFileError`. Only the header is read, never tensor data.
Format: https://github.com/ggml-org/ggml/blob/master/docs/gguf.md; checks mirror ggml/src/gguf.cpp.
"""

from __future__ import annotations

import dataclasses
import math
import os
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from tuilab.core.arch import ModelArch, TensorInfo
from tuilab.core.errors import ModelFileError
from tuilab.core.quant import GGML_TYPES_BY_ID
from tuilab.models.gguf_arch import ArrayInfo, MetaValue, Scalar, build_arch

__all__ = [
    "ArrayInfo",
    "GGUFModel",
    "GGUFTables",
    "MetaValue",
    "Scalar",
    "model_from_tables",
    "read_gguf",
    "read_gguf_tables",
]

_SUPPORTED_VERSIONS = (2, 3)  # v1 used u32 counts and was dropped by llama.cpp (gguf.cpp)
_DEFAULT_ALIGNMENT = 32  # gguf.md: "If the alignment is not specified, assume it is 32"
# Our sanity bounds (issue 2): real models hold a few hundred KV pairs and a few thousand tensors.
_MAX_KV_COUNT = 1_000_000
_MAX_TENSOR_COUNT = 1_000_000
_MAX_STRING_BYTES = 16 * 1024 * 1024
_MAX_KEY_BYTES = 65_535  # gguf.md: a key "must be at most 2^16-1/65535 bytes long"
_MAX_TENSOR_NAME_BYTES = 63  # GGML_MAX_NAME = 64 including the NUL (ggml/include/ggml.h)
_MAX_DIMS = 4  # GGML_MAX_DIMS (ggml/include/ggml.h)
_MAX_ELEMENTS = 2**63 - 1  # gguf.cpp rejects shapes whose element count overflows int64
# Keep the values of numeric arrays up to this length (per-layer head counts, SWA flags):
# LLAMA_MAX_LAYERS is 512 (src/llama-hparams.h); longer arrays are only counted.
_KEEP_ARRAY_VALUES = 1024
_CHUNK_BYTES = 1 << 20  # read-ahead; a Llama 3 tokenizer (~400k strings) is a few MiB of header
_MIN_KV_BYTES = 8 + 4 + 1  # key length, value type, smallest value
_MIN_TENSOR_INFO_BYTES = 8 + 4 + 4 + 8  # name length, n_dims, type, offset

_TYPE_STRING, _TYPE_ARRAY = 8, 9
# gguf_metadata_value_type ids (gguf.md) of fixed-size values -> (name, little-endian struct).
_SCALARS: dict[int, tuple[str, struct.Struct]] = {
    type_id: (name, struct.Struct("<" + code))
    for type_id, name, code in ((0, "uint8", "B"), (1, "int8", "b"), (2, "uint16", "H"), (3, "int16", "h"),
                                (4, "uint32", "I"), (5, "int32", "i"), (6, "float32", "f"), (7, "bool", "B"),
                                (10, "uint64", "Q"), (11, "int64", "q"), (12, "float64", "d"))
}  # fmt: skip
_U32, _U64 = _SCALARS[4][1], _SCALARS[10][1]

# enum llama_ftype in include/llama.h (llama.cpp, 2025); general.file_type holds one of these.
_FTYPE_NAMES: dict[int, str] = {
    0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1", 10: "Q2_K",
    11: "Q3_K_S", 12: "Q3_K_M", 13: "Q3_K_L", 14: "Q4_K_S", 15: "Q4_K_M", 16: "Q5_K_S", 17: "Q5_K_M",
    18: "Q6_K", 19: "IQ2_XXS", 20: "IQ2_XS", 21: "Q2_K_S", 22: "IQ3_XS", 23: "IQ3_XXS", 24: "IQ1_S",
    25: "IQ4_NL", 26: "IQ3_S", 27: "IQ3_M", 28: "IQ2_S", 29: "IQ2_M", 30: "IQ4_XS", 31: "IQ1_M",
    32: "BF16", 36: "TQ1_0", 37: "TQ2_0", 38: "MXFP4_MOE", 39: "NVFP4", 40: "Q1_0", 41: "Q2_0",
}  # fmt: skip
_FTYPE_GUESSED = 1024  # LLAMA_FTYPE_GUESSED: "not specified in the model file"


@dataclass(frozen=True)
class GGUFModel:
    """What a GGUF header says: metadata, the exact tensor table as a `ModelArch`, and sizes."""

    path: Path
    version: int
    file_bytes: int
    metadata: Mapping[str, MetaValue]
    arch: ModelArch
    tensor_bytes: int
    file_type_name: str | None
    name: str
    alignment: int = _DEFAULT_ALIGNMENT
    data_offset: int = 0  # where tensor data starts in the file
    notes: tuple[str, ...] = field(default=())


def read_gguf(path: Path) -> GGUFModel:
    """Parse the header of the GGUF file at `path`; raise ModelFileError for anything unreadable."""
    try:
        with open(path, "rb") as f:
            return _read_model(_Reader(f, str(path), os.fstat(f.fileno()).st_size), path)
    except OSError as e:
        raise ModelFileError(str(path), f"cannot read: {e.strerror or e}") from None


class _Reader:
    """Sequential little-endian reads over a file through a read-ahead buffer, bounded by its size."""

    def __init__(self, f: BinaryIO, path: str, file_bytes: int) -> None:
        self._f, self.path, self.file_bytes = f, path, file_bytes
        self._buf, self._buf_start, self._i = b"", 0, 0

    @property
    def pos(self) -> int:
        return self._buf_start + self._i

    @property
    def remaining(self) -> int:
        return self.file_bytes - self.pos

    def error(self, problem: str) -> ModelFileError:
        return ModelFileError(self.path, problem)

    def _fill(self, n: int, what: str) -> None:
        """Make `n` bytes at the current position available in the buffer (the position may lie past it)."""
        if self._i + n <= len(self._buf):
            return
        pos = self.pos
        if pos + n > self.file_bytes:
            raise self.error(f"truncated: {what} at byte {pos} needs {n} bytes, file has {self.file_bytes}")
        keep = self._buf[self._i :] if self._i < len(self._buf) else b""
        self._f.seek(pos + len(keep))
        self._buf = keep + self._f.read(max(n - len(keep), _CHUNK_BYTES))
        self._buf_start, self._i = pos, 0
        if len(self._buf) < n:
            raise self.error(f"truncated: {what} at byte {pos} (the file shrank while being read)")

    def unpack(self, fmt: struct.Struct, what: str) -> tuple[int | float, ...]:
        self._fill(fmt.size, what)
        values = fmt.unpack_from(self._buf, self._i)
        self._i += fmt.size
        return values

    def u32(self, what: str) -> int:
        return int(self.unpack(_U32, what)[0])

    def u64(self, what: str) -> int:
        return int(self.unpack(_U64, what)[0])

    def raw(self, n: int, what: str) -> bytes:
        self._fill(n, what)
        data = self._buf[self._i : self._i + n]
        self._i += n
        return data

    def string(self, what: str, max_bytes: int) -> str:
        n = self.u64(f"length of {what}")
        if n > max_bytes:
            raise self.error(f"{what} at byte {self.pos - 8} claims {n} bytes (limit {max_bytes})")
        try:
            return self.raw(n, what).decode("utf-8")
        except UnicodeDecodeError:
            raise self.error(f"{what} at byte {self.pos - n} is not valid UTF-8") from None

    def skip(self, n: int, what: str) -> None:
        self._i += n
        self._fill(0, what)  # the position may now lie past the buffer, never past the file

    def skip_strings(self, count: int, what: str) -> None:
        """Step over `count` GGUF strings without decoding them (tokenizer vocabularies, merges)."""
        buf, i, unpack_u64 = self._buf, self._i, _U64.unpack_from
        for _ in range(count):
            if i + 8 > len(buf):
                self._i = i
                self._fill(8, what)
                buf, i = self._buf, self._i
            n = unpack_u64(buf, i)[0]
            if n > _MAX_STRING_BYTES:
                raise self.error(f"a string in {what} claims {n} bytes (limit {_MAX_STRING_BYTES})")
            i += 8 + n
        self._i = i
        self._fill(0, what)  # the last string must end inside the file


@dataclass(frozen=True)
class GGUFTables:
    """The raw header of one GGUF file (or one part of a split model): metadata and tensor table."""

    version: int
    file_bytes: int
    metadata: Mapping[str, MetaValue]
    tensors: tuple[TensorInfo, ...]
    alignment: int
    data_offset: int


def read_gguf_tables(f: BinaryIO, name: str, file_bytes: int) -> GGUFTables:
    """Parse the header of a GGUF file open as `f` (any seekable reader, e.g. over a downloaded prefix)
    whose full size is `file_bytes`; reads only as far as the header goes, plus read-ahead."""
    return _read_tables(_Reader(f, name, file_bytes))


def model_from_tables(path: Path, parts: list[GGUFTables]) -> GGUFModel:
    """A `GGUFModel` from the headers of a file or of every part of a split model: the metadata of the
    first part, the tensors of all."""
    first = parts[0]
    tensors = tuple(t for part in parts for t in part.tensors)
    arch, notes = build_arch(path, first.metadata, tensors)
    file_type = _file_type_name(first.metadata.get("general.file_type"))
    return GGUFModel(
        path=path,
        version=first.version,
        file_bytes=sum(p.file_bytes for p in parts),
        metadata=first.metadata,
        arch=dataclasses.replace(arch, file_type=file_type),
        tensor_bytes=sum(t.n_bytes or 0 for t in tensors),
        file_type_name=file_type,
        name=arch.name,
        alignment=first.alignment,
        data_offset=first.data_offset,
        notes=notes,
    )


def _read_tables(r: _Reader) -> GGUFTables:
    version, n_tensors, n_kv = _read_header(r)
    metadata: dict[str, MetaValue] = {}
    for _ in range(n_kv):
        key, value = _read_kv(r)
        if key in metadata:
            raise r.error(f"duplicate metadata key {key!r}")
        metadata[key] = value
    alignment = _alignment(r, metadata)
    raw = [_read_tensor_info(r, alignment) for _ in range(n_tensors)]
    data_offset = -(-r.pos // alignment) * alignment
    if data_offset > r.file_bytes:
        raise r.error(f"truncated: header ends at byte {data_offset}, file has {r.file_bytes}")
    _check_tensor_data(r, raw, data_offset)
    tensors = tuple(t for t, _ in raw)
    return GGUFTables(version, r.file_bytes, metadata, tensors, alignment, data_offset)


def _read_model(r: _Reader, path: Path) -> GGUFModel:
    return model_from_tables(path, [_read_tables(r)])


def _read_header(r: _Reader) -> tuple[int, int, int]:
    if r.file_bytes < 4:  # too short for the magic: name what is there, not a blank read
        raise r.error(f"not a GGUF file: {r.file_bytes} bytes long, too short for a GGUF header")
    magic = r.raw(4, "magic")
    if magic != b"GGUF":
        raise r.error(f"not a GGUF file (starts with {magic!r}, expected b'GGUF')")
    version = r.u32("version")
    if version & 0xFFFF == 0 and version != 0:  # a byte-swapped 2 or 3, as gguf.cpp detects it
        raise r.error(f"big-endian GGUF (version reads {version:#x}); only little-endian files are supported")
    if version not in _SUPPORTED_VERSIONS:
        raise r.error(f"unsupported GGUF version {version}; tuilab reads versions 2 and 3")
    n_tensors, n_kv = r.u64("tensor count"), r.u64("metadata count")
    _check_count(r, "tensors", n_tensors, _MAX_TENSOR_COUNT, _MIN_TENSOR_INFO_BYTES)
    _check_count(r, "metadata entries", n_kv, _MAX_KV_COUNT, _MIN_KV_BYTES)
    return version, n_tensors, n_kv


def _check_count(r: _Reader, what: str, count: int, limit: int, min_bytes_each: int) -> None:
    """Refuse counts above our limit, and counts whose smallest encoding overruns the file."""
    if count > limit:
        raise r.error(f"absurd count of {what}: {count} (limit {limit})")
    if count * min_bytes_each > r.remaining:
        raise r.error(f"truncated: {count} {what} need {count * min_bytes_each}+ bytes, {r.remaining} left")


def _read_kv(r: _Reader) -> tuple[str, MetaValue]:
    key = r.string("metadata key", _MAX_KEY_BYTES)
    value_type = r.u32(f"type of {key!r}")
    if value_type == _TYPE_ARRAY:
        return key, _read_array(r, key)
    return key, _read_scalar(r, value_type, key)


def _read_scalar(r: _Reader, value_type: int, key: str) -> Scalar:
    if value_type == _TYPE_STRING:
        return r.string(f"value of {key!r}", _MAX_STRING_BYTES)
    if value_type not in _SCALARS:
        raise r.error(f"unknown value type {value_type} for key {key!r}")
    name, fmt = _SCALARS[value_type]
    value = r.unpack(fmt, f"value of {key!r}")[0]
    if name == "bool":
        if value not in (0, 1):
            raise r.error(f"bool value of {key!r} is {value}, not 0 or 1")
        return bool(value)
    return value


def _read_array(r: _Reader, key: str) -> ArrayInfo:
    elem_type, length = r.u32(f"element type of {key!r}"), r.u64(f"length of {key!r}")
    if elem_type == _TYPE_STRING:
        if length * 8 > r.remaining:
            raise r.error(f"truncated: array {key!r} claims {length} strings, only {r.remaining} bytes left")
        r.skip_strings(length, f"array {key!r}")
        return ArrayInfo("string", length)
    if elem_type == _TYPE_ARRAY:
        raise r.error(f"array {key!r} holds arrays; nested arrays are not supported (as in llama.cpp)")
    if elem_type not in _SCALARS:
        raise r.error(f"unknown element type {elem_type} in array {key!r}")
    name, fmt = _SCALARS[elem_type]
    if length * fmt.size > r.remaining:
        raise r.error(f"truncated: array {key!r} claims {length} elements, only {r.remaining} bytes left")
    if length > _KEEP_ARRAY_VALUES:
        r.skip(length * fmt.size, f"array {key!r}")
        return ArrayInfo(name, length)
    raw = r.raw(length * fmt.size, f"array {key!r}")
    values = tuple(v[0] for v in fmt.iter_unpack(raw))
    return ArrayInfo(name, length, tuple(bool(v) for v in values) if name == "bool" else values)


def _alignment(r: _Reader, metadata: Mapping[str, MetaValue]) -> int:
    value = metadata.get("general.alignment", _DEFAULT_ALIGNMENT)
    # gguf.cpp requires a power of two; the spec also asks for a multiple of 8
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0 or value & (value - 1):
        raise r.error(f"general.alignment {value!r} is not a power of two")
    return value


def _read_tensor_info(r: _Reader, alignment: int) -> tuple[TensorInfo, int]:
    """One tensor's name, shape, type and exact bytes, and its offset in the data section."""
    name = r.string("tensor name", _MAX_TENSOR_NAME_BYTES)
    n_dims = r.u32(f"dimension count of {name!r}")
    if n_dims > _MAX_DIMS:
        raise r.error(f"tensor {name!r} has {n_dims} dimensions; ggml allows at most {_MAX_DIMS}")
    shape = tuple(int(d) for d in r.unpack(struct.Struct(f"<{n_dims}Q"), f"shape of {name!r}"))
    if any(d <= 0 or d > _MAX_ELEMENTS for d in shape):
        raise r.error(f"tensor {name!r} has a dimension <= 0: {_signed(shape)}")
    if math.prod(shape) > _MAX_ELEMENTS:
        raise r.error(f"tensor {name!r} shape {shape} overflows the element count")
    type_id = r.u32(f"type of {name!r}")
    ggml_type = GGML_TYPES_BY_ID.get(type_id)
    if ggml_type is None:
        raise r.error(f"tensor {name!r} has unknown ggml type id {type_id}")
    row = shape[0] if shape else 1  # ggml pads missing dimensions with 1
    if row % ggml_type.block_elems:
        raise r.error(f"tensor {name!r} rows of {row} are not whole {ggml_type.name} blocks")
    offset = r.u64(f"offset of {name!r}")
    if offset % alignment:
        raise r.error(f"tensor {name!r} offset {offset} is not aligned to {alignment} bytes")
    n_bytes = ggml_type.tensor_bytes(math.prod(shape))
    return TensorInfo(name, shape, ggml_type=ggml_type.name, n_bytes=n_bytes), offset


def _signed(shape: tuple[int, ...]) -> tuple[int, ...]:
    """Show u64 dimensions as the int64 ggml reads them, so -1 reads as -1."""
    return tuple(d - 2**64 if d >= 2**63 else d for d in shape)


def _check_tensor_data(r: _Reader, raw: list[tuple[TensorInfo, int]], data_offset: int) -> None:
    names: set[str] = set()
    for t, offset in raw:
        if t.name in names:
            raise r.error(f"duplicate tensor name {t.name!r}")
        names.add(t.name)
        start, end = data_offset + offset, data_offset + offset + (t.n_bytes or 0)
        if end > r.file_bytes:
            raise r.error(f"truncated: tensor {t.name!r} spans bytes {start}..{end}, file has {r.file_bytes}")


def _file_type_name(value: MetaValue | None) -> str | None:
    if not isinstance(value, int) or isinstance(value, bool):
        return None
    return _FTYPE_NAMES.get(value & ~_FTYPE_GUESSED)  # the GUESSED flag only says who chose it
