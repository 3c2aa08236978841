"""The models list's rows, without Textual: the demo, the models found on disk and the profile catalog,
and the type-to-filter rule. Plans, badges and the context table are the lab's (tuilab.lab.views).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tuilab import paths
from tuilab.models.discovery import FoundModel
from tuilab.models.tiny import gguf_file_name


@dataclass(frozen=True)
class ModelEntry:
    """One row of the models list: `key` is what resolve_model takes."""

    key: str
    label: str
    source: str  # "demo", "profile", or a discovery source ("hf-cache", "lmstudio", ...)
    engine: str
    quant: str  # the file's quant, or the profile's default
    error: str | None = None

    @property
    def on_disk(self) -> bool:
        return self.source != "profile"


def catalog(found: Sequence[FoundModel], profile_names: Sequence[str]) -> list[ModelEntry]:
    """The demo first, then what is on disk, then the profile catalog ("what if" models)."""
    entries = [ModelEntry("demo", "demo (built-in tiny model)", "demo", "llama.cpp", "F16")]
    demo_file = paths.models_dir() / "demo" / gguf_file_name("tiny", "F16")
    for m in found:
        if m.path == demo_file:
            continue  # the demo row above is this file
        entries.append(ModelEntry(str(m.path), m.name, m.source, m.engine, m.quant or "-", m.error))
    entries += [ModelEntry(name, name, "profile", "llama.cpp", "default") for name in profile_names]
    return entries


def search_text(entry: ModelEntry) -> str:
    """What type-to-filter looks in: the label, source and quant, lower-cased (see `has_words`)."""
    return f"{entry.label} {entry.source} {entry.quant}".lower()


def has_words(text: str, query: str) -> bool:
    """Type-to-filter: every word of the query appears in `text` (already lower-cased)."""
    return all(word in text for word in query.lower().split())
