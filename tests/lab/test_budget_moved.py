"""tuilab.lab.machine.budget_moved: when a fresh detection of this machine is worth new plans. Real
profiles (the RTX 3060 and an M3 Max) stand in for detections; only the free memory is changed."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tuilab.core.hardware import HardwareSpec
from tuilab.lab.machine import BUDGET_STEP_BYTES, budget_moved, profile_spec


def with_free_vram(spec: HardwareSpec, delta_bytes: int) -> HardwareSpec:
    gpu = spec.gpus[0]
    return replace(spec, gpus=(replace(gpu, free_bytes=gpu.free_bytes + delta_bytes),))


class TestABudgetThatMoved:
    @pytest.mark.parametrize(
        ("delta_bytes", "moved"),
        [(0, False), (BUDGET_STEP_BYTES // 2, False), (-BUDGET_STEP_BYTES, True), (3 * 10**9, True)],
        ids=["same", "below-what-the-panes-show", "one-step-less", "three-gb-more"],
    )
    def test_free_vram(self, delta_bytes: int, moved: bool) -> None:
        spec = profile_spec("rtx-3060-12gb")
        assert budget_moved(spec, with_free_vram(spec, delta_bytes)) is moved

    def test_free_ram_on_a_mac_moves_the_gpu_budget_too(self) -> None:
        mac = profile_spec("m3-max-40c-48gb")
        less = replace(mac, ram_available_bytes=mac.ram_available_bytes - 2 * 10**9)
        assert budget_moved(mac, less)

    def test_another_set_of_gpus_is_always_a_move(self) -> None:
        spec = profile_spec("rtx-3060-12gb")
        assert budget_moved(spec, replace(spec, gpus=()))
