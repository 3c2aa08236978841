"""`tuilab bench`: the Markdown table, the --json shape, and clean errors for inputs it cannot use."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tuilab.cli import main
from tuilab.models.tiny import TinyModels

RUNG_KEYS = {"quant", "file_bytes", "peak_memory_bytes", "predicted_memory_bytes", "pp_tps", "tg_tps", "ppl",
             "kld", "probes_passed"}  # fmt: skip
FAST = ["--ctx", "64", "--windows", "2", "--trials", "1", "--gen-tokens", "4"]


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TUILAB_HOME", str(tmp_path / "home"))
    return tmp_path


@pytest.mark.llama
class TestBenchOutput:
    @pytest.fixture(autouse=True)
    def _needs_llama(self) -> None:
        pytest.importorskip("llama_cpp")

    def test_json_has_one_object_per_rung_with_the_issue_keys(
        self, tiny_models: TinyModels, capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert main(["bench", str(tiny_models.gguf_f16), "--quants", "F16,Q4_K_M", "--json", *FAST]) == 0
        out, err = capsys.readouterr()
        result = json.loads(out)
        assert [r["quant"] for r in result["rungs"]] == ["F16", "Q4_K_M"]
        for rung in result["rungs"]:
            assert set(rung) >= RUNG_KEYS
        assert "sweet_spot" in result
        assert "[1/2] F16: speed" in err  # progress goes to stderr

    def test_the_table_has_the_study_columns_and_probes_run_at_a_longer_context(
        self, tiny_models: TinyModels, capsys: pytest.CaptureFixture[str]
    ) -> None:
        args = ["bench", str(tiny_models.gguf_f16), "--quants", "F16", "--ctx", "256", "--windows", "1",
                "--trials", "1", "--gen-tokens", "4"]  # fmt: skip
        assert main(args) == 0
        out = capsys.readouterr().out
        assert "| Quant | Memory | Tokens/s | Perplexity | KLD | Probes |" in out
        assert "/4 |" in out  # four probes ran; a random model passes none


class TestBenchRefuses:
    def test_a_corrupt_model_file_is_a_clear_error_and_a_nonzero_exit(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        bad = tmp_path / "broken.gguf"
        bad.write_bytes(b"GGUF" + b"\x00" * 20)
        code = main(["bench", str(bad), *FAST])
        err = capsys.readouterr().err
        assert code != 0
        assert "broken.gguf" in err and "Traceback" not in err

    def test_an_unknown_quant_names_close_matches(
        self, tiny_models: TinyModels, capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert main(["bench", str(tiny_models.gguf_f16), "--quants", "Q4_KM", *FAST]) == 2
        assert "did you mean" in capsys.readouterr().err
