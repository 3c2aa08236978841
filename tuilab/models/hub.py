"""Download models from the Hugging Face Hub into its local cache, where discovery finds them.

huggingface_hub does the work (progress bars on stderr, resuming a partial download from its
`.incomplete` file); this module picks what to fetch and turns its many failures into one clean
`TuilabError`. huggingface_hub is imported only when a download starts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tuilab.core.errors import TuilabError, UsageError

# Repo ids as huggingface_hub's validate_repo_id accepts them: [namespace/]name, 1-96 characters of
# letters, digits, "-", "_", "."; https://huggingface.co/docs/hub/en/repositories-naming (96: that page).
_REPO_ID_RE = re.compile(r"^(?:[\w.-]{1,96}/)?[\w.-]{1,96}$")
_MODEL_SUFFIXES = (".gguf",)


class DownloadError(TuilabError):
    """A download that failed: offline, not found, gated, or the network went away."""


@dataclass(frozen=True)
class PullResult:
    repo_id: str
    path: Path  # the downloaded file, or the snapshot directory for a whole repo or a pattern
    files: tuple[str, ...]  # what was asked for: one name, a pattern, or () for the whole repo


def check_repo_id(repo_id: str) -> str:
    """Reject what can never be a repo id before any network call."""
    if not _REPO_ID_RE.match(repo_id) or ".." in repo_id or "--" in repo_id:
        raise UsageError(
            f"{repo_id!r} is not a Hugging Face repo id (expected ORG/NAME, e.g. Qwen/Qwen3-0.6B)"
        )
    return repo_id


def pull(
    repo_id: str, filename: str | None = None, *, revision: str | None = None, tqdm_class: Any = None
) -> PullResult:
    """Fetch one file, the files matching a glob pattern (`*Q4_K_M.gguf`), or with no FILE the whole repo
    unless it holds several GGUF files (then the user must pick one instead of downloading them all).

    One short request asks the Hub for the repo first: offline, unreachable or failing, that answers
    in well under 2 s, where huggingface_hub's own retries (backoff 1+2+4+8+8 s) took 24 s to give up.
    `tqdm_class` replaces huggingface_hub's progress bars (the lab draws its own)."""
    check_repo_id(repo_id)
    try:
        import huggingface_hub as hf
    except ImportError as exc:
        raise DownloadError("downloading needs huggingface_hub (pip install huggingface-hub)") from exc
    from tuilab.models.hf import hf_hub_cache_dir
    from tuilab.models.hub_meta import hub_endpoint, hub_offline, hub_token

    offline = hub_offline()
    endpoint, cache, token = hub_endpoint(), hf_hub_cache_dir(), hub_token()
    try:
        files = [] if offline else _list_files(repo_id, revision)
        if filename and not _is_pattern(filename):
            path = hf.hf_hub_download(
                repo_id, filename, revision=revision, local_files_only=offline,
                endpoint=endpoint, cache_dir=cache, token=token, tqdm_class=tqdm_class,
            )  # fmt: skip
            return PullResult(repo_id, Path(str(path)), (filename,))
        if filename is None:
            _refuse_many_ggufs(repo_id, files)
        patterns = [filename] if filename else None
        snapshot = hf.snapshot_download(
            repo_id, allow_patterns=patterns, revision=revision, local_files_only=offline,
            endpoint=endpoint, cache_dir=cache, token=token, tqdm_class=tqdm_class,
        )  # fmt: skip
        return PullResult(repo_id, Path(str(snapshot)), tuple(patterns or ()))
    except _hub_errors() as exc:
        raise DownloadError(_explain(repo_id, filename, exc)) from exc


def _list_files(repo_id: str, revision: str | None) -> list[str]:
    """The repo's file names from one request with a short timeout and no retries, so an unreachable
    or failing Hub is reported at once; offline (HF_HUB_OFFLINE) the cache answers instead."""
    from huggingface_hub import HfApi

    from tuilab.models.hub_meta import REQUEST_TIMEOUT_S, hub_endpoint, hub_token

    info = HfApi(endpoint=hub_endpoint()).model_info(
        repo_id, revision=revision, timeout=REQUEST_TIMEOUT_S, token=hub_token()
    )
    return [s.rfilename for s in info.siblings or ()]


def _is_pattern(filename: str) -> bool:
    return any(c in filename for c in "*?[")


def _refuse_many_ggufs(repo_id: str, files: list[str]) -> None:
    ggufs = sorted(f for f in files if f.endswith(_MODEL_SUFFIXES))
    if len(ggufs) > 1:
        shown = ", ".join(ggufs[:8]) + (" ..." if len(ggufs) > 8 else "")
        raise UsageError(
            f"{repo_id} holds {len(ggufs)} GGUF files; name one (or a pattern like '*Q4_K_M*'): {shown}"
        )


def _hub_errors() -> tuple[type[BaseException], ...]:
    from huggingface_hub import errors

    # HfHubHTTPError covers 404/401/gated; the transport errors (no route, DNS) derive from the HTTP client's
    # base HTTPError, which errors.py imports; offline mode raises OfflineModeIsEnabled or LocalEntryNotFound.
    transport = getattr(errors, "HTTPError", OSError)
    return (errors.HfHubHTTPError, errors.EntryNotFoundError, errors.OfflineModeIsEnabled, transport, OSError)


def _explain(repo_id: str, filename: str | None, exc: BaseException) -> str:
    from huggingface_hub import errors

    what = f"{repo_id}/{filename}" if filename else repo_id
    if isinstance(exc, errors.GatedRepoError):
        return f"{repo_id} is gated: accept its terms on huggingface.co and log in (`hf auth login`)"
    if isinstance(exc, errors.RepositoryNotFoundError):
        return f"no such repo {repo_id} on the Hub (or it is private: log in with `hf auth login`)"
    if isinstance(exc, errors.RevisionNotFoundError):
        return f"{repo_id} has no such revision"
    if isinstance(exc, errors.RemoteEntryNotFoundError):
        return f"{repo_id} has no file {filename!r}"
    if isinstance(exc, (errors.LocalEntryNotFoundError, errors.OfflineModeIsEnabled)) or _is_transport(exc):
        why = "offline (HF_HUB_OFFLINE is set or the Hub is unreachable) and not in the cache"
        return f"cannot download {what}: {why}"
    if (
        isinstance(exc, errors.HfHubHTTPError)
        and exc.response is not None
        and exc.response.status_code >= 500
    ):
        return f"cannot download {what}: the Hub answered HTTP {exc.response.status_code}; try again later"
    first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return f"cannot download {what}: {first_line}"


def _is_transport(exc: BaseException) -> bool:
    """A connection that failed or timed out (the HTTP client's errors, or the OS's)."""
    from huggingface_hub import errors

    if isinstance(exc, errors.HfHubHTTPError):
        return False
    return isinstance(exc, (OSError, TimeoutError)) or type(exc).__module__.startswith("httpx")
