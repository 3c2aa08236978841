"""`tuilab hw`: the real command on this machine, and the recorded Macs and GPUs through real profiles."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import tomllib
from pathlib import Path
from types import ModuleType

import psutil
import pytest

from tuilab.cli import main
from tuilab.cli.hw import render, report_dict
from tuilab.core.hardware import GIB, Platform
from tuilab.hardware.detect import detect_hardware
from tuilab.lab.machine import machine_spec
from tuilab.models.profiles import match_hardware_profile

ROOT = Path(__file__).resolve().parents[2]


def _recorded() -> ModuleType:
    """tests/hardware/recorded.py: the stand-ins built from recorded Mac and nvidia-smi outputs."""
    spec = importlib.util.spec_from_file_location(
        "tuilab_tests_recorded", ROOT / "tests/hardware/recorded.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


recorded = _recorded()


def tuilab(*args: str, timeout_s: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tuilab", *args], capture_output=True, text=True, cwd=ROOT, timeout=timeout_s
    )


class TestThisMachineJson:
    def test_reports_ram_and_cores_like_psutil(self) -> None:
        # Its speed goal (under 2 s) is shown by scripts/bench_startup.py, not timed here.
        done = tuilab("hw", "--json")
        assert done.returncode == 0, done.stderr
        report = json.loads(done.stdout)
        assert report["machine"]["ram_bytes"] == psutil.virtual_memory().total
        assert report["machine"]["cpu_cores"] == (psutil.cpu_count(logical=False) or psutil.cpu_count())
        assert report["readings"]["host"]["logical_cores"] == psutil.cpu_count()

    def test_every_budget_has_a_source(self) -> None:
        report = json.loads(tuilab("hw", "--json").stdout)
        assert report["budgets"] and all(b["source"] and b["budget_bytes"] >= 0 for b in report["budgets"])
        assert {"ram_bytes", "ram_available_bytes", "ram_bandwidth_gbps", "cpu_cores"} <= set(
            report["sources"]
        )


class TestHumanTable:
    def test_machine_budgets_and_notes(self) -> None:
        done = tuilab("hw")
        assert done.returncode == 0, done.stderr
        lines = done.stdout.splitlines()
        assert lines[0].startswith("Machine: ")
        assert "Budget per engine" in lines
        header = next(line for line in lines if line.strip().startswith("engine"))
        cpu_row = next(line for line in lines if line.strip().startswith("llama.cpp") and " CPU " in line)
        assert cpu_row.index(" GB") < len(header) and header.index("budget") <= cpu_row.index(" GB")

    def test_recorded_m3_max_through_the_real_profiles(self) -> None:
        detection = detect_hardware(
            match_hardware_profile,
            system="darwin",
            apple_runner=recorded.recorded_mac("m3-max"),
            mlx_info=lambda: None,
        )
        text = render(report_dict(detection.spec, detection, None))
        assert "profile m3-max-40c-48gb" in text.splitlines()[0]
        wired_row = next(line for line in text.splitlines() if line.strip().startswith("wired limit"))
        assert "400 GB/s" in text and "37.4 GiB" in wired_row and "default:" in wired_row
        gpu_memory_row = next(line for line in text.splitlines() if line.strip().startswith("memory"))
        assert gpu_memory_row.rstrip().endswith("sysctl hw.memsize")  # its source, not "unknown"
        assert any(line.split()[:3] == ["mlx", "Metal", "(wired)"] for line in text.splitlines())


class TestRealProfilesFillTheGaps:
    def test_m3_max_48gb_matches_its_profile_with_400_gbps(self) -> None:
        detection = detect_hardware(
            match_hardware_profile,
            system="darwin",
            apple_runner=recorded.recorded_mac("m3-max"),
            mlx_info=lambda: None,
        )
        assert detection.profile_name == "m3-max-40c-48gb"
        assert detection.spec.ram_bandwidth_gbps == 400.0
        assert detection.spec.wired_limit_bytes == 40_200_900_000
        assert "apple.com" in detection.spec.source("ram_bandwidth_gbps")

    def test_rtx_3060_matches_its_profile_and_keeps_its_measured_360_gbps(self) -> None:
        detection = detect_hardware(
            match_hardware_profile, system="linux", nvml=recorded.RecordedNVML("rtx-3060")
        )
        assert detection.profile_name == "rtx-3060-12gb"
        gpu = detection.spec.gpus[0]
        assert (gpu.memory_bytes, round(gpu.bandwidth_gbps)) == (12 * GIB, 360)
        assert gpu.fp16_tflops == pytest.approx(50.9)

    def test_h100_without_memory_clock_takes_the_profiles_bandwidth(self) -> None:
        nvml = recorded.RecordedNVML("h100-sxm", broken=["nvmlDeviceGetMaxClockInfo"])
        detection = detect_hardware(match_hardware_profile, system="linux", nvml=nvml)
        assert detection.profile_name == "h100-sxm-80gb"
        assert detection.spec.gpus[0].bandwidth_gbps > 3000
        assert "Not Supported" in detection.spec.source("gpu0.bandwidth_gbps")


class TestProfiles:
    def test_profile_flag_shows_the_profile(self, capsys: pytest.CaptureFixture[str]) -> None:
        assert main(["hw", "--profile", "rtx-3060-12gb", "--json"]) == 0
        report = json.loads(capsys.readouterr().out)
        assert report["machine"]["is_profile"] and report["profile"] == "rtx-3060-12gb"
        assert report["budgets"][0]["device"] == "GPU 0 NVIDIA GeForce RTX 3060"

    def test_a_profiles_gpu_rows_name_their_sources(self, capsys: pytest.CaptureFixture[str]) -> None:
        assert main(["hw", "--profile", "rtx-3060-12gb"]) == 0
        rows = [
            line
            for line in capsys.readouterr().out.splitlines()
            if line.split()[:1] in (["memory"], ["free"])
        ]
        assert len(rows) == 2 and all("rtx-3060-12gb.toml" in row for row in rows)

    def test_unknown_profile_exits_2_with_did_you_mean(self) -> None:
        done = tuilab("hw", "--profile", "m3-max-40c-48g")
        assert done.returncode == 2
        assert "did you mean 'm3-max-40c-48gb'" in done.stderr and "Traceback" not in done.stderr

    def test_machine_spec_is_this_machine_or_the_profile(self) -> None:
        assert machine_spec(None).ram_bytes == psutil.virtual_memory().total
        assert machine_spec("m3-max-40c-48gb").platform is Platform.APPLE


class TestWatch:
    def test_prints_live_lines(self) -> None:
        done = tuilab("hw", "--watch", "--count", "2", "--interval", "0.2")
        assert done.returncode == 0, done.stderr
        lines = done.stdout.splitlines()
        assert len(lines) == 2 and all("RAM " in line and "swap" in line for line in lines)

    def test_ctrl_c_exits_0_without_traceback(self) -> None:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tuilab", "hw", "--watch", "--interval", "0.2"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        assert proc.stdout is not None
        first = proc.stdout.readline()
        os.kill(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=10)
        assert "RAM " in first
        assert proc.returncode == 0 and "Traceback" not in err


class TestWatchOptionsAreChecked:
    """Issue 12 item 3: `--interval -1` gave a ValueError traceback and `--count -1` ran forever."""

    @pytest.mark.parametrize(
        ("args", "named"),
        [
            pytest.param(["--interval", "-1"], "--interval", id="negative-interval"),
            pytest.param(["--interval", "0"], "--interval", id="zero-interval"),
            pytest.param(["--interval", "nan"], "--interval", id="nan-interval"),
            pytest.param(["--count", "-1"], "--count", id="negative-count"),
        ],
    )
    def test_bad_values_exit_2_with_one_line(
        self, args: list[str], named: str, capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert main(["hw", "--watch", *args]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and named in err and "Traceback" not in err


def tuilab_in(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`tuilab ARGS` with its own TUILAB_HOME, so a saved measurement stays out of the other tests."""
    env = {**os.environ, "TUILAB_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "tuilab", *args], capture_output=True, text=True, cwd=ROOT, env=env, timeout=60
    )


class TestMeasure:
    def test_measure_json_writes_the_cache_and_reports_the_measured_value(self, tmp_path: Path) -> None:
        done = tuilab_in(tmp_path, "hw", "--measure", "--json")
        assert done.returncode == 0, done.stderr
        report = json.loads(done.stdout)
        cached = tomllib.loads((tmp_path / "config" / "measured.toml").read_text())["ram_bandwidth"]
        assert 1.0 < cached["ram_bandwidth_gbps"] < 1000.0
        assert report["measured"]["ram_bandwidth_gbps"] == cached["ram_bandwidth_gbps"]
        if report["machine"]["platform"] != "apple":
            assert report["machine"]["ram_bandwidth_gbps"] == cached["ram_bandwidth_gbps"]
            assert report["sources"]["ram_bandwidth_gbps"].startswith("measured: tuilab hw --measure on ")
        assert "GB/s" in done.stderr and "measured.toml" in done.stderr

    def test_later_runs_use_the_measurement_without_numpy(self, tmp_path: Path) -> None:
        assert tuilab_in(tmp_path, "hw", "--measure").returncode == 0
        code = (
            "import json, sys; from tuilab.lab.machine import detect; d = detect(); "
            "print(json.dumps([d.spec.source('ram_bandwidth_gbps'), list(d.notes), 'numpy' in sys.modules]))"
        )
        env = {**os.environ, "TUILAB_HOME": str(tmp_path)}
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
        )
        source, notes, numpy_loaded = json.loads(out.stdout)
        assert not numpy_loaded
        if machine_spec(None).platform is not Platform.APPLE:
            assert source.startswith("measured:") and not any("--measure" in n for n in notes)

    def test_without_a_measurement_the_notes_say_how_to_measure(self, tmp_path: Path) -> None:
        report = json.loads(tuilab_in(tmp_path, "hw", "--json").stdout)
        if report["machine"]["platform"] != "apple":
            assert any("tuilab hw --measure" in note for note in report["notes"])

    @pytest.mark.parametrize(
        "other",
        [pytest.param(["--watch"], id="watch"), pytest.param(["--profile", "rtx-3060-12gb"], id="profile")],
    )
    def test_measure_with_watch_or_profile_is_a_usage_error(self, tmp_path: Path, other: list[str]) -> None:
        done = tuilab_in(tmp_path, "hw", "--measure", *other)
        assert done.returncode == 2 and "--measure" in done.stderr and "Traceback" not in done.stderr
        assert not (tmp_path / "config" / "measured.toml").exists()
