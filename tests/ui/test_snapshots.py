"""Snapshots of the main screens at 80x24 and 160x48 on recorded hardware (an RTX 3060 box and one
frozen memory sample), so they are the same on every machine. Update with `--snapshot-update`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from ui_helpers import SNAPSHOT_SIZES, press_and_settle_for_snapshot, settle

from tuilab.ui.app import TuilabApp

SIZES = SNAPSHOT_SIZES
MODEL = "llama-3.1-8b"  # a profile: no file path in the basis lines, so the text is the same everywhere


def showing(
    tab: str, *, model: str | None = MODEL, keys: tuple[str, ...] = ()
) -> Callable[[Pilot[Any]], Any]:
    async def run_before(pilot: Pilot[Any]) -> None:
        app: TuilabApp = pilot.app  # type: ignore[assignment]
        await settle(pilot)
        if model is not None:
            app.choose_model(model)
            await settle(pilot)
        app.action_show_tab(tab)
        await press_and_settle_for_snapshot(pilot, keys)

    return run_before


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize(
    ("tab", "model", "keys"),
    [
        pytest.param("models", None, (), id="models"),
        pytest.param("hardware", None, (), id="hardware"),
        pytest.param("fit", MODEL, (), id="fit"),
        pytest.param("fit", MODEL, ("]", "]", "]", "]", "]"), id="fit-64k-partial"),
        pytest.param("context", MODEL, (), id="context"),
        pytest.param("run", MODEL, (), id="run-empty"),
        pytest.param("ladder", MODEL, (), id="ladder-empty"),
    ],
)
def test_screen(
    snap_compare: Any,
    make_app: Callable[..., TuilabApp],
    size: tuple[int, int],
    tab: str,
    model: str | None,
    keys: tuple[str, ...],
) -> None:
    assert snap_compare(make_app(), terminal_size=size, run_before=showing(tab, model=model, keys=keys))


def test_help_at_80x24(snap_compare: Any, make_app: Callable[..., TuilabApp]) -> None:
    assert snap_compare(
        make_app(),
        terminal_size=(80, 24),
        run_before=showing("fit", keys=("?",)),  # a profile: no temp path behind the help
    )


def test_hardware_picker_at_80x24(snap_compare: Any, make_app: Callable[..., TuilabApp]) -> None:
    keys = ("h", *"rtx")
    assert snap_compare(make_app(), terminal_size=(80, 24), run_before=showing("fit", keys=keys))


@pytest.mark.parametrize("size", SIZES)
def test_filled_ladder(
    snap_compare: Any, make_app: Callable[..., TuilabApp], ladder_home: Path, size: tuple[int, int]
) -> None:
    """The recorded ladder of the demo (fixtures/ladder-demo.toml): table, bars, the sweet spot marked."""
    assert snap_compare(make_app(), terminal_size=size, run_before=showing("ladder", model="demo"))
