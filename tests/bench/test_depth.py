"""Speed at depth on the tiny generated model with the real llama.cpp engine: every depth is measured
beside its prediction, a finished depth is kept and not measured again, and a depth the model's context
cannot hold is refused in one line. (The MLX worker runs the same code; mlx-lm is not on this Linux box.)
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tuilab.bench.depth import (
    DepthOptions,
    DepthPoint,
    DepthRun,
    _chunk_rate,
    history_path,
    measured_by_quant,
    parse_depths,
    read_history,
    run_depths,
    save_history,
)
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


class TestChunkRate:
    """The chunk's prompt rate is the tokens the longer prompt adds over the time they added."""

    def test_the_added_tokens_over_the_added_time(self) -> None:
        assert _chunk_rate(256, 0.5, 320, 0.6) == pytest.approx(640.0)

    def test_from_an_empty_context_it_is_the_prompt_rate(self) -> None:
        assert _chunk_rate(0, 0.0, 64, 0.25) == pytest.approx(256.0)

    @pytest.mark.parametrize(
        ("n0", "t0", "n1", "t1"),
        [
            pytest.param(256, 0.6, 320, 0.6, id="no-slower-under-load"),
            pytest.param(256, 0.7, 320, 0.6, id="faster-under-load"),
            pytest.param(320, 0.5, 320, 0.6, id="no-added-tokens"),
            pytest.param(256, None, 320, 0.6, id="no-time-reported"),
        ],
    )
    def test_a_pair_that_gives_no_rate_is_none_never_negative_or_infinite(
        self, n0: int, t0: float | None, n1: int, t1: float
    ) -> None:
        assert _chunk_rate(n0, t0, n1, t1) is None


def _point(depth: int, tg_tps: float) -> DepthPoint:
    return DepthPoint(depth, 900.0, tg_tps, 0.5, 5_000_000_000, 1000.0, 45.0, 0.4, depth + 512)


def _run(quant: str, *points: DepthPoint, model: str = "Llama 3 8B") -> DepthRun:
    return DepthRun(model, "box", "llama.cpp", f"/m/{quant}.gguf", "k", 33000, quant, list(points))


class TestHistoriesAreKeptPerQuant:
    def test_two_quants_of_one_model_keep_their_own_points(self) -> None:
        save_history(_run("Q4_K_M", _point(0, 90.0)))
        save_history(_run("Q8_0", _point(0, 60.0), _point(4096, 55.0)))
        save_history(_run("Q8_0", _point(0, 1.0), model="Other Model"))
        by_quant = measured_by_quant("Llama 3 8B", "box")
        assert set(by_quant) == {"Q4_K_M", "Q8_0"}
        assert [p.tg_tps for p in by_quant["Q4_K_M"]] == [90.0]
        assert [p.depth for p in by_quant["Q8_0"]] == [0, 4096]

    def test_a_quant_is_matched_whatever_its_spelling(self) -> None:
        save_history(_run("q4_k_m", _point(0, 90.0)))
        assert set(measured_by_quant("Llama 3 8B", "box")) == {"Q4_K_M"}

    def test_a_history_written_before_quants_were_kept_is_read_without_one(self) -> None:
        run = _run("", _point(0, 90.0))
        path = save_history(run)
        doc = json.loads(path.read_text())
        del doc["quant"]  # the old format had no quant field
        path.write_text(json.dumps(doc))
        assert [p.tg_tps for p in measured_by_quant("Llama 3 8B", "box")[""]] == [90.0]

    def test_a_damaged_history_is_skipped(self) -> None:
        save_history(_run("Q4_K_M", _point(0, 90.0)))
        (history_path("Llama 3 8B", "box", "Q8_0")).write_text("{not json")
        assert set(measured_by_quant("Llama 3 8B", "box")) == {"Q4_K_M"}


@pytest.mark.llama
class TestDepthRun:
    @pytest.fixture(autouse=True)
    def _needs_llama(self) -> None:
        pytest.importorskip("llama_cpp")

    def test_each_depth_is_measured_beside_its_prediction(
        self, tiny_models: TinyModels, hw: HardwareSpec
    ) -> None:
        # Only what timing cannot change is asserted: a loaded machine may make a longer prompt no slower
        # than a shorter one (the chunk rate is then None, TestChunkRate), but never changes token counts.
        run = run_depths(str(tiny_models.gguf_f16), hw, fast(0, 256, 1024))
        assert [p.depth for p in run.points] == [0, 256, 1024] and run.quant == "F16"
        for p in run.points:
            assert p.prompt_tokens is not None and p.depth < p.prompt_tokens <= p.depth + 64 + 1
            assert p.tg_tps and p.tg_tps > 0 and p.ttft_s and p.ttft_s > 0 and p.peak_memory_bytes
            assert p.pp_tps is None or p.pp_tps > 0
            assert p.predicted_pp_tps > 0 and p.predicted_tg_tps > 0 and p.predicted_ttft_s > 0
        # a deeper prompt is planned to take longer to first token
        planned = [p.predicted_ttft_s for p in run.points]
        assert planned == sorted(planned) and planned[0] < planned[-1]

    def test_a_finished_depth_is_kept_and_not_measured_again(
        self, tiny_models: TinyModels, hw: HardwareSpec
    ) -> None:
        first = run_depths(str(tiny_models.gguf_f16), hw, fast(0, 128))
        path = history_path(first.model, first.machine, first.quant)
        doc = json.loads(path.read_text())
        doc["depths"][0]["pp_tps"] = 12345.0  # a value no measurement gives: proves it was reused
        path.write_text(json.dumps(doc))
        second = run_depths(str(tiny_models.gguf_f16), hw, fast(0, 128, 512))
        assert [p.depth for p in second.points] == [0, 128, 512]
        assert second.points[0].pp_tps == 12345.0
        assert second.points[2].pp_tps != 12345.0
        stored = read_history(first.model, first.machine, first.quant)
        assert stored is not None and [p.depth for p in stored.points] == [0, 128, 512]
        assert not list(path.parent.glob("*.part"))

    def test_fresh_measures_again(self, tiny_models: TinyModels, hw: HardwareSpec) -> None:
        first = run_depths(str(tiny_models.gguf_f16), hw, fast(0))
        path = history_path(first.model, first.machine, first.quant)
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
        assert " F16 on " in out.splitlines()[0]  # the quant measured, in the heading
        row = next(line for line in out.splitlines() if line.startswith("| 0 |"))
        assert row.count("(") == 3 and "%" in row

    def test_too_deep_is_one_line_and_a_nonzero_exit(
        self, tiny_models: TinyModels, capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert main(["bench", str(tiny_models.gguf_f16), "--depths", "0,99999"]) != 0
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "beyond" in err and "Traceback" not in err
