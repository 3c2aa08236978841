"""The built-in model catalog: Hub models people run, each with its config.json architecture and its source.

One JSON file ships inside the package (`tuilab/data/catalog/models.json`). Loading validates every entry
(keys, types, a unique name) and fails with one line naming the entry; an entry's architecture comes from
the same config.json parser that reads model folders (`models.hf.arch_from_config`), built on first use.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import Any

from tuilab.core.arch import ModelArch
from tuilab.core.errors import ProfileError, TuilabError
from tuilab.core.rank import Candidate

CATALOG_FILE = Path(__file__).resolve().parents[1] / "data" / "catalog" / "models.json"
_TOP_KEYS = frozenset({"version", "sources", "models"})
_REQUIRED: dict[str, type | tuple[type, ...]] = {
    "name": str,
    "repo": str,
    "params": (int, type(None)),
    "config_read": str,
    "config": dict,
}
_OPTIONAL: dict[str, type | tuple[type, ...]] = {"params_read": str, "params_scope": str, "note": str}
_SCOPES = frozenset({"text", "with_vision"})
_CONFIG_KEYS = ("model_type", "num_hidden_layers", "hidden_size")  # what every config.json names


@dataclass(frozen=True)
class CatalogEntry:
    """One catalog model: its Hub repo, its config.json (the architecture keys, verbatim) and provenance."""

    name: str  # the repo's name, lower case: what `tuilab fit NAME` takes
    repo: str
    params: int | None  # published parameter count (the Hub's safetensors total); None: none found
    config_read: str  # where the config values were read (see the file's "sources")
    config: Mapping[str, Any] = field(repr=False, hash=False, compare=False)
    params_read: str | None = None
    params_scope: str = "text"  # "with_vision": the published count includes a vision tower
    note: str | None = None

    @property
    def config_url(self) -> str:
        return f"https://huggingface.co/{self.repo}/blob/main/config.json"

    def arch(self) -> ModelArch:
        return _arch(self)


@cache
def _arch(entry: CatalogEntry) -> ModelArch:
    from tuilab.models.hf import arch_from_config

    arch = arch_from_config(entry.config, name=entry.name, source=f"catalog {entry.name}")
    # The entry's config.json on the Hub, not a file here: no "file" source, which means a GGUF header
    return replace(arch, sources={"config": f"{entry.config_url} (read from {entry.config_read})"})


def load_catalog(path: Path = CATALOG_FILE) -> tuple[CatalogEntry, ...]:
    """Every entry of a catalog file, validated; ProfileError names the file, the entry and the problem."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProfileError(str(path), f"cannot read the catalog: {exc}") from None
    if not isinstance(doc, dict) or set(doc) - _TOP_KEYS or not isinstance(doc.get("models"), list):
        raise ProfileError(str(path), f"expected an object with {sorted(_TOP_KEYS)} and a 'models' list")
    entries = [_entry(path, i, raw) for i, raw in enumerate(doc["models"])]
    seen: dict[str, str] = {}
    for e in entries:
        if e.name in seen:
            raise ProfileError(
                str(path), f"model {e.name!r}: the name is used twice ({seen[e.name]}, {e.repo})"
            )
        seen[e.name] = e.repo
    return tuple(entries)


def _entry(path: Path, index: int, raw: object) -> CatalogEntry:
    label = f"model #{index + 1}"
    if not isinstance(raw, dict):
        raise ProfileError(str(path), f"{label}: expected an object, got {type(raw).__name__}")
    if isinstance(raw.get("name"), str):
        label = f"model {raw['name']!r}"
    unknown = set(raw) - set(_REQUIRED) - set(_OPTIONAL)
    if unknown:
        raise ProfileError(str(path), f"{label}: unknown key(s) {', '.join(sorted(unknown))}")
    for key, kind in _REQUIRED.items():
        if key not in raw:
            raise ProfileError(str(path), f"{label}: missing {key!r}")
        _check_type(path, label, key, raw[key], kind)
    for key, kind in _OPTIONAL.items():
        if key in raw:
            _check_type(path, label, key, raw[key], kind)
    _check_values(path, label, raw)
    return CatalogEntry(**raw)


def _check_type(path: Path, label: str, key: str, value: object, kind: type | tuple[type, ...]) -> None:
    if isinstance(value, bool) or not isinstance(value, kind):
        raise ProfileError(str(path), f"{label}: {key!r} has the wrong type ({type(value).__name__})")


def _check_values(path: Path, label: str, raw: Mapping[str, Any]) -> None:
    if raw["name"] != raw["name"].lower() or not raw["name"].strip():
        raise ProfileError(str(path), f"{label}: 'name' must be lower case and not empty")
    if raw["repo"].count("/") != 1:
        raise ProfileError(str(path), f"{label}: 'repo' must be org/name, got {raw['repo']!r}")
    if raw["params"] is not None and raw["params"] <= 0:
        raise ProfileError(str(path), f"{label}: 'params' must be positive")
    if raw.get("params_scope", "text") not in _SCOPES:
        raise ProfileError(str(path), f"{label}: 'params_scope' must be one of {sorted(_SCOPES)}")
    config = raw["config"]
    text = config.get("text_config") if isinstance(config.get("text_config"), dict) else config
    missing = [k for k in _CONFIG_KEYS if k not in text and k not in config]
    if missing:
        raise ProfileError(str(path), f"{label}: config lacks {', '.join(missing)}")


@cache
def catalog() -> tuple[CatalogEntry, ...]:
    """The built-in catalog, read once per process."""
    return load_catalog()


def catalog_names() -> list[str]:
    return [e.name for e in catalog()]


def find_catalog_entry(name: str) -> CatalogEntry | None:
    """The entry named `name` (case-insensitive), or None."""
    wanted = name.lower()
    return next((e for e in catalog() if e.name == wanted), None)


@dataclass(frozen=True)
class Plannable:
    """The catalog split for ranking: the architectures the parser knows, and why the rest are left out."""

    candidates: tuple[Candidate, ...]
    left_out: tuple[tuple[str, str], ...]  # (name, reason)


def plannable(entries: Iterable[CatalogEntry] | None = None) -> Plannable:
    """Candidates for `core.rank`: entries whose config parses and whose model_type the parser knows.
    An unknown model_type is read as a Llama-shaped decoder, which misplans other layouts (read so,
    DeepSeek V3 came out at 38B parameters before the parser knew MLA), so those stay out of a ranking."""
    candidates: list[Candidate] = []
    left_out: list[tuple[str, str]] = []
    for e in catalog() if entries is None else entries:
        reason = unplannable_reason(e)
        if reason is not None:
            left_out.append((e.name, reason))
            continue
        try:
            candidates.append(Candidate(e.name, e.arch()))
        except TuilabError as exc:
            left_out.append((e.name, str(exc)))
    return Plannable(tuple(candidates), tuple(left_out))


def unplannable_reason(entry: CatalogEntry) -> str | None:
    """Why this entry cannot be planned yet (its model_type has no parser rule), or None."""
    from tuilab.models.hf import known_model_type

    model_type = _model_type(entry.config)
    if known_model_type(model_type):
        return None
    return (
        f"model_type {model_type!r} is not planned yet: read as a Llama-shaped decoder its memory would be "
        "wrong"
    )


def _model_type(config: Mapping[str, Any]) -> str:
    text = config.get("text_config")
    inner = text.get("model_type") if isinstance(text, dict) else None
    return str(inner or config.get("model_type") or "")
