"""A run's position: the depth reached and the plan's generation rate there, beside the measured one."""

from __future__ import annotations

import pytest

from tuilab.core.fit import plan
from tuilab.core.quant import parse_quant
from tuilab.lab.position import run_position
from tuilab.models.profiles import load_hardware_profile, load_model_profile


@pytest.fixture(scope="module")
def fit():  # type: ignore[no-untyped-def]
    arch = load_model_profile("llama-3-8b").arch
    return plan(arch, parse_quant("Q4_K_M"), load_hardware_profile("rtx-4090-24gb"), ctx_tokens=32768)


class TestRunPosition:
    def test_a_long_chat_is_planned_slower_than_a_fresh_one(self, fit) -> None:  # type: ignore[no-untyped-def]
        fresh = run_position(fit, 100, 100, None)
        deep = run_position(fit, 16000, 100, None)
        assert deep.depth_tokens == 16100 and fresh.depth_tokens == 200
        assert deep.predicted_tg_tps < fresh.predicted_tg_tps

    def test_the_difference_from_the_plan_is_visible(self, fit) -> None:  # type: ignore[no-untyped-def]
        at = run_position(fit, 1000, 0, None)
        slow = run_position(fit, 1000, 0, at.predicted_tg_tps * 0.8)
        assert slow.error == pytest.approx(-0.2)
        assert "-20%" in slow.describe() and "depth 1000" in slow.describe()
        assert at.error is None and "depth 1000 · - tok/s" in at.describe()
