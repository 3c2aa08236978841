"""The NVIDIA probe against an NVML stand-in replaying real `nvidia-smi -q` dumps, and real NVML here."""

from __future__ import annotations

import pytest
from recorded import RecordedNVML, parse_smi

from tuilab.core.hardware import GIB, MIB
from tuilab.hardware.nvidia import NvidiaGPU, cuda_version_text, probe_nvidia


def gpu_with(bus_width_bits: int | None, clock_mhz: int | None) -> NvidiaGPU:
    return NvidiaGPU(0, "x", GIB, 0, GIB, bus_width_bits, clock_mhz, None, None, None, None)


class TestRecordedGPUs:
    def test_rtx_3060_has_12_gib_and_360_gbps(self) -> None:
        probe = probe_nvidia(RecordedNVML("rtx-3060"))
        (gpu,) = probe.gpus
        assert gpu.name == "NVIDIA GeForce RTX 3060"
        assert gpu.memory_total_bytes == 12 * GIB
        assert gpu.memory_free_bytes == 12064 * MIB
        assert gpu.bandwidth_gbps == pytest.approx(360, rel=0.001)  # NVIDIA spec: 360 GB/s
        assert gpu.compute_capability == (8, 6)
        assert (gpu.power_draw_w, gpu.power_limit_w, gpu.utilization_pct) == (4.37, 170.0, 0)
        assert (probe.driver_version, probe.cuda_version) == ("580.95.05", "13.0")
        assert gpu.processes == ()

    def test_h100_sxm_bandwidth_matches_its_3_35_tbps_spec(self) -> None:
        (gpu,) = probe_nvidia(RecordedNVML("h100-sxm")).gpus
        assert gpu.memory_total_bytes == 81559 * MIB
        assert gpu.bandwidth_gbps == pytest.approx(3350, rel=0.01)
        assert gpu.compute_capability == (9, 0)

    def test_processes_holding_memory_are_listed(self) -> None:
        (gpu,) = probe_nvidia(RecordedNVML("h100-sxm")).gpus
        (process,) = gpu.processes
        assert (process.pid, process.used_bytes) == (411873, 72780 * MIB)

    def test_two_gpus_are_two_entries_with_their_own_numbers(self) -> None:
        probe = probe_nvidia(RecordedNVML("rtx-3060", "h100-sxm"))
        assert [g.index for g in probe.gpus] == [0, 1]
        assert [round(g.bandwidth_gbps or 0) for g in probe.gpus] == [360, 3352]

    def test_nvml_is_shut_down_after_probing(self) -> None:
        nvml = RecordedNVML("rtx-3060")
        probe_nvidia(nvml)
        assert nvml.initialised == 0


class TestBandwidthFormula:
    @pytest.mark.parametrize(
        ("bus_bits", "clock_mhz", "gbps"),
        [
            pytest.param(384, 10501, 1008, id="rtx-4090-gddr6x-nvbench-1008"),
            pytest.param(192, 7501, 360, id="rtx-3060-gddr6-360"),
            pytest.param(5120, 1593, 2039, id="h100-pcie-hbm2e-2tbps"),
        ],
    )
    def test_bus_width_times_clock_times_two(self, bus_bits: int, clock_mhz: int, gbps: float) -> None:
        assert gpu_with(bus_bits, clock_mhz).bandwidth_gbps == pytest.approx(gbps, rel=0.002)

    def test_cuda_version_encoding(self) -> None:
        assert cuda_version_text(12040) == "12.4"
        assert cuda_version_text(13000) == "13.0"


class ZeroClockNVML(RecordedNVML):
    def nvmlDeviceGetMaxClockInfo(self, gpu: object, clock: int) -> int:
        return 0


class TestDegradesToUnknown:
    def test_memory_clock_not_supported_leaves_bandwidth_unknown_with_nvmls_reason(self) -> None:
        (gpu,) = probe_nvidia(RecordedNVML("rtx-3060", broken=["nvmlDeviceGetMaxClockInfo"])).gpus
        assert gpu.bandwidth_gbps is None
        assert gpu.bandwidth_reason == "unknown: max_memory_clock_mhz: Not Supported"
        assert gpu.memory_total_bytes == 12 * GIB  # the rest of the card is still read

    def test_a_memory_clock_of_zero_is_no_reading(self) -> None:
        (gpu,) = probe_nvidia(ZeroClockNVML("rtx-3060")).gpus
        assert gpu.bandwidth_gbps is None and "NVML reported 0" in gpu.bandwidth_reason

    @pytest.mark.parametrize(
        "broken",
        [
            "nvmlDeviceGetPowerUsage",
            "nvmlDeviceGetEnforcedPowerManagementLimit",
            "nvmlDeviceGetUtilizationRates",
            "nvmlDeviceGetCudaComputeCapability",
            "nvmlDeviceGetComputeRunningProcesses",
            "nvmlSystemGetCudaDriverVersion",
        ],
    )
    def test_any_unsupported_query_is_unknown_not_a_crash(self, broken: str) -> None:
        probe = probe_nvidia(RecordedNVML("rtx-3060", broken=[broken]))
        assert probe.available and probe.gpus[0].memory_total_bytes == 12 * GIB

    def test_nvml_that_cannot_start_is_no_nvidia_gpu(self) -> None:
        probe = probe_nvidia(RecordedNVML("rtx-3060", broken=["nvmlInit"]))
        assert not probe.available and probe.reason.startswith("no NVIDIA GPU: NVML did not start")

    def test_no_devices_is_no_nvidia_gpu(self) -> None:
        probe = probe_nvidia(RecordedNVML())
        assert not probe.available and probe.reason.startswith("no NVIDIA GPU")

    def test_real_nvml_on_this_machine_answers_without_raising(self) -> None:
        probe = probe_nvidia()
        if probe.available:
            assert all(g.memory_total_bytes > 0 for g in probe.gpus)
        else:
            assert probe.reason.startswith("no NVIDIA GPU: ")


class TestRecordedDumpParser:
    def test_header_and_sections(self) -> None:
        header, (gpu,) = parse_smi((__import__("recorded").NVIDIA / "h100-sxm.txt").read_text())
        assert header["Driver Version"] == "550.90.07"
        assert gpu["fb memory usage/total"] == "81559 MiB"
        assert gpu["max clocks/memory"] == "2619 MHz"


class OldPynvml(RecordedNVML):
    """A pynvml without nvmlDeviceGetEnforcedPowerManagementLimit, as on the lent H100's image."""

    def __getattribute__(self, name: str) -> object:
        if name == "nvmlDeviceGetEnforcedPowerManagementLimit":
            raise AttributeError(f"module 'pynvml' has no attribute {name!r}")
        return super().__getattribute__(name)


class TestRealH100Reading:
    def test_the_lent_h100_dump_gives_its_memory_and_bandwidth(self) -> None:
        probe = probe_nvidia(RecordedNVML("h100-lent"))
        (gpu,) = probe.gpus
        assert gpu.name == "NVIDIA H100 80GB HBM3"
        assert gpu.memory_total_bytes == 81559 * MIB
        assert gpu.bandwidth_gbps == pytest.approx(3350, rel=0.01)
        assert probe.driver_version == "580.159.04"

    def test_a_pynvml_missing_a_call_is_an_unknown_reading(self) -> None:
        (gpu,) = probe_nvidia(OldPynvml("h100-lent")).gpus
        assert gpu.power_limit_w is None
        assert gpu.memory_total_bytes == 81559 * MIB
