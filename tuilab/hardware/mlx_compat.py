"""Which MLX and mlx-lm are installed, and the calls whose names moved between their releases.

tuilab runs on whatever MLX a Mac has: macOS 13 tops out at mlx 0.29.x, where `device_info` lives only
under `mx.metal`. Each versioned feature is checked here at run time and refused with one line naming the
version it needs, instead of an AttributeError or ImportError deep in an engine.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from tuilab.core.errors import EngineError

# mlx 0.30.4 added the top-level `mx.device_info()`; before it there was only `mx.metal.device_info()`
# (mlx release notes, v0.30.4). `mlx._distributed_utils` (mlx.launch's Python side) appeared in mlx
# 0.30.1, and `mlx_lm.utils.sharded_load` in mlx-lm 0.30.0 (their release notes; issue 14).
MLX_TOP_LEVEL_DEVICE_INFO = (0, 30, 4)
MLX_DISTRIBUTED_UTILS = (0, 30, 1)
MLX_LM_SHARDED_LOAD = (0, 30, 0)

_VERSION = re.compile(r"^(\d+)\.(\d+)(?:\.(\d+))?")


def parse_version(text: str | None) -> tuple[int, int, int] | None:
    """'0.29.3' -> (0, 29, 3); '0.30.4.dev20250101' -> (0, 30, 4); anything else -> None."""
    match = _VERSION.match(text or "")
    if match is None:
        return None
    return int(match.group(1)), int(match.group(2)), int(match.group(3) or 0)


def installed_version(distribution: str) -> str | None:
    """The installed version of a distribution ("mlx", "mlx-lm"), or None when it is not installed."""
    import importlib.metadata  # not at import time: `tuilab hw` must start fast

    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def _dotted(version: tuple[int, int, int]) -> str:
    return ".".join(str(part) for part in version)


def require(distribution: str, minimum: tuple[int, int, int], feature: str, found: str | None = None) -> None:
    """Raise EngineError with one line when `distribution` is older than `minimum` (or missing)."""
    found = found if found is not None else installed_version(distribution)
    parsed = parse_version(found)
    if parsed is not None and parsed >= minimum:
        return
    have = f"found {found}" if found else "it is not installed"
    raise EngineError(
        f"{feature} needs {distribution} >= {_dotted(minimum)} ({have}); "
        f"upgrade with `pip install -U '{distribution}>={_dotted(minimum)}'`"
    )


def device_info(mx: Any) -> dict[str, Any]:
    """`mx.device_info()` where it exists (mlx >= 0.30.4), else `mx.metal.device_info()`; {} if neither."""
    call = getattr(mx, "device_info", None)
    if call is None:
        call = getattr(getattr(mx, "metal", None), "device_info", None)
    if call is None:
        return {}
    info: Mapping[str, Any] = call()
    return dict(info)


def device_info_api(mx: Any) -> str:
    """Which of the two calls `device_info` uses on this MLX, for records and messages."""
    if getattr(mx, "device_info", None) is not None:
        return "mx.device_info"
    if getattr(getattr(mx, "metal", None), "device_info", None) is not None:
        return "mx.metal.device_info"
    return "none"
