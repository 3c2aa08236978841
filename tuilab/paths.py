"""Where tuilab keeps user files: config (profiles, settings), data (ladder history), models.

Follows XDG on Linux and ~/Library/Application Support on macOS; TUILAB_HOME overrides all three so
tests and CI never touch a real home directory.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def _base(xdg_var: str, xdg_default: str) -> Path:
    home = os.environ.get("TUILAB_HOME")
    if home:
        return Path(home)
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "tuilab"
    return Path(os.environ.get(xdg_var) or Path.home() / xdg_default) / "tuilab"


def config_dir() -> Path:
    """User profiles (`profiles/hardware`, `profiles/models`) and settings.toml."""
    return _base("XDG_CONFIG_HOME", ".config") / ("config" if os.environ.get("TUILAB_HOME") else "")


def data_dir() -> Path:
    """Ladder history and other measured results."""
    return _base("XDG_DATA_HOME", ".local/share") / ("data" if os.environ.get("TUILAB_HOME") else "")


def models_dir() -> Path:
    """tuilab's own models (downloads, the demo model, ladder rungs)."""
    return data_dir() / "models"
