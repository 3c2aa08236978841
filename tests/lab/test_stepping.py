"""tuilab.lab.stepping: the rules behind `[`, `]`, `k`, `,` and `.` in the lab, without a screen."""

from __future__ import annotations

import pytest

from tuilab.core.quant import LLAMA_LADDER, MLX_LADDER, kv_types_for
from tuilab.lab.stepping import (
    CTX_STEPS_TOKENS,
    ContextStep,
    clamp_context,
    next_context,
    next_kv_type,
    next_quant,
    step_ctx,
)


class TestContextSteps:
    @pytest.mark.parametrize(
        ("current", "delta", "expected"),
        [(4096, 1, 8192), (4096, -1, 2048), (131072, 1, 131072), (2048, -1, 2048), (5000, 1, 8192),
         (5000, -1, 4096)],
        ids=["up", "down", "clamped-top", "clamped-bottom", "off-grid-up", "off-grid-down"],
    )  # fmt: skip
    def test_step_on_the_grid(self, current: int, delta: int, expected: int) -> None:
        assert step_ctx(current, delta) == expected


class TestTheTrainedContextStopsTheStep:
    def test_a_step_past_it_stores_it_and_says_where_it_stopped(self) -> None:
        assert next_context(2048, 1, trained_tokens=2048) == ContextStep(2048, stopped_at_trained=2048)

    def test_a_trained_context_off_the_grid_is_a_stop_of_its_own(self) -> None:
        assert next_context(4096, 1, trained_tokens=6000) == ContextStep(6000, 6000)
        assert next_context(6000, -1, trained_tokens=6000) == ContextStep(4096)

    def test_without_a_plan_there_is_no_cap(self) -> None:
        assert next_context(65536, 1, trained_tokens=None) == ContextStep(131072)

    def test_a_context_within_it_is_kept_as_asked(self) -> None:
        assert clamp_context(8192, trained_tokens=8192) == ContextStep(8192)
        assert clamp_context(CTX_STEPS_TOKENS[-1], trained_tokens=8192) == ContextStep(8192, 8192)


class TestTheKVCycle:
    @pytest.mark.parametrize("engine", ["llama.cpp", "mlx"])
    def test_visits_every_type_of_the_engine_and_wraps(self, engine: str) -> None:
        kinds = kv_types_for(engine)
        seen = [kinds[0]]
        for _ in kinds:
            seen.append(next_kv_type(engine, seen[-1]))
        assert seen[:-1] == kinds and seen[-1] == kinds[0]

    def test_a_type_of_the_other_engine_starts_from_the_first(self) -> None:
        assert next_kv_type("llama.cpp", "mlx-kv8") == kv_types_for("llama.cpp")[0]


class TestTheQuantStep:
    def test_moves_one_rung_of_the_engines_ladder_and_stops_at_the_ends(self) -> None:
        assert next_quant("llama.cpp", "Q8_0", 1) == LLAMA_LADDER[LLAMA_LADDER.index("Q8_0") + 1]
        assert next_quant("llama.cpp", LLAMA_LADDER[0], -1) == LLAMA_LADDER[0]
        assert next_quant("mlx", MLX_LADDER[-1], 1) == MLX_LADDER[-1]

    def test_an_unknown_quant_starts_from_the_middle(self) -> None:
        assert next_quant("mlx", "Q4_K_M", 1) == MLX_LADDER[len(MLX_LADDER) // 2]
