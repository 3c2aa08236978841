"""The Context pane's speed side: per quant, generation and first-token time against context beside the
memory, the largest context above a generation floor (`t`) next to the one that fits, and the depth bench's
measured points matched to the quant they were measured at. Rows come from real plans
(catalog.context_table); measured points are written with bench/depth.py's own writer."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from textual.widgets import Static, TabbedContent
from ui_helpers import settle

from tuilab.bench.depth import DepthPoint, DepthRun, save_history
from tuilab.lab.views import TPS_FLOORS, context_table
from tuilab.models.profiles import load_hardware_profile
from tuilab.models.resolve import resolve_model
from tuilab.ui.app import TuilabApp
from tuilab.ui.commands import app_commands
from tuilab.ui.widgets.context_pane import (
    MEASURED_MARK,
    at_context_table,
    measured_lines,
    speed_table,
    step_of_depth,
)

MODEL = "llama-3.1-8b"
MACHINE = load_hardware_profile("rtx-3060-12gb").name  # the recorded machine of tests/ui/conftest.py


def text_of(renderable: Any, width: int = 80) -> str:
    console = Console(width=width, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
    console.print(renderable)
    return console.export_text()


def pane_text(app: TuilabApp) -> str:
    return text_of(app.main.query_one("#ctx-body", Static).content)


def line_of(text: str, start: str, after: str = "") -> str:
    """The first line starting with `start` below the line holding `after`."""
    lines = text.splitlines()
    below = next((i for i, line in enumerate(lines) if after in line), 0)
    return next(line for line in lines[below:] if line.strip().startswith(start))


def point(depth: int, tg_tps: float) -> DepthPoint:
    return DepthPoint(depth, 900.0, tg_tps, 0.8, 5_000_000_000, 1000.0, 45.0, 0.75, depth + 512)


@pytest.fixture(scope="module")
def rows():  # type: ignore[no-untyped-def]
    return context_table(resolve_model(MODEL), load_hardware_profile("rtx-3090-24gb"), "f16")


class TestFloorTable:
    def test_a_higher_floor_never_allows_a_longer_context(self, rows) -> None:  # type: ignore[no-untyped-def]
        for row in rows:
            assert len(row.max_ctx_at_floor) == len(TPS_FLOORS)
            assert list(row.max_ctx_at_floor) == sorted(row.max_ctx_at_floor, reverse=True)
            assert all(c <= row.max_ctx for c in row.max_ctx_at_floor)
            speeds = [t for t in row.tg_tps if t is not None]
            assert speeds == sorted(speeds, reverse=True)  # generation slows as the context fills

    def test_each_quant_shows_prompt_rate_first_token_and_both_largest_contexts(self, rows) -> None:  # type: ignore[no-untyped-def]
        text = text_of(at_context_table(rows, 32768, "Q4_K_M", TPS_FLOORS.index(50.0)))
        assert "first token (32k)" in text and "fits up to" in text and "≥50 tok/s to" in text
        q4 = line_of(text, "Q4_K_M").split()
        row = next(r for r in rows if r.quant == "Q4_K_M")
        assert q4[1] == f"{row.pp_tps:.0f}" and q4[3] == "s"
        assert float(q4[2]) == pytest.approx(row.ttft_s[4], rel=0.01)  # the 32k step's first-token time


class TestFirstTokenGrowsWithContext:
    def test_every_quant_takes_longer_for_a_longer_prompt(self, rows) -> None:  # type: ignore[no-untyped-def]
        for row in rows:
            times = [t for t in row.ttft_s if t is not None]
            assert times == sorted(times) and times[-1] > 10 * times[0]


class TestMeasuredPointsMatchTheirQuant:
    def test_a_measured_rate_replaces_the_plan_only_in_its_quant_and_step(self, rows) -> None:  # type: ignore[no-untyped-def]
        text = text_of(speed_table(rows, 4096, "Q4_K_M", {"Q8_0": (point(16384, 33.3),)}))
        assert f"33{MEASURED_MARK}" in line_of(text, "Q8_0").split()[4]  # the 16k column
        assert MEASURED_MARK not in line_of(text, "Q4_K_M")

    @pytest.mark.parametrize(
        ("depth", "step"),
        [(0, 0), (512, 0), (4096, 1), (5000, 1), (7000, 2), (16384, 3), (200_000, 6)],
    )
    def test_a_depth_is_drawn_at_the_nearest_step(self, depth: int, step: int) -> None:
        assert step_of_depth(depth) == step

    def test_each_point_shows_measured_beside_plan_under_its_quant(self) -> None:
        lines = [str(t) for t in measured_lines({"Q4_0": (point(4096, 41.5),), "": ()}, ["Q4_K_M"])]
        assert lines[0] == "(quant not recorded)" or lines[0].startswith("?")
        assert "Q4_0 (not in the chart)" in lines
        row = next(line for line in lines if "depth" in line)
        assert "depth   4096" in row and "gen 41.5/45.0" in row and "first token 0.80/0.75 s" in row


pytestmark = pytest.mark.anyio


async def open_context(pilot: Any, app: TuilabApp) -> None:
    await settle(pilot)
    app.choose_model(MODEL)
    await settle(pilot)
    app.action_show_tab("context")
    await settle(pilot)


class TestTheFloorKey:
    async def test_t_raises_the_floor_and_the_largest_context_above_it_follows(
        self, make_app: Callable[..., TuilabApp]
    ) -> None:
        app = make_app()
        async with app.run_test(size=(80, 24)) as pilot:
            await open_context(pilot, app)
            before = pane_text(app)
            assert "floor 10 tok/s" in before and "≥10 tok/s to" in before
            await pilot.press("3", "t", "t", "t")  # from the Fit tab, as a user: 10 -> 20 -> 30 -> 50
            assert app.main.query_one("#tabs", TabbedContent).active == "context"
            await settle(pilot)
            after = pane_text(app)
            assert "floor 50 tok/s" in after and "≥50 tok/s to" in after
            # The current quant, Q4_K_M on a 12 GB RTX 3060: 10 tok/s holds to every context that fits;
            # 50 tok/s is faster than it ever generates (36 tok/s at 2k), so no context keeps it.
            quant = app.fit.quant  # type: ignore[union-attr]
            fits, at_10 = line_of(before, quant, after="floor 10").split()[-2:]
            fits_after, at_50 = line_of(after, quant, after="floor 50").split()[-2:]
            assert fits == fits_after == at_10 == "55.2k" and at_50 == "none"

    async def test_the_palette_command_steps_it_too(self, make_app: Callable[..., TuilabApp]) -> None:
        app = make_app()
        async with app.run_test(size=(80, 24)) as pilot:
            await open_context(pilot, app)
            command = next(c for c in app_commands(app) if c.title == "Next tok/s floor")
            command.callback()
            await settle(pilot)
            assert "floor 20 tok/s" in pane_text(app)


class TestMeasuredDepthPointsInThePane:
    async def test_points_of_this_model_machine_and_quant_show_beside_the_plan(
        self, make_app: Callable[..., TuilabApp], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("TUILAB_HOME", str(tmp_path / "home"))
        name = resolve_model(MODEL).name
        save_history(DepthRun(name, MACHINE, "llama.cpp", "/m/q4.gguf", "k", 33000, "Q4_K_M",
                              [point(0, 52.5), point(16384, 41.5)]))  # fmt: skip
        save_history(DepthRun(name, "another-box", "llama.cpp", "/m/q8.gguf", "k", 33000, "Q8_0",
                              [point(0, 99.0)]))  # fmt: skip
        app = make_app()
        async with app.run_test(size=(80, 24)) as pilot:
            await open_context(pilot, app)
            text = pane_text(app)
        q4 = line_of(text, "Q4_K_M", after="Generation tok/s")
        assert f"52{MEASURED_MARK}" in q4 and f"42{MEASURED_MARK}" in q4  # 2k and 16k columns
        assert MEASURED_MARK not in line_of(text, "Q6_K", after="Generation tok/s")  # only its own quant
        assert "Measured/plan (tuilab bench --depths)" in text
        assert "gen 41.5/45.0" in text
        assert MEASURED_MARK not in line_of(text, "Q8_0", after="Generation tok/s")  # another machine's
