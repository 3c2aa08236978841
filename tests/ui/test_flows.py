"""Pilot tests of the lab's flows without an engine: choose a model, step the context and KV type and
watch the verdict follow, switch to a what-if profile, and settings that persist or are broken."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from textual.widgets import DataTable, TabbedContent
from ui_helpers import settle

from tuilab.core.plan_types import Verdict
from tuilab.ui.app import TuilabApp
from tuilab.ui.messages import TextArrived
from tuilab.ui.settings import SETTINGS_FILE, Selection, load_selection
from tuilab.ui.widgets.hardware_pane import HardwarePane

pytestmark = pytest.mark.anyio


class TestChoosingAModel:
    async def test_slash_filters_the_list_and_enter_chooses(self, make_app: Callable[..., TuilabApp]) -> None:
        app = make_app()
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            await pilot.press("2", "slash", *"llama-3.1", "enter")
            await settle(pilot)
            table = app.main.query_one("#model-table", DataTable)
            assert [str(k.value) for k in table.rows] == ["llama-3.1-8b"]
            assert app.selection.model == "llama-3.1-8b"
            assert app.main.query_one(TabbedContent).active == "fit"
            assert app.fit is not None and "Llama 3.1 8B" in app.fit.model

    async def test_every_row_gets_a_fit_badge(self, make_app: Callable[..., TuilabApp]) -> None:
        app = make_app()
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            assert app.badges["llama-3-70b"] == "no"  # 40 GB of weights on a 12 GB card
            assert app.badges["llama-3.2-1b"] == "fits"


class TestContextAndKV:
    async def test_stepping_the_context_up_changes_the_verdict(
        self, make_app: Callable[..., TuilabApp]
    ) -> None:
        app = make_app()
        async with app.run_test(size=(80, 24)) as pilot:
            app.choose_model("llama-3.1-8b")
            await settle(pilot)
            assert app.fit is not None and app.fit.verdict is Verdict.FITS
            await pilot.press(*"]]]]]]")
            await settle(pilot)
            assert app.selection.ctx_tokens == 131072
            assert app.fit.verdict in (Verdict.PARTIAL_OFFLOAD, Verdict.NO_FIT)
            assert "FITS" not in str(app.main.query_one("#status").render())

    async def test_kv_type_cycles_and_shrinks_the_cache(self, make_app: Callable[..., TuilabApp]) -> None:
        app = make_app()
        async with app.run_test(size=(80, 24)) as pilot:
            app.choose_model("llama-3.1-8b")
            await settle(pilot)
            assert app.fit is not None
            f16_kv_bytes = app.fit.memory.kv_device_bytes
            await pilot.press("k")
            await settle(pilot)
            assert app.selection.kv_type == "q8_0"
            assert app.fit.memory.kv_device_bytes < f16_kv_bytes

    async def test_quant_keys_walk_the_ladder(self, make_app: Callable[..., TuilabApp]) -> None:
        app = make_app()
        async with app.run_test(size=(80, 24)) as pilot:
            app.choose_model("llama-3.1-8b")
            await settle(pilot)
            await pilot.press("full_stop")
            await settle(pilot)
            assert app.fit is not None and app.fit.quant == "Q4_K_S"


class TestWhatIfHardware:
    async def test_a_profile_is_named_as_a_profile_and_back(self, make_app: Callable[..., TuilabApp]) -> None:
        app = make_app()
        async with app.run_test(size=(80, 24)) as pilot:
            app.choose_model("llama-3.1-8b")
            await settle(pilot)
            await pilot.press("h", *"m3-max-40c-48", "enter")
            await settle(pilot)
            assert app.fit is not None and app.fit.hardware_is_profile
            assert "PROFILE" in str(app.main.query_one("#status").render())
            app.choose_hardware(None)
            await settle(pilot)
            assert not app.fit.hardware_is_profile
            assert "THIS MACHINE" in str(app.main.query_one("#status").render())


class TestSettings:
    async def test_the_selection_survives_a_restart(
        self, make_app: Callable[..., TuilabApp], tmp_path: Path
    ) -> None:
        async with make_app().run_test() as pilot:
            pilot.app.choose_model("qwen2.5-7b")  # type: ignore[attr-defined]
            await pilot.press("]")
            await settle(pilot)
        saved, warning = load_selection(tmp_path / SETTINGS_FILE)
        assert warning is None
        assert (saved.model, saved.ctx_tokens) == ("qwen2.5-7b", 8192)
        app = make_app()
        async with app.run_test() as pilot:
            await settle(pilot)
            assert app.selection.model == "qwen2.5-7b"
            assert app.main.query_one(TabbedContent).active == "fit"

    @pytest.mark.parametrize(
        "content",
        ["not = [toml", '[selection]\nctx_tokens = "lots"', "selection = 3"],
        ids=["syntax", "type", "shape"],
    )
    async def test_a_broken_file_warns_and_uses_defaults(
        self, make_app: Callable[..., TuilabApp], tmp_path: Path, content: str
    ) -> None:
        (tmp_path / SETTINGS_FILE).write_text(content)
        app = make_app()
        async with app.run_test() as pilot:
            await settle(pilot)
            assert (
                app.selection.model == Selection().model
                and app.selection.ctx_tokens == Selection().ctx_tokens
            )
            assert any("using defaults" in n.message for n in app._notifications)


class TestRunOutput:
    """Streamed text wraps at the pane's width and the view follows the end (in tmux at 80x24 it once ran
    off the right edge on one line). The text arrives as the engine thread sends it: TextArrived batches
    posted to the Run pane."""

    async def test_one_long_paragraph_wraps_and_follows_the_end(
        self, make_app: Callable[..., TuilabApp]
    ) -> None:
        app = make_app()
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            app.action_show_tab("run")
            for i in range(60):
                app.runner.post(TextArrived(f"word{i} and a few more words in one paragraph "))
            await pilot.pause()
            await pilot.pause()
            output = app.main.query_one("#run-output")
            assert output.virtual_size.width <= output.size.width  # nothing runs off the right edge
            assert output.virtual_size.height > output.size.height  # many lines: it had to scroll
            assert output.scroll_y == output.max_scroll_y > 0  # and it shows the newest text

    async def test_scrolling_up_stops_following_until_back_at_the_end(
        self, make_app: Callable[..., TuilabApp]
    ) -> None:
        app = make_app()
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            app.action_show_tab("run")
            app.runner.post(TextArrived("a long answer " * 200))
            await pilot.pause()
            output = app.main.query_one("#run-output")
            output.focus()
            await pilot.press("home")
            app.runner.post(TextArrived("more text " * 50))
            await pilot.pause()
            assert output.scroll_y == 0  # the reader stays where they scrolled to
            await pilot.press("end")
            app.runner.post(TextArrived("and the end " * 50))
            await pilot.pause()
            await pilot.pause()
            assert output.scroll_y == output.max_scroll_y


class TestShutdown:
    async def test_a_live_tick_after_the_panes_are_gone_is_harmless(
        self, make_app: Callable[..., TuilabApp]
    ) -> None:
        """The live-memory interval is the app's; on exit a tick can land after the screen's panes are
        removed (a CI run once failed with NoMatches there)."""
        app = make_app()
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            await app.main.query_one(HardwarePane).remove()
            app._show_live()  # what the interval calls
            assert not app.main.query(HardwarePane)

    async def test_a_live_tick_after_the_pane_lost_its_lines_is_harmless(
        self, make_app: Callable[..., TuilabApp]
    ) -> None:
        """Textual removes a pane's children before the pane: a tick between the two found the pane but
        not its live-memory line (a key-latency bench run ended with NoMatches there)."""
        app = make_app()
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            app.action_show_tab("hardware")
            await settle(pilot)
            await app.main.query_one("#hw-live").remove()
            app._show_live()  # what the interval calls
            assert app.main.query(HardwarePane)
