"""Pilot tests that run the real demo model in llama.cpp: tokens/s above zero, Esc cancels, a killed
engine shows an error while the app stays up and runs again, and keys are answered mid-stream."""

from __future__ import annotations

import os
import re
import signal
from collections.abc import Callable
from typing import Any

import pytest
from textual.pilot import Pilot
from ui_helpers import settle, wait_until

from tuilab.models.tiny import llama_cpp_available
from tuilab.ui.app import TuilabApp
from tuilab.ui.widgets.run_pane import OUTPUT_RULE, RunPane
from tuilab.ui.widgets.stream_view import StreamView

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.llama,
    pytest.mark.skipif(not llama_cpp_available(), reason="needs llama-cpp-python"),
]
# The demo's trained context is 2048 tokens; this leaves room for the prompt.
STREAM_TOKENS = 1900
ATTEMPTS = 3  # the demo streams 2000 tokens in about 0.3 s; a busy box may finish before a key lands


async def start_demo_run(pilot: Pilot[Any], prompt: str = "Once upon a time") -> RunPane:
    app: TuilabApp = pilot.app  # type: ignore[assignment]
    if app.selection.model != "demo":
        app.choose_model("demo")
        await settle(pilot)
    await pilot.press("r", *prompt, "enter")
    return app.main.query_one(RunPane)


async def streaming(pilot: Pilot[Any], pane: RunPane) -> None:
    """Until the first speed reading arrives, or the run is already over."""
    app: TuilabApp = pilot.app  # type: ignore[assignment]
    await wait_until(pilot, lambda: bool(pane.rates) or not app.runner.running)


async def finished(pilot: Pilot[Any]) -> str:
    app: TuilabApp = pilot.app  # type: ignore[assignment]
    await wait_until(pilot, lambda: not app.runner.running, timeout_s=60)
    await pilot.pause()
    return str(app.main.query_one("#run-state").render())


class TestRunningTheDemo:
    async def test_tokens_stream_with_a_speed_above_zero(self, make_app: Callable[..., TuilabApp]) -> None:
        app = make_app(live=True)
        async with app.run_test(size=(80, 24)) as pilot:
            pane = await start_demo_run(pilot, "Hello")
            state = await finished(pilot)
            assert "done" in state
            assert pane.last_rate_tps > 0
            assert "tok/s measured" in str(app.main.query_one("#run-stats").render())
            assert app.main.query_one(StreamView).text.split(OUTPUT_RULE)[1]  # the model wrote text


class TestTheRunShowsWhereItIs:
    async def test_the_depth_reached_and_the_plans_rate_there_follow_the_run(
        self, make_app: Callable[..., TuilabApp]
    ) -> None:
        app = make_app(live=True)
        async with app.run_test(size=(80, 24)) as pilot:
            pane = await start_demo_run(pilot, "Hello")
            await finished(pilot)
            stats_line = str(app.main.query_one("#run-stats").render())
            assert pane.predicted is not None
            match = re.search(r"predicted at depth (\d+) ", stats_line)
            assert match is not None, stats_line  # exact once the engine's stats arrived: no ~
            assert int(match.group(1)) > 1


class TestCancel:
    async def test_escape_stops_the_generation(self, make_app: Callable[..., TuilabApp]) -> None:
        app = make_app(live=True, max_tokens=STREAM_TOKENS)
        async with app.run_test(size=(80, 24)) as pilot:
            for _ in range(ATTEMPTS):
                pane = await start_demo_run(pilot)
                await streaming(pilot, pane)
                await pilot.press("escape")
                if "cancelled" in await finished(pilot):
                    break
            else:
                pytest.fail(f"no generation was cancelled in {ATTEMPTS} attempts")


class TestEngineCrash:
    async def test_a_killed_worker_is_an_error_and_the_app_runs_again(
        self, make_app: Callable[..., TuilabApp]
    ) -> None:
        app = make_app(live=True, max_tokens=STREAM_TOKENS)
        async with app.run_test(size=(80, 24)) as pilot:
            for _ in range(ATTEMPTS):
                pane = await start_demo_run(pilot)
                await streaming(pilot, pane)
                if app.runner.running and app.runner.engine_pid is not None:
                    os.kill(app.runner.engine_pid, signal.SIGKILL)
                if "failed" in await finished(pilot):
                    break
            else:
                pytest.fail(f"the worker was never killed mid-run in {ATTEMPTS} attempts")
            errors = [n for n in app._notifications if n.severity == "error"]
            assert errors and "SIGKILL" in errors[-1].message
            app.max_tokens = 16
            await start_demo_run(pilot)
            assert "done" in await finished(pilot)
