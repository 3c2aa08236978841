"""MLX generation speed has its own calibration (core.speed.MLX_*), checked against the public MLX
decode measurements it was fitted on (docs/benchmarks/calibration.md, "MLX generation")."""

from __future__ import annotations

import pytest

from tuilab.core.arch import ModelArch
from tuilab.core.fit import plan
from tuilab.core.plan_types import FitPlan
from tuilab.core.quant import parse_quant
from tuilab.models.profiles import load_hardware_profile, load_model_profile


def mlx_tps(model: str, quant: str, hardware: str) -> float:
    fit = plan(
        load_model_profile(model).arch,
        parse_quant(quant),
        load_hardware_profile(hardware),
        ctx_tokens=2048,
        engine="mlx",
    )
    return fit.predicted_tg_tps


class TestPublicMlxMeasurements:
    @pytest.mark.parametrize(
        ("model", "quant", "hardware", "measured_tps"),
        [
            pytest.param("llama-3-70b", "mlx-bf16", "m2-ultra-76c-192gb", 4.7, id="M2-Ultra-70B-bf16"),
            pytest.param("llama-3.1-8b", "mlx-4bit", "m3-ultra-80c-512gb", 119.39, id="M3-Ultra-8B-4bit"),
            pytest.param("llama-3-70b", "mlx-4bit", "m3-max-40c-64gb", 9.351, id="M3-Max-70B-4bit"),
        ],
    )
    def test_predicted_within_eleven_percent(
        self, model: str, quant: str, hardware: str, measured_tps: float
    ) -> None:
        assert mlx_tps(model, quant, hardware) == pytest.approx(measured_tps, rel=0.11)

    def test_the_old_metal_constants_under_predicted_a_small_model_by_a_quarter(self) -> None:
        # llama.cpp's Metal fit (165 us per layer) would give 89.8 tok/s here; MLX measured 119.39
        assert mlx_tps("llama-3.1-8b", "mlx-4bit", "m3-ultra-80c-512gb") > 110


class TestLlamaCppMetalKeepsItsOwnConstants:
    def test_llama_cpp_on_a_mac_uses_the_metal_fit_of_its_chip_generation(self) -> None:
        fit = plan(
            load_model_profile("llama-3.1-8b").arch,
            parse_quant("Q4_0"),
            load_hardware_profile("m2-ultra-76c-192gb"),
            ctx_tokens=2048,
            engine="llama.cpp",
        )
        # core.apple_speed: the M2 Ultra fit, 158 us a layer (calibration.md, "llama.cpp Metal per chip
        # generation")
        basis = fit.basis["speed"]
        assert "metal:" in basis and "158 us" in basis and "M2 Ultra fit" in basis

    def test_mlx_plans_name_their_own_constants(self) -> None:
        fit = plan(
            load_model_profile("llama-3.1-8b").arch,
            parse_quant("mlx-4bit"),
            load_hardware_profile("m2-ultra-76c-192gb"),
            ctx_tokens=2048,
            engine="mlx",
        )
        assert fit.basis["speed"].startswith("mlx:") and "85 us" in fit.basis["speed"]


class TestPlannedMemoryAgainstMlxPeak:
    def test_llama_3_1_8b_4bit_within_five_percent_of_mlx_lms_peak(self) -> None:
        # mlx_lm.generate on Meta-Llama-3.1-8B-Instruct-4bit, 39 prompt + 54 generated tokens: "Peak
        # memory: 4.638 GB" (a public blog's transcript; calibration.md, "MLX generation")
        fit = plan(
            load_model_profile("llama-3.1-8b").arch,
            parse_quant("mlx-4bit"),
            load_hardware_profile("m3-max-40c-64gb"),
            ctx_tokens=256,  # mlx-lm's KV cache grows in 256-token steps: 93 tokens hold one step
            engine="mlx",
        )
        assert fit.memory.device_bytes == pytest.approx(4.638e9, rel=0.05)


# Qwen3-4B's shape (https://huggingface.co/Qwen/Qwen3-4B-Instruct-2507/blob/main/config.json); no profile.
QWEN3_4B = ModelArch(
    "qwen3-4b", "qwen3", 36, 2560, 32, 8, 128, 9728, 151936, tied_embeddings=True, qk_norm=True,
    max_ctx_tokens=40960,
)  # fmt: skip


def m4_max_benchmark(arch: ModelArch, quant: str) -> FitPlan:
    """mlx_lm.benchmark -p 2048 -g 128 on a 64 GB M4 Max (40-core GPU, 546 GB/s): a 2048-token prompt, then
    128 tokens; mlx-lm's KV cache grows in 256-token steps, so 2304 tokens are held at the end."""
    return plan(
        arch, parse_quant(quant), load_hardware_profile("m4-max-40c-128gb"), ctx_tokens=2304, engine="mlx"
    )


# ml-explore/mlx-lm mlx_lm/BENCHMARKS.md (mlx 0.29.2, mlx-lm 0.28.2, macOS 26.1, 64 GB M4 Max):
# model, quant, generation tok/s, peak memory GB. Not used in any fit: every row is held out.
M4_MAX_ROWS = [
    pytest.param("qwen3-30b-a3b", "mlx-4bit", 113.33, 18.20, id="Qwen3-30B-A3B-4bit"),
    pytest.param("qwen3-30b-a3b", "mlx-8bit", 83.16, 33.46, id="Qwen3-30B-A3B-8bit"),
    pytest.param("qwen3-4b", "mlx-4bit", 134.52, 3.35, id="Qwen3-4B-4bit"),
    pytest.param("qwen3-4b", "mlx-8bit", 86.907, 5.254, id="Qwen3-4B-8bit"),
    pytest.param("qwen3-4b", "mlx-bf16", 52.47, 9.02, id="Qwen3-4B-bf16"),
]


def arch_named(name: str) -> ModelArch:
    return QWEN3_4B if name == "qwen3-4b" else load_model_profile(name).arch


class TestM4MaxAgainstMlxLmsOwnBenchmarks:
    @pytest.mark.parametrize(("model", "quant", "measured_tps", "peak_gb"), M4_MAX_ROWS)
    def test_generation_within_thirteen_percent(
        self, model: str, quant: str, measured_tps: float, peak_gb: float
    ) -> None:
        fit = m4_max_benchmark(arch_named(model), quant)
        assert fit.predicted_tg_tps_at(2048) == pytest.approx(measured_tps, rel=0.13)

    @pytest.mark.parametrize(("model", "quant", "measured_tps", "peak_gb"), M4_MAX_ROWS)
    def test_planned_device_memory_within_five_percent_of_the_reported_peak(
        self, model: str, quant: str, measured_tps: float, peak_gb: float
    ) -> None:
        fit = m4_max_benchmark(arch_named(model), quant)
        assert fit.memory.device_bytes == pytest.approx(peak_gb * 1e9, rel=0.05)


def m1_max_tps(model: str) -> float:
    fit = plan(
        load_model_profile(model).arch,
        parse_quant("mlx-4bit"),
        load_hardware_profile("m1-max-32c-64gb"),
        ctx_tokens=2048,
        engine="mlx",
    )
    return fit.predicted_tg_tps


class TestM1MaxHasItsOwnMlxConstants:
    # vllm-mlx's M1 Max 64 GB benchmark page (Dec 2025; 4-bit mlx-community models, 256 generated tokens):
    # the three dense rows the M1 fit is made on (calibration.md, "MLX per chip generation").
    @pytest.mark.parametrize(
        ("model", "measured_tps"),
        [
            pytest.param("llama-3.2-1b", 253.5, id="Llama-3.2-1B"),
            pytest.param("llama-3.2-3b", 113.0, id="Llama-3.2-3B"),
            pytest.param("mistral-7b-v0.3", 55.6, id="Mistral-7B-v0.3"),
        ],
    )
    def test_fitted_rows_within_four_percent(self, model: str, measured_tps: float) -> None:
        assert m1_max_tps(model) == pytest.approx(measured_tps, rel=0.04)

    def test_held_out_llama_3_1_8b_is_nearer_than_with_the_m2_m3_constants(self) -> None:
        # measured 42.1 tok/s; the M2/M3 constants said 67.0 (+59%), the M1 fit says ~53.7 (+28%)
        assert m1_max_tps("llama-3.1-8b") == pytest.approx(42.1, rel=0.30)

    def test_the_plan_names_the_m1_fit(self) -> None:
        fit = plan(
            load_model_profile("llama-3.2-1b").arch,
            parse_quant("mlx-4bit"),
            load_hardware_profile("m1-max-32c-64gb"),
            ctx_tokens=2048,
            engine="mlx",
        )
        assert "M1 MLX fit" in fit.basis["speed"]


class TestM5MaxKeepsTheM2M3Constants:
    def test_qwen3_30b_a3b_4bit_within_ten_percent(self) -> None:
        # eval-apple-models.vercel.app/benchmarks/m5-max-ai-models/pro/ (M5 Max 40-core, 128 GB, mlx 0.31.1,
        # mlx-lm 0.31.1, mlx_lm.generate): Qwen3 30B-A3B 4-bit 127.4 tok/s; no M5 row was fitted
        fit = plan(
            load_model_profile("qwen3-30b-a3b").arch,
            parse_quant("mlx-4bit"),
            load_hardware_profile("m5-max-40c-128gb"),
            ctx_tokens=512,
            engine="mlx",
        )
        assert fit.predicted_tg_tps == pytest.approx(127.4, rel=0.10)
