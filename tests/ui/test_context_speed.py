"""The Context pane's speed side: the largest context above a generation floor next to the one that fits,
and the depth bench's measured points beside the plan. Rows come from real plans (catalog.context_table)."""

from __future__ import annotations

from tuilab.bench.depth import DepthPoint
from tuilab.models.profiles import load_hardware_profile
from tuilab.models.resolve import resolve_model
from tuilab.ui.catalog import TPS_FLOORS, context_table
from tuilab.ui.widgets.context_pane import floor_lines, measured_lines


class TestFloorLines:
    def test_a_higher_floor_never_allows_a_longer_context(self) -> None:
        rows = context_table(resolve_model("llama-3.1-8b"), load_hardware_profile("rtx-3090-24gb"), "f16")
        for row in rows:
            assert len(row.max_ctx_at_floor) == len(TPS_FLOORS)
            assert list(row.max_ctx_at_floor) == sorted(row.max_ctx_at_floor, reverse=True)
            assert all(c <= row.max_ctx for c in row.max_ctx_at_floor)
            speeds = [t for t in row.tg_tps if t is not None]
            assert speeds == sorted(speeds, reverse=True)  # generation slows as the context fills
        text = str(floor_lines(rows, TPS_FLOORS.index(50.0))[0])
        assert "in memory" in text and "at 50+ tok/s" in text


class TestMeasuredPoints:
    def test_each_point_shows_measured_beside_plan(self) -> None:
        point = DepthPoint(4096, 900.0, 41.5, 0.8, 5_000_000_000, 1000.0, 45.0, 0.75)
        line = str(measured_lines([point])[0])
        assert (
            "depth   4096" in line and "gen 41.5 tok/s (plan 45.0)" in line and "0.80 s (plan 0.75)" in line
        )
