"""`tuilab hw --record` / `--replay`: recorded probe outputs answered back through the real probes.

The Mac folders in fixtures/replay are reconstructed around recorded public values (fixtures/replay/
README.md); the round trip on this Linux box records and replays this machine for real.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tuilab.cli import main
from tuilab.core.errors import UsageError
from tuilab.core.hardware import GIB, default_wired_limit_bytes
from tuilab.hardware.apple import parse_sysctl, probe_apple
from tuilab.hardware.detect import Detection, detect_replay
from tuilab.hardware.record import load_replay, record_machine
from tuilab.models.profiles import match_hardware_profile

REPLAY = Path(__file__).parent / "fixtures" / "replay"


def replayed(name: str) -> Detection:
    return detect_replay(REPLAY / name, match_hardware_profile)


class TestMacOS13SysctlStopsAtAnUnknownKey:
    FOLDER = REPLAY / "macos13-m2-pro-16gb"

    def test_the_recording_reproduces_the_stop(self) -> None:
        first = json.loads((self.FOLDER / "commands.json").read_text())[0]
        assert "unknown oid 'iogpu.wired_limit_mb'" in first["stderr"]
        assert "vm.swapusage" in first["argv"] and "vm.swapusage" not in parse_sysctl(first["stdout"])

    def test_keys_after_the_unknown_one_are_still_read(self) -> None:
        detection = replayed("macos13-m2-pro-16gb")
        assert detection.apple is not None and detection.apple.memory is not None
        assert detection.apple.memory.swap_used_bytes == 512 * 2**20
        assert detection.apple.memory.pressure == "warn"
        assert any("memory pressure is warn" in w for w in detection.warnings)
        assert detection.apple.macos_version == "13.6.7"

    def test_the_missing_wired_limit_key_is_named_not_raised(self) -> None:
        wired = replayed("macos13-m2-pro-16gb").apple.wired_limit  # type: ignore[union-attr]
        assert wired is not None and wired.is_default and "iogpu.wired_limit_mb missing" in wired.source


class TestAnMlxWithoutDeviceInfo:
    def test_mlx_0_29_answers_through_mx_metal(self) -> None:
        replay = load_replay(REPLAY / "macos13-m2-pro-16gb")
        assert replay.mlx_info() == json.loads((replay.folder / "mlx.json").read_text())["metal_device_info"]
        wired = replayed("macos13-m2-pro-16gb").apple.wired_limit  # type: ignore[union-attr]
        assert wired is not None and wired.limit_bytes == 11453251584
        assert "MLX max_recommended_working_set_size" in wired.source

    def test_without_mlx_macos_13_uses_the_old_two_thirds(self) -> None:
        replay = load_replay(REPLAY / "macos13-m2-pro-16gb")
        wired = probe_apple(replay.runner, lambda: None).wired_limit
        assert wired is not None and wired.limit_bytes == int(16 * GIB * 2 / 3)
        assert "macOS 13" in wired.source


WORKING_SETS = [
    pytest.param("ws-16gb-m4-macos15", 16, 16 * GIB * 2 // 3, id="16GB"),
    pytest.param("ws-32gb-m2-max", 32, 26_800_600_000, id="32GB"),
    pytest.param("ws-48gb-m4-pro", 48, 40_200_900_000, id="48GB"),
    pytest.param("ws-64gb-m3-max", 64, 55_662_790_000, id="64GB"),
    pytest.param("ws-128gb-m5-max-macos26", 128, 115_448_730_000, id="128GB"),
]


class TestRecentMacOSWorkingSets:
    @pytest.mark.parametrize(("folder", "ram_gib", "working_set"), WORKING_SETS)
    def test_mlx_reading_with_the_sysctl_at_0_is_the_os_default(
        self, folder: str, ram_gib: int, working_set: int
    ) -> None:
        spec = replayed(folder).spec
        assert spec.ram_bytes == ram_gib * GIB
        assert spec.wired_limit_bytes == working_set
        assert spec.wired_limit_is_default  # not "raised": iogpu.wired_limit_mb reads 0
        assert "macOS default" in spec.source("wired_limit_bytes")

    @pytest.mark.parametrize(("folder", "ram_gib", "working_set"), WORKING_SETS)
    def test_without_mlx_the_estimate_matches_the_reading(
        self, folder: str, ram_gib: int, working_set: int
    ) -> None:
        replay = load_replay(REPLAY / folder)
        wired = probe_apple(replay.runner, lambda: None).wired_limit
        assert wired is not None and wired.is_default
        assert abs(wired.limit_bytes - working_set) <= 1e-3 * working_set

    def test_the_old_rule_would_have_refused_what_fits(self) -> None:
        # 48 GiB: the old 3/4 rule gave 36 GiB, 1.4 GiB under what macOS 15 grants (issue 14's false no-fits)
        assert default_wired_limit_bytes(48 * GIB, macos_major=14) == 36 * GIB
        assert default_wired_limit_bytes(48 * GIB) - 36 * GIB > 1.4 * GIB

    @pytest.mark.parametrize("ram_gib", [24, 36, 96, 192])
    def test_sizes_without_a_reading_are_interpolated_between_neighbours(self, ram_gib: int) -> None:
        fraction = default_wired_limit_bytes(ram_gib * GIB) / (ram_gib * GIB)
        assert 2 / 3 <= fraction <= 0.84 + 1e-6


class TestPerformanceLevels:
    def test_m5_max_has_super_and_performance_cores_and_no_efficiency_ones(self) -> None:
        apple = replayed("ws-128gb-m5-max-macos26").apple
        assert apple is not None
        assert [(lv.name, lv.physical_cores) for lv in apple.perf_levels] == [
            ("Super", 6),
            ("Performance", 12),
        ]
        assert (apple.performance_cores, apple.efficiency_cores, apple.cpu_cores) == (18, 0, 18)

    def test_three_levels_are_all_counted(self) -> None:
        detection = replayed("three-perf-levels")
        assert detection.apple is not None
        assert [lv.name for lv in detection.apple.perf_levels] == ["Super", "Performance", "Efficiency"]
        assert detection.spec.cpu_cores == 14
        assert (detection.apple.performance_cores, detection.apple.efficiency_cores) == (10, 4)


class TestPsutilRaising:
    def test_detection_goes_on_from_the_macs_own_readings(self) -> None:
        detection = replayed("ws-128gb-m5-max-macos26")
        assert "virtual_memory" in detection.host.unknown
        assert "RuntimeError" in detection.host.unknown["virtual_memory"]
        assert detection.spec.ram_bytes == 128 * GIB  # from sysctl hw.memsize, not psutil
        assert detection.spec.ram_available_bytes > 0  # from vm_stat
        assert any("psutil.virtual_memory() failed" in note for note in detection.notes)


class TestRoundTripOnThisMachine:
    def test_record_then_replay_gives_the_same_machine(self, tmp_path: Path) -> None:
        record_machine(tmp_path / "rec")
        names = sorted(p.name for p in (tmp_path / "rec").iterdir())
        assert {"machine.json", "commands.json", "psutil.json"} <= set(names)
        detection = detect_replay(tmp_path / "rec", match_hardware_profile)
        recorded = json.loads((tmp_path / "rec" / "psutil.json").read_text())
        assert detection.spec.ram_bytes == recorded["virtual_memory"]["total"]
        assert detection.host.logical_cores == recorded["cpu_count_logical"]

    def test_hw_record_and_replay_on_the_command_line(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert main(["hw", "--record", str(tmp_path / "r"), "--json"]) == 0
        recorded = json.loads(capsys.readouterr().out)
        assert main(["hw", "--replay", str(tmp_path / "r"), "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["machine"]["ram_bytes"] == recorded["machine"]["ram_bytes"]

    def test_fit_answers_as_the_recorded_mac(self, capsys: pytest.CaptureFixture[str]) -> None:
        folder = str(REPLAY / "ws-48gb-m4-pro")
        assert main(["fit", "llama-3-8b", "--hw-replay", folder, "--json"]) == 0
        assert "Apple M4 Pro" in json.loads(capsys.readouterr().out)["hardware"]


class TestBadReplayFolders:
    def test_a_missing_folder_is_one_line_and_exit_2(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert main(["hw", "--replay", str(tmp_path / "nope")]) == 2
        assert "no such folder" in capsys.readouterr().err

    def test_a_folder_that_is_no_recording_is_refused(self, tmp_path: Path) -> None:
        with pytest.raises(UsageError, match=r"machine\.json"):
            load_replay(tmp_path)
