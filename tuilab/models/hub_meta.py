"""Read a Hub repo's metadata, never its weights: the file list with sizes, config.json, safetensors
headers and bounded byte ranges of a file, each cached so the second answer needs no network.

huggingface_hub does the HTTP (it reads HF_ENDPOINT, HF_TOKEN and the login token); this module passes
the environment's endpoint, token and cache folder on every call, so a changed environment is honoured,
keeps each request short, and turns every failure into one `TuilabError`: the Hub unreachable (offline,
timeout, HTTP 5xx) exits 1, a repo or file that is not there (unknown, gated, missing) exits 2.
huggingface_hub is imported only here, and only on the Hub path.
"""

from __future__ import annotations

import functools
import json
import os
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from tuilab.core.errors import TuilabError, UsageError
from tuilab.models.hf import hf_hub_cache_dir
from tuilab.paths import data_dir

T = TypeVar("T")

# The ceiling is 10 s for any Hub answer, error or not; one request may take REQUEST_TIMEOUT_S
# and the whole metadata read DEADLINE_S. A one-shot command also spends time before the read (importing
# huggingface_hub: 1.6 s measured cold on the 2-core dev box, ~0.8 s of it CPU) and after it, so there the
# read ends by ANSWER_CEILING_S from the command's start less _OUTSIDE_MAIN_S: the interpreter's start before
# the CLI's main() and its exit after, measured ~0.2 s together on that box, with room for it loaded.
REQUEST_TIMEOUT_S = 4.0
DEADLINE_S = 8.5
ANSWER_CEILING_S = 10.0
_OUTSIDE_MAIN_S = 0.5
_DEFAULT_ENDPOINT = "https://huggingface.co"  # huggingface_hub.constants._HF_DEFAULT_ENDPOINT
_REVISION_RE = re.compile(r"^[\w.-]{1,128}$")
_CACHE_VERSION = 1
_SAFETENSORS_INDEX = "model.safetensors.index.json"
_MAX_INDEX_BYTES = 64 << 20  # index files list tensor names only (models/safetensors.py's same bound)
# Shard headers read at once. huggingface_hub's get_safetensors_metadata uses min(32, cpu_count + 4)
# threads (hf_thread_map in utils/tqdm.py, Python's ThreadPoolExecutor default); we take that formula's
# floor on a 4-core laptop, 8, since each request only waits on the network.
_SHARD_WORKERS = 8


class HubUnreachableError(TuilabError):
    """The Hub could not answer: offline, a timeout, HTTP 5xx or a rate limit. Trying later may work."""

    exit_code = 1


class HubRepoError(UsageError):
    """The Hub answered, and the answer is no: an unknown repo or revision, a gated repo without access,
    or no file tuilab can plan from."""


@dataclass(frozen=True)
class HubFile:
    name: str  # path inside the repo, e.g. BF16/Qwen3-30B-A3B-BF16-00001-of-00002.gguf
    size_bytes: int


@dataclass(frozen=True)
class RepoListing:
    """A repo's files at one revision, from the Hub or from our cache of an earlier answer."""

    repo_id: str
    revision: str
    commit: str
    files: tuple[HubFile, ...]
    gated: bool = False
    from_cache: bool = False

    def has(self, name: str) -> bool:
        return any(f.name == name for f in self.files)


@dataclass(frozen=True)
class SafetensorsSummary:
    """What the safetensors headers of a repo say: parameters per dtype and the tensor data bytes."""

    params_by_dtype: dict[str, int]
    tensor_bytes: int
    n_files: int

    @property
    def n_params(self) -> int:
        return sum(self.params_by_dtype.values())


def hub_offline() -> bool:
    """HF_HUB_OFFLINE as huggingface_hub reads it (also TRANSFORMERS_OFFLINE), read now, not at import."""
    value = os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE") or ""
    return value.strip().upper() in ("1", "ON", "YES", "TRUE")


def hub_endpoint() -> str:
    return (os.environ.get("HF_ENDPOINT") or _DEFAULT_ENDPOINT).rstrip("/")


def hub_token() -> str | None:
    """HF_TOKEN when set; otherwise None lets huggingface_hub use the `hf auth login` token."""
    return os.environ.get("HF_TOKEN") or None


# --- errors and the deadline -------------------------------------------------------------------------


def read_deadline_s(started_s: float | None, now_s: float) -> float:
    """Seconds a metadata read may take: DEADLINE_S, or less when a one-shot command started at
    `started_s` (time.monotonic()) has already spent part of its ANSWER_CEILING_S (none left: give up at
    once). The lab, which runs for hours, passes no start."""
    if started_s is None:
        return DEADLINE_S
    return max(0.0, min(DEADLINE_S, started_s + ANSWER_CEILING_S - _OUTSIDE_MAIN_S - now_s))


def with_deadline(what: str, fn: Callable[[], T], seconds: float | None = None) -> T:
    """Run `fn` in a daemon thread and give up after `seconds`: huggingface_hub retries some failures
    with backoff for ~23 s (HEAD on HTTP 5xx), and a stalled Hub must not hold the user longer."""
    limit = DEADLINE_S if seconds is None else seconds
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # handed to the caller's thread as is
            box["error"] = exc

    worker = threading.Thread(target=run, name="tuilab-hub", daemon=True)
    worker.start()
    worker.join(limit)
    if worker.is_alive():
        raise HubUnreachableError(f"{what}: the Hub did not answer within {limit:.0f} s")
    if "error" in box:
        raise box["error"]
    return box["value"]  # type: ignore[no-any-return]


@contextmanager
def hub_errors(repo_id: str, filename: str | None = None) -> Iterator[None]:
    """Turn what huggingface_hub and its HTTP client raise into one HubUnreachableError or HubRepoError."""
    try:
        yield
    except TuilabError:
        raise
    except Exception as exc:
        raise explain(exc, repo_id, filename) from exc


def explain(exc: BaseException, repo_id: str, filename: str | None = None) -> TuilabError:
    from huggingface_hub import errors

    what = f"{repo_id}/{filename}" if filename else repo_id
    if isinstance(exc, errors.GatedRepoError):
        return HubRepoError(
            f"{repo_id} is gated: accept its terms on huggingface.co, then set HF_TOKEN (or `hf auth login`)"
        )
    if isinstance(exc, errors.RepositoryNotFoundError):
        return HubRepoError(f"no such repo {repo_id} on the Hub (or it is private: set HF_TOKEN)")
    if isinstance(exc, errors.RevisionNotFoundError):
        return HubRepoError(f"{repo_id} has no such revision")
    if isinstance(exc, errors.RemoteEntryNotFoundError):
        return HubRepoError(f"{repo_id} has no file {filename!r}")
    if isinstance(exc, (errors.OfflineModeIsEnabled, errors.LocalEntryNotFoundError)):
        # local-only reads happen offline, or after the Hub was out of reach and the listing came from our
        # cache: name the cause the user has
        why = "offline (HF_HUB_OFFLINE)" if hub_offline() else "the Hub is out of reach"
        return HubUnreachableError(f"cannot read {what}: {why} and not read before")
    if isinstance(exc, errors.HfHubHTTPError) and exc.response is not None:
        status = exc.response.status_code
        if status >= 500 or status in (408, 429):
            return HubUnreachableError(f"cannot read {what}: the Hub answered HTTP {status}; try again later")
        hint = " (check HF_TOKEN)" if status in (401, 403) else ""
        return HubRepoError(f"cannot read {what}: the Hub answered HTTP {status}{hint}")
    if _is_timeout(exc):
        return HubUnreachableError(f"cannot read {what}: the Hub timed out after {REQUEST_TIMEOUT_S:.0f} s")
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if isinstance(exc, (OSError, errors.HfHubHTTPError)) or type(exc).__module__.startswith("httpx"):
        return HubUnreachableError(f"cannot read {what}: the Hub is unreachable ({first})")
    if type(exc).__module__.startswith("huggingface_hub"):  # e.g. a safetensors header it cannot parse
        return HubRepoError(f"cannot read {what}: {first}")
    raise exc


def _is_timeout(exc: BaseException) -> bool:
    return isinstance(exc, TimeoutError) or "Timeout" in type(exc).__name__


# --- the Hub calls -----------------------------------------------------------------------------------


def fetch_listing(repo_id: str, revision: str = "main") -> RepoListing:
    """The repo's files with their sizes at `revision` (one request, no retries), saved for later;
    offline, or when the Hub cannot be reached, the saved answer of an earlier call."""
    cache = MetaCache(repo_id)
    if hub_offline():
        cached = cache.listing(revision)
        if cached is None:
            raise HubUnreachableError(
                f"cannot read {repo_id}: offline (HF_HUB_OFFLINE) and its metadata was never read"
            )
        return cached
    try:
        with hub_errors(repo_id):
            listing = _model_info(repo_id, revision)
    except HubUnreachableError:
        cached = cache.listing(revision)
        if cached is None:
            raise
        return cached
    cache.save_listing(listing)
    return listing


def _model_info(repo_id: str, revision: str) -> RepoListing:
    from huggingface_hub import HfApi

    api = HfApi(endpoint=hub_endpoint())
    info = api.model_info(
        repo_id, revision=revision, files_metadata=True, timeout=REQUEST_TIMEOUT_S, token=hub_token()
    )
    files = tuple(HubFile(s.rfilename, int(s.size or 0)) for s in info.siblings or ())
    if not info.sha:
        raise HubRepoError(f"{repo_id}: the Hub sent no commit for revision {revision!r}")
    return RepoListing(repo_id, revision, info.sha, files, gated=bool(info.gated))


def fetch_config(listing: RepoListing) -> Path:
    """config.json of the listed commit, through the hub cache (hf_hub_download keeps it there)."""
    from huggingface_hub import hf_hub_download

    local_only = hub_offline() or listing.from_cache
    with hub_errors(listing.repo_id, "config.json"):
        path = hf_hub_download(
            listing.repo_id,
            "config.json",
            revision=listing.commit,
            cache_dir=hf_hub_cache_dir(),
            endpoint=hub_endpoint(),
            token=hub_token(),
            etag_timeout=REQUEST_TIMEOUT_S,
            local_files_only=local_only,
        )
    return Path(str(path))


def fetch_safetensors(listing: RepoListing) -> SafetensorsSummary:
    """Parameters per dtype from the safetensors headers of the model's weight files, each read by
    huggingface_hub's bounded range requests (`parse_safetensors_file_metadata`), shards in parallel."""
    cache = MetaCache(listing.repo_id)
    cached = cache.safetensors(listing.commit)
    if cached is not None:
        return cached
    if hub_offline() or listing.from_cache:
        raise HubUnreachableError(
            f"cannot read the safetensors headers of {listing.repo_id}: offline and not read before"
        )
    names = _weight_files(listing)
    params: dict[str, int] = {}
    data_bytes = 0
    for meta in _parallel([functools.partial(_safetensors_header, listing, name) for name in names]):
        for dtype, n in meta.parameter_count.items():
            params[str(dtype)] = params.get(str(dtype), 0) + int(n)
        data_bytes += sum(t.data_offsets[1] - t.data_offsets[0] for t in meta.tensors.values())
    summary = SafetensorsSummary(params, data_bytes, len(names))
    cache.save_safetensors(listing.commit, summary)
    return summary


def _weight_files(listing: RepoListing) -> list[str]:
    """The shards the index names, or model.safetensors, or every top-level .safetensors file. The index
    is read by a range request, not into the hub cache: there, next to config.json without its shards, it
    would look like a broken download."""
    index = next((f for f in listing.files if f.name == _SAFETENSORS_INDEX), None)
    if index is not None:
        if index.size_bytes > _MAX_INDEX_BYTES:
            raise HubRepoError(
                f"{listing.repo_id}: {_SAFETENSORS_INDEX} is over {_MAX_INDEX_BYTES >> 20} MiB"
            )
        try:
            weight_map = json.loads(fetch_range(listing, index.name, 0, index.size_bytes - 1))["weight_map"]
            return sorted({str(v) for v in weight_map.values()})
        except (ValueError, KeyError, TypeError, AttributeError):
            raise HubRepoError(f"{listing.repo_id}: {_SAFETENSORS_INDEX} has no weight_map") from None
    if listing.has("model.safetensors"):
        return ["model.safetensors"]
    return [f.name for f in listing.files if f.name.endswith(".safetensors") and "/" not in f.name]


def _safetensors_header(listing: RepoListing, filename: str) -> Any:
    from huggingface_hub import HfApi

    api = HfApi(endpoint=hub_endpoint())
    with hub_errors(listing.repo_id, filename):
        return api.parse_safetensors_file_metadata(
            listing.repo_id, filename, revision=listing.commit, token=hub_token(), timeout=REQUEST_TIMEOUT_S
        )


def _parallel(jobs: list[Callable[[], T]], n_workers: int = _SHARD_WORKERS) -> list[T]:
    """Run `jobs` on a few daemon threads (a big MoE has 100+ shards); the first error is raised. Daemon
    threads, not an executor, so a deadline that gives up never waits for them at exit."""
    results: list[T | None] = [None] * len(jobs)
    errors: list[BaseException] = []
    next_job = iter(range(len(jobs)))
    lock = threading.Lock()

    def work() -> None:
        while not errors:
            with lock:
                i = next(next_job, None)
            if i is None:
                return
            try:
                results[i] = jobs[i]()
            except BaseException as exc:
                errors.append(exc)

    threads = [threading.Thread(target=work, daemon=True) for _ in range(min(n_workers, len(jobs)))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return [r for r in results if r is not None]


def fetch_range(listing: RepoListing, filename: str, start: int, end: int) -> bytes:
    """Bytes start..end (inclusive) of one file at the listed commit: one HTTP Range request, and never
    more than asked even from a server that ignores Range (the body is cut off, not read to the end)."""
    from huggingface_hub import get_session, hf_hub_url, hf_raise_for_status
    from huggingface_hub.utils._headers import build_hf_headers

    url = hf_hub_url(listing.repo_id, filename, revision=listing.commit, endpoint=hub_endpoint())
    headers = {**build_hf_headers(token=hub_token()), "Range": f"bytes={start}-{end}"}
    want = end - start + 1
    out = bytearray()
    with (
        hub_errors(listing.repo_id, filename),
        get_session().stream(
            "GET", url, headers=headers, timeout=REQUEST_TIMEOUT_S, follow_redirects=True
        ) as response,
    ):
        if response.status_code >= 400:
            response.read()
            hf_raise_for_status(response)
        skip = start if response.status_code == 200 else 0  # Range ignored: the body starts at byte 0
        for chunk in response.iter_bytes():
            out += chunk
            if len(out) >= skip + want:
                break
    return bytes(out[skip : skip + want])


# --- our cache ---------------------------------------------------------------------------------------


class MetaCache:
    """File lists, safetensors summaries and GGUF header prefixes of one repo, under tuilab's data dir
    (`hub-metadata/ORG--NAME/`). Small: a listing is a few KiB, a GGUF header a few MiB."""

    def __init__(self, repo_id: str) -> None:
        self.repo_id = repo_id
        self.root = data_dir() / "hub-metadata" / repo_id.replace("/", "--")

    def listing(self, revision: str) -> RepoListing | None:
        raw = self._load(self._listing_path(revision))
        if raw is None:
            return None
        try:
            files = tuple(HubFile(str(n), int(s)) for n, s in raw["files"])
            return RepoListing(
                self.repo_id, revision, str(raw["commit"]), files, bool(raw.get("gated")), from_cache=True
            )
        except (KeyError, TypeError, ValueError):
            return None  # a damaged cache entry is a miss

    def save_listing(self, listing: RepoListing) -> None:
        body = {
            "version": _CACHE_VERSION,
            "commit": listing.commit,
            "gated": listing.gated,
            "files": [[f.name, f.size_bytes] for f in listing.files],
        }
        self._save(self._listing_path(listing.revision), json.dumps(body).encode())

    def safetensors(self, commit: str) -> SafetensorsSummary | None:
        raw = self._load(self.root / _safe(commit) / "safetensors.json")
        try:
            return None if raw is None else SafetensorsSummary(
                {str(k): int(v) for k, v in raw["params_by_dtype"].items()}, int(raw["tensor_bytes"]),
                int(raw["n_files"]),
            )  # fmt: skip
        except (KeyError, TypeError, ValueError, AttributeError):
            return None

    def save_safetensors(self, commit: str, s: SafetensorsSummary) -> None:
        body = {"params_by_dtype": s.params_by_dtype, "tensor_bytes": s.tensor_bytes, "n_files": s.n_files}
        self._save(self.root / _safe(commit) / "safetensors.json", json.dumps(body).encode())

    def prefix_path(self, commit: str, filename: str) -> Path:
        return self.root / _safe(commit) / (filename.replace("/", "%2F") + ".head")

    def prefix(self, commit: str, filename: str) -> bytes:
        try:
            return self.prefix_path(commit, filename).read_bytes()
        except OSError:
            return b""

    def save_prefix(self, commit: str, filename: str, data: bytes) -> None:
        self._save(self.prefix_path(commit, filename), data)

    def _listing_path(self, revision: str) -> Path:
        return self.root / "revisions" / f"{_safe(revision)}.json"

    @staticmethod
    def _load(path: Path) -> Any:
        try:
            return json.loads(path.read_bytes())
        except (OSError, ValueError):
            return None

    @staticmethod
    def _save(path: Path, data: bytes) -> None:
        """Write through a temporary file and a rename, so a reader never sees half an entry; a cache
        that cannot be written (read-only home) only costs the next call its network round trip."""
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
            tmp.write_bytes(data)
            tmp.replace(path)
        except OSError:
            pass


def _safe(name: str) -> str:
    if not _REVISION_RE.match(name) or ".." in name:
        raise UsageError(f"{name!r} is not a revision name or commit")
    return name
