"""The lab's persisted settings: the last selection (model, quant, context, KV type, hardware profile), the
Run pane's max tokens and temperature, the theme, and the models folders and Hub repos the user added, kept
in settings.toml under the user config dir.

Writes are atomic (a temp file renamed into place) so a crash never leaves half a file; a file that cannot
be read is kept aside and gives the defaults and a warning the app shows, never a crash.
"""

from __future__ import annotations

import os
import tempfile
import tomllib
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

import tomli_w

from tuilab import paths
from tuilab.core.errors import UsageError
from tuilab.lab.planning import DEFAULT_CTX_TOKENS
from tuilab.lab.sampling import check_max_tokens, check_temperature

SETTINGS_FILE = "settings.toml"


@dataclass(frozen=True)
class Selection:
    """What the user is looking at; every pane renders from this plus the hardware spec."""

    model: str | None = "demo"  # what resolve_model takes: a path, a profile name or "demo"
    quant: str | None = None  # None: the model's own quant (a GGUF file's tensors, a profile's default)
    ctx_tokens: int = DEFAULT_CTX_TOKENS
    kv_type: str = "f16"
    hardware_profile: str | None = None  # None: this machine
    theme: str | None = None
    max_tokens: int | None = None  # the Run pane's max tokens; None: the lab's default
    temperature: float = 0.0  # the Run pane's temperature; 0 is greedy
    model_dirs: tuple[str, ...] = ()  # folders the lab also looks for models in (`a` in the Models tab)
    hub_repos: tuple[str, ...] = ()  # Hub repos planned with `H` in the Models tab, listed again at start


def settings_path(config_dir: Path | None = None) -> Path:
    return (config_dir or paths.config_dir()) / SETTINGS_FILE


def load_selection(path: Path) -> tuple[Selection, str | None]:
    """The saved selection and a warning (None when all was well); a missing file is not a warning. A file
    that cannot be read is kept aside first (`settings.toml.broken`), so the next save, which writes the
    defaults, cannot overwrite what the user wrote there."""
    if not path.is_file():
        return Selection(), None
    try:
        with path.open("rb") as f:
            data = tomllib.load(f).get("selection", {})
        return _from_dict(data), None
    except (OSError, tomllib.TOMLDecodeError, TypeError, ValueError, AttributeError, UsageError) as exc:
        return Selection(), f"could not read {path} ({exc}); using defaults{_kept_aside(path)}"


def _kept_aside(path: Path) -> str:
    """Rename the unreadable file to the first free `NAME.broken`, `NAME.broken-2`, ...; what to add to the
    warning line."""
    for n in range(1, 100):
        aside = path.with_name(path.name + (".broken" if n == 1 else f".broken-{n}"))
        if not aside.exists():
            try:
                path.rename(aside)
            except OSError as exc:
                return f" (could not keep it aside: {exc.strerror or exc})"
            return f"; the file is kept as {aside.name}"
    return ""


def _from_dict(data: dict[str, Any]) -> Selection:
    known = {f.name: f.type for f in fields(Selection)}
    values = {k: v for k, v in data.items() if k in known}
    for name in ("model_dirs", "hub_repos"):
        if name in values:
            values[name] = _strings(name, values[name])
    selection = replace(Selection(), **values)
    if not isinstance(selection.ctx_tokens, int) or selection.ctx_tokens < 1:
        raise ValueError(f"ctx_tokens must be a positive integer, got {selection.ctx_tokens!r}")
    for name in ("model", "quant", "kv_type", "hardware_profile", "theme"):
        value = getattr(selection, name)
        if value is not None and not isinstance(value, str):
            raise ValueError(f"{name} must be a string, got {value!r}")
    if selection.max_tokens is not None:
        check_max_tokens(selection.max_tokens, "max_tokens")
    check_temperature(selection.temperature, "temperature")
    return selection


def _strings(name: str, value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{name} must be a list of strings, got {value!r}")
    return tuple(value)


def save_selection(path: Path, selection: Selection) -> None:
    """Write atomically: a reader sees the old file or the new one, never a mix. TOML has no null, so
    unset fields are left out."""
    values = {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(selection).items()}
    data = {"selection": {k: v for k, v in values.items() if v is not None}}
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".settings-", suffix=".toml", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            tomli_w.dump(data, f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
