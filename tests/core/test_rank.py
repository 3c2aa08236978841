"""`core.rank`: the best rung per model and the order of models, on real hardware profiles.

The models are ModelArch values with the shapes of real configs (Llama 3.1 8B and 70B, Qwen3 30B-A3B,
Gemma 2 9B: their config.json values as in the built-in catalog), so sizes are realistic.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tuilab.core.arch import ModelArch, swa_layers_from_pattern
from tuilab.core.plan_types import RUNS_ON_DEVICE
from tuilab.core.quant import LLAMA_LADDER, MLX_LADDER, nominal_bits, parse_quant, weight_tensors
from tuilab.core.rank import Candidate, RankQuery, best_rung, default_engine, rank, weights_floor_bytes
from tuilab.models.profiles import load_hardware_profile

LLAMA_8B = ModelArch("llama-8b", "llama", 32, 4096, 32, 8, 128, 14336, 128256, max_ctx_tokens=131072)
LLAMA_70B = ModelArch("llama-70b", "llama", 80, 8192, 64, 8, 128, 28672, 128256, max_ctx_tokens=131072)
QWEN3_MOE = ModelArch(
    "qwen3-30b-a3b", "qwen3moe", 48, 2048, 32, 4, 128, 6144, 151936, n_experts=128, n_experts_used=8,
    expert_ffn_size=768, qk_norm=True, max_ctx_tokens=40960,
)  # fmt: skip
GEMMA2_9B = ModelArch(
    "gemma-2-9b", "gemma2", 42, 3584, 16, 8, 256, 14336, 256000, tied_embeddings=True, sliding_window=4096,
    swa_layers=swa_layers_from_pattern(42, 2), extra_norms_per_layer=2, max_ctx_tokens=8192,
)  # fmt: skip
SHAPES = [LLAMA_8B, LLAMA_70B, QWEN3_MOE, GEMMA2_9B]


def query(hw: str, engine: str = "llama.cpp", ctx: int = 4096, min_tps: float = 0.0) -> RankQuery:
    ladder = MLX_LADDER if engine == "mlx" else LLAMA_LADDER
    return RankQuery(load_hardware_profile(hw), engine, ladder, ctx, min_tps=min_tps)


class TestWeightsFloor:
    @pytest.mark.parametrize("arch", SHAPES, ids=lambda a: a.name)
    @pytest.mark.parametrize("quant", [*LLAMA_LADDER, *MLX_LADDER])
    def test_the_floor_never_exceeds_the_real_weight_bytes(self, arch: ModelArch, quant: str) -> None:
        q = parse_quant(quant)
        assert weights_floor_bytes(arch.n_params, q) <= sum(w.n_bytes for w in weight_tensors(q, arch))


class TestBestRung:
    def test_an_8b_on_12_gb_takes_the_highest_quant_that_runs_on_the_gpu(self) -> None:
        best = best_rung(Candidate("8b", LLAMA_8B), query("rtx-3060-12gb"))
        assert best is not None and best.quant == "Q8_0" and best.plan.verdict in RUNS_ON_DEVICE
        assert best_rung(Candidate("8b", LLAMA_8B), replace(query("rtx-3060-12gb"), ladder=("F16", "Q8_0")))

    def test_no_rung_under_4_bits_is_offered(self) -> None:
        # 70B fits 12 GB only at 2 bits or less: below the quality floor, so not at all
        assert best_rung(Candidate("70b", LLAMA_70B), query("rtx-3060-12gb")) is None
        best = best_rung(Candidate("70b", LLAMA_70B), query("h100-sxm-80gb"))
        assert best is not None and nominal_bits(parse_quant(best.quant)) >= 4

    def test_min_tps_walks_down_to_a_faster_rung_or_gives_up(self) -> None:
        top = best_rung(Candidate("8b", LLAMA_8B), query("rtx-4090-24gb"))
        assert top is not None and top.quant == "F16"
        faster = best_rung(
            Candidate("8b", LLAMA_8B), query("rtx-4090-24gb", min_tps=top.plan.predicted_tg_tps + 1)
        )
        assert faster is not None and faster.plan.predicted_tg_tps > top.plan.predicted_tg_tps
        assert best_rung(Candidate("8b", LLAMA_8B), query("rtx-4090-24gb", min_tps=1e6)) is None

    def test_the_context_is_clamped_to_the_trained_one(self) -> None:
        best = best_rung(Candidate("gemma", GEMMA2_9B), query("h100-sxm-80gb", ctx=131072))
        assert best is not None and best.plan.ctx_tokens == 8192

    def test_mlx_walks_the_mlx_ladder(self) -> None:
        best = best_rung(Candidate("8b", LLAMA_8B), query("m4-10c-16gb", engine="mlx"))
        assert best is not None and best.quant in MLX_LADDER and best.plan.engine == "mlx"


class TestOrder:
    def test_the_largest_model_that_runs_comes_first(self) -> None:
        found = rank([Candidate(a.name, a) for a in SHAPES], query("rtx-4090-24gb"))
        assert [r.name for r in found] == [
            "qwen3-30b-a3b",
            "gemma-2-9b",
            "llama-8b",
        ]  # 70B runs at no 4-bit rung

    def test_equal_sizes_rank_more_bits_first_then_by_name(self) -> None:
        twins = [Candidate("b", LLAMA_8B), Candidate("a", LLAMA_8B)]
        assert [r.name for r in rank(twins, query("rtx-3060-12gb"))] == ["a", "b"]
        q4 = best_rung(Candidate("q4", LLAMA_8B), replace(query("rtx-3060-12gb"), ladder=("Q4_K_M",)))
        q8 = best_rung(Candidate("q8", LLAMA_8B), query("rtx-3060-12gb"))
        assert q4 is not None and q8 is not None and q8.score > q4.score

    def test_skipped_models_are_reported(self) -> None:
        skipped: list[str] = []
        rank([Candidate("70b", LLAMA_70B)], query("rtx-3060-12gb"), on_skip=lambda c: skipped.append(c.name))
        assert skipped == ["70b"]

    @settings(max_examples=10, deadline=None)
    @given(hw=st.sampled_from(["rtx-3060-12gb", "m3-max-40c-48gb", "m1-7c-8gb", "h100-sxm-80gb"]))
    def test_every_ranked_plan_runs_on_the_device(self, hw: str) -> None:
        q = query(hw, engine=default_engine(load_hardware_profile(hw)))
        for r in rank([Candidate(a.name, a) for a in SHAPES], q):
            assert r.plan.verdict in RUNS_ON_DEVICE and nominal_bits(parse_quant(r.quant)) >= q.min_bits


class TestDefaultEngine:
    @pytest.mark.parametrize(
        ("hw", "engine"),
        [("m3-max-40c-48gb", "mlx"), ("rtx-3060-12gb", "llama.cpp"), ("h100-sxm-80gb", "llama.cpp")],
    )
    def test_mlx_on_a_mac_llama_cpp_elsewhere(self, hw: str, engine: str) -> None:
        assert default_engine(load_hardware_profile(hw)) == engine
