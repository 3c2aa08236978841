"""A Hub repo as tuilab plans it, from metadata only: for a GGUF repo the file a quant names and its
header, read through bounded range requests; for a safetensors repo its config.json and headers.

Which GGUF file: `--quant Q4_K_M` matches the quant in the file names case-insensitively, with split
files (`-00001-of-00003.gguf`) grouped into one model; the header of every part is read (the first holds
the metadata, each its own tensors), growing the range until the header parses, never the whole file.
"""

from __future__ import annotations

import dataclasses
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from tuilab.core.arch import ModelArch
from tuilab.core.errors import ModelFileError, TuilabError, UnknownNameError
from tuilab.core.quant import parse_quant, sized_to_weights, weight_tensors
from tuilab.models.gguf import GGUFModel, GGUFTables, model_from_tables, read_gguf_tables
from tuilab.models.hf import find_in_hf_cache
from tuilab.models.hub_meta import (
    HubFile,
    HubRepoError,
    HubUnreachableError,
    MetaCache,
    RepoListing,
    SafetensorsSummary,
    fetch_config,
    fetch_listing,
    fetch_range,
    fetch_safetensors,
    read_deadline_s,
    with_deadline,
)

# The first range read of a GGUF file: a Qwen3 header (151,936 tokens and 151,387 merges as strings,
# 48 MoE layers) is ~6 MB, a Gemma 3 one (262,144 tokens) ~8 MB, so 8 MiB usually takes one request;
# later parts of a split file hold a few KV pairs and their tensor table.
_FIRST_RANGE_BYTES = 8 << 20
_PART_RANGE_BYTES = 2 << 20
# Our bound on a header: gguf.py refuses strings over 16 MiB and real headers are under 32 MiB, so a
# header that needs more than 128 MiB is refused before we fetch more of a file we are not downloading.
_MAX_HEADER_BYTES = 128 << 20
_SPLIT_RE = re.compile(r"-(\d{5})-of-(\d{5})$", re.IGNORECASE)
# Quant labels as llama.cpp's quantize and the big uploaders (unsloth, bartowski, Qwen) write them in
# file names: Q4_K_M, IQ2_XXS, Q8_0, BF16, F16, TQ1_0, MXFP4_MOE, and unsloth's UD- dynamic variants.
_QUANT_RE = re.compile(r"I?Q\d(?:_[A-Z0-9]+)*|TQ\d_\d|BF16|F16|F32|MXFP4(?:_MOE)?", re.IGNORECASE)
# A recipe file (UD-Q4_K_XL) whose own header does not come in time is planned from a sibling's header
# cached on disk: parsing a cached 6.4 MB header (Qwen3's full vocabulary) took 0.14-0.22 s on the 2-core
# build machine (docs/decisions.md "A recipe GGUF file planned from its size"), so its own read stops
# this long before the Hub deadline, leaving about five times that.
_SIBLING_RESERVE_S = 1.0
_AUX_PREFIXES = ("mmproj",)  # vision projectors ship next to the model in GGUF repos
# How far the config.json reading may be from the safetensors headers' count before the plan says so:
# the parser is within 3% of the published count for every catalog model it knows
# (tests/models/test_builtin_catalog.py PARAMS_TOLERANCE, docs/decisions.md "The built-in catalog").
PARAMS_AGREE_FRACTION = 0.03


@dataclass(frozen=True)
class GGUFChoice:
    """One model a GGUF repo holds: a quant label and its file, or all parts of a split file."""

    quant: str
    files: tuple[HubFile, ...]

    @property
    def size_bytes(self) -> int:
        return sum(f.size_bytes for f in self.files)

    @property
    def name(self) -> str:
        return self.files[0].name


@dataclass(frozen=True)
class HubModel:
    """A Hub repo planned from metadata: where each fact came from, for the plan's basis."""

    listing: RepoListing
    format: str  # "gguf" or "safetensors"
    arch: ModelArch | None = None  # GGUF: from the header; safetensors: see config_path
    choice: GGUFChoice | None = None
    choices: tuple[GGUFChoice, ...] = ()
    header_bytes: int = 0  # bytes of GGUF header fetched or reused from the cache
    gguf: GGUFModel | None = None
    config_path: Path | None = None
    safetensors: SafetensorsSummary | None = None
    notes: tuple[str, ...] = field(default=())
    # The file whose header was read when it is not `choice`: a recipe file whose own header could not be
    # read, planned from its size (`sized_arch`) with a sibling's architecture; None: `choice` itself.
    read_choice: GGUFChoice | None = None
    fallback_reason: str = ""  # why `choice`'s own header was not read, for the basis

    @property
    def weights_from(self) -> str:
        """How the chosen file's weights are known: "header" (exact) or "file size" (`sized_arch`)."""
        return "header" if self.read_choice is None else "file size"

    @property
    def header_choice(self) -> GGUFChoice | None:
        """The file whose header the architecture was read from."""
        return self.read_choice or self.choice

    @property
    def read_arch(self) -> ModelArch:
        """The architecture as the read header holds it, tensors with their exact types and bytes."""
        arch = self.gguf.arch if self.gguf is not None else self.arch
        assert arch is not None
        return arch

    def non_weight_bytes(self) -> int:
        """Bytes of the read file that are not weights: its header, tensor table and alignment padding."""
        assert self.header_choice is not None
        return self.header_choice.size_bytes - sum(t.n_bytes for t in weight_tensors(None, self.read_arch))

    def sized_arch(self, choice: GGUFChoice) -> ModelArch:
        """Another file of this repo planned from its size: every file of a repo holds the same model, so
        its weights are its size less the read file's non-weight bytes, each tensor scaled alike."""
        return sized_to_weights(self.read_arch, choice.size_bytes - self.non_weight_bytes(), choice.quant)

    def sized_basis(self, choice: GGUFChoice) -> str:
        """The basis line of a file planned from its size (`sized_arch`), in the words the plan shows."""
        read, overhead = self.header_choice, self.non_weight_bytes()
        assert read is not None
        weights = choice.size_bytes - overhead
        factor = weights / (read.size_bytes - overhead)
        return (
            f"{choice.name}: weights {weights:,} bytes, its file size {choice.size_bytes:,} less the "
            f"{overhead:,} bytes of header and padding of {read.name}, whose header was read; the tensor "
            f"types and the bytes a token reads are {read.quant}'s scaled by {factor:.3f}; the architecture, "
            "KV cache and compute buffers are the same model's"
        )

    @property
    def repo_id(self) -> str:
        return self.listing.repo_id

    def to_json(self) -> dict[str, object]:
        """The Hub facts as `fit --json` prints them under "hub"."""
        out: dict[str, object] = {
            "repo": self.repo_id,
            "revision": self.listing.revision,
            "commit": self.listing.commit,
            "format": self.format,
            "from_cache": self.listing.from_cache,
        }
        if self.choice is not None:
            out |= {"quant": self.choice.quant, "files": [f.name for f in self.choice.files]}
            out |= {"size_bytes": self.choice.size_bytes, "header_bytes_read": self.header_bytes}
            out |= {"weights_from": self.weights_from}
            if self.read_choice is not None:
                out |= {"header_file": self.read_choice.name}
        if self.safetensors is not None:
            out |= {"params_by_dtype": dict(self.safetensors.params_by_dtype)}
            out |= {"safetensors_bytes": self.safetensors.tensor_bytes}
        return out

    def params_check(self, arch: ModelArch) -> str | None:
        """Why the plan's weights may be off: config.json read as a different parameter count than the
        safetensors headers hold (an architecture read wrongly, or a part the reading leaves out, such as a
        vision tower). Only float weights are compared: packed integer ones (MLX, GPTQ, AWQ) count words."""
        s = self.safetensors
        if (
            s is None
            or not s.n_params
            or any(not d.upper().startswith(("F", "BF")) for d in s.params_by_dtype)
        ):
            return None
        read, exact = arch.n_params, s.n_params
        if abs(read - exact) <= PARAMS_AGREE_FRACTION * exact:
            return None
        return (
            f"the weights may be off: config.json reads as {read / 1e9:.2f} B parameters, the safetensors "
            f"headers hold {exact / 1e9:.2f} B, and the plan follows config.json"
        )

    def basis(self) -> dict[str, str]:
        """Where this plan's model facts came from, in the words the fit output shows."""
        where = f"{self.repo_id} @ {self.listing.commit[:10]}"
        if self.listing.from_cache:
            where += " (cached metadata: offline, or the Hub out of reach)"
        out = {"hub repo": where}
        if self.choice is not None:
            parts = f"{len(self.choice.files)} parts, " if len(self.choice.files) > 1 else ""
            out["hub file"] = f"{self.choice.name} ({parts}{self.choice.size_bytes:,} bytes)"
            out["hub header read"] = (
                f"{self.header_bytes:,} bytes by range requests, not the weights"
                if self.header_bytes
                else "from the file `tuilab pull` put in the hub cache"
            )
            if self.read_choice is not None:
                out["hub header read"] += f", of {self.read_choice.name}"
                out["hub weights"] = (
                    f"from the file size ({self.fallback_reason}): {self.sized_basis(self.choice)}"
                )
        if self.safetensors is not None:
            s = self.safetensors
            dtypes = ", ".join(f"{k} {v:,}" for k, v in sorted(s.params_by_dtype.items()))
            out["hub parameters"] = f"{s.n_params:,} in {s.n_files} safetensors file(s): {dtypes}"
            out["hub weights"] = f"{s.tensor_bytes:,} bytes of tensor data"
        return out


def fetch_hub_model(
    repo_id: str, quant: str | None = None, revision: str = "main", *, started_s: float | None = None
) -> HubModel:
    """Read what planning `repo_id` needs from the Hub (or from the cache of an earlier read), within
    the Hub deadline (what is left of it for a command that started at `started_s`); `quant` picks the
    GGUF file in a GGUF repo."""
    limit_s = read_deadline_s(started_s, time.monotonic())
    end_s = time.monotonic() + limit_s
    return with_deadline(f"cannot read {repo_id}", lambda: _fetch(repo_id, quant, revision, end_s), limit_s)


def _fetch(repo_id: str, quant: str | None, revision: str, end_s: float) -> HubModel:
    try:
        listing = fetch_listing(repo_id, revision)
    except HubUnreachableError:
        listing_or_none = _pulled_listing(repo_id, revision)
        if listing_or_none is None:
            raise
        listing = listing_or_none
    choices = gguf_choices(listing)
    has_config = listing.has("config.json")
    if choices and (quant is not None or not has_config or not _has_safetensors(listing)):
        return _gguf_model(listing, choices, pick_gguf(listing, choices, quant), end_s)
    if has_config:
        config = fetch_config(listing)
        summary = fetch_safetensors(listing) if _has_safetensors(listing) else None
        return HubModel(listing, "safetensors", config_path=config, safetensors=summary)
    shown = ", ".join(f.name for f in listing.files[:8]) or "no files"
    raise HubRepoError(f"{repo_id} holds no GGUF file and no config.json to plan from ({shown})")


def _has_safetensors(listing: RepoListing) -> bool:
    return any(f.name.endswith(".safetensors") for f in listing.files)


# --- choosing a GGUF file ----------------------------------------------------------------------------


def quant_label(filename: str) -> str | None:
    """The quant a GGUF file name carries (`Qwen3-30B-A3B-UD-Q4_K_XL.gguf` -> `UD-Q4_K_XL`), or None:
    the last `-` or `.` separated word that reads as a quant, with unsloth's `UD-` kept."""
    tokens = re.split(r"[-.]", _gguf_stem(filename))
    for i in range(len(tokens) - 1, -1, -1):
        if _QUANT_RE.fullmatch(tokens[i]):
            dynamic = i > 0 and tokens[i - 1].upper() == "UD"
            return ("UD-" if dynamic else "") + tokens[i].upper()
    return None


def _gguf_stem(filename: str) -> str:
    """The file name without folder, `.gguf` and split suffix."""
    base = Path(filename).name
    return _SPLIT_RE.sub("", base[:-5] if base.lower().endswith(".gguf") else base)


def gguf_choices(listing: RepoListing) -> list[GGUFChoice]:
    """Every model file the repo holds, split parts grouped, in listing order by quant label."""
    groups: dict[str, list[HubFile]] = {}
    labels: dict[str, str] = {}
    for f in listing.files:
        base = Path(f.name).name
        if not base.lower().endswith(".gguf") or base.lower().startswith(_AUX_PREFIXES):
            continue
        key = str(Path(f.name).parent / _gguf_stem(f.name))
        groups.setdefault(key, []).append(f)
        labels[key] = quant_label(f.name) or _gguf_stem(f.name)
    return [GGUFChoice(labels[k], tuple(sorted(v, key=lambda f: f.name))) for k, v in groups.items()]


def pick_gguf(listing: RepoListing, choices: list[GGUFChoice], quant: str | None) -> GGUFChoice:
    """The file `quant` names: its label equal to it, else the one file whose name contains it; with no
    quant, Q4_K_M when the repo has it, or the only file."""
    asked = quant
    if quant is None:
        if len(choices) == 1:
            return choices[0]
        quant = "Q4_K_M"  # the usual default (resolve.DEFAULT_LLAMA_QUANT)
    wanted = quant.strip().upper()
    exact = [c for c in choices if c.quant == wanted]
    found = exact or [c for c in choices if _names_quant(c.name, wanted)]
    if len(found) == 1:
        return found[0]
    have = ", ".join(dict.fromkeys(c.quant for c in choices))
    if not found and asked is None:
        raise HubRepoError(
            f"{listing.repo_id} holds {len(choices)} GGUF models; pick one with --quant: {have}"
        )
    if not found:
        raise HubRepoError(f"{listing.repo_id} has no {quant} file; its quants: {have}")
    names = ", ".join(c.name for c in found)
    raise HubRepoError(f"{quant} matches several files in {listing.repo_id} ({names}); name one of: {have}")


def _names_quant(filename: str, quant: str) -> bool:
    """`quant` appears in the file name as a whole word (between separators), case-insensitively."""
    return re.search(rf"(?:^|[-_./]){re.escape(quant)}(?:$|[-_.])", filename.upper()) is not None


# --- planning a GGUF file: from its header, or a recipe file from its size -----------------------------


def _gguf_model(
    listing: RepoListing, choices: list[GGUFChoice], choice: GGUFChoice, end_s: float
) -> HubModel:
    """The chosen file planned from its header. A recipe file (UD-Q4_K_XL), whose header cannot be read
    or does not come in time, is planned from its size with a sibling file's header instead."""
    if not is_recipe(choice.quant):
        return _from_header(listing, choices, choice)
    own_s = max(0.0, end_s - time.monotonic() - _SIBLING_RESERVE_S)
    try:
        return with_deadline(
            f"cannot read {choice.name}", lambda: _from_header(listing, choices, choice), own_s
        )
    except (ModelFileError, HubUnreachableError) as exc:
        return _from_sibling(listing, choices, choice, exc)


def _from_header(listing: RepoListing, choices: list[GGUFChoice], choice: GGUFChoice) -> HubModel:
    model, n_bytes = read_remote_gguf(listing, choice)
    return HubModel(listing, "gguf", model.arch, choice, tuple(choices), n_bytes, model, notes=model.notes)


def is_recipe(quant: str) -> bool:
    """A file label no llama.cpp file type names: an uploader's recipe such as unsloth's UD-Q4_K_XL."""
    try:
        parse_quant(quant)
    except UnknownNameError:
        return True
    return False


def _from_sibling(
    listing: RepoListing, choices: list[GGUFChoice], choice: GGUFChoice, failure: TuilabError
) -> HubModel:
    """`choice` planned from its size with the header of the nearest file by size that is on this machine
    (pulled, or its header cached by an earlier read); when the Hub answered but `choice`'s header did not
    parse, the nearest file of a llama.cpp file type is read too. With none, `failure` is raised."""
    others = sorted((c for c in choices if c != choice), key=lambda c: abs(c.size_bytes - choice.size_bytes))
    local = [c for c in others if _header_on_disk(listing, c)]
    remote = [c for c in others if not is_recipe(c.quant)] if isinstance(failure, ModelFileError) else []
    for sibling in (*local, *remote[:1]):
        try:
            base = _from_header(listing, choices, sibling)
        except (ModelFileError, HubUnreachableError):
            continue
        if choice.size_bytes > base.non_weight_bytes():
            reason = f"its own header unread: {failure}"
            return dataclasses.replace(
                base, choice=choice, arch=base.sized_arch(choice), read_choice=sibling, fallback_reason=reason
            )
    raise failure


def _header_on_disk(listing: RepoListing, choice: GGUFChoice) -> bool:
    """Every part's header of `choice` can be read without the Hub: the file pulled, or its prefix cached."""
    cache = MetaCache(listing.repo_id)
    return all(
        _pulled_file(listing, f) is not None or cache.prefix_path(listing.commit, f.name).is_file()
        for f in choice.files
    )


# --- reading a remote header -------------------------------------------------------------------------


class _NeedMore(Exception):
    """The header reader asked for bytes past the prefix fetched so far."""

    def __init__(self, end: int) -> None:
        super().__init__(end)
        self.end = end


class _PrefixFile:
    """The first bytes of a remote file as a seekable reader; reading past them raises `_NeedMore` so
    the caller fetches more. The GGUF reader reads ahead up to 1 MiB, so a header parses once the
    prefix reaches 1 MiB past its end, or the end of the file."""

    def __init__(self, data: bytes, file_bytes: int) -> None:
        self._data, self._file_bytes, self._pos = data, file_bytes, 0

    def seek(self, pos: int, whence: int = 0) -> int:
        self._pos = pos
        return pos

    def read(self, n: int = -1) -> bytes:
        end = self._file_bytes if n < 0 else min(self._pos + n, self._file_bytes)
        if end > len(self._data):
            raise _NeedMore(end)
        out = self._data[self._pos : end]
        self._pos = end
        return out


def read_remote_gguf(listing: RepoListing, choice: GGUFChoice) -> tuple[GGUFModel, int]:
    """The header of every part of `choice`, as one model, and how many header bytes that took."""
    parts: list[GGUFTables] = []
    total = 0
    for i, f in enumerate(choice.files):
        tables, n_bytes = _part_tables(listing, f, _FIRST_RANGE_BYTES if i == 0 else _PART_RANGE_BYTES)
        parts.append(tables)
        total += n_bytes
    return model_from_tables(Path(listing.repo_id) / choice.name, parts), total


def _part_tables(listing: RepoListing, f: HubFile, first_bytes: int) -> tuple[GGUFTables, int]:
    pulled = _pulled_file(listing, f)
    if pulled is not None:
        return _local_tables(pulled), 0
    cache = MetaCache(listing.repo_id)
    prefix = cache.prefix(listing.commit, f.name)
    name = f"{listing.repo_id}/{f.name}"
    fetched = False
    while True:
        try:
            tables = read_gguf_tables(_as_binary(_PrefixFile(prefix, f.size_bytes)), name, f.size_bytes)
            break
        except _NeedMore as more:
            want = min(f.size_bytes, max(more.end, 2 * len(prefix), first_bytes))
            if want > _MAX_HEADER_BYTES:
                raise ModelFileError(
                    name, f"header runs past {_MAX_HEADER_BYTES >> 20} MiB; not a model"
                ) from None
            prefix += fetch_range(listing, f.name, len(prefix), want - 1)
            fetched = True
    if fetched:
        cache.save_prefix(listing.commit, f.name, prefix)
    return tables, len(prefix)


def _as_binary(f: _PrefixFile) -> BinaryIO:
    return f  # type: ignore[return-value]  # duck-typed: the reader only seeks and reads


# --- files already pulled into the hub cache ---------------------------------------------------------


def _pulled_file(listing: RepoListing, f: HubFile) -> Path | None:
    """The file in the local hub cache at the listed commit, when `tuilab pull` fetched it whole."""
    snapshot = find_in_hf_cache(listing.repo_id, listing.commit)
    path = snapshot / f.name if snapshot is not None else None
    return path if path is not None and path.is_file() and path.stat().st_size == f.size_bytes else None


def _local_tables(path: Path) -> GGUFTables:
    try:
        with open(path, "rb") as fh:
            return read_gguf_tables(fh, str(path), path.stat().st_size)
    except OSError as e:
        raise ModelFileError(str(path), f"cannot read: {e.strerror or e}") from None


def _pulled_listing(repo_id: str, revision: str) -> RepoListing | None:
    """With the Hub out of reach and its metadata never read: the GGUF files `tuilab pull` put in the
    local hub cache, listed with their sizes on disk."""
    snapshot = find_in_hf_cache(repo_id, revision)
    if snapshot is None:
        return None
    files = tuple(
        HubFile(p.relative_to(snapshot).as_posix(), p.stat().st_size)
        for p in sorted(snapshot.rglob("*"))
        if p.is_file() and p.name.lower().endswith(".gguf")
    )
    return RepoListing(repo_id, revision, snapshot.name, files, from_cache=True) if files else None
