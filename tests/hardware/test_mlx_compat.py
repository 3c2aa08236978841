"""MLX version guards: features refused in one line naming the version they need, and the device_info
call that moved from `mx.metal` to `mx` in mlx 0.30.4 (macOS 13 tops out at mlx 0.29.x)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from tuilab.core.errors import EngineError
from tuilab.engines.distributed import check_mlx_versions
from tuilab.hardware.mlx_compat import (
    MLX_DISTRIBUTED_UTILS,
    device_info,
    device_info_api,
    parse_version,
    require,
)

INFO = {"max_recommended_working_set_size": 11453251584, "memory_size": 17179869184}


class TestVersions:
    @pytest.mark.parametrize(
        ("text", "parsed"),
        [("0.29.3", (0, 29, 3)), ("0.30.4.dev20250101", (0, 30, 4)), ("1.2", (1, 2, 0)), ("", None)],
    )
    def test_parse(self, text: str, parsed: tuple[int, int, int] | None) -> None:
        assert parse_version(text) == parsed

    def test_an_old_mlx_is_refused_naming_the_version_needed(self) -> None:
        with pytest.raises(EngineError) as caught:
            require("mlx", MLX_DISTRIBUTED_UTILS, "a distributed run", "0.29.3")
        message = str(caught.value)
        assert "\n" not in message and "mlx >= 0.30.1" in message and "found 0.29.3" in message

    def test_a_missing_package_is_refused_too(self) -> None:
        with pytest.raises(EngineError, match="not installed"):
            require("mlx-lm", (0, 30, 0), "sharded loading", "")

    def test_new_enough_passes(self) -> None:
        require("mlx", MLX_DISTRIBUTED_UTILS, "a distributed run", "0.30.1")

    @pytest.mark.parametrize(
        ("mlx", "mlx_lm", "named"),
        [("0.29.3", "0.30.0", "mlx >= 0.30.1"), ("0.30.4", "0.29.1", "mlx-lm >= 0.30.0")],
    )
    def test_distributed_runs_check_both(self, mlx: str, mlx_lm: str, named: str) -> None:
        with pytest.raises(EngineError, match=named.replace(".", r"\.")):
            check_mlx_versions(mlx, mlx_lm)


class TestDeviceInfoWhereverItLives:
    def test_mlx_before_0_30_4_has_it_under_metal_only(self) -> None:
        old = SimpleNamespace(metal=SimpleNamespace(device_info=lambda: dict(INFO)))
        assert device_info(old) == INFO and device_info_api(old) == "mx.metal.device_info"

    def test_newer_mlx_has_it_at_the_top(self) -> None:
        new = SimpleNamespace(device_info=lambda: dict(INFO), metal=SimpleNamespace())
        assert device_info(new) == INFO and device_info_api(new) == "mx.device_info"

    def test_neither_is_an_empty_reading(self) -> None:
        assert device_info(SimpleNamespace()) == {} and device_info_api(SimpleNamespace()) == "none"
