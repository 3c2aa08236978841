"""The panes that keep their drawn lines (CachedStatic: the Fit, Context and Ladder bodies) show the
current plan at the current width, and only draw again when one of them changed; the footer is rebuilt
only when its keys change; the lab's start-up heap is frozen only where asked. Why: key latency while a
model streams (docs/benchmarks.md). Real lab, recorded RTX 3060 machine (tests/ui/conftest.py)."""

from __future__ import annotations

import gc
from collections.abc import Callable
from typing import Any

import pytest
from rich.console import Console
from textual.widgets import Footer
from textual.widgets._footer import FooterKey
from ui_helpers import settle

from tuilab.ui.app import TuilabApp
from tuilab.ui.widgets.cached_static import CachedStatic
from tuilab.ui.widgets.context_pane import ContextPane, bar_cells

pytestmark = pytest.mark.anyio
MODEL = "llama-3.1-8b"
BODIES = ("#fit-body", "#ctx-body", "#ladder-body")


def drawn(app: TuilabApp, selector: str) -> list[str]:
    """The body's lines as the screen draws them (Textual's line API), right spaces dropped."""
    body = app.main.query_one(selector, CachedStatic)
    return [body.render_line(y).text.rstrip() for y in range(body.size.height)]


def fresh(app: TuilabApp, selector: str) -> list[str]:
    """The body's current content rendered now by Rich, at the body's width: what a Static would show."""
    body = app.main.query_one(selector, CachedStatic)
    console = Console(width=body.size.width, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
    console.print(body.content)
    return [line.rstrip() for line in console.export_text().splitlines()]


async def open_tab(pilot: Any, app: TuilabApp, tab: str) -> None:
    await settle(pilot)
    app.choose_model(MODEL)
    await settle(pilot)
    app.action_show_tab(tab)
    await settle(pilot)


class TestTheContextPaneShowsTheCurrentPlan:
    async def test_a_new_context_step_is_drawn_with_its_own_numbers(
        self, make_app: Callable[..., TuilabApp]
    ) -> None:
        app = make_app()
        async with app.run_test(size=(80, 24)) as pilot:
            await open_tab(pilot, app, "context")
            before = drawn(app, "#ctx-body")
            assert "At 4k context  (│ = budget)" in before
            await pilot.press("]")
            await settle(pilot)
            after = drawn(app, "#ctx-body")
            assert "At 8k context  (│ = budget)" in after and "At 4k context  (│ = budget)" not in after
            assert after == fresh(app, "#ctx-body")

    async def test_a_plan_made_while_the_tab_was_hidden_shows_when_it_is_shown(
        self, make_app: Callable[..., TuilabApp]
    ) -> None:
        app = make_app()
        async with app.run_test(size=(80, 24)) as pilot:
            await open_tab(pilot, app, "context")
            await pilot.press("3", "k")  # the KV type steps on the Fit tab: f16 -> q8_0
            await settle(pilot)
            await pilot.press("4")
            await settle(pilot)
            shown = drawn(app, "#ctx-body")
            assert any("KV q8_0" in line for line in shown)
            assert shown == fresh(app, "#ctx-body")


class TestAResizeDrawsAgainAtTheNewWidth:
    async def test_the_tables_rewrap_and_the_bars_fill_the_new_width(
        self, make_app: Callable[..., TuilabApp]
    ) -> None:
        app = make_app()
        async with app.run_test(size=(80, 24)) as pilot:
            await open_tab(pilot, app, "context")
            narrow = app.main.query_one("#ctx-body", CachedStatic).size.width
            await pilot.resize_terminal(140, 40)
            await settle(pilot)
            body = app.main.query_one("#ctx-body", CachedStatic)
            assert body.size.width > narrow
            shown = drawn(app, "#ctx-body")
            assert shown == fresh(app, "#ctx-body")
            bar = next(line for line in shown if line.startswith(app.fit.quant + " ") and "│" in line)  # type: ignore[union-attr]
            assert bar_cells(narrow) < bar_cells(body.size.width) <= len(bar)


class TestShowingATabAgainDrawsNothing:
    async def test_tab_keys_reuse_every_body_drawn_before(self, make_app: Callable[..., TuilabApp]) -> None:
        app = make_app()
        async with app.run_test(size=(80, 24)) as pilot:
            await open_tab(pilot, app, "context")
            await pilot.press("3", "4", "6")
            await settle(pilot)
            draws = {s: app.main.query_one(s, CachedStatic).draws for s in BODIES}
            await pilot.press("1", "3", "4", "6", "5", "4", "3")
            await settle(pilot)
            assert {s: app.main.query_one(s, CachedStatic).draws for s in BODIES} == draws

    async def test_the_floor_key_draws_the_context_pane_again(
        self, make_app: Callable[..., TuilabApp]
    ) -> None:
        app = make_app()
        async with app.run_test(size=(80, 24)) as pilot:
            await open_tab(pilot, app, "context")
            draws = app.main.query_one("#ctx-body", CachedStatic).draws
            await pilot.press("t")
            await settle(pilot)
            assert app.main.query_one("#ctx-body", CachedStatic).draws > draws
            assert any("floor 20 tok/s" in line for line in drawn(app, "#ctx-body"))


class TestTheFooterIsRebuiltOnlyForNewKeys:
    async def test_a_focus_change_that_keeps_the_keys_keeps_the_footer(
        self, make_app: Callable[..., TuilabApp]
    ) -> None:
        app = make_app()
        async with app.run_test(size=(80, 24)) as pilot:
            await open_tab(pilot, app, "fit")
            keys = list(app.main.query_one(Footer).query(FooterKey))
            app.main.query_one("#fit-pane").focus()  # no keys of its own, as the tabs have none shown
            await settle(pilot)
            assert list(app.main.query_one(Footer).query(FooterKey)) == keys

    async def test_a_focus_change_that_brings_a_key_shows_it(
        self, make_app: Callable[..., TuilabApp]
    ) -> None:
        app = make_app()
        async with app.run_test(size=(80, 24)) as pilot:
            await open_tab(pilot, app, "context")
            descriptions = {key.description for key in app.main.query_one(Footer).query(FooterKey)}
            assert "tok/s floor" not in descriptions
            app.main.query_one(ContextPane).focus()  # the pane's own `t`
            await settle(pilot)
            await pilot.pause()
            descriptions = {key.description for key in app.main.query_one(Footer).query(FooterKey)}
            assert "tok/s floor" in descriptions


class TestTheStartUpHeapIsFrozenOnlyWhereAsked:
    @pytest.mark.parametrize("freeze", [True, False], ids=["tuilab-process", "tests-and-embedding"])
    async def test_freeze_once_ready(self, make_app: Callable[..., TuilabApp], freeze: bool) -> None:
        gc.unfreeze()
        app = make_app(freeze_gc_when_ready=freeze)
        try:
            async with app.run_test(size=(80, 24)) as pilot:
                await settle(pilot)
                assert (gc.get_freeze_count() > 0) is freeze
        finally:
            gc.unfreeze()  # the objects go back to the collector: this test process makes many apps
