"""The built-in Apple profiles: each loads, cites every number it carries, and says which macOS its default
GPU budget assumes; the binned M4 Max and the M5 carry Apple's published figures (issue 14)."""

from __future__ import annotations

import pytest

from tuilab.core.hardware import GIB, Platform
from tuilab.models.profiles import hardware_profile_names, load_hardware_profile

APPLE_PROFILES = [n for n in hardware_profile_names() if n.startswith("m") and n[1].isdigit()]


class TestEveryAppleProfile:
    def test_there_is_one_per_generation_m1_to_m5(self) -> None:
        assert {name[:2] for name in APPLE_PROFILES} == {"m1", "m2", "m3", "m4", "m5"}

    @pytest.mark.parametrize("name", APPLE_PROFILES)
    def test_loads_as_a_metal_mac(self, name: str) -> None:
        spec = load_hardware_profile(name)
        assert spec.platform is Platform.APPLE and spec.gpus[0].backend == "metal"

    @pytest.mark.parametrize("name", APPLE_PROFILES)
    def test_cites_every_number(self, name: str) -> None:
        spec = load_hardware_profile(name)
        assert not [k for k, v in spec.sources.items() if "no source given" in v]

    @pytest.mark.parametrize("name", APPLE_PROFILES)
    def test_says_which_macos_its_default_budget_assumes(self, name: str) -> None:
        assert "macOS 15+" in load_hardware_profile(name).source("wired_limit_bytes")


class TestPublishedFigures:
    def test_the_binned_m4_max_reads_410_gbps_with_14_cores(self) -> None:
        spec = load_hardware_profile("m4-max-32c-36gb")
        assert (spec.ram_bytes, spec.ram_bandwidth_gbps, spec.cpu_cores) == (36 * GIB, 410.0, 14)
        assert "support.apple.com" in spec.source("ram_bandwidth_gbps")

    def test_the_m5_reads_153_gbps_and_has_no_invented_tflops(self) -> None:
        spec = load_hardware_profile("m5-10c-16gb")
        assert (spec.ram_bandwidth_gbps, spec.cpu_cores, spec.gpus[0].fp16_tflops) == (153.0, 10, None)
        assert spec.gpus[0].name == "Apple M5"
