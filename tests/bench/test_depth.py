"""Speed at depth on the tiny generated model with the real llama.cpp engine: every depth is measured
beside its prediction, a finished depth is kept and not measured again, and a depth the model's context
cannot hold is refused in one line. (The MLX worker runs the same code; mlx-lm is not on this Linux box.)
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tuilab.bench.depth import DepthOptions, history_path, parse_depths, read_history, run_depths
from tuilab.cli import main
from tuilab.core.errors import UsageError
from tuilab.core.hardware import HardwareSpec
from tuilab.hardware.detect import detect_hardware
from tuilab.models.tiny import TinyModels

DEPTH_KEYS = {"depth", "pp_tps", "tg_tps", "ttft_s", "peak_memory_bytes", "predicted_pp_tps",
              "predicted_tg_tps", "predicted_ttft_s"}  # fmt: skip


def fast(*depths: int) -> DepthOptions:
    return DepthOptions(depths=depths, chunk_tokens=64, gen_tokens=8)


@pytest.fixture(scope="module")
def hw() -> HardwareSpec:
    return detect_hardware().spec


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TUILAB_HOME", str(tmp_path / "home"))
    return tmp_path


class TestParseDepths:
    def test_any_comma_list_sorted_without_duplicates(self) -> None:
        assert parse_depths("4096, 0,4096,16384") == (0, 4096, 16384)

    @pytest.mark.parametrize("text", ["", "a,1", "-1,0", "1.5"])
    def test_bad_lists_are_usage_errors(self, text: str) -> None:
        with pytest.raises(UsageError, match="--depths"):
            parse_depths(text)


@pytest.mark.llama
class TestDepthRun:
    @pytest.fixture(autouse=True)
    def _needs_llama(self) -> None:
        pytest.importorskip("llama_cpp")

    def test_each_depth_is_measured_beside_its_prediction(
        self, tiny_models: TinyModels, hw: HardwareSpec
    ) -> None:
        run = run_depths(str(tiny_models.gguf_f16), hw, fast(0, 256, 1024))
        assert [p.depth for p in run.points] == [0, 256, 1024]
        for p in run.points:
            assert p.pp_tps and p.pp_tps > 0 and p.tg_tps and p.tg_tps > 0 and p.ttft_s and p.ttft_s > 0
            assert p.predicted_pp_tps > 0 and p.predicted_tg_tps > 0 and p.predicted_ttft_s > 0
        # a deeper prompt takes longer to first token, measured and planned
        assert run.points[-1].ttft_s > run.points[0].ttft_s  # type: ignore[operator]
        assert run.points[-1].predicted_ttft_s > run.points[0].predicted_ttft_s

    def test_a_finished_depth_is_kept_and_not_measured_again(
        self, tiny_models: TinyModels, hw: HardwareSpec
    ) -> None:
        first = run_depths(str(tiny_models.gguf_f16), hw, fast(0, 128))
        path = history_path(first.model, first.machine)
        doc = json.loads(path.read_text())
        doc["depths"][0]["pp_tps"] = 12345.0  # a value no measurement gives: proves it was reused
        path.write_text(json.dumps(doc))
        second = run_depths(str(tiny_models.gguf_f16), hw, fast(0, 128, 512))
        assert [p.depth for p in second.points] == [0, 128, 512]
        assert second.points[0].pp_tps == 12345.0
        assert second.points[2].pp_tps != 12345.0
        stored = read_history(first.model, first.machine)
        assert stored is not None and [p.depth for p in stored.points] == [0, 128, 512]
        assert not list(path.parent.glob("*.part"))

    def test_fresh_measures_again(self, tiny_models: TinyModels, hw: HardwareSpec) -> None:
        first = run_depths(str(tiny_models.gguf_f16), hw, fast(0))
        path = history_path(first.model, first.machine)
        doc = json.loads(path.read_text())
        doc["depths"][0]["pp_tps"] = 12345.0
        path.write_text(json.dumps(doc))
        again = run_depths(str(tiny_models.gguf_f16), hw, DepthOptions((0,), 64, 8, fresh=True))
        assert again.points[0].pp_tps != 12345.0

    def test_a_depth_beyond_the_context_is_refused(self, tiny_models: TinyModels, hw: HardwareSpec) -> None:
        with pytest.raises(UsageError, match=r"beyond .* context of 2048 tokens"):
            run_depths(str(tiny_models.gguf_f16), hw, fast(0, 4096))


@pytest.mark.llama
class TestDepthCLI:
    @pytest.fixture(autouse=True)
    def _needs_llama(self) -> None:
        pytest.importorskip("llama_cpp")

    def test_json_has_a_depths_list_with_the_issue_keys(
        self, tiny_models: TinyModels, capsys: pytest.CaptureFixture[str]
    ) -> None:
        argv = ["bench", str(tiny_models.gguf_f16), "--depths", "0,256", "--chunk", "64", "--gen-tokens", "8"]
        assert main([*argv, "--json"]) == 0
        depths = json.loads(capsys.readouterr().out)["depths"]
        assert [d["depth"] for d in depths] == [0, 256]
        assert all(set(d) >= DEPTH_KEYS for d in depths)

    def test_the_table_shows_measured_beside_plan_and_error(
        self, tiny_models: TinyModels, capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert (
            main(["bench", str(tiny_models.gguf_f16), "--depths", "0", "--chunk", "64", "--gen-tokens", "8"])
            == 0
        )
        out = capsys.readouterr().out
        row = next(line for line in out.splitlines() if line.startswith("| 0 |"))
        assert row.count("(") == 3 and "%" in row

    def test_too_deep_is_one_line_and_a_nonzero_exit(
        self, tiny_models: TinyModels, capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert main(["bench", str(tiny_models.gguf_f16), "--depths", "0,99999"]) != 0
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "beyond" in err and "Traceback" not in err
