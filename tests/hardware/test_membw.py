"""Host memory bandwidth: a real copy-loop measurement, its cache file, and how detection uses it."""

from __future__ import annotations

import dataclasses
import time
import tomllib
from pathlib import Path

import pytest
from recorded import RecordedNVML, recorded_mac, recorded_mlx

from tuilab.core.errors import UsageError
from tuilab.core.hardware import GIB, GPUSpec, HardwareSpec, Platform
from tuilab.hardware.detect import (
    DEFAULT_HOST_RAM_BANDWIDTH_GBPS,
    Detection,
    ProfileLookup,
    ProfileMatch,
    detect_hardware,
)
from tuilab.hardware.host import HostProbe, probe_host
from tuilab.hardware.membw import (
    MIN_BUFFER_BYTES,
    Measurement,
    load_measurement,
    measure_host,
    measure_ram_bandwidth_gbps,
    save_measurement,
)

HOST = HostProbe("Test CPU 9000", 16, 32, 64 * GIB, 48 * GIB, 0, 0)
MEASURED = Measurement(95.3, 16, "Test CPU 9000", 16, "2026-11-26")


def profile_lookup(platform: str, chip: str, name: str, bandwidth_gbps: float) -> ProfileLookup:
    """A lookup answering (platform, chip) with a stand-in profile of this host bandwidth."""
    gpu = GPUSpec(chip, 0, 0, bandwidth_gbps)
    spec = HardwareSpec(name, Platform(platform), 0, 0, bandwidth_gbps, 0, gpus=(gpu,), is_profile=True)
    match: ProfileMatch = (name, spec)
    return lambda p, n, mem, cores: match if (p, n) == (platform, chip) else None


H100_SERVER = profile_lookup("nvidia", "NVIDIA H100 80GB HBM3", "h100-sxm-80gb", 307.2)
M3_MAX = profile_lookup("apple", "Apple M3 Max", "m3-max-40c-48gb", 400.0)


def cpu_box(cache: Path, host: HostProbe = HOST) -> Detection:
    return detect_hardware(None, system="linux", nvml=RecordedNVML(), host=host, measurement_file=cache)


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return tmp_path / "config" / "measured.toml"


class TestMeasurement:
    def test_a_real_copy_loop_reads_a_plausible_bandwidth(self) -> None:
        start = time.perf_counter()
        bandwidth_gbps = measure_ram_bandwidth_gbps()
        assert 1.0 < bandwidth_gbps < 1000.0
        assert time.perf_counter() - start < 10.0  # finished; the real bound is "about a second"

    def test_one_thread_with_the_smallest_buffer(self) -> None:
        assert 1.0 < measure_ram_bandwidth_gbps(threads=1, buffer_bytes=MIN_BUFFER_BYTES, repeats=1) < 1000.0

    @pytest.mark.parametrize(
        "kwargs",
        [
            pytest.param({"threads": 0}, id="no-threads"),
            pytest.param({"repeats": 0}, id="no-repeats"),
            pytest.param({"buffer_bytes": MIN_BUFFER_BYTES - 1}, id="buffer-that-fits-in-cache"),
        ],
    )
    def test_nonsense_arguments_are_usage_errors(self, kwargs: dict[str, int]) -> None:
        with pytest.raises(UsageError):
            measure_ram_bandwidth_gbps(**kwargs)

    def test_measure_host_labels_the_result_with_this_cpu(self) -> None:
        host = probe_host()
        measured = measure_host(host, threads=1)
        assert (measured.cpu_model, measured.physical_cores, measured.threads) == (
            host.cpu_model,
            host.physical_cores,
            1,
        )
        assert measured.matches(host) and measured.ram_bandwidth_gbps > 1.0


class TestCacheFile:
    def test_round_trip(self, cache: Path) -> None:
        assert save_measurement(MEASURED, cache) == cache
        assert load_measurement(cache) == (MEASURED, None)
        assert tomllib.loads(cache.read_text())["ram_bandwidth"]["ram_bandwidth_gbps"] == 95.3

    def test_rewrite_replaces_and_leaves_no_temp_file(self, cache: Path) -> None:
        save_measurement(MEASURED, cache)
        newer = dataclasses.replace(MEASURED, ram_bandwidth_gbps=101.0, measured_on="2026-11-27")
        save_measurement(newer, cache)
        assert load_measurement(cache) == (newer, None)
        assert [p.name for p in cache.parent.iterdir()] == ["measured.toml"]

    def test_no_file_is_no_measurement_and_no_complaint(self, cache: Path) -> None:
        assert load_measurement(cache) == (None, None)

    def test_default_path_is_under_tuilab_home(self, tuilab_home: Path) -> None:
        from tuilab.hardware.membw import measurement_path

        assert measurement_path().is_relative_to(tuilab_home)


class TestDetectionUsesTheMeasurement:
    def test_cpu_box_takes_the_measured_bandwidth_and_says_so(self, cache: Path) -> None:
        save_measurement(MEASURED, cache)
        detection = cpu_box(cache)
        assert detection.spec.platform is Platform.CPU and detection.spec.ram_bandwidth_gbps == 95.3
        assert detection.spec.ram_bandwidth_measured
        assert detection.spec.source("ram_bandwidth_gbps") == (
            "measured: tuilab hw --measure on 2026-11-26 (16 threads)"
        )
        assert not any("--measure" in note for note in detection.notes)

    def test_measurement_beats_the_gpu_servers_profile_assumption(self, cache: Path) -> None:
        # docs/benchmarks/cuda-nvidia-h100-80gb-hbm3.md: the profile's 307 GB/s socket was ~95 GB/s on a VM.
        nvml = RecordedNVML("h100-sxm")
        assumed = detect_hardware(H100_SERVER, system="linux", nvml=nvml, host=HOST, measurement_file=cache)
        assert assumed.spec.ram_bandwidth_gbps == 307.2 and not assumed.spec.ram_bandwidth_measured
        assert any(
            "assumed, not measured" in note and "tuilab hw --measure" in note for note in assumed.notes
        )
        save_measurement(MEASURED, cache)
        measured = detect_hardware(H100_SERVER, system="linux", nvml=nvml, host=HOST, measurement_file=cache)
        assert measured.profile_name == "h100-sxm-80gb" and measured.spec.ram_bandwidth_gbps == 95.3
        assert measured.spec.ram_bandwidth_measured  # the speed model takes it at its word
        assert measured.spec.gpus[0].bandwidth_gbps > 3000  # the GPU's own bandwidth is untouched

    @pytest.mark.parametrize(
        "host",
        [
            pytest.param(dataclasses.replace(HOST, cpu_model="Other CPU"), id="another-cpu-model"),
            pytest.param(dataclasses.replace(HOST, physical_cores=8), id="a-smaller-vm-of-the-same-cpu"),
        ],
    )
    def test_a_measurement_of_another_host_is_ignored(self, cache: Path, host: HostProbe) -> None:
        save_measurement(MEASURED, cache)
        detection = cpu_box(cache, host)
        assert detection.spec.ram_bandwidth_gbps == DEFAULT_HOST_RAM_BANDWIDTH_GBPS
        assert not detection.spec.ram_bandwidth_measured
        assert detection.spec.source("ram_bandwidth_gbps").startswith("default:")
        assert any("not this host; ignored" in note for note in detection.notes)

    @pytest.mark.parametrize(
        "content",
        [
            pytest.param(b"[ram_bandwidth\ngbps = ", id="not-toml"),
            pytest.param(b"\xff\xfe\x00garbage", id="not-utf8"),
            pytest.param(b"title = 'no table'\n", id="no-table"),
            pytest.param(b"[ram_bandwidth]\nram_bandwidth_gbps = 'fast'\n", id="wrong-type"),
            pytest.param(
                b'[ram_bandwidth]\nram_bandwidth_gbps = -5.0\nthreads = 2\ncpu_model = "Test CPU 9000"\n'
                b'physical_cores = 16\nmeasured_on = "2026-11-26"\n',
                id="negative-bandwidth",
            ),
        ],
    )
    def test_a_corrupt_file_is_ignored_with_a_note(self, cache: Path, content: bytes) -> None:
        cache.parent.mkdir(parents=True)
        cache.write_bytes(content)
        detection = cpu_box(cache)
        assert detection.spec.ram_bandwidth_gbps == DEFAULT_HOST_RAM_BANDWIDTH_GBPS
        assert any(note.startswith(f"{cache} ignored") for note in detection.notes)

    def test_an_unreadable_path_is_ignored_with_a_note(self, cache: Path) -> None:
        cache.mkdir(parents=True)  # a folder where the file should be: reading it raises an OSError
        detection = cpu_box(cache)
        assert detection.spec.ram_bandwidth_gbps == DEFAULT_HOST_RAM_BANDWIDTH_GBPS
        assert any("cannot be read" in note for note in detection.notes)


class TestAppleKeepsItsProfile:
    def test_m3_max_keeps_400_gbps_and_names_the_unused_measurement(self, cache: Path) -> None:
        # On a recorded Mac the host probe is this Linux box's, so label the measurement with it.
        host = probe_host()
        save_measurement(
            dataclasses.replace(MEASURED, cpu_model=host.cpu_model, physical_cores=host.physical_cores), cache
        )
        detection = detect_hardware(
            M3_MAX,
            system="darwin",
            apple_runner=recorded_mac("m3-max"),
            mlx_info=recorded_mlx("m3-max"),
            host=host,
            measurement_file=cache,
        )
        assert detection.spec.ram_bandwidth_gbps == 400.0
        source = detection.spec.source("ram_bandwidth_gbps")
        assert source.startswith("profile m3-max-40c-48gb") and "not the 95 GB/s measured" in source
        assert "Apple Silicon" in source
        assert not any("--measure" in note for note in detection.notes)
