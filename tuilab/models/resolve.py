"""Turn what a user typed as MODEL into an architecture, a quant and an engine.

MODEL is a GGUF path, a model directory (Hugging Face or MLX format), a profile name, a model that
`tuilab models` lists, a catalog name (case-insensitive; a profile of the same name wins), an HF repo id
(from the local cache when its weights are there, else from its metadata on the Hub), or `demo`.
Nothing is downloaded and no engine is imported.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from tuilab.core.arch import ModelArch
from tuilab.core.errors import ModelFileError, UnknownNameError, UsageError
from tuilab.core.quant import MLXQuant, QuantSpec, parse_quant, quant_engine, quant_name

if TYPE_CHECKING:
    from tuilab.models.catalog import CatalogEntry
    from tuilab.models.discovery import FoundModel
    from tuilab.models.hub_model import HubModel

DEFAULT_LLAMA_QUANT = "Q4_K_M"  # the usual sweet spot (README: the ladder)
DEFAULT_MLX_QUANT = "mlx-4bit"
_SHOWN_NAMES = 5  # models named in the message about a folder of models; the rest are "..."
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
    hub: HubModel | None = None  # planned from Hub metadata, not from files on this machine


def resolve_model(
    spec: str, quant: str | None = None, engine: str | None = None, *, hub: bool = False,
    started_s: float | None = None,
) -> ResolvedModel:  # fmt: skip
    """Resolve MODEL (and an optional --quant / --engine) without loading anything. With `hub`, a repo id
    that is not downloaded is read from its Hub metadata (a plan, never a run), in time for a command that
    started at `started_s` (time.monotonic()) to answer within the Hub's ceiling; without, it is refused
    with the `tuilab pull` that fetches it."""
    path = Path(spec).expanduser()
    if spec == "demo":
        from tuilab.models.tiny import ensure_demo_model

        demo = ensure_demo_model()
        if engine == "mlx":  # the demo set holds the same tiny model as an MLX folder
            return _from_dir(demo / "tiny-mlx", quant, engine)
        return _from_gguf(demo / "tiny-f16.gguf", quant, engine)
    if path.is_file():
        return _from_gguf(path, quant, engine)
    if path.is_dir():
        return _from_dir(path, quant, engine)
    if _looks_like_path(spec):
        raise UsageError(f"{spec}: no such file or directory")
    from tuilab.models import profiles

    if spec in profiles.model_profile_names():
        return _from_profile(spec, quant, engine)
    found = _discovered()
    listed = _listed_model(spec, found)
    if listed is not None:
        return _from_listed(listed, quant, engine)
    from tuilab.models.catalog import catalog_names, find_catalog_entry

    entry = find_catalog_entry(spec)
    if entry is not None:
        return _from_catalog(entry, quant, engine)
    if spec.count("/") == 1 and not spec.startswith((".", "/")):
        from tuilab.models.hf import find_in_hf_cache

        cached = find_in_hf_cache(spec)
        if cached is not None and _has_hf_weights(cached):
            return _from_dir(cached, quant, engine)
        if not any(m.name.startswith(spec.split("/")[0] + "/") for m in found):  # not a local folder's prefix
            return _from_repo_id(spec, cached, quant, engine, hub=hub, started_s=started_s)
    names = [*profiles.model_profile_names(), *catalog_names(), "demo", *(m.name for m in found)]
    raise UnknownNameError("model", spec, names)


def _from_repo_id(
    spec: str, cached: Path | None, quant: str | None, engine: str | None, *, hub: bool,
    started_s: float | None = None,
) -> ResolvedModel:  # fmt: skip
    """A repo id without weights in the cache: its Hub metadata (with `hub`), a single pulled GGUF, or the
    `tuilab pull` that fetches it."""
    if hub:
        return _from_hub(spec, quant, engine, started_s)
    pulled = _pulled_ggufs(cached)
    if len(pulled) == 1:
        return _from_gguf(pulled[0], quant, engine)
    if pulled:
        shown = ", ".join(str(p) for p in pulled[:4]) + (" ..." if len(pulled) > 4 else "")
        raise UsageError(f"{spec} has {len(pulled)} GGUF files in the cache; give one by path: {shown}")
    raise UsageError(f"{spec!r} is not in the local Hugging Face cache; fetch it with `tuilab pull {spec}`")


def _looks_like_path(spec: str) -> bool:
    """A spec only a path can mean: it starts at a folder, or ends in a model file's extension."""
    return spec.startswith(("/", "./", "../", "~")) or spec.lower().endswith((".gguf", ".safetensors"))


def _discovered() -> list[FoundModel]:
    from tuilab.models.discovery import discover

    return discover()


def _listed_model(spec: str, found: list[FoundModel]) -> FoundModel | None:
    """The model `tuilab models` lists under `spec`: its full name, or a last part that only one has
    (`tiny-f16` for `demo/tiny-f16`); several with that last part is an error that names them."""
    exact = [m for m in found if m.name == spec]
    if exact:
        return exact[0]
    tails = [m for m in found if m.name.rsplit("/", 1)[-1] == spec]
    if len(tails) > 1:
        names = ", ".join(sorted(m.name for m in tails))
        raise UsageError(f"{spec!r} names several models ({names}); give the full name")
    return tails[0] if tails else None


def _from_listed(found: FoundModel, quant: str | None, engine: str | None) -> ResolvedModel:
    if found.error:
        raise ModelFileError(str(found.path), found.error)
    if found.format == "gguf":  # Ollama's blobs have no .gguf suffix; the listing read their header already
        return _from_gguf(found.path, quant, engine, any_suffix=True)
    return _from_dir(found.path, quant, engine)


def _pick_quant(quant: str | None, engine: str | None, default: str) -> QuantSpec:
    if quant is None:
        return parse_quant(DEFAULT_MLX_QUANT if engine == "mlx" else default)
    q = parse_quant(quant)
    if engine == "mlx" and quant_engine(q) != "mlx" and quant.lower() in _MLX_FLOAT_NAMES:
        return parse_quant(_MLX_FLOAT_NAMES[quant.lower()])
    return q


def _from_gguf(path: Path, quant: str | None, engine: str | None, any_suffix: bool = False) -> ResolvedModel:
    from tuilab.models.gguf import read_gguf

    if path.suffix.lower() != ".gguf" and not any_suffix:
        raise UsageError(f"{path}: not a .gguf file or a model directory")
    model = read_gguf(path)
    if engine == "mlx":
        raise UsageError(f"{path}: GGUF files run on llama.cpp; MLX needs a model directory")
    q = parse_quant(quant) if quant else None
    name = quant_name(q) if q is not None else model.file_type_name
    return ResolvedModel(model.name, model.arch, q, name, path, "llama.cpp", "gguf")


def _from_dir(path: Path, quant: str | None, engine: str | None) -> ResolvedModel:
    from tuilab.models.hf import read_hf_config

    if not (path / "config.json").is_file():
        raise UsageError(_not_a_model_dir(path))
    model = read_hf_config(path)
    if model.mlx_bits is not None and quant is None:
        q: QuantSpec = MLXQuant(bits=model.mlx_bits, group_size=model.mlx_group_size or 64)
        fmt = "mlx"
    else:
        # Unquantized: plan it as stored unless a quant is asked for ("what if I convert it to 4 bits"),
        # in the engine asked for: llama.cpp's F16/BF16 GGUF (what convert_hf_to_gguf.py writes by
        # default), else MLX's float modes.
        stored = _stored_quant(model.dtype, engine or "mlx")
        q = _pick_quant(quant or stored, engine or "mlx", stored)
        fmt = "hf"
    return ResolvedModel(model.arch.name, model.arch, q, quant_name(q), path, quant_engine(q), fmt)


def _stored_quant(dtype: str | None, engine: str) -> str:
    """The float format an unquantized model keeps on `engine`: bf16 when its config says so, else f16."""
    bf16 = (dtype or "").lower() in ("bfloat16", "bf16")
    if engine == "llama.cpp":
        return "BF16" if bf16 else "F16"
    return "mlx-bf16" if bf16 else "mlx-fp16"


def _not_a_model_dir(path: Path) -> str:
    """Why a folder without config.json is no model, naming the models inside it when there are some."""
    inside = sorted(
        [f.name for f in path.glob("*.gguf") if f.is_file()]
        + [d.name + "/" for d in path.iterdir() if d.is_dir() and (d / "config.json").is_file()]
    )
    if not inside:
        return f"{path}: not a model folder (no config.json) and no .gguf files in it"
    shown = ", ".join(inside[:_SHOWN_NAMES]) + (", ..." if len(inside) > _SHOWN_NAMES else "")
    return f"{path}: a folder holding models ({shown}), not one model; give one of them"


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


def _pulled_ggufs(snapshot: Path | None) -> list[Path]:
    """The GGUF model files `tuilab pull` put in a repo's cache snapshot (projectors left out)."""
    if snapshot is None:
        return []
    return sorted(p for p in snapshot.rglob("*.gguf") if not p.name.lower().startswith("mmproj"))


def _has_hf_weights(snapshot: Path) -> bool:
    """A downloaded model, not just the config.json a Hub plan cached."""
    return (snapshot / "config.json").is_file() and any(snapshot.glob("*.safetensors"))


def _from_hub(repo_id: str, quant: str | None, engine: str | None, started_s: float | None) -> ResolvedModel:
    """Plan a repo that is not on this machine from its Hub metadata: a GGUF file's header (the file
    `quant` names) or config.json with the safetensors headers."""
    from tuilab.models.hub import check_repo_id
    from tuilab.models.hub_model import fetch_hub_model

    gguf_quant = quant if _names_a_gguf_quant(quant) else None
    hub = fetch_hub_model(check_repo_id(repo_id), gguf_quant, started_s=started_s)
    if hub.format == "gguf":
        assert hub.arch is not None and hub.choice is not None
        if engine == "mlx" or (quant is not None and not _names_a_gguf_quant(quant)):
            raise UsageError(f"{repo_id} holds GGUF files, which run on llama.cpp; MLX needs an MLX repo")
        return ResolvedModel(repo_id, hub.arch, None, hub.choice.quant, None, "llama.cpp", "gguf", hub)
    assert hub.config_path is not None
    return replace(_from_dir(hub.config_path.parent, quant, engine), hub=hub, path=None)


def _names_a_gguf_quant(quant: str | None) -> bool:
    """An MLX quant name is a what-if for a safetensors repo, never a GGUF file to pick."""
    return quant is not None and not quant.strip().lower().startswith("mlx-")
