"""The ladder on the tiny generated models with the real engines: KL divergence falls with bits, results
are recorded and reused, an interrupted ladder resumes, and inputs it cannot use are refused clearly.

Tiny contexts and one trial keep each ladder to a few seconds (MLX's CPU backend runs quantized matmuls
at ~40 ms per token for this model, so MLX ladders score only two 32-token windows).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from tuilab.bench.child import Stopped, StopSignal
from tuilab.bench.ladder import LadderOptions, Progress, run_ladder
from tuilab.bench.quality import EvalSettings, Reference
from tuilab.bench.report import load_history
from tuilab.bench.rungs import make_rung, plan_rungs
from tuilab.bench.texts import eval_text
from tuilab.core.errors import UsageError
from tuilab.core.hardware import HardwareSpec
from tuilab.hardware.detect import detect_hardware
from tuilab.models.tiny import TinyModels


def fast(*quants: str) -> LadderOptions:
    """A ladder of a few seconds: two 64-token windows, one trial of four tokens."""
    return LadderOptions(
        quants=quants or None, ctx_tokens=64, max_windows=2, trials=1, gen_tokens=4, prompt_tokens=16
    )


@pytest.fixture(scope="module")
def hw() -> HardwareSpec:
    return detect_hardware().spec


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh TUILAB_HOME per test: no history or rung is shared between tests."""
    monkeypatch.setenv("TUILAB_HOME", str(tmp_path / "home"))
    return tmp_path


@pytest.mark.llama
class TestLlamaLadder:
    @pytest.fixture(autouse=True)
    def _needs_llama(self) -> None:
        pytest.importorskip("llama_cpp")

    def test_kld_rises_as_bits_fall_and_every_rung_is_measured(
        self, tiny_models: TinyModels, hw: HardwareSpec, home: Path
    ) -> None:
        options = fast("F16", "Q8_0", "Q4_K_M")
        run = run_ladder(str(tiny_models.gguf_f16), hw, options)
        assert [r.quant for r in run.rungs] == ["F16", "Q8_0", "Q4_K_M"]
        assert all(r.ok for r in run.rungs), [r.message for r in run.rungs]
        kld = [r.kld or 0.0 for r in run.rungs]
        assert kld[0] == 0.0 < kld[1] < kld[2]
        for r in run.rungs:
            assert r.tg_tps and r.pp_tps and r.peak_memory_bytes and r.predicted_memory_bytes
            assert r.file_bytes and r.ppl and r.ppl > 1
        sizes = [r.file_bytes or 0 for r in run.rungs]
        assert sizes[0] > sizes[1] > sizes[2]

    def test_a_rerun_with_more_rungs_reuses_files_and_results(
        self, tiny_models: TinyModels, hw: HardwareSpec, home: Path
    ) -> None:
        first = run_ladder(str(tiny_models.gguf_f16), hw, fast("F16", "Q8_0"))
        q8 = Path(first.rungs[1].path)
        made_ns = q8.stat().st_mtime_ns
        second = run_ladder(str(tiny_models.gguf_f16), hw, fast("F16", "Q8_0", "Q4_K_M"))
        assert q8.stat().st_mtime_ns == made_ns  # the rung file was not made again
        assert [r.reused for r in second.rungs] == [True, True, False]
        assert second.rungs[1].kld == first.rungs[1].kld
        assert len(load_history(first.model)) == 2

    def test_an_interrupted_ladder_keeps_finished_rungs_and_resumes(
        self, tiny_models: TinyModels, hw: HardwareSpec, home: Path
    ) -> None:
        options = fast("F16", "Q8_0", "Q4_K_M")

        def ctrl_c_after_first_rung(p: Progress) -> None:
            if p.step == "quantize" and p.rung_index == 1:
                raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            run_ladder(str(tiny_models.gguf_f16), hw, options, progress=ctrl_c_after_first_rung)
        (kept,) = load_history("tuilab tiny (random weights)")
        assert not kept.complete and [r.quant for r in kept.rungs] == ["F16"]
        resumed = run_ladder(str(tiny_models.gguf_f16), hw, options)
        assert resumed.started_at == kept.started_at and resumed.complete  # the same run, continued
        assert [r.reused for r in resumed.rungs] == [True, False, False]
        assert len(load_history(resumed.model)) == 1

    def test_a_stop_ends_the_step_in_progress_and_records_nothing_for_it(
        self, tiny_models: TinyModels, hw: HardwareSpec, home: Path
    ) -> None:
        """Esc in the lab: the score child of the second rung is killed, not waited for, and that rung is
        not marked failed; the finished first rung is kept."""
        stop = StopSignal()
        options = replace(fast("F16", "Q8_0"), stop=stop)

        def stop_at_second_score(p: Progress) -> None:
            if p.step == "score" and p.rung_index == 1:
                stop.set()  # the score child starts next, and is killed at once

        with pytest.raises(Stopped):
            run_ladder(str(tiny_models.gguf_f16), hw, options, progress=stop_at_second_score)
        (kept,) = load_history("tuilab tiny (random weights)")
        assert not kept.complete and [r.quant for r in kept.rungs] == ["F16"]

    def test_iq2_without_an_importance_matrix_is_reported_not_written(
        self, tiny_models: TinyModels, hw: HardwareSpec, home: Path
    ) -> None:
        run = run_ladder(str(tiny_models.gguf_f16), hw, fast("F16", "IQ2_XS"))
        iq2 = run.rungs[1]
        assert iq2.status == "needs_imatrix" and "llama-imatrix" in iq2.message
        assert not list((home / "home").rglob("*iq2_xs*"))

    def test_a_quantized_input_is_refused(
        self, tiny_models: TinyModels, hw: HardwareSpec, home: Path
    ) -> None:
        assert tiny_models.gguf_q4_k_m is not None
        with pytest.raises(UsageError, match="starts from F16"):
            run_ladder(str(tiny_models.gguf_q4_k_m), hw, fast())


@pytest.mark.mlx
class TestMLXQuality:
    @pytest.fixture(autouse=True)
    def _needs_mlx(self) -> None:
        pytest.importorskip("mlx_lm")

    def test_kld_rises_as_bits_fall(self, tiny_models: TinyModels, tmp_path: Path) -> None:
        src = tiny_models.mlx_dir
        rungs = plan_rungs(src, "mlx", "mlx-fp16", ["mlx-2bit", "mlx-8bit", "mlx-4bit"], tmp_path)
        ref = Reference(tmp_path, EvalSettings("mlx", eval_text(4000), 32, 2, None, "mlx-test"))
        ref.score_source(src)
        kld = []
        for rung in rungs:
            assert make_rung(rung, src) == "made"
            kld.append(ref.score_rung(rung.path).kld)
        assert 0.0 < kld[0] < kld[1] < kld[2], kld  # 8 < 4 < 2 bits

    def test_same_text_and_context_give_the_same_perplexity_on_both_engines(
        self, tiny_models: TinyModels, tmp_path: Path
    ) -> None:
        pytest.importorskip("llama_cpp")
        text = eval_text(4000)
        mlx = Reference(tmp_path / "m", EvalSettings("mlx", text, 32, 2, None, "x"))
        llama = Reference(tmp_path / "l", EvalSettings("llama.cpp", text, 32, 2, None, "x"))
        mlx_ppl = mlx.score_source(tiny_models.mlx_dir).ppl
        llama_ppl = llama.score_source(tiny_models.gguf_f16).ppl
        assert mlx.tokens() == llama.tokens()
        assert mlx_ppl == pytest.approx(llama_ppl, rel=0.01)  # F16 rounding differs a little between engines
