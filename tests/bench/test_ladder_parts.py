"""The ladder's pure parts: the evaluation text, scoring windows, probes, the sweet spot, the history file."""

from __future__ import annotations

import math
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from tuilab.bench.child import BenchError, Stopped, StopSignal, run_in_child
from tuilab.bench.probes import PROBES, first_number, passed
from tuilab.bench.report import (
    LadderRun,
    RungResult,
    history_path,
    load_history,
    markdown,
    read_runs,
    reusable,
    save_run,
    sweet_spot,
)
from tuilab.bench.rungs import normalize_quant, plan_rungs
from tuilab.bench.scoring import log_softmax, windows
from tuilab.bench.texts import calibration_text, eval_text, text_sha256
from tuilab.core.errors import UsageError
from tuilab.core.quant import parse_quant


class TestTexts:
    def test_the_eval_text_is_the_same_every_time(self) -> None:
        assert text_sha256(eval_text()) == text_sha256(eval_text())

    def test_calibration_and_eval_texts_differ(self) -> None:
        assert eval_text(5000)[:2000] != calibration_text(5000)[:2000]

    def test_the_text_is_long_enough_and_reads_as_prose(self) -> None:
        text = eval_text(10_000)
        assert len(text) >= 10_000
        assert text.count(". ") > 50 and text.isascii()


class TestWindows:
    def test_each_window_starts_with_bos_and_holds_ctx_tokens(self) -> None:
        wins = windows(tuple(range(100)), bos=999, ctx_tokens=16, max_windows=3)
        assert [len(w) for w in wins] == [16, 16, 16]
        assert all(w[0] == 999 for w in wins)
        assert wins[1][1] == 15  # windows do not overlap: the second starts where the first ended

    def test_without_bos_windows_are_plain_slices(self) -> None:
        assert windows(tuple(range(10)), bos=None, ctx_tokens=5, max_windows=9) == [
            [0, 1, 2, 3, 4],
            [5, 6, 7, 8, 9],
        ]

    def test_a_text_shorter_than_a_window_gives_none(self) -> None:
        assert windows(tuple(range(5)), bos=1, ctx_tokens=16, max_windows=4) == []

    def test_log_softmax_rows_are_log_probabilities(self) -> None:
        logits = np.array([[1.0, 2.0, 3.0], [1000.0, 0.0, -1000.0]], dtype=np.float32)
        logp = log_softmax(logits)
        assert np.allclose(np.exp(logp).sum(axis=-1), 1.0)
        assert math.isfinite(float(logp.min()))  # large logits do not overflow


class TestProbes:
    @pytest.mark.parametrize(
        ("text", "number"),
        [(" 1", 1), (" She has one sister.", 1), (" 5 cents, not 10", 5), (" no idea", None), ("-3", -3)],
    )
    def test_the_first_number_is_read_in_digits_or_words(self, text: str, number: int | None) -> None:
        assert first_number(text) == number

    def test_the_sisters_riddle_wants_one_not_two(self) -> None:
        sisters = next(p for p in PROBES if p.name == "sisters")
        assert passed(sisters, " 1. Sally is one of the two sisters.")
        assert not passed(sisters, " 2")


class TestChild:
    def test_a_native_abort_becomes_a_bench_error_naming_the_signal(self) -> None:
        import os

        with pytest.raises(BenchError, match="SIGABRT"):
            run_in_child(os.abort)

    def test_a_tuilab_error_in_the_child_comes_back_as_its_message(self) -> None:
        with pytest.raises(BenchError, match="unknown quant 'Q9_Z'"):
            run_in_child(parse_quant, "Q9_Z")

    def test_a_result_comes_back(self) -> None:
        assert run_in_child(parse_quant, "Q4_K_M") == parse_quant("Q4_K_M")

    def test_a_stop_from_another_thread_kills_a_long_job_at_once(self) -> None:
        stop = StopSignal()
        threading.Timer(0.5, stop.set).start()
        start_s = time.perf_counter()
        with pytest.raises(Stopped):
            run_in_child(time.sleep, 60, stop=stop)
        assert time.perf_counter() - start_s < 30  # not the job's 60 s

    def test_an_unset_stop_changes_nothing(self) -> None:
        assert run_in_child(parse_quant, "Q8_0", stop=StopSignal()) == parse_quant("Q8_0")


class TestRungNames:
    @pytest.mark.parametrize(
        ("typed", "name"),
        [("8bit", "mlx-8bit"), ("fp16", "mlx-fp16"), ("f16", "mlx-fp16"), ("mixed_3_6", "mlx-mixed_3_6")],
    )
    def test_mlx_rungs_can_be_typed_short(self, typed: str, name: str) -> None:
        assert normalize_quant(typed, "mlx").name == name

    def test_a_quant_of_the_other_engine_is_refused(self) -> None:
        with pytest.raises(UsageError, match=r"llama\.cpp quant"):
            normalize_quant("Q4_K_M", "mlx")

    def test_rungs_come_highest_bits_first_and_the_source_quant_is_the_source(self, tmp_path: Path) -> None:
        src = tmp_path / "m.gguf"
        rungs = plan_rungs(src, "llama.cpp", "F16", ["Q4_K_M", "F16", "Q8_0", "q8_0"], tmp_path / "out")
        assert [r.quant for r in rungs] == ["F16", "Q8_0", "Q4_K_M"]
        assert rungs[0].is_source and rungs[0].path == src
        assert rungs[1].path.parent == tmp_path / "out"


def _rung(quant: str, file_bytes: int, kld: float, tg_tps: float, verdict: str = "fits") -> RungResult:
    return RungResult(quant, "ok", file_bytes=file_bytes, kld=kld, tg_tps=tg_tps, verdict=verdict,
                      peak_memory_bytes=file_bytes, ppl=10.0, probes_passed=1, probes_total=4)  # fmt: skip


class TestSweetSpot:
    def test_the_smallest_rung_under_the_threshold_wins_with_its_speedup(self) -> None:
        rungs = [_rung("F16", 1600, 0.0, 10.0), _rung("Q8_0", 850, 0.002, 18.0),
                 _rung("Q4_K_M", 480, 0.04, 30.0), _rung("IQ2_XS", 250, 0.6, 45.0)]  # fmt: skip
        spot = sweet_spot(rungs, 0.1)
        assert spot is not None and spot.quant == "Q4_K_M"
        assert spot.speedup == pytest.approx(3.0)

    def test_a_rung_that_only_fits_tightly_is_not_the_sweet_spot(self) -> None:
        rungs = [_rung("F16", 1600, 0.0, 10.0, "no_fit"), _rung("Q8_0", 850, 0.002, 18.0, "tight")]
        assert sweet_spot(rungs, 0.1) is None

    def test_the_table_has_the_study_columns_and_marks_the_sweet_spot(self) -> None:
        run = LadderRun("m", "box", "llama.cpp", "/m.gguf", 512, 3, "k", "2025-01-01T00:00:00+00:00")
        run.rungs = [_rung("F16", 1600, 0.0, 10.0), _rung("Q4_K_M", 480, 0.04, 30.0),
                     RungResult("IQ2_XS", "needs_imatrix", "run llama-imatrix")]  # fmt: skip
        table = markdown(run)
        assert "| Quant | Memory | Tokens/s | Perplexity | KLD | Probes |" in table
        assert "**Q4_K_M** ★" in table and "Sweet spot: Q4_K_M" in table
        assert "IQ2_XS: run llama-imatrix" in table


class TestHistory:
    def _run(self, started: str, key: str = "k", complete: bool = True) -> LadderRun:
        run = LadderRun(
            "Tiny Model", "My Box", "llama.cpp", "/m.gguf", 64, 1, key, started, complete=complete
        )
        run.rungs = [_rung("F16", 100, 0.0, 5.0), RungResult("IQ2_XS", "needs_imatrix", "hint")]
        return run

    def test_a_run_round_trips_through_toml_with_missing_values(self) -> None:
        run = self._run("2025-01-01T00:00:00+00:00")
        path = save_run(run)
        assert path == history_path("Tiny Model", "My Box") and path.suffix == ".toml"
        (back,) = [r for r in read_runs(path) if r.started_at == run.started_at]
        assert back.rungs == run.rungs and back.rungs[1].ppl is None

    def test_load_history_is_newest_first_for_the_model(self) -> None:
        save_run(self._run("2025-02-01T00:00:00+00:00"))
        save_run(self._run("2025-03-01T00:00:00+00:00"))
        starts = [r.started_at for r in load_history("Tiny Model")]
        assert starts == sorted(starts, reverse=True) and len(starts) >= 2
        assert load_history("another model") == []

    def test_a_damaged_history_reads_as_empty(self, tmp_path: Path) -> None:
        bad = tmp_path / "bad.toml"
        bad.write_text("runs = [[[")
        assert read_runs(bad) == []

    def test_results_are_reused_only_under_the_same_settings_and_file_size(self) -> None:
        runs = [self._run("2025-01-01T00:00:00+00:00")]
        assert reusable(runs, "k", "F16", 100) is not None and reusable(runs, "k", "F16", 100).reused  # type: ignore[union-attr]
        assert reusable(runs, "other", "F16", 100) is None
        assert reusable(runs, "k", "F16", 101) is None  # the rung file changed
        assert reusable(runs, "k", "IQ2_XS", None) is None  # only finished rungs are reused
