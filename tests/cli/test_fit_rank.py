"""`tuilab fit --rank` as a user runs it: the JSON list, the table, the options, clean errors, headless."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tuilab.cli import main
from tuilab.core.quant import nominal_bits, parse_quant
from tuilab.models import profiles
from tuilab.models.catalog import find_catalog_entry

PLAN_KEYS = {
    "weights_bytes",
    "device_bytes",
    "verdict",
    "max_ctx",
    "predicted_tg_tps",
    "basis",
    "ctx",
    "engine",
}


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def ranked(capsys: pytest.CaptureFixture[str], *argv: str) -> list[dict[str, object]]:
    code, out, err = run_cli(capsys, "fit", "--rank", "--json", *argv)
    assert code == 0, err
    rows: list[dict[str, object]] = json.loads(out)
    return rows


class TestJson:
    def test_a_list_of_fit_objects_with_model_and_quant(self, capsys: pytest.CaptureFixture[str]) -> None:
        rows = ranked(capsys, "--hardware", "rtx-3060-12gb")
        assert len(rows) >= 30
        for row in rows:
            assert row.keys() >= PLAN_KEYS | {"model", "quant"}
            assert row["verdict"] in ("fits", "tight") and row["engine"] == "llama.cpp"
            assert nominal_bits(parse_quant(str(row["quant"]))) >= 4
        names = [r["model"] for r in rows]
        assert "qwen2.5-7b-instruct" in names and "llama-3.1-70b-instruct" not in names

    def test_sorted_by_parameters_largest_first(self, capsys: pytest.CaptureFixture[str]) -> None:
        rows = ranked(capsys, "--hardware", "rtx-4090-24gb")
        params = [(find_catalog_entry(str(r["model"])) or pytest.fail(str(r))).arch().n_params for r in rows]
        assert params == sorted(params, reverse=True) and params[0] > 2 * params[-1]

    def test_min_tps_and_ctx_are_honoured(self, capsys: pytest.CaptureFixture[str]) -> None:
        rows = ranked(capsys, "--hardware", "m3-max-40c-48gb", "--ctx", "16384", "--min-tps", "40")
        assert rows and all(float(str(r["predicted_tg_tps"])) >= 40 for r in rows)
        assert all(r["engine"] == "mlx" for r in rows)  # a Mac ranks for MLX unless --engine says otherwise
        assert all(int(str(r["ctx"])) <= 16384 for r in rows)
        llama = ranked(capsys, "--hardware", "m3-max-40c-48gb", "--engine", "llama.cpp")
        assert all(r["engine"] == "llama.cpp" for r in llama)

    def test_the_footer_says_which_speed_the_others_missed(self, capsys: pytest.CaptureFixture[str]) -> None:
        code, out, _ = run_cli(capsys, "fit", "--rank", "--hardware", "rtx-3070-8gb", "--min-tps", "100000")
        assert code == 0
        assert "fit at no quant or only below 100000 tok/s" in out.splitlines()[-3]

    def test_a_bigger_machine_runs_more_of_the_catalog(self, capsys: pytest.CaptureFixture[str]) -> None:
        small, big = ranked(capsys, "--hardware", "rtx-3070-8gb"), ranked(capsys, "--hardware", "h200-141gb")
        assert len(big) > len(small)


class TestTable:
    def test_one_row_per_model_and_the_rule_in_words(self, capsys: pytest.CaptureFixture[str]) -> None:
        code, out, _ = run_cli(capsys, "fit", "--rank", "--hardware", "rtx-3060-12gb")
        assert code == 0
        assert (
            "catalog models that run on NVIDIA GeForce RTX 3060 12 GB (profile), llama.cpp, ctx 4096" in out
        )
        assert "sorted by parameters, then bits, then tok/s" in out
        assert "have an architecture not planned yet" in out


class TestCleanErrors:
    @pytest.mark.parametrize(
        ("argv", "message"),
        [
            (["fit", "--rank", "qwen2.5-7b-instruct"], "--rank takes no MODEL"),
            (["fit", "--rank", "--min-tps", "-1"], "--min-tps must be 0 or more"),
            (["fit"], "fit needs a MODEL"),
        ],
        ids=["rank-with-model", "negative-min-tps", "no-model"],
    )
    def test_exit_2_with_one_line(
        self, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
    ) -> None:
        code, _, err = run_cli(capsys, *argv, "--hardware", "rtx-3060-12gb")
        assert code == 2
        assert message in err and err.strip().count("\n") == 0


class TestHeadless:
    def test_rank_imports_no_ui_or_engine(self) -> None:
        code = (
            "import sys; from tuilab.cli import main; "
            "rc = main(['fit', '--rank', '--hardware', 'rtx-3060-12gb', '--json']); "
            "heavy = [m for m in ('textual', 'mlx', 'mlx_lm', 'llama_cpp', 'huggingface_hub', 'numpy') "
            "if m in sys.modules]; print('HEAVY', heavy, file=sys.stderr); sys.exit(rc or bool(heavy))"
        )
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        assert "HEAVY []" in proc.stderr


class TestWithoutAGpu:
    def test_the_device_column_is_ram_and_the_plans_fit_in_it(
        self, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("TUILAB_HOME", str(tmp_path))
        path = profiles.user_profiles_dir() / "hardware" / "cpu-box.toml"
        path.parent.mkdir(parents=True)
        path.write_text(
            'display_name = "CPU box"\nplatform = "cpu"\n[memory]\nram_gib = 32\nram_bandwidth_gbps = 51.2\n'
            "[cpu]\ncores = 8\n"
        )
        code, out, err = run_cli(capsys, "fit", "--rank", "--hardware", "cpu-box", "--min-tps", "5")
        assert code == 0, err
        first = out.splitlines()[4].split()
        assert float(first[5]) > 1.0  # GB in RAM, not the 0.00 a GPU column would show
        rows = ranked(capsys, "--hardware", "cpu-box", "--min-tps", "5")
        assert rows and all(r["engine"] == "llama.cpp" and int(str(r["host_bytes"])) > 0 for r in rows)
