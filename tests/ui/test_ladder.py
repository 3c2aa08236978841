"""The ladder tab: a recorded ladder drawn as a table and bars with the sweet spot marked, and a ladder
run from the app on the demo model (live progress, the table filling, Esc stopping it, `b` resuming)."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from textual.pilot import Pilot
from textual.widgets import Static
from ui_helpers import settle, wait_until

from tuilab.bench.ladder import LadderOptions
from tuilab.bench.report import LadderRun, load_history
from tuilab.models.tiny import llama_cpp_available
from tuilab.ui.app import TuilabApp
from tuilab.ui.ladder_view import SPOT_MARK, bar, ladder_view, pick_run

DEMO_NAME = "tuilab tiny (random weights)"
RECORDED_MACHINE = "AMD EPYC"  # where fixtures/ladder-demo.toml was measured


def text_of(renderable: Any, width: int = 78) -> str:
    console = Console(width=width, record=True, color_system=None, file=io.StringIO())
    console.print(renderable)
    return console.export_text()


def recorded_run() -> LadderRun:
    run = pick_run(load_history(DEMO_NAME))
    assert run is not None
    return run


@pytest.mark.usefixtures("ladder_home")
class TestTheRecordedLadder:
    def test_the_sweet_spot_row_is_marked_and_only_that_one(self) -> None:
        run = recorded_run()
        spot = run.sweet_spot()
        assert spot is not None and spot.quant == "Q6_K"  # the smallest rung under KLD 0.1 in the record
        marked = [
            line for line in text_of(ladder_view(run, 78, RECORDED_MACHINE)).splitlines() if SPOT_MARK in line
        ]
        assert all("Q6_K" in line for line in marked)
        assert len(marked) == 3  # table row, chart row, sweet-spot line

    def test_a_rung_that_needs_an_importance_matrix_says_so(self) -> None:
        assert "IQ2_XS needs an importance matrix" in text_of(ladder_view(recorded_run(), 78, ""))

    @pytest.mark.parametrize("width", [78, 158], ids=["80-columns", "160-columns"])
    def test_nothing_is_cut_at_the_pane_width(self, width: int) -> None:
        lines = text_of(ladder_view(recorded_run(), width, RECORDED_MACHINE), width).splitlines()
        assert not any("…" in line for line in lines[:12])  # table and chart: no truncated cell

    def test_the_machine_is_named_and_whether_it_is_this_one(self) -> None:
        assert "(this machine)" in text_of(ladder_view(recorded_run(), 78, RECORDED_MACHINE))
        assert "(another machine)" in text_of(ladder_view(recorded_run(), 78, "Apple M3 Max"))


@pytest.mark.anyio
@pytest.mark.usefixtures("own_home")
class TestALadderThatCannotRun:
    async def test_a_profile_without_weights_is_an_error_and_the_app_stays_up(
        self, make_app: Callable[..., TuilabApp]
    ) -> None:
        app = make_app(ladder_options=TINY)
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            app.choose_model("llama-3.1-8b")
            await settle(pilot)
            await pilot.press("b")
            await wait_until(pilot, lambda: app.ladder_job is None)
            errors = [n for n in app._notifications if n.severity == "error"]
            assert errors and "profile without weights" in errors[-1].message
            assert "No ladder results yet" in shown(app, "#ladder-body")
            assert app.main.status.engine.verb == "engine idle"


class TestBars:
    @pytest.mark.parametrize(
        ("fraction", "filled_eighths"),
        [(0.0, 0), (0.02, 2), (0.5, 40), (1.0, 80), (3.0, 80)],
        ids=["empty", "a-sliver-still-shows", "half", "full", "clamped"],
    )
    def test_a_bar_fills_in_eighth_cells(self, fraction: float, filled_eighths: int) -> None:
        text = bar(fraction, 10, "cyan").plain
        eighths = sum(" ▏▎▍▌▋▊▉█".index(c) for c in text if c in "▏▎▍▌▋▊▉█")
        assert (len(text), eighths) == (10, filled_eighths)

    def test_the_limit_is_marked_where_the_bar_has_not_reached(self) -> None:
        assert bar(0.1, 10, "m", limit=0.5).plain[5] == "┊"
        assert "┊" not in bar(0.9, 10, "m", limit=0.5).plain


# Tiny settings: two rungs, one timed trial, a 64-token context, no probes (they need 256 tokens).
TINY = LadderOptions(
    quants=("F16", "Q8_0"), ctx_tokens=64, max_windows=1, trials=1, gen_tokens=4, probes=False
)
LONGER = LadderOptions(
    quants=("F16", "Q8_0", "Q6_K", "Q4_K_M", "Q3_K_M"), ctx_tokens=64, max_windows=1, trials=1, gen_tokens=4,
    probes=False,
)  # fmt: skip


@pytest.fixture
def own_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This test's own TUILAB_HOME: no recorded ladder, its rungs and history stay here."""
    monkeypatch.setenv("TUILAB_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


async def choose_demo(pilot: Pilot[Any]) -> TuilabApp:
    app: TuilabApp = pilot.app  # type: ignore[assignment]
    await settle(pilot)
    app.choose_model("demo")
    await settle(pilot)
    return app


def shown(app: TuilabApp, selector: str) -> str:
    return text_of(app.main.query_one(selector, Static).content)


@pytest.mark.anyio
@pytest.mark.usefixtures("own_home")
@pytest.mark.llama
@pytest.mark.skipif(not llama_cpp_available(), reason="needs llama-cpp-python")
class TestALadderFromTheApp:
    async def test_b_runs_the_ladder_and_the_table_fills_with_the_sweet_spot(
        self, make_app: Callable[..., TuilabApp]
    ) -> None:
        app = make_app(live=True, ladder_options=TINY)
        async with app.run_test(size=(80, 24)) as pilot:
            await choose_demo(pilot)
            assert "No ladder results yet" in shown(app, "#ladder-body")
            await pilot.press("b")
            await wait_until(pilot, lambda: app.main.query_one("#ladder-progress").display)
            assert "▶ ladder" in shown(app, "#ladder-progress")
            await wait_until(pilot, lambda: app.ladder_job is None, timeout_s=90)
            await pilot.pause()
            body = shown(app, "#ladder-body")
            run = recorded_run()
            assert run.complete and [r.quant for r in run.rungs] == ["F16", "Q8_0"]
            spot = run.sweet_spot()
            assert spot is not None
            assert f"{SPOT_MARK} Sweet spot: {spot.quant}" in body
            assert "F16" in body and "Q8_0" in body
            assert not app.main.query_one("#ladder-progress").display
            assert any("finished" in n.message for n in app._notifications)

    async def test_escape_stops_it_and_b_resumes(self, make_app: Callable[..., TuilabApp]) -> None:
        app = make_app(live=True, ladder_options=LONGER)
        async with app.run_test(size=(80, 24)) as pilot:
            await choose_demo(pilot)
            await pilot.press("b")
            await wait_until(pilot, lambda: app.main.query_one("#ladder-progress").display)
            await pilot.press("escape")
            await wait_until(pilot, lambda: app.ladder_job is None, timeout_s=90)
            assert any("ladder stopped" in n.message for n in app._notifications)
            stopped = pick_run(load_history(DEMO_NAME))
            assert stopped is None or not stopped.complete
            app.ladder_options = TINY  # the rerun needs only to show that it starts again and finishes
            await pilot.press("b")
            await wait_until(pilot, lambda: app.ladder_job is None, timeout_s=90)
            assert recorded_run().complete
