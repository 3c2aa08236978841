"""Snapshots of the Cluster tab at 80x24 and 160x48 on recorded hardware: Meta Llama 3 70B at mlx-8bit
on the default "2x m3-max-40c-64gb" (two bars that fit, one Mac alone does not). Update with
`pytest tests/ui/test_cluster_snapshots.py --snapshot-update`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from textual.pilot import Pilot
from ui_helpers import SNAPSHOT_SIZES, press_and_settle_for_snapshot, settle

from tuilab.ui.app import TuilabApp

SIZES = SNAPSHOT_SIZES


def cluster_of(model: str, quant: str, keys: tuple[str, ...] = ()) -> Callable[[Pilot[Any]], Any]:
    async def run_before(pilot: Pilot[Any]) -> None:
        app: TuilabApp = pilot.app  # type: ignore[assignment]
        await settle(pilot)
        app.apply_selection(replace(app.selection, model=model, quant=quant))
        app.action_show_tab("cluster")
        await press_and_settle_for_snapshot(pilot, keys)

    return run_before


@pytest.mark.parametrize("size", SIZES)
def test_two_macs(snap_compare: Any, make_app: Callable[..., TuilabApp], size: tuple[int, int]) -> None:
    assert snap_compare(make_app(), terminal_size=size, run_before=cluster_of("llama-3-70b", "mlx-8bit"))


def test_one_mac_does_not_fit_at_80x24(snap_compare: Any, make_app: Callable[..., TuilabApp]) -> None:
    keys = ("c", *"m3-max-40c-64gb", "enter")
    run_before = cluster_of("llama-3-70b", "mlx-8bit", keys)
    assert snap_compare(make_app(), terminal_size=(80, 24), run_before=run_before)
