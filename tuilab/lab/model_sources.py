"""Where models come from, asked once for both faces: the folders a user adds (`tuilab models --dir`, the
lab's `model_dirs` setting), a Hub repo planned from its metadata (at start-up again, from the cache
alone, for the repos the lab keeps in its settings), and pulling that repo with progress.

A folder is checked the same way everywhere: it must exist, be a folder and be readable, else one line
says which. A pull reports bytes as they arrive and stops when asked; huggingface_hub keeps the partial
file, so the next pull resumes it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tuilab.core.errors import TuilabError, UsageError
from tuilab.models.discovery import FoundModel, discover
from tuilab.models.hub import check_repo_id
from tuilab.models.resolve import ResolvedModel, resolve_model


class PullCancelled(TuilabError):
    """The user stopped a pull; the partial file stays for the next one to resume."""


def models_folder(text: str | Path) -> Path:
    """The folder `text` names (`~` expanded), or a UsageError saying in one line why it cannot be used."""
    raw = str(text).strip()
    if not raw:
        raise UsageError("give a folder to look for models in")
    path = Path(raw).expanduser()
    if not path.exists():
        raise UsageError(f"{path}: no such folder")
    if not path.is_dir():
        raise UsageError(f"{path}: not a folder")
    if not os.access(path, os.R_OK | os.X_OK):
        raise UsageError(f"{path}: cannot read this folder (permission denied)")
    return path.absolute()


def discover_models(dirs: Sequence[str | Path] = ()) -> list[FoundModel]:
    """The models in the usual stores plus the user's folders (a folder gone since it was added is
    skipped, as discovery skips a missing store)."""
    return discover([Path(d).expanduser() for d in dirs])


def read_hub_repo(repo_id: str) -> ResolvedModel:
    """A repo planned from its Hub metadata (config.json and headers, never the weights); the errors
    (offline, unknown, gated, no usable file) are one-line TuilabErrors. Only a repo id is taken: a
    catalog or profile name has its own row already."""
    repo_id = repo_id.strip()
    if repo_id.count("/") != 1:
        raise UsageError(f"{repo_id!r} is not a Hub repo id (expected ORG/NAME, e.g. Qwen/Qwen3-0.6B)")
    return resolve_model(check_repo_id(repo_id), hub=True)


def read_saved_hub_repo(repo_id: str) -> ResolvedModel:
    """A repo planned before, planned again from what that read cached (tuilab's metadata cache, the hub
    cache): not one request, so a start-up offline or with the Hub down lists it as quickly. A repo whose
    metadata is no longer cached raises a one-line HubUnreachableError."""
    from tuilab.models.hub_meta import cache_only

    with cache_only():
        return read_hub_repo(repo_id)


@dataclass(frozen=True)
class PullTarget:
    """What `pull` fetches for a Hub-planned model: the GGUF file it was planned from (every part of a
    split file), or the whole repo for a safetensors one."""

    repo_id: str
    files: tuple[str, ...]  # fetched one by one, so the progress is one sum of bytes
    total_bytes: int
    whole_repo: bool = False

    @property
    def command(self) -> str:
        """The same download from a shell."""
        if self.whole_repo or len(self.files) != 1:
            return f"tuilab pull {self.repo_id}" + ("" if self.whole_repo else f" '{_split_pattern(self)}'")
        return f"tuilab pull {self.repo_id} {self.files[0]}"


def _split_pattern(target: PullTarget) -> str:
    """The glob that names every part of a split GGUF file (`Q4_K_M/*-of-00003.gguf` and kin)."""
    first = target.files[0]
    return first.rsplit("-00001-of-", 1)[0] + "-*" if "-00001-of-" in first else first


def pull_target(model: ResolvedModel) -> PullTarget | None:
    """What pulling `model` means, or None when it did not come from the Hub."""
    hub = model.hub
    if hub is None:
        return None
    if hub.choice is not None:
        return PullTarget(hub.repo_id, tuple(f.name for f in hub.choice.files), hub.choice.size_bytes)
    files = hub.listing.files
    return PullTarget(hub.repo_id, tuple(f.name for f in files), sum(f.size_bytes for f in files), True)


def pull_with_progress(
    target: PullTarget, on_bytes: Callable[[int], None], cancelled: Callable[[], bool]
) -> Path:
    """Download `target` into the Hugging Face cache, calling `on_bytes(done)` as bytes arrive (resumed
    bytes counted); raises PullCancelled soon after `cancelled()` turns true. Returns the local path."""
    from tuilab.models.hub import pull

    progress = _progress_class(on_bytes, cancelled)
    path = Path()
    for name in target.files:
        path = pull(target.repo_id, name, tqdm_class=progress).path
        progress.finished_bytes += progress.file_bytes
        progress.file_bytes = 0
    return path.parent if target.whole_repo or len(target.files) > 1 else path


def _progress_class(on_bytes: Callable[[int], None], cancelled: Callable[[], bool]) -> Any:
    """A tqdm class for huggingface_hub's downloads: it draws nothing (the lab shows the progress), sums
    the bytes of every file, and stops the download by raising from `update` once cancelled."""
    from tqdm.auto import tqdm  # type: ignore[import-untyped]  # huggingface_hub's own dependency

    class PullProgress(tqdm):  # type: ignore[misc]
        finished_bytes = 0  # the files done before this one
        file_bytes = 0

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["disable"] = True
            super().__init__(*args, **kwargs)
            type(self).file_bytes = int(kwargs.get("initial") or 0)

        def update(self, n: float | None = 1) -> bool | None:
            if cancelled():
                raise PullCancelled("pull cancelled; the partial file is kept and a later pull resumes it")
            cls = type(self)
            cls.file_bytes += int(n or 0)
            on_bytes(cls.finished_bytes + cls.file_bytes)
            return None

    return PullProgress
