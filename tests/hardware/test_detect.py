"""Detection: probes combined into a HardwareSpec, with sources, profile gaps filled, budgets and warnings."""

from __future__ import annotations

import time

import psutil
import pytest
from recorded import RecordedNVML, recorded_mac, recorded_mlx

from tuilab.core.hardware import GIB, MIB, GPUSpec, HardwareSpec, Platform
from tuilab.hardware.budget import engine_budgets, wired_limit_warning
from tuilab.hardware.detect import DEFAULT_HOST_RAM_BANDWIDTH_GBPS, Detection, ProfileMatch, detect_hardware


def profile(name: str, bandwidth_gbps: float, platform: Platform = Platform.APPLE) -> HardwareSpec:
    """A stand-in for a profile from tuilab/data/profiles/hardware/ with the published bandwidth."""
    gpu = GPUSpec(name, 0, 0, bandwidth_gbps, fp16_tflops=28.4)
    return HardwareSpec(name, platform, 0, 0, bandwidth_gbps, 0, gpus=(gpu,), is_profile=True)


class Lookup:
    """Answers one (platform, name) pair with one profile and remembers what it was asked."""

    def __init__(self, platform: str, chip: str, match: ProfileMatch) -> None:
        self.key, self.match, self.asked = (platform, chip), match, []  # type: list[tuple[object, ...]]

    def __call__(
        self, platform: str, name: str, memory_bytes: int, gpu_cores: int | None
    ) -> ProfileMatch | None:
        self.asked.append((platform, name, memory_bytes, gpu_cores))
        return self.match if (platform, name) == self.key else None


def mac(name: str, lookup: Lookup | None = None) -> Detection:
    return detect_hardware(
        lookup, system="darwin", apple_runner=recorded_mac(name), mlx_info=recorded_mlx(name)
    )


M3_MAX = Lookup("apple", "Apple M3 Max", ("m3-max-40c-48gb", profile("m3-max-40c-48gb", 400.0)))
RTX_3060 = Lookup("nvidia", "NVIDIA GeForce RTX 3060", ("rtx-3060-12gb", profile("rtx-3060-12gb", 360.0)))


class TestAppleSpec:
    def test_m3_max_48gb_reports_wired_limit_and_400_gbps_from_its_profile(self) -> None:
        detection = mac("m3-max", M3_MAX)
        spec = detection.spec
        assert M3_MAX.asked[-1] == ("apple", "Apple M3 Max", 48 * GIB, 40)
        assert detection.profile_name == "m3-max-40c-48gb"
        assert (spec.platform, spec.ram_bytes, spec.cpu_cores) == (Platform.APPLE, 48 * GIB, 16)
        # the recent macOS default for 48 GiB
        assert spec.wired_limit_bytes == 40_200_900_000 and spec.wired_limit_is_default
        assert spec.ram_bandwidth_gbps == 400.0 and spec.gpus[0].bandwidth_gbps == 400.0
        assert spec.source("ram_bandwidth_gbps") == "profile m3-max-40c-48gb"  # the stand-in cites nothing
        assert spec.source("ram_bytes") == "detected: sysctl hw.memsize"
        assert spec.source("wired_limit_bytes").startswith("default:")
        assert spec.gpus[0].backend == "metal" and spec.gpus[0].fp16_tflops == 28.4

    def test_budgets_are_wired_limit_capped_by_available_ram(self) -> None:
        spec = mac("m3-max", M3_MAX).spec
        budgets = {(b.engine, b.device): b.budget_bytes for b in engine_budgets(spec)}
        expected = min(36 * GIB, spec.ram_available_bytes - spec.os_reserve_bytes)
        assert budgets[("mlx", "Metal (wired)")] == budgets[("llama.cpp", "Metal")] == expected
        assert budgets[("llama.cpp, mlx", "CPU")] == spec.ram_available_bytes - spec.os_reserve_bytes

    def test_without_a_profile_bandwidth_is_unknown_and_says_so(self) -> None:
        detection = mac("m3-max")
        assert detection.spec.ram_bandwidth_gbps == 0.0
        assert detection.spec.source("ram_bandwidth_gbps").startswith("unknown: no hardware profile matched")
        assert any("bandwidth unknown" in w for w in detection.warnings)

    @pytest.mark.parametrize(
        ("mac_name", "warning"),
        [
            pytest.param("m1", "swap in use: 0.3 GiB", id="m1-swap"),
            pytest.param("m4-max", "memory pressure is warn", id="m4-max-pressure"),
        ],
    )
    def test_warns_about_swap_and_pressure(self, mac_name: str, warning: str) -> None:
        assert any(warning in w for w in mac(mac_name).warnings)

    def test_quiet_mac_has_no_swap_warning(self) -> None:
        assert not any("swap" in w for w in mac("m3-max", M3_MAX).warnings)

    def test_unknown_readings_become_notes(self) -> None:
        assert any(note.startswith("gpu_cores:") for note in mac("m1").notes)


class TestNvidiaSpec:
    def test_rtx_3060_reports_12_gb_and_360_gbps_measured(self) -> None:
        detection = detect_hardware(RTX_3060, system="linux", nvml=RecordedNVML("rtx-3060"))
        spec, gpu = detection.spec, detection.spec.gpus[0]
        assert (spec.platform, gpu.memory_bytes, round(gpu.bandwidth_gbps)) == (
            Platform.NVIDIA,
            12 * GIB,
            360,
        )
        assert spec.source("gpu0.bandwidth_gbps").startswith("detected: NVML")
        assert spec.source("gpu.bandwidth_gbps") == spec.source("gpu0.bandwidth_gbps")
        assert detection.profile_name == "rtx-3060-12gb" and gpu.fp16_tflops == 28.4
        assert spec.ram_bytes == psutil.virtual_memory().total  # the host side is read for real

    def test_llama_cpp_budget_per_gpu_is_its_free_vram(self) -> None:
        spec = detect_hardware(None, system="linux", nvml=RecordedNVML("rtx-3060", "h100-sxm")).spec
        gpu_rows = [b for b in engine_budgets(spec) if b.device.startswith("GPU")]
        assert [(b.device, b.budget_bytes) for b in gpu_rows] == [
            ("GPU 0 NVIDIA GeForce RTX 3060", 12064 * MIB),
            ("GPU 1 NVIDIA H100 80GB HBM3", 8769 * MIB),
        ]

    def test_missing_memory_clock_takes_bandwidth_from_the_profile_and_says_why(self) -> None:
        nvml = RecordedNVML("rtx-3060", broken=["nvmlDeviceGetMaxClockInfo"])
        spec = detect_hardware(RTX_3060, system="linux", nvml=nvml).spec
        assert spec.gpus[0].bandwidth_gbps == 360.0
        assert spec.source("gpu0.bandwidth_gbps") == (
            "profile rtx-3060-12gb (unknown: max_memory_clock_mhz: Not Supported)"
        )

    def test_another_process_holding_gpu_memory_is_a_warning(self) -> None:
        warnings = detect_hardware(None, system="linux", nvml=RecordedNVML("h100-sxm")).warnings
        assert any(w.startswith("GPU 0: 1 other process(es) hold 71.1 GiB (pid 411873") for w in warnings)
        assert any(w.endswith(": 71.1 GiB)") for w in warnings)

    def test_host_ram_bandwidth_defaults_when_no_profile_matches(self) -> None:
        spec = detect_hardware(None, system="linux", nvml=RecordedNVML("rtx-3060")).spec
        assert spec.ram_bandwidth_gbps == DEFAULT_HOST_RAM_BANDWIDTH_GBPS
        assert spec.source("ram_bandwidth_gbps").startswith("default:")


class TestThisMachine:
    def test_detects_fast_and_matches_psutil(self) -> None:
        start = time.perf_counter()
        detection = detect_hardware()
        elapsed_s = time.perf_counter() - start
        assert elapsed_s < 1.0
        assert detection.spec.ram_bytes == psutil.virtual_memory().total
        assert detection.spec.cpu_cores == (psutil.cpu_count(logical=False) or psutil.cpu_count())
        if not detection.nvidia.available:
            assert detection.spec.platform is Platform.CPU
            assert any(n.startswith("no NVIDIA GPU") for n in detection.notes)

    def test_does_not_import_mlx_off_macos(self) -> None:
        import subprocess
        import sys

        code = (
            "import sys; from tuilab.hardware.detect import detect_hardware; "
            "detect_hardware(); print('mlx' in sys.modules)"
        )
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
        assert out.strip() == "False"


class TestWiredLimitWarning:
    @pytest.mark.parametrize(
        ("needed_gib", "expected"),
        [
            pytest.param(30, None, id="fits-under-the-default-limit"),
            pytest.param(40, "raise it with `sudo sysctl iogpu.wired_limit_mb=45056`", id="fits-if-raised"),
            pytest.param(47, "does not fit even with the limit raised", id="too-big-for-48gb"),
        ],
    )
    def test_m3_max_48gb(self, needed_gib: int, expected: str | None) -> None:
        warning = wired_limit_warning(mac("m3-max", M3_MAX).spec, "Qwen2.5-32B Q8_0", needed_gib * GIB)
        assert warning == expected or (expected is not None and warning is not None and expected in warning)

    def test_not_a_mac_is_never_warned(self) -> None:
        spec = detect_hardware(None, system="linux", nvml=RecordedNVML("rtx-3060")).spec
        assert wired_limit_warning(spec, "any", 10**15) is None
