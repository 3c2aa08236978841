"""The host probe, for real: it must agree with psutil on this machine."""

from __future__ import annotations

from pathlib import Path

import psutil

from tuilab.hardware.host import _cpuinfo_model, probe_host


class TestHostProbe:
    def test_agrees_with_psutil(self) -> None:
        host = probe_host()
        assert host.ram_total_bytes == psutil.virtual_memory().total
        assert host.logical_cores == psutil.cpu_count(logical=True)
        assert host.physical_cores == (psutil.cpu_count(logical=False) or psutil.cpu_count())
        assert 0 < host.ram_available_bytes <= host.ram_total_bytes
        assert 0 <= host.swap_used_bytes <= max(host.swap_total_bytes, host.swap_used_bytes)

    def test_names_the_cpu(self) -> None:
        assert probe_host().cpu_model.strip()


class TestCpuinfo:
    def test_reads_model_name(self, tmp_path: Path) -> None:
        path = tmp_path / "cpuinfo"
        path.write_text("processor\t: 0\nmodel name\t: AMD Ryzen 9 7950X 16-Core Processor\n")
        assert _cpuinfo_model(path) == "AMD Ryzen 9 7950X 16-Core Processor"

    def test_missing_file_is_no_name(self, tmp_path: Path) -> None:
        assert _cpuinfo_model(tmp_path / "absent") is None
