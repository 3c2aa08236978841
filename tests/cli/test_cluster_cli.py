"""`tuilab fit --hosts`, `tuilab run --hostfile` as a user runs them; host lists and hostfiles."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tuilab.cli import main
from tuilab.core.errors import UsageError
from tuilab.models.hosts import check_hostfile_addresses, hostfile_hosts, parse_hosts, read_hostfile
from tuilab.models.tiny import TinyModels


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


class TestHostLists:
    @pytest.mark.parametrize(
        ("text", "names"),
        [
            ("2x m3-max-40c-64gb", ["m3-max-40c-64gb#1", "m3-max-40c-64gb#2"]),
            ("m3-max-40c-64gb,m2-ultra-76c-192gb", ["m3-max-40c-64gb", "m2-ultra-76c-192gb"]),
            ("m4-10c-16gb, 2x m3-max-40c-64gb", ["m4-10c-16gb", "m3-max-40c-64gb#1", "m3-max-40c-64gb#2"]),
        ],
    )
    def test_profiles_and_repeats_become_named_hosts(self, text: str, names: list[str]) -> None:
        assert [h.name for h in parse_hosts(text)] == names

    @pytest.mark.parametrize("text", ["", "a,,b", "0x m3-max-40c-64gb", "2x no-such-mac"])
    def test_bad_lists_are_usage_errors(self, text: str) -> None:
        with pytest.raises(UsageError):
            parse_hosts(text)


class TestHostfiles:
    def test_mlx_launch_format_with_profiles(self, tmp_path: Path) -> None:
        path = tmp_path / "h.json"
        hosts = [
            {"ssh": f"studio-{i}", "ips": [f"10.0.0.{i}"], "profile": "m2-ultra-76c-192gb"} for i in (1, 2)
        ]
        path.write_text(json.dumps({"backend": "ring", "envs": [], "hosts": hosts}))
        hf = read_hostfile(path)
        assert hf.backend == "ring" and [h.ssh for h in hf.hosts] == ["studio-1", "studio-2"]
        assert [h.name for h in hostfile_hosts(hf)] == ["studio-1", "studio-2"]

    @pytest.mark.parametrize(
        ("content", "problem"),
        [("{not json", "not JSON"), ("[]", "list of hosts"), ('[{"ips": []}]', "'ssh'"),
         ('[{"ssh": "a", "ips": "1.2.3.4"}]', "'ips'")],
    )  # fmt: skip
    def test_broken_hostfiles_say_what_is_wrong(self, tmp_path: Path, content: str, problem: str) -> None:
        path = tmp_path / "h.json"
        path.write_text(content)
        with pytest.raises(UsageError, match=problem):
            read_hostfile(path)

    def test_planning_needs_a_profile_per_host(self, tmp_path: Path) -> None:
        path = tmp_path / "h.json"
        path.write_text(json.dumps([{"ssh": "studio-1"}]))
        with pytest.raises(UsageError, match="no 'profile' for studio-1"):
            hostfile_hosts(read_hostfile(path))


class TestFitAcrossHosts:
    def test_json_has_hosts_verdict_and_link_basis(self, capsys: pytest.CaptureFixture[str]) -> None:
        code, out, _ = run_cli(
            capsys, "fit", "llama-3-70b", "--quant", "mlx-8bit", "--hosts", "2x m3-max-40c-64gb", "--json"
        )
        d = json.loads(out)
        assert code == 0 and d["verdict"] == "fits" and d["single_host"]["verdict"] == "no_fit"
        assert [h["shard"] for h in d["hosts"]] == ["1/2", "1/2"]
        assert d["predicted_tg_tps"] > 0 and "Thunderbolt 4" in d["basis"]["link"]

    def test_table_shows_each_host(self, capsys: pytest.CaptureFixture[str]) -> None:
        code, out, _ = run_cli(capsys, "fit", "llama-3-8b", "--quant", "mlx-4bit", "--hosts",
                               "m3-max-40c-64gb,m2-ultra-76c-192gb", "--link", "tb5")  # fmt: skip
        assert code == 0 and "single over 1 host" in out and "unused: m2-ultra-76c-192gb" in out

    def test_a_llama_cpp_engine_is_refused(self, capsys: pytest.CaptureFixture[str]) -> None:
        code, _, err = run_cli(
            capsys, "fit", "llama-3-8b", "--engine", "llama.cpp", "--hosts", "2x m4-10c-16gb"
        )
        assert code == 2 and "MLX distributed" in err


class TestRunAcrossHosts:
    def test_loopback_run_streams_text_and_stats(
        self, capsys: pytest.CaptureFixture[str], tiny_models: TinyModels, tmp_path: Path
    ) -> None:
        pytest.importorskip("mlx_lm")
        path = tmp_path / "h.json"
        path.write_text(json.dumps([{"ssh": "127.0.0.1", "ips": ["127.0.0.1"]}] * 2))
        code, out, err = run_cli(capsys, "run", str(tiny_models.mlx_dir), "--hostfile", str(path),
                                 "--max-tokens", "8", "--json")  # fmt: skip
        result = json.loads(out.strip().splitlines()[-1])
        assert code == 0 and result["gen_tokens"] == 8 and result["hosts"] == ["127.0.0.1", "127.0.0.1"]
        assert "mlx distributed" in err and "without a fit check" in err

    def test_a_llama_cpp_kv_type_is_refused_before_anything_starts(
        self, capsys: pytest.CaptureFixture[str], tiny_models: TinyModels, tmp_path: Path
    ) -> None:
        path = tmp_path / "h.json"
        path.write_text(json.dumps([{"ssh": "127.0.0.1", "ips": ["127.0.0.1"]}] * 2))
        code, _, err = run_cli(capsys, "run", str(tiny_models.mlx_dir), "--hostfile", str(path),
                               "--kv-type", "q8_0")  # fmt: skip
        assert code == 2 and "q8_0" in err and "mlx-kv8" in err


class TestHostfileAddressesAreCheckedUpFront:
    """mlx.launch's ring backend refuses a host without "ips" (mlx/_distributed_utils/launch.py,
    launch_ring); tuilab says so before starting anything, naming the hosts."""

    def test_a_ring_host_without_an_ip_is_refused_naming_it(
        self, capsys: pytest.CaptureFixture[str], tiny_models: TinyModels, tmp_path: Path
    ) -> None:
        path = tmp_path / "h.json"
        hosts = [{"ssh": "studio-1", "ips": ["10.0.0.1"]}, {"ssh": "studio-2"}]
        path.write_text(json.dumps({"backend": "ring", "hosts": hosts}))
        code, _, err = run_cli(capsys, "run", str(tiny_models.mlx_dir), "--hostfile", str(path))
        assert code == 2 and "studio-2" in err and "studio-1" not in err and "IP address" in err

    def test_nccl_needs_only_rank_0s_address(self, tmp_path: Path) -> None:
        path = tmp_path / "h.json"
        path.write_text(json.dumps([{"ssh": "a", "ips": ["10.0.0.1"]}, {"ssh": "b"}]))
        check_hostfile_addresses(read_hostfile(path), "nccl")  # no error: rank 0 has one
        with pytest.raises(UsageError, match="every host"):
            check_hostfile_addresses(read_hostfile(path), "ring")
