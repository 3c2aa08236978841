"""What a new user hit in the lab's Run and Ladder tabs (issue 12, items 18, 19, 21 and 22), as pilot tests
at 80x24. Each class is one report; each test failed before its fix."""

from __future__ import annotations

import io
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from textual.widgets import Input, Static, TabbedContent
from ui_helpers import settle, wait_until

from tuilab.bench.report import LadderRun, RungResult
from tuilab.engines.events import Stats
from tuilab.lab.session import Session
from tuilab.models.tiny import llama_cpp_available
from tuilab.ui.app import TuilabApp
from tuilab.ui.ladder_view import rung_label
from tuilab.ui.settings import SETTINGS_FILE, load_selection
from tuilab.ui.widgets.ladder_pane import LadderPane
from tuilab.ui.widgets.run_pane import IDLE_HINT, RunPane
from tuilab.ui.widgets.stream_view import StreamView

pytestmark = pytest.mark.anyio
SIZE = (80, 24)
# A short prompt's stats as the worker reports them: "prompt 3764814 tok/s" is what a new user saw.
STATS = Stats(
    ttft_s=0.002, prompt_tokens=4, prompt_tps=3764814.0, gen_tokens=8, gen_tps=90.0, peak_memory_bytes=None,
    engine_peak_memory_bytes=None, rss_bytes=None, rss_peak_bytes=None, device_memory_bytes=None, wall_s=0.1,
)  # fmt: skip


def state_line(app: TuilabApp) -> str:
    return str(app.main.query_one("#run-state").render())


def stats_text(app: TuilabApp) -> str:
    return str(app.main.query_one("#run-stats").render())


async def set_control(pilot: Any, selector: str, value: str) -> None:
    """Type `value` into a Run pane control and press Enter, as a user does."""
    app: TuilabApp = pilot.app
    control = app.main.query_one(selector, Input)
    control.focus()
    control.value = ""
    await pilot.press(*value, "enter")
    await settle(pilot)


class TestItem18AnEmptyPromptDoesNotRun:
    """Enter on an empty prompt ran "Once upon a time"; it now says what to do and starts nothing."""

    @pytest.mark.parametrize("typed", ["", "   "], ids=["empty", "spaces"])
    async def test_says_to_type_a_prompt_and_starts_nothing(
        self, typed: str, make_app: Callable[..., TuilabApp]
    ) -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await pilot.press("5", *typed, "enter")
            assert app.runner.busy is None
            await settle(pilot)
            assert state_line(app) == "type a prompt first, then Enter"
            assert app.main.query_one(StreamView).text == ""
            assert app.focused is app.main.query_one("#prompt", Input)  # still there to type into


class TestItem18MaxTokensAndTemperature:
    """The lab had no way to set max tokens or temperature: two controls beside the prompt, checked by
    the same rules as `tuilab run --max-tokens/--temperature`, saved in settings.toml."""

    async def test_are_shown_beside_the_prompt_with_the_defaults(
        self, make_app: Callable[..., TuilabApp]
    ) -> None:
        app = make_app(max_tokens=64)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await pilot.press("5")
            assert app.main.query_one("#max-tokens", Input).value == "64"
            assert app.main.query_one("#temperature", Input).value == "0"
            assert app.main.query_one("#max-tokens", Input).region.right <= SIZE[0]  # on screen at 80 columns

    async def test_new_values_are_saved_and_come_back(
        self, make_app: Callable[..., TuilabApp], tmp_path: Path
    ) -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await pilot.press("5")
            await set_control(pilot, "#max-tokens", "32")
            await set_control(pilot, "#temperature", "0.7")
            assert (app.selection.max_tokens, app.selection.temperature) == (32, 0.7)
        saved = load_selection(tmp_path / SETTINGS_FILE)[0]
        assert (saved.max_tokens, saved.temperature) == (32, 0.7)
        again = make_app()
        async with again.run_test(size=SIZE) as pilot:
            await settle(pilot)
            assert again.main.query_one("#max-tokens", Input).value == "32"
            assert again.main.query_one("#temperature", Input).value == "0.7"

    @pytest.mark.parametrize(
        ("selector", "typed", "said"),
        [
            pytest.param(
                "#max-tokens", "0", "max tokens must be a whole number of at least 1", id="zero-tokens"
            ),
            pytest.param("#temperature", "5", "temperature must be from 0 (greedy) to 2", id="too-hot"),
            pytest.param("#temperature", "-1", "temperature must be from 0 (greedy) to 2", id="negative"),
        ],
    )
    async def test_a_bad_value_is_said_put_back_and_not_saved(
        self, selector: str, typed: str, said: str, make_app: Callable[..., TuilabApp], tmp_path: Path
    ) -> None:
        app = make_app(max_tokens=64)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await pilot.press("5")
            await set_control(pilot, selector, typed)
            assert state_line(app).startswith(said)
            assert (
                app.main.query_one(selector, Input).value
                == {"#max-tokens": "64", "#temperature": "0"}[selector]
            )
            assert (app.selection.max_tokens, app.selection.temperature) == (None, 0.0)
        assert (
            not (tmp_path / SETTINGS_FILE).exists()
            or load_selection(tmp_path / SETTINGS_FILE)[0].max_tokens is None
        )

    def test_a_bad_saved_value_gives_the_defaults_and_a_warning(self, tmp_path: Path) -> None:
        path = tmp_path / SETTINGS_FILE
        path.write_text("[selection]\nmax_tokens = 0\ntemperature = 0.5\n")
        selection, warning = load_selection(path)
        assert (selection.max_tokens, selection.temperature) == (None, 0.0)
        assert warning is not None and "max_tokens must be a whole number of at least 1" in warning


@pytest.mark.llama
@pytest.mark.skipif(not llama_cpp_available(), reason="needs llama-cpp-python")
class TestItem18TheRunUsesThem:
    """The demo in llama.cpp generates exactly the max tokens set, with the temperature set."""

    async def test_max_tokens_and_temperature_reach_the_engine(
        self, make_app: Callable[..., TuilabApp], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        asked: list[tuple[int, float]] = []
        real_generate = Session.generate

        def generate(
            self: Session, prompt: str, max_tokens: int, sampling: Any, *args: Any, **kw: Any
        ) -> Any:
            asked.append((max_tokens, sampling.temperature))
            return real_generate(self, prompt, max_tokens, sampling, *args, **kw)

        monkeypatch.setattr(Session, "generate", generate)
        app = make_app(live=True)
        async with app.run_test(size=SIZE) as pilot:
            app.choose_model("demo")
            await wait_until(pilot, lambda: app.fit is not None, timeout_s=60)
            await settle(pilot)
            await pilot.press("5")
            await set_control(pilot, "#max-tokens", "5")
            await set_control(pilot, "#temperature", "0.8")
            await pilot.press(*"Hello", "enter")
            await wait_until(
                pilot, lambda: app.runner.busy is None and "done" in state_line(app), timeout_s=60
            )
            await pilot.pause()
            assert asked == [(5, 0.8)]
            assert " · 5 tok\n" in stats_text(app)  # the engine stopped at the max tokens set


class TestItem21ThePromptSpeedInTheRunPane:
    """The Run pane showed "prompt 3764814.0 tok/s" for a 4-token prompt: now "-" and why."""

    async def test_a_short_prompt_shows_a_dash_and_why(self, make_app: Callable[..., TuilabApp]) -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            app.main.query_one(RunPane).finished(STATS, "length")
            await pilot.pause()
            assert "prompt - (under 32 tok)" in stats_text(app)
            assert "3764814" not in stats_text(app)


class TestItem19EscLeavesThePrompt:
    """With a ladder running, Esc from the Run tab's prompt stopped the ladder but left the focus in the
    prompt, so the next key was typed into it. The ladder here is the runner's real one, holding a job
    that waits until it is cancelled (no engine needed to own the engine)."""

    async def test_the_next_key_after_esc_is_a_key_not_text(self, make_app: Callable[..., TuilabApp]) -> None:
        app = make_app()
        stop = threading.Event()
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            assert app.runner.ladder(lambda: stop.wait(30), stop.set) is None
            await pilot.press("5")
            assert app.focused is app.main.query_one("#prompt", Input)
            await pilot.press("escape")
            await wait_until(pilot, lambda: app.runner.busy is None)
            await pilot.press("6")
            assert app.main.query_one("#prompt", Input).value == ""
            assert app.main.query_one(TabbedContent).active == "ladder"


def rendered(app: TuilabApp, selector: str) -> str:
    """A Static's content as the pane draws it, at the width the pane gives it."""
    static = app.main.query_one(selector, Static)
    console = Console(width=static.content_region.width, record=True, color_system=None, file=io.StringIO())
    console.print(static.content)
    return console.export_text()


MLX_RUNGS = ("mlx-bf16", "mlx-8bit", "mlx-4bit", "mlx-mixed_3_6", "mlx-mixed_2_6", "mlx-mxfp4")


def mlx_run() -> LadderRun:
    run = LadderRun("m", "box", "mlx", "/m", 512, 3, "k", "2026-12-01T00:00:00+00:00", complete=True)
    run.rungs = [
        RungResult(
            q,
            "ok",
            file_bytes=3_000_000 - i * 300_000,
            verdict="fits",
            peak_memory_bytes=80_000_000,
            tg_tps=100.0 + i,
            ppl=10.0,
            kld=0.01 * i,
        )
        for i, q in enumerate(MLX_RUNGS)
    ]
    return run


class TestItem22RungNamesStayApart:
    """MLX rung names that share a prefix were cut to the same string; a long one now keeps its end."""

    async def test_every_rung_has_its_own_label_in_the_table_and_the_chart(
        self, make_app: Callable[..., TuilabApp]
    ) -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await pilot.press("6")
            app.main.query_one(LadderPane).show("m", mlx_run(), "box")
            await pilot.pause()
            lines = rendered(app, "#ladder-body").splitlines()
        table = [line[2:].split()[0] for line in lines[3 : 3 + len(MLX_RUNGS)]]
        chart_start = next(i for i, line in enumerate(lines) if "generation tok/s" in line) + 1
        chart = [line[2:].split()[0] for line in lines[chart_start : chart_start + len(MLX_RUNGS)]]
        assert table == chart
        assert len(set(table)) == len(MLX_RUNGS)
        assert table[3:5] == ["mlx-…_3_6", "mlx-…_2_6"]

    def test_a_name_that_fits_is_never_cut(self) -> None:
        assert [rung_label(q) for q in ("Q4_K_M", "IQ2_XXS", "mlx-mxfp4")] == [
            "Q4_K_M",
            "IQ2_XXS",
            "mlx-mxfp4",
        ]


class TestItem22TheEmptyLadderTab:
    """The empty state's explanation broke mid-sentence at 80 columns (a hard line break in it)."""

    async def test_no_line_ends_mid_sentence_at_80_columns(self, make_app: Callable[..., TuilabApp]) -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            app.choose_model("demo")
            await settle(pilot)
            await pilot.press("6")
            await pilot.pause()
            text = rendered(app, "#ladder-body")
            width = app.main.query_one("#ladder-body").content_region.width
        lines = [line.rstrip() for line in text.splitlines()]
        for line, after in zip(lines, [*lines[1:], ""], strict=True):
            if line and after and not line.endswith(":"):  # then `after` is more of the same sentence
                assert len(line) + 1 + len(after.split()[0]) > width, (line, after)
        assert any(line.strip().startswith("tuilab bench") for line in lines)  # the command starts a line


class TestItem22ThePromptAndTheOutput:
    """The model's text ran straight on from the prompt; a rule now stands between them."""

    async def test_the_output_starts_below_a_rule(self, make_app: Callable[..., TuilabApp]) -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            pane = app.main.query_one(RunPane)
            pane.started("demo", "Hello", None)
            pane.append("world")  # an MLX model continues the prompt with no space
            await pilot.pause()
            assert app.main.query_one(StreamView).text == "Hello\n──── output ────\nworld"


class TestItem22RunStatsFollowTheModel:
    """The last run's numbers stayed on screen beside a newly chosen model."""

    async def test_choosing_another_model_clears_them(self, make_app: Callable[..., TuilabApp]) -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            app.choose_model("demo")
            await settle(pilot)
            pane = app.main.query_one(RunPane)
            pane.started("demo", "Hello", app.fit)
            pane.finished(replace(STATS, gen_tps=90.0), "length")
            await pilot.pause()
            assert "90.0 tok/s measured" in stats_text(app) and pane.rates
            app.choose_model("llama-3-8b")
            await settle(pilot)
            assert stats_text(app) == "" and pane.rates == []
            assert str(app.main.query_one("#run-state", Static).render()) == IDLE_HINT  # not "done (length)"

    async def test_changing_the_context_keeps_them(self, make_app: Callable[..., TuilabApp]) -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            app.choose_model("demo")
            await settle(pilot)
            pane = app.main.query_one(RunPane)
            pane.finished(replace(STATS, gen_tps=90.0), "length")
            await pilot.press("left_square_bracket")
            await settle(pilot)
            assert "90.0 tok/s measured" in stats_text(app)


class TestItem22OnePaletteEntryPerName:
    """The command palette listed two entries named "Keys" (Textual's and the lab's)."""

    async def test_no_two_entries_share_a_name(self, make_app: Callable[..., TuilabApp]) -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            titles = [command.title for command in app.get_system_commands(app.screen)]
        assert len(titles) == len(set(titles)), sorted(t for t in titles if titles.count(t) > 1)
        assert "Help" in titles
