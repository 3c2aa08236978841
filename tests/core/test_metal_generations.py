"""llama.cpp's Metal speed per Apple chip generation (core.apple_speed), checked against the public table
it was fitted on: ggml-org/llama.cpp discussion #4167, LLaMA-2 7B, llama-bench tg128 tok/s at F16, Q8_0
and Q4_0 (https://github.com/ggml-org/llama.cpp/discussions/4167; docs/benchmarks/calibration.md,
"llama.cpp Metal per chip generation"). The full-core chip of each tier is fitted; the binned chips are
held out. No Mac ran here: every number below is the discussion's, as transcribed in the calibration doc.
"""

from __future__ import annotations

import dataclasses

import pytest

from tuilab.core import apple_speed, speed
from tuilab.core.arch import ModelArch
from tuilab.core.fit import plan
from tuilab.core.hardware import HardwareSpec
from tuilab.core.quant import parse_quant
from tuilab.models.profiles import load_hardware_profile

# LLaMA-2 7B's shape (https://huggingface.co/meta-llama/Llama-2-7b-hf/blob/main/config.json).
LLAMA_2_7B = ModelArch("llama-2-7b", "llama", 32, 4096, 32, 32, 128, 11008, 32000, max_ctx_tokens=4096)

# (chip, GPU cores, datasheet GB/s, {quant: tg128 tok/s}) from discussion #4167.
FITTED = [
    ("Apple M1", 8, 68, {"Q8_0": 7.91, "Q4_0": 14.15}),
    ("Apple M1 Pro", 16, 200, {"F16": 12.75, "Q8_0": 22.34, "Q4_0": 36.41}),
    ("Apple M1 Max", 32, 400, {"F16": 23.03, "Q8_0": 40.20, "Q4_0": 61.19}),
    ("Apple M1 Ultra", 64, 800, {"F16": 37.01, "Q8_0": 59.87, "Q4_0": 83.73}),
    ("Apple M2", 10, 100, {"F16": 6.72, "Q8_0": 12.21, "Q4_0": 21.91}),
    ("Apple M2 Pro", 19, 200, {"F16": 13.06, "Q8_0": 23.01, "Q4_0": 38.86}),
    ("Apple M2 Max", 38, 400, {"F16": 24.65, "Q8_0": 41.83, "Q4_0": 65.95}),
    ("Apple M2 Ultra", 76, 800, {"F16": 41.02, "Q8_0": 66.64, "Q4_0": 94.27}),
    ("Apple M3", 10, 100, {"Q8_0": 12.27, "Q4_0": 21.34}),
    ("Apple M3 Pro", 18, 150, {"F16": 9.89, "Q8_0": 17.53, "Q4_0": 30.74}),
    ("Apple M3 Max", 40, 400, {"F16": 25.09, "Q8_0": 42.75, "Q4_0": 66.31}),
    ("Apple M3 Ultra", 80, 800, {"F16": 39.78, "Q8_0": 63.93, "Q4_0": 92.14}),
    ("Apple M4", 10, 120, {"F16": 7.43, "Q8_0": 13.54, "Q4_0": 24.11}),
    ("Apple M4 Pro", 20, 273, {"F16": 17.18, "Q8_0": 30.69, "Q4_0": 50.74}),
    ("Apple M4 Max", 40, 546, {"F16": 31.64, "Q8_0": 54.05, "Q4_0": 83.06}),
]
HELD_OUT = [
    ("Apple M1", 7, 68, {"Q8_0": 7.92, "Q4_0": 14.19}),
    ("Apple M1 Pro", 14, 200, {"F16": 12.75, "Q8_0": 21.95, "Q4_0": 35.52}),
    ("Apple M1 Max", 24, 400, {"F16": 22.55, "Q8_0": 37.81, "Q4_0": 54.61}),
    ("Apple M1 Ultra", 48, 800, {"F16": 33.92, "Q8_0": 55.69, "Q4_0": 74.93}),
    ("Apple M2", 8, 100, {"Q8_0": 12.18, "Q4_0": 21.70}),
    ("Apple M2 Pro", 16, 200, {"F16": 12.47, "Q8_0": 22.70, "Q4_0": 37.87}),
    ("Apple M2 Max", 30, 400, {"F16": 24.16, "Q8_0": 39.97, "Q4_0": 60.99}),
    ("Apple M2 Ultra", 60, 800, {"F16": 39.86, "Q8_0": 62.14, "Q4_0": 88.64}),
    ("Apple M3 Pro", 14, 150, {"Q8_0": 17.44, "Q4_0": 30.65}),
    ("Apple M3 Max", 30, 300, {"F16": 19.54, "Q8_0": 34.30, "Q4_0": 56.58}),
    ("Apple M3 Ultra", 60, 800, {"F16": 42.24, "Q8_0": 63.55, "Q4_0": 88.40}),
    ("Apple M4 Pro", 16, 273, {"F16": 17.19, "Q8_0": 30.54, "Q4_0": 49.64}),
    ("Apple M4 Max", 32, 410, {"F16": 24.29, "Q8_0": 43.87, "Q4_0": 69.95}),
]
# The model has no term for GPU cores: two binned M1 chips with a quarter fewer cores at the same bandwidth
# run the dequantizing Q4_0 kernel slower than their full chips (+12% and +14% predicted).
BINNED_M1 = {("Apple M1 Max", 24), ("Apple M1 Ultra", 48)}


def chip_spec(chip: str, bandwidth_gbps: float) -> HardwareSpec:
    """A Mac large enough for LLaMA-2 7B at F16, with this chip's GPU name and datasheet bandwidth."""
    base = load_hardware_profile("m2-ultra-76c-192gb")
    gpu = dataclasses.replace(base.gpus[0], name=chip, bandwidth_gbps=bandwidth_gbps)
    return dataclasses.replace(base, gpus=(gpu,))


def predicted_tps(chip: str, bandwidth_gbps: float, quant: str) -> float:
    fit = plan(LLAMA_2_7B, parse_quant(quant), chip_spec(chip, bandwidth_gbps), ctx_tokens=512, advise=False)
    return fit.predicted_tg_tps


def cases(rows: list[tuple[str, int, int, dict[str, float]]]) -> list[object]:
    return [
        pytest.param(chip, cores, bw, quant, tps, id=f"{chip.removeprefix('Apple ')}-{cores}c-{quant}")
        for chip, cores, bw, by_quant in rows
        for quant, tps in by_quant.items()
    ]


class TestFittedChips:
    @pytest.mark.parametrize(("chip", "cores", "bandwidth", "quant", "measured"), cases(FITTED))
    def test_within_four_percent(
        self, chip: str, cores: int, bandwidth: int, quant: str, measured: float
    ) -> None:
        assert predicted_tps(chip, bandwidth, quant) == pytest.approx(measured, rel=0.04)


class TestHeldOutChips:
    @pytest.mark.parametrize(("chip", "cores", "bandwidth", "quant", "measured"), cases(HELD_OUT))
    def test_within_eight_percent_or_fifteen_for_binned_m1(
        self, chip: str, cores: int, bandwidth: int, quant: str, measured: float
    ) -> None:
        tolerance = 0.15 if (chip, cores) in BINNED_M1 else 0.08
        assert predicted_tps(chip, bandwidth, quant) == pytest.approx(measured, rel=tolerance)


class TestGenerationsDiffer:
    def test_the_m1_ultra_no_longer_reads_as_fast_as_its_datasheet_says(self) -> None:
        # The single 2023 constants predicted 41.6 tok/s (+12%) for the M1 Ultra's measured 37.01 at F16
        unknown = chip_spec("Apple silicon", 800)
        old = plan(LLAMA_2_7B, parse_quant("F16"), unknown, ctx_tokens=512, advise=False).predicted_tg_tps
        assert old > 37.01 * 1.10
        assert predicted_tps("Apple M1 Ultra", 800, "F16") == pytest.approx(37.01, rel=0.02)

    def test_an_m4_max_runs_its_layers_faster_than_an_m1_max(self) -> None:
        assert (
            apple_speed.metal_constants("Apple M4 Max").per_layer_s
            < apple_speed.metal_constants("Apple M1 Max").per_layer_s
        )

    def test_the_plan_names_the_fit_it_used(self) -> None:
        fit = plan(LLAMA_2_7B, parse_quant("Q4_0"), chip_spec("Apple M3 Max", 400), ctx_tokens=512)
        assert "M3 fit" in fit.basis["speed"] and "153 us" in fit.basis["speed"]


class TestChipNames:
    @pytest.mark.parametrize(
        ("name", "expected"),
        [
            pytest.param("Apple M1", (1, ""), id="base"),
            pytest.param("Apple M3 Max, 40-core GPU", (3, "Max"), id="probed-name-with-cores"),
            pytest.param("Apple M2 Ultra", (2, "Ultra"), id="ultra"),
            pytest.param("Apple M5 Pro", (5, "Pro"), id="m5"),
            pytest.param("NVIDIA GeForce RTX 4090", None, id="not-apple"),
        ],
    )
    def test_generation_and_tier(self, name: str, expected: tuple[int, str] | None) -> None:
        assert apple_speed.chip_generation(name) == expected

    def test_an_unmeasured_generation_borrows_the_nearest_earlier_fit_and_says_so(self) -> None:
        m5 = apple_speed.metal_constants("Apple M5 Max")
        m4 = apple_speed.metal_constants("Apple M4 Max")
        assert (m5.efficiency, m5.per_layer_s) == (m4.efficiency, m4.per_layer_s)
        assert "borrowed" in m5.basis and "M5" in m5.basis

    def test_an_m5_ultra_borrows_the_last_ultra_fit(self) -> None:
        assert apple_speed.metal_constants("Apple M5 Ultra").efficiency == pytest.approx(
            apple_speed.metal_constants("Apple M3 Ultra").efficiency
        )

    def test_an_unknown_chip_keeps_the_2023_constants(self) -> None:
        assert apple_speed.metal_constants("Apple silicon") == apple_speed.UNKNOWN_CHIP
        assert speed.efficiency("metal", "Q4_0") == speed.METAL_EFFICIENCY == 0.88


class TestOtherDevicesIgnoreTheChip:
    def test_cuda_efficiency_is_the_same_whatever_the_chip_name(self) -> None:
        assert speed.efficiency("cuda", "Q8_0", chip="Apple M1 Ultra") == speed.CUDA_EFFICIENCY["Q8_0"]

    def test_mlx_keeps_its_own_constants_not_metals(self) -> None:
        # the M3 Ultra's Metal efficiency is 0.81; MLX on it keeps the M2/M3 MLX fit
        assert speed.efficiency("mlx", "Q4_0", chip="Apple M3 Ultra") == speed.MLX_EFFICIENCY == 0.865
