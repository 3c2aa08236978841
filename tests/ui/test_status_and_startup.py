"""The status line at 80 and 120 columns (issue 12, item 7), the lab's start-up off the event loop with a
ready point (issue 11), and this machine's budget followed while the lab runs (issue 12, item 11).

The machines are the recorded RTX 3060 of conftest.py, with its free VRAM changed where a test needs a
budget that moves; the engine runs are real (llama.cpp on the built-in tiny model).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace

import pytest
from textual.pilot import Pilot
from ui_helpers import settle, until_ready, wait_until

from tuilab.core.hardware import GIB, HardwareSpec
from tuilab.core.plan_types import Verdict
from tuilab.models.profiles import load_hardware_profile
from tuilab.ui.app import TuilabApp
from tuilab.ui.commands import app_commands
from tuilab.ui.widgets.fit_pane import FitPane
from tuilab.ui.widgets.status_line import StatusLine, ellipsized, shrink_to_fit

pytestmark = pytest.mark.anyio
NARROW, WIDE = (80, 24), (120, 40)
MODEL = "llama-3.1-8b"  # a profile: 4.9 GB at its default Q4_K_M, so a 12 GB card fits it and 2 GB does not


def recorded_machine() -> tuple[HardwareSpec, tuple[str, ...]]:
    """conftest.py's recorded machine: the RTX 3060 profile standing in for this machine."""
    return replace(load_hardware_profile("rtx-3060-12gb"), is_profile=False), ()


def status_text(app: TuilabApp) -> str:
    return str(app.main.query_one(StatusLine).render())


class TestNamesGiveWayFirst:
    @pytest.mark.parametrize(
        ("lengths", "room", "expected"),
        [
            ([5, 10, 10], 25, [5, 10, 10]),
            ([5, 10, 10], 20, [0, 10, 10]),
            ([5, 30, 20], 30, [0, 12, 18]),
            ([5, 30, 20], 20, [0, 8, 12]),
            ([5, 30, 20], 0, [0, 0, 0]),
        ],
        ids=["room-for-all", "the-label-goes-first", "then-the-hardware", "then-both", "no-room"],
    )
    def test_in_order_down_to_their_floors(self, lengths: list[int], room: int, expected: list[int]) -> None:
        steps = ((0, 0), (1, 12), (2, 12), (1, 0), (2, 0))
        assert shrink_to_fit(lengths, room, steps) == expected

    def test_a_shortened_name_ends_in_an_ellipsis(self) -> None:
        assert ellipsized("NVIDIA GeForce RTX 3060", 8) == "NVIDIA …"
        assert ellipsized("demo", 8) == "demo" and ellipsized("demo", 0) == ""

    def test_a_name_cut_to_almost_nothing_is_left_out(self) -> None:
        assert ellipsized("NVIDIA GeForce RTX 3060", 3) == ""


class TestTheStatusLineAt80Columns:
    """Issue 12, item 7: at 80 columns the line was cut, losing quant, context, KV type and engine state,
    so `l` gave no visible feedback."""

    async def test_keeps_the_verdict_and_settings_while_planning(
        self, make_app: Callable[..., TuilabApp]
    ) -> None:
        app = make_app()
        async with app.run_test(size=NARROW) as pilot:
            app.choose_model(MODEL)
            await settle(pilot)
            await pilot.press("right_square_bracket", "k")
            await settle(pilot)
            text = status_text(app)
            assert len(text) <= NARROW[0] - 2  # inside its padding: nothing cut at the edge
            for shown in ("THIS MACHINE", "FITS", "Q4_K_M", "· 8k ·", "KV q8_0", "engine idle"):
                assert shown in text, text

    async def test_l_shows_loading_then_loaded_with_the_quant_context_and_kv(
        self, make_app: Callable[..., TuilabApp]
    ) -> None:
        pytest.importorskip("llama_cpp")
        app = make_app(live=True)
        async with app.run_test(size=NARROW) as pilot:
            app.choose_model("demo")
            await wait_until(pilot, lambda: app.fit is not None, timeout_s=60)
            await settle(pilot)
            await pilot.press("l")
            await wait_until(pilot, lambda: "│ loading" in status_text(app), timeout_s=60)
            await wait_until(pilot, lambda: "│ loaded" in status_text(app), timeout_s=60)
            text = status_text(app)
            assert len(text) <= NARROW[0] - 2
            for shown in ("F16", "· 2k ·", "KV f16", "│ loaded"):
                assert shown in text, text


class TestTheStatusLineWhileGenerating:
    """Issue 12, item 7: at 120 columns it said "loaded" while generating."""

    async def test_says_generating_then_loaded_when_the_run_ends(
        self, make_app: Callable[..., TuilabApp]
    ) -> None:
        pytest.importorskip("llama_cpp")
        app = make_app(live=True, max_tokens=2000)
        async with app.run_test(size=WIDE) as pilot:
            app.choose_model("demo")
            await wait_until(pilot, lambda: app.fit is not None, timeout_s=60)
            await settle(pilot)
            await pilot.press("5", "g", "o", "enter")
            await wait_until(pilot, lambda: "│ generating" in status_text(app), timeout_s=60)
            assert app.runner.busy == "run"
            await pilot.press("escape")
            await wait_until(pilot, lambda: app.runner.busy is None, timeout_s=60)
            await pilot.pause()
            assert "│ loaded" in status_text(app)


class GatedMachine:
    """This machine's detection, held until the test opens the gate (a slow probe at start-up)."""

    def __init__(self) -> None:
        self.gate = threading.Event()

    def __call__(self) -> tuple[HardwareSpec, tuple[str, ...]]:
        self.gate.wait(timeout=30)
        return recorded_machine()


class TestStartUpOffTheEventLoop:
    """Issue 11: the settings and this machine were read in `on_mount`, on the event loop."""

    async def test_the_screen_says_detecting_until_the_machine_arrives_then_the_app_is_ready(
        self, make_app: Callable[..., TuilabApp]
    ) -> None:
        machine = GatedMachine()
        app = make_app(machine=machine)
        async with TuilabApp.run_test(app, size=NARROW) as pilot:  # the plain pilot: at the first frame
            await wait_until(pilot, lambda: bool(app.main.query(StatusLine)))
            await pilot.pause(0.2)
            assert not app.is_ready and "detecting this machine" in status_text(app)
            await pilot.press("2", "1", "right_square_bracket", "k", "full_stop", "l", "b", "h", "L", "r")
            assert not app.is_ready and app.screen is app.main  # keys wait or answer; nothing broke
            machine.gate.set()
            await until_ready(pilot)
            await settle(pilot)
            assert "THIS MACHINE" in status_text(app) and app.fit is not None


class MovingMachine:
    """The recorded RTX 3060 whose free VRAM the test sets, as a fresh detection would read it."""

    def __init__(self) -> None:
        self.spec, _ = recorded_machine()
        self.free_bytes = self.spec.gpus[0].free_bytes
        self.calls = 0

    def __call__(self) -> tuple[HardwareSpec, tuple[str, ...]]:
        self.calls += 1
        gpu = replace(self.spec.gpus[0], free_bytes=self.free_bytes)
        return replace(self.spec, gpus=(gpu,)), ()


def fit_verdict(app: TuilabApp) -> Verdict | None:
    fit = app.main.query_one(FitPane).fit
    return fit.verdict if fit is not None else None


async def detections_after(pilot: Pilot[TuilabApp], machine: MovingMachine, count: int) -> None:
    """Wait until `count` more detections ran and their results were applied."""
    target = machine.calls + count
    await wait_until(pilot, lambda: machine.calls >= target, timeout_s=30)
    await settle(pilot)


class TestTheBudgetFollowsThisMachine:
    """Issue 12, item 11: the budget was read once at start-up (21.8 GB beside 24.7 GB free eight minutes
    later), so the lab advised otherwise than `tuilab fit`."""

    async def test_the_fit_pane_follows_a_budget_that_moved(self, make_app: Callable[..., TuilabApp]) -> None:
        machine = MovingMachine()
        app = make_app(machine=machine, redetect_interval_s=0.2)
        async with app.run_test(size=NARROW) as pilot:
            app.choose_model(MODEL)
            await settle(pilot)
            assert fit_verdict(app) is Verdict.FITS
            machine.free_bytes = 2 * GIB  # another program took the card
            await detections_after(pilot, machine, 2)
            assert fit_verdict(app) is Verdict.PARTIAL_OFFLOAD
            fit = app.main.query_one(FitPane).fit
            assert fit is not None and fit.budget_bytes <= 2 * GIB

    async def test_a_what_if_profile_stays_as_it_is(self, make_app: Callable[..., TuilabApp]) -> None:
        machine = MovingMachine()
        app = make_app(machine=machine, redetect_interval_s=0.2)
        async with app.run_test(size=NARROW) as pilot:
            app.choose_model(MODEL)
            app.choose_hardware("rtx-3060-12gb")
            await settle(pilot)
            before = app.main.query_one(FitPane).fit
            machine.free_bytes = 2 * GIB
            await detections_after(pilot, machine, 2)
            assert app.main.query_one(FitPane).fit == before and fit_verdict(app) is Verdict.FITS
            assert app.machine_spec is not None and app.machine_spec.gpus[0].free_bytes == 2 * GIB

    async def test_never_while_the_engine_is_busy(self, make_app: Callable[..., TuilabApp]) -> None:
        machine = MovingMachine()
        app = make_app(machine=machine, redetect_interval_s=0.2)
        async with app.run_test(size=NARROW) as pilot:
            app.choose_model(MODEL)
            await settle(pilot)
            assert app.runner.session.claim("run") is None  # a run holds the engine
            machine.free_bytes = 2 * GIB
            await pilot.pause(0.3)  # a detection already under way ends, and is not applied
            calls = machine.calls
            await pilot.pause(0.7)
            assert machine.calls == calls and fit_verdict(app) is Verdict.FITS
            app.runner.session.release()
            await detections_after(pilot, machine, 1)
            assert fit_verdict(app) is Verdict.PARTIAL_OFFLOAD


class TestEveryPaletteCommandStillWorks:
    """Issue 11: the App only wires now; every palette entry still reaches its action. One entry of each
    kind ("Set context 2k" for the context steps, the first profile, ...); the load and the ladder, which
    start the engine, have their own tests (test_new_user.py, test_ladder.py)."""

    async def test_one_of_each_kind_runs_without_an_error(self, make_app: Callable[..., TuilabApp]) -> None:
        app = make_app()
        async with app.run_test(size=NARROW) as pilot:
            await settle(pilot)
            commands = {c.title.split(":")[0].rstrip("0123456789k "): c for c in app_commands(app)}
            for title, command in commands.items():
                if title in ("Load model", "Bench"):
                    continue
                command.callback()
                await settle(pilot)
                while app.screen is not app.main:  # the help screen or a picker: close it
                    app.pop_screen()
                    await pilot.pause()
            await settle(pilot)
            assert {"Switch model", "Set context", "Next KV cache type", "Show Fit"} <= commands.keys()
            assert not [n for n in app._notifications if n.severity == "error"]
            assert app.fit is not None and "KV" in status_text(app)
