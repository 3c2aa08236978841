"""Find the models already on this machine: the Hugging Face cache, LM Studio's and Ollama's stores,
tuilab's own models folder and any directories the user names.

Only headers are read (GGUF header, config.json, safetensors header), never weights. A file that cannot
be read is listed with its error instead of stopping the scan.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import struct
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from tuilab import paths
from tuilab.core.arch import ModelArch
from tuilab.core.errors import TuilabError

Format = Literal["gguf", "mlx", "hf"]
Engine = Literal["llama.cpp", "mlx"]
Source = Literal["hf-cache", "lmstudio", "ollama", "tuilab", "ladder", "dir"]
LADDER_DIR = "ladder"  # under the models folder: rungs `tuilab bench` made (tuilab.bench.ladder)

# LM Studio keeps downloads in ~/.lmstudio/models (0.3+) or ~/.cache/lm-studio/models (older releases):
# https://lmstudio.ai/docs/app/basics/import-model
LMSTUDIO_DIRS = (".lmstudio/models", ".cache/lm-studio/models")
# Ollama's store, overridden by OLLAMA_MODELS: https://github.com/ollama/ollama/blob/main/docs/faq.md
OLLAMA_DIR = ".ollama/models"
OLLAMA_MODEL_MEDIA_TYPE = "application/vnd.ollama.image.model"  # ollama/server/images.go
_MAX_DEPTH = 6  # publisher/repo/file in LM Studio is 3 deep; deeper trees are someone's whole disk
_MAX_HEADER_BYTES = 100 * 1024 * 1024  # bound on a safetensors JSON header (real ones are < 1 MiB)


@dataclass(frozen=True)
class FoundModel:
    """One model on disk; `error` is set (and the facts left blank) when its files cannot be read."""

    name: str
    path: Path
    format: Format
    file_bytes: int
    quant: str | None
    arch_summary: str
    engine: Engine
    source: Source
    error: str | None = None

    def to_json(self) -> dict[str, object]:
        return {**dataclasses.asdict(self), "path": str(self.path)}


def discover(
    dirs: Sequence[Path] = (),
    *,
    home: Path | None = None,
    hf_cache: Path | None = None,
    default_stores: bool = True,
) -> list[FoundModel]:
    """Everything found in `dirs` plus (with `default_stores`) the HF cache, LM Studio, Ollama and
    tuilab's models folder; each file once, sorted by source and name."""
    home = home or Path.home()
    found: list[FoundModel] = []
    if default_stores:  # first, so a file in a store keeps its store's name when a --dir repeats it
        ladder = paths.models_dir() / LADDER_DIR
        found += [
            dataclasses.replace(m, source="ladder") if m.path.is_relative_to(ladder) else m
            for m in scan_dir(paths.models_dir(), "tuilab")
        ]
        found += scan_hf_cache(hf_cache)
        for rel in LMSTUDIO_DIRS:
            found += scan_dir(home / rel, "lmstudio")
        found += scan_ollama(Path(os.environ.get("OLLAMA_MODELS") or home / OLLAMA_DIR))
    for d in dirs:
        found += scan_dir(d, "dir")
    return sorted(_unique(found), key=lambda m: (m.source, m.name))


def _unique(models: Iterable[FoundModel]) -> Iterator[FoundModel]:
    """Each file once, except Ollama tags: two tags of one blob are two names users type (`ollama list`)."""
    seen: set[tuple[Path, str | None]] = set()
    for m in models:
        key = (m.path.resolve(), m.name if m.source == "ollama" else None)
        if key not in seen:
            seen.add(key)
            yield m


# ---------------------------------------------------------------- stores


def scan_dir(root: Path, source: Source) -> list[FoundModel]:
    """GGUF files and model directories (config.json next to safetensors) under `root`."""
    if not root.is_dir():
        return []
    found: list[FoundModel] = []
    for parent, dirnames, filenames in os.walk(root):
        here = Path(parent)
        depth = len(here.relative_to(root).parts)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and depth < _MAX_DEPTH)
        name = here.relative_to(root).as_posix()
        if "config.json" in filenames and any(f.endswith(".safetensors") for f in filenames):
            found.append(describe_dir(here, name if name != "." else here.name, source))
            dirnames.clear()
            continue
        for f in sorted(filenames):
            if _is_main_gguf(f):
                found.append(describe_gguf(here / f, str(Path(name, f).with_suffix("").as_posix()), source))
    return found


def _is_main_gguf(filename: str) -> bool:
    """Skip vision projectors and all but the first shard of split files (-00002-of-00003.gguf)."""
    if not filename.endswith(".gguf") or filename.startswith("mmproj"):
        return False
    stem = filename.removesuffix(".gguf")
    if "-of-" in stem and stem.rsplit("-of-", 1)[0][-5:].isdigit():
        return stem.rsplit("-of-", 1)[0].endswith("00001")
    return True


def scan_hf_cache(cache_dir: Path | None = None) -> list[FoundModel]:
    """Model repos in the Hugging Face hub cache, through huggingface_hub.scan_cache_dir."""
    try:
        from huggingface_hub import scan_cache_dir
        from huggingface_hub.errors import CacheNotFound
    except ImportError:
        return []
    try:
        info = scan_cache_dir(cache_dir)
    except (CacheNotFound, OSError, ValueError):
        return []  # no cache yet, or not a cache directory
    found: list[FoundModel] = []
    for repo in sorted(info.repos, key=lambda r: r.repo_id):
        if repo.repo_type != "model":
            continue
        for rev in sorted(repo.revisions, key=lambda r: r.last_modified, reverse=True)[:1]:
            found += _describe_snapshot(Path(rev.snapshot_path), repo.repo_id)
    return found


def _describe_snapshot(snapshot: Path, repo_id: str) -> list[FoundModel]:
    has_weights = any(snapshot.glob("*.safetensors"))
    if (snapshot / "config.json").is_file() and has_weights:
        return [describe_dir(snapshot, repo_id, "hf-cache")]
    found = []
    for f in sorted(snapshot.rglob("*.gguf")):
        if _is_main_gguf(f.name):
            rel = f.relative_to(snapshot).with_suffix("").as_posix()
            found.append(describe_gguf(f, f"{repo_id}/{rel}", "hf-cache"))
    return found


def scan_ollama(root: Path) -> list[FoundModel]:
    """Ollama models: manifests/<registry>/<namespace>/<model>/<tag> name the GGUF blob in blobs/."""
    manifests = root / "manifests"
    if not manifests.is_dir():
        return []
    found = []
    for manifest in sorted(p for p in manifests.rglob("*") if p.is_file()):
        parts = manifest.relative_to(manifests).parts
        if len(parts) != 4:
            continue
        _, namespace, model, tag = parts
        name = f"{model}:{tag}" if namespace == "library" else f"{namespace}/{model}:{tag}"
        blob = _ollama_model_blob(root, manifest)
        if blob is None:
            found.append(_broken(manifest, name, "gguf", "ollama", "manifest names no readable model layer"))
        else:
            found.append(describe_gguf(blob, name, "ollama"))
    return found


def _ollama_model_blob(root: Path, manifest: Path) -> Path | None:
    try:
        layers = json.loads(manifest.read_text(encoding="utf-8")).get("layers", [])
    except (OSError, ValueError, AttributeError):
        return None
    for layer in layers if isinstance(layers, list) else []:
        if isinstance(layer, dict) and layer.get("mediaType") == OLLAMA_MODEL_MEDIA_TYPE:
            blob = root / "blobs" / str(layer.get("digest", "")).replace(":", "-")
            return blob if blob.is_file() else None
    return None


# ---------------------------------------------------------------- one model


def describe_gguf(path: Path, name: str, source: Source) -> FoundModel:
    from tuilab.models.gguf import read_gguf

    try:
        model = read_gguf(path)
    except TuilabError as exc:
        return _broken(path, name, "gguf", source, str(exc))
    return FoundModel(
        name,
        path,
        "gguf",
        model.file_bytes,
        model.file_type_name,
        arch_summary(model.arch),
        "llama.cpp",
        source,
    )


def describe_dir(path: Path, name: str, source: Source) -> FoundModel:
    from tuilab.models.hf import read_hf_config

    try:
        model = read_hf_config(path)
    except TuilabError as exc:
        return _broken(path, name, "hf", source, str(exc))
    fmt: Format = "mlx" if model.mlx_bits is not None or _safetensors_format(path) == "mlx" else "hf"
    quant = _mlx_quant(model.mlx_bits, model.mlx_group_size, model.mlx_mode, model.dtype, fmt)
    return FoundModel(name, path, fmt, _dir_bytes(path), quant, arch_summary(model.arch), "mlx", source)


def _broken(path: Path, name: str, fmt: Format, source: Source, error: str) -> FoundModel:
    engine: Engine = "llama.cpp" if fmt == "gguf" else "mlx"
    size = path.stat().st_size if path.is_file() else 0
    return FoundModel(name, path, fmt, size, None, "", engine, source, error=error)


def _mlx_quant(
    bits: int | None, group: int | None, mode: str | None, dtype: str | None, fmt: Format
) -> str | None:
    """Names as tuilab.core.quant.quant_name writes them: mlx-4bit, mlx-4bit-g32, mlx-mxfp4, BF16."""
    if mode and mode != "affine":
        return f"mlx-{mode}"
    if bits is not None:
        return f"mlx-{bits}bit" + (f"-g{group}" if group and group != 64 else "")  # 64: mlx-lm's default
    short = {"float16": "fp16", "bfloat16": "bf16", "float32": "fp32"}.get(dtype or "")
    if short is None:
        return None
    return f"mlx-{short}" if fmt == "mlx" else short.replace("fp", "f").upper()  # as GGUF: BF16


def _safetensors_format(directory: Path) -> str | None:
    """The `__metadata__.format` of the first weights file ("mlx" when mlx-lm wrote it, "pt" from torch)."""
    files = sorted(directory.glob("*.safetensors"))
    try:
        with files[0].open("rb") as fh:
            (n,) = struct.unpack("<Q", fh.read(8))
            if n > _MAX_HEADER_BYTES:
                return None
            meta = json.loads(fh.read(n)).get("__metadata__") or {}
    except (IndexError, OSError, ValueError, struct.error, AttributeError):
        return None
    fmt = meta.get("format") if isinstance(meta, dict) else None
    return fmt if isinstance(fmt, str) else None


def _dir_bytes(directory: Path) -> int:
    total = 0
    for p in directory.iterdir():
        with contextlib.suppress(OSError):
            if p.is_file():  # follows the HF cache's snapshot symlinks to the blobs
                total += p.stat().st_size
    return total


def arch_summary(arch: ModelArch) -> str:
    """`llama 8.0B, 32 layers, GQA 32/8` or `qwen3moe 30.5B (3.3B active), 48 layers, 128x8 experts`."""
    params = _count_label(arch.n_params)
    if arch.is_moe:
        params += f" ({_count_label(arch.n_active_params)} active)"
    parts = [f"{arch.family} {params}", f"{arch.n_layers} layers", f"GQA {arch.n_heads}/{arch.n_kv_heads}"]
    if arch.is_moe:
        parts.append(f"{arch.n_experts}x{arch.n_experts_used} experts")
    return ", ".join(parts)


def _count_label(n: int) -> str:
    for unit, scale in (("T", 1e12), ("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f}{unit}"
    return str(n)
