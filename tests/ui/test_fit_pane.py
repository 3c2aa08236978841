"""The Fit pane at 80x24: each memory pool drawn against its own budget (issue 12 item 8), one bar per GPU,
and the offload mode that `o` switches (issue 15). Recorded RTX 3060 box (conftest.py)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from rich.console import Console
from textual.widgets import Static
from ui_helpers import settle

from tuilab.core.plan_types import FitPlan
from tuilab.ui.app import TuilabApp
from tuilab.ui.render import gb
from tuilab.ui.widgets.fit_pane import FitPane

pytestmark = pytest.mark.anyio
DENSE = "llama-3.1-8b"
MOE = "qwen3-30b-a3b"


def rendered(app: TuilabApp, selector: str) -> str:
    console = Console(width=80, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
    console.print(app.main.query_one(selector, Static).content)
    return console.export_text()


def bars(text: str) -> dict[str, tuple[str, str]]:
    """{label: (used, budget)} from each bar line "LABEL  ███│░░ X GB of Y GB"."""
    found = re.findall(r"^(GPU \d|GPU|RAM)\s+[█░│ ]+ ([\d.]+ GB) of ([\d.]+ GB)\s*$", text, re.MULTILINE)
    return {label: (used, budget) for label, used, budget in found}


def shown_fit(app: TuilabApp) -> FitPlan:
    fit = app.main.query_one(FitPane).fit
    assert fit is not None
    return fit


async def show(pilot: Any, model: str, keys: str = "", hardware: str | None = None) -> TuilabApp:
    app: TuilabApp = pilot.app
    await settle(pilot)
    if hardware is not None:
        app.choose_hardware(hardware)
        await settle(pilot)
    app.choose_model(model)
    await settle(pilot)
    if keys:
        await pilot.press(*keys)
        await settle(pilot)
    return app


class TestEachPoolAgainstItsOwnBudget:
    """Issue 12 item 8: a partial offload on the RTX 3060 box drew "23.3 GB of 12.9 GB" (the device's budget
    with host bytes added) beside a verdict of 11.52 of 12.88."""

    async def test_the_gpu_bar_holds_device_bytes_only(self, make_app: Callable[..., TuilabApp]) -> None:
        async with make_app().run_test(size=(80, 24)) as pilot:
            app = await show(pilot, DENSE, "]]]]]")
            fit = shown_fit(app)
            assert fit.verdict == "partial_offload"
            assert bars(rendered(app, "#fit-body"))["GPU"] == (
                gb(fit.memory.device_bytes),
                gb(fit.budget_bytes),
            )

    async def test_host_bytes_get_a_bar_of_their_own(self, make_app: Callable[..., TuilabApp]) -> None:
        async with make_app().run_test(size=(80, 24)) as pilot:
            app = await show(pilot, DENSE, "]]]]]")
            fit = shown_fit(app)
            assert bars(rendered(app, "#fit-body"))["RAM"] == (
                gb(fit.memory.host_bytes),
                gb(fit.host_budget_bytes),
            )


class TestSeveralGpus:
    async def test_one_bar_per_gpu(self, make_app: Callable[..., TuilabApp]) -> None:
        async with make_app().run_test(size=(80, 24)) as pilot:
            app = await show(pilot, "llama-3-70b", hardware="2x rtx-3090-24gb")
            fit = shown_fit(app)
            drawn = bars(rendered(app, "#fit-body"))
            assert [drawn[f"GPU {i}"] for i in range(2)] == [
                (gb(d.device_bytes), gb(d.budget_bytes)) for d in fit.devices
            ]


class TestOffloadMode:
    async def test_a_moe_model_shows_experts_in_ram_and_o_switches(
        self, make_app: Callable[..., TuilabApp]
    ) -> None:
        async with make_app().run_test(size=(80, 24)) as pilot:
            app = await show(pilot, MOE)
            assert shown_fit(app).offload_mode == "experts"
            assert "offload experts of the first" in rendered(app, "#fit-body")
            assert "offload experts" in rendered(app, "#ctx-body")  # the Context pane follows
            await pilot.press("o")
            await settle(pilot)
            assert shown_fit(app).offload_mode == "layers"
            assert "offload whole layers" in rendered(app, "#fit-body")
            assert "offload layers" in rendered(app, "#ctx-body")
            await pilot.press("o")
            await settle(pilot)
            assert shown_fit(app).offload_mode == "experts"

    async def test_o_on_a_dense_model_only_explains(self, make_app: Callable[..., TuilabApp]) -> None:
        async with make_app().run_test(size=(80, 24)) as pilot:
            app = await show(pilot, DENSE, "]]]]]")
            before = shown_fit(app)
            await pilot.press("o")
            await settle(pilot)
            assert shown_fit(app) == before
            assert any("MoE" in str(n.message) for n in app._notifications)
