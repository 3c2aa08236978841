"""MLX generation speed has its own calibration (core.speed.MLX_*), checked against the public MLX
decode measurements it was fitted on (docs/benchmarks/calibration.md, "MLX generation")."""

from __future__ import annotations

import pytest

from tuilab.core.fit import plan
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
        # core.apple_speed: the M2 Ultra fit, 158 us a layer (calibration.md, "llama.cpp Metal per chip generation")
        assert "metal:" in fit.basis["speed"] and "158 us" in fit.basis["speed"] and "M2 Ultra fit" in fit.basis["speed"]

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
