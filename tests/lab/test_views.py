"""The lab's planning service for the panes: plans, badges and the context table without an app."""

from __future__ import annotations

from tuilab.core.plan_types import Verdict
from tuilab.lab.views import BADGES, SelectionPlanner
from tuilab.models.profiles import load_hardware_profile

RTX_3060 = "rtx-3060-12gb"


class TestBadges:
    def test_each_row_gets_its_verdict_and_an_unknown_model_is_an_error_not_a_crash(self) -> None:
        hw = load_hardware_profile(RTX_3060)
        badges = SelectionPlanner().badges(["llama-3.1-8b", "no-such-model-xyz"], hw, 4096, "f16")
        assert badges["no-such-model-xyz"] == "error"
        assert badges["llama-3.1-8b"] in {BADGES[Verdict.FITS], BADGES[Verdict.TIGHT]}

    def test_a_long_context_changes_the_badge_as_the_plan_does(self) -> None:
        hw = load_hardware_profile(RTX_3060)
        planner = SelectionPlanner()
        short = planner.badges(["llama-3.1-8b"], hw, 4096, "f16")["llama-3.1-8b"]
        long = planner.badges(["llama-3.1-8b"], hw, 131072, "f16")["llama-3.1-8b"]
        assert short != long


class TestThePlanOfASelection:
    def test_the_fit_and_the_context_table_are_for_the_same_model_and_hardware(self) -> None:
        hw = load_hardware_profile(RTX_3060)
        view = SelectionPlanner().plan("llama-3.1-8b", "Q4_K_M", hw, 8192, "f16")
        assert view.fit.quant == "Q4_K_M" and view.fit.ctx_tokens == 8192
        assert view.model.name == "llama-3.1-8b"
        assert "Q4_K_M" in {row.quant for row in view.context_rows}
        assert view.budget_bytes == sum(g.free_bytes for g in hw.gpus)
        assert view.measured == {}  # a profile was never measured

    def test_a_model_is_resolved_once_until_forgotten(self) -> None:
        planner = SelectionPlanner()
        first = planner.resolve("llama-3.1-8b", None)
        assert planner.resolve("llama-3.1-8b", None) is first
        planner.forget()
        assert planner.resolve("llama-3.1-8b", None) is not first
