"""The Apple Silicon probe, run on Linux against recorded outputs of four real Macs (fixtures/README.md)."""

from __future__ import annotations

import pytest
from recorded import MACS, recorded_mac, recorded_mlx

from tuilab.core.hardware import GIB, MIB
from tuilab.hardware.apple import (
    parse_gpu_cores,
    parse_swapusage,
    parse_sysctl,
    parse_vm_stat,
    probe_apple,
)


def no_mlx() -> None:
    return None


class TestParsingSysctlOutput:
    def test_reads_key_value_lines_and_skips_error_lines(self) -> None:
        text = "hw.memsize: 17179869184\nsysctl: unknown oid 'iogpu.wired_limit_mb'\nhw.model: Mac14,10\n"
        assert parse_sysctl(text) == {"hw.memsize": "17179869184", "hw.model": "Mac14,10"}

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            pytest.param(
                "total = 1024.00M  used = 256.25M  free = 767.75M  (encrypted)", (GIB, 268697600), id="MiB"
            ),
            pytest.param("total = 2.00G  used = 0.50G  free = 1.50G", (2 * GIB, GIB // 2), id="GiB"),
            pytest.param("total = 0.00M  used = 0.00M  free = 0.00M  (encrypted)", (0, 0), id="no-swap"),
            pytest.param("", None, id="missing"),
            pytest.param("garbage", None, id="garbage"),
        ],
    )
    def test_swapusage(self, value: str, expected: tuple[int, int] | None) -> None:
        assert parse_swapusage(value) == expected


class TestParsingVmStatAndSystemProfiler:
    def test_vm_stat_without_its_header_is_no_reading(self) -> None:
        assert parse_vm_stat("Pages free: 12.\n") is None

    def test_vm_stat_labels_in_quotes_are_read(self) -> None:
        parsed = parse_vm_stat(
            'Mach Virtual Memory Statistics: (page size of 4096 bytes)\n"Translation faults": 7.\n'
        )
        assert parsed == (4096, {"translation faults": 7})

    @pytest.mark.parametrize("text", ["", "{", "[]", '{"SPDisplaysDataType": [{"sppci_cores": "many"}]}'])
    def test_unreadable_system_profiler_gives_no_core_count(self, text: str) -> None:
        assert parse_gpu_cores(text) is None


class TestRecordedMacs:
    @pytest.mark.parametrize(
        ("mac", "chip", "memory_gib", "p_cores", "e_cores", "gpu_cores"),
        [
            pytest.param("m1", "Apple M1", 16, 4, 4, None, id="m1-macOS12-has-no-sppci_cores"),
            pytest.param("m2-pro", "Apple M2 Pro", 16, 8, 4, 19, id="m2-pro"),
            pytest.param("m3-max", "Apple M3 Max", 48, 12, 4, 40, id="m3-max"),
            pytest.param("m4-max", "Apple M4 Max", 128, 12, 4, 40, id="m4-max"),
        ],
    )
    def test_chip_cores_and_memory(
        self, mac: str, chip: str, memory_gib: int, p_cores: int, e_cores: int, gpu_cores: int | None
    ) -> None:
        probe = probe_apple(recorded_mac(mac), recorded_mlx(mac))
        assert (probe.chip, probe.memory_bytes) == (chip, memory_gib * GIB)
        assert (probe.performance_cores, probe.efficiency_cores, probe.cpu_cores) == (
            p_cores,
            e_cores,
            p_cores + e_cores,
        )
        assert probe.gpu_cores == gpu_cores
        assert ("gpu_cores" in probe.unknown) is (gpu_cores is None)

    @pytest.mark.parametrize(
        ("mac", "swap_used_bytes", "pressure"),
        [
            pytest.param("m1", 268697600, "normal", id="m1-swapping"),
            pytest.param("m3-max", 0, "normal", id="m3-max-idle"),
            pytest.param("m4-max", 1932986941, "warn", id="m4-max-under-pressure"),
        ],
    )
    def test_live_memory(self, mac: str, swap_used_bytes: int, pressure: str) -> None:
        memory = probe_apple(recorded_mac(mac), no_mlx).memory
        assert memory is not None
        assert memory.page_size_bytes == 16384
        assert (memory.swap_used_bytes, memory.pressure) == (swap_used_bytes, pressure)
        assert memory.available_bytes == memory.free_bytes + memory.inactive_bytes
        assert 0 < memory.wired_bytes < 128 * GIB

    def test_compressed_memory_is_pages_occupied_by_compressor(self) -> None:
        memory = probe_apple(recorded_mac("m4-max"), no_mlx).memory
        assert memory is not None and memory.compressed_bytes == 420118 * 16384


class TestWiredLimit:
    def test_m3_max_48gb_unset_limit_is_recent_macos_default(self) -> None:
        limit = probe_apple(recorded_mac("m3-max"), no_mlx).wired_limit
        assert limit is not None
        # no kern.osproductversion in this recording: a recent macOS, whose llama.cpp logs read 40200.90 MB
        assert limit.limit_bytes == 40_200_900_000
        assert limit.is_default and limit.source.startswith("default: macOS 15+")

    def test_a_raised_iogpu_limit_is_read_and_wins_over_mlx(self) -> None:
        limit = probe_apple(recorded_mac("m4-max"), recorded_mlx("m2-pro")).wired_limit
        assert limit is not None
        assert limit.limit_bytes == 122880 * MIB
        assert "iogpu.wired_limit_mb" in limit.source and not limit.is_default

    def test_unset_limit_falls_back_to_mlx_working_set(self) -> None:
        limit = probe_apple(recorded_mac("m2-pro"), recorded_mlx("m2-pro")).wired_limit
        assert limit is not None
        assert limit.limit_bytes == 11453251584
        assert "max_recommended_working_set_size" in limit.source
        assert limit.is_default  # with the sysctl at 0, MLX reads macOS's own default, not a raised limit

    def test_pre_sonoma_mac_without_the_sysctl_says_so(self) -> None:
        limit = probe_apple(recorded_mac("m1"), no_mlx).wired_limit
        assert limit is not None and "iogpu.wired_limit_mb missing" in limit.source

    def test_no_memsize_and_no_mlx_is_unknown_with_a_reason(self) -> None:
        probe = probe_apple(recorded_mac("m3-max", drop=["hw.memsize"]), no_mlx)
        assert probe.wired_limit is None
        assert "no hw.memsize" in probe.unknown["wired_limit"]


class TestBrokenReadings:
    @pytest.mark.parametrize("mac", MACS)
    def test_no_sysctl_at_all_degrades_to_unknown(self, mac: str) -> None:
        probe = probe_apple(recorded_mac(mac, drop=["sysctl"]), no_mlx)
        assert (probe.chip, probe.memory_bytes, probe.cpu_cores, probe.wired_limit) == (
            None,
            None,
            None,
            None,
        )
        assert {"chip", "hw.memsize", "hw.perflevel0.physicalcpu", "wired_limit"} <= set(probe.unknown)

    def test_missing_perflevel_keys_fall_back_to_ncpu(self) -> None:
        probe = probe_apple(recorded_mac("m2-pro", drop=["hw.perflevel1.physicalcpu"]), no_mlx)
        assert probe.cpu_cores == 12
        assert probe.unknown["hw.perflevel1.physicalcpu"] == "sysctl hw.perflevel1.physicalcpu missing"

    def test_no_vm_stat_means_no_live_memory(self) -> None:
        probe = probe_apple(recorded_mac("m3-max", drop=["vm_stat"]), no_mlx)
        assert probe.memory is None and "vm_stat" in probe.unknown["memory"]

    def test_mlx_reading_without_the_key_is_ignored(self) -> None:
        limit = probe_apple(recorded_mac("m3-max"), lambda: {"memory_size": 1}).wired_limit
        assert limit is not None and limit.is_default
