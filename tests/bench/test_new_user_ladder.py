"""What a new user hit with the ladder (issue 12), as a spec: a class per item, on the session's tiny
models and real ladder code (bench CLI, child processes, history files)."""

from __future__ import annotations

import multiprocessing
import os
import shlex
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from rich.console import Console

from tuilab.bench.ladder import LadderOptions, Progress, _start_run, release
from tuilab.bench.quantize_llama import quantize_llama
from tuilab.bench.report import (
    MIN_MEASURED_RUNGS,
    LadderRun,
    RungResult,
    history_path,
    markdown,
    read_runs,
    save_run,
)
from tuilab.bench.source import bench_command, resolve_source
from tuilab.cli import main
from tuilab.core.errors import UsageError
from tuilab.core.hardware import HardwareSpec, Platform
from tuilab.core.quant import parse_quant
from tuilab.engines.client import start_without_sigint
from tuilab.models.gguf import read_gguf
from tuilab.models.resolve import resolve_model
from tuilab.models.tiny import TinyModels
from tuilab.ui.ladder_control import ended_words
from tuilab.ui.ladder_view import SPOT_MARK, ladder_view, progress_line
from tuilab.ui.messages import LadderEnded
from tuilab.ui.widgets.ladder_pane import empty_state


class TestItem12LadderSuggestion:
    """The Ladder tab's `tuilab bench ...` line comes from bench_command, which names what bench accepts."""

    def test_the_suggested_argument_is_one_bench_accepts(self, tiny_models: TinyModels) -> None:
        for model in (tiny_models.gguf_f16, tiny_models.mlx_dir):
            line = bench_command(resolve_model(str(model)))
            assert line is not None
            argument = shlex.split(line)[2]
            assert resolve_source(argument).path == model

    @pytest.mark.parametrize("spec", ["llama-3-8b", "quantized-gguf", "mlx-4bit-dir"])
    def test_no_command_for_what_bench_refuses(self, spec: str, tiny_models: TinyModels) -> None:
        paths = {"quantized-gguf": tiny_models.gguf_q4_k_m, "mlx-4bit-dir": tiny_models.mlx_4bit_dir}
        if spec in paths and paths[spec] is None:
            pytest.skip("this quantized tiny model needs its engine library")
        target = str(paths.get(spec) or spec)
        with pytest.raises(UsageError):
            resolve_source(target)  # bench refuses it ...
        assert bench_command(resolve_model(target)) is None  # ... so nothing suggests it

    def test_the_empty_ladder_tab_of_a_profile_suggests_no_bench_command(self) -> None:
        text = empty_state("llama-3-8b", bench_command(resolve_model("llama-3-8b"))).plain
        assert "tuilab bench" not in text and "16-bit" in text


FAST = ["--ctx", "64", "--windows", "2", "--trials", "1", "--gen-tokens", "4", "--no-probes"]


# One writer of the race, in its own interpreter: its own run, saved again after each of N rungs (as a
# ladder does). Run with `python -c` rather than multiprocessing: test modules are not importable by name.
SAVE_MANY = """
import sys
from tuilab.bench.report import LadderRun, RungResult, save_run
run = LadderRun("race", "box", "llama.cpp", "src", 64, 1, "key", sys.argv[1])
for i in range(int(sys.argv[2])):
    run.rungs.append(RungResult(f"Q{i}", "ok"))
    save_run(run)
"""


class TestItem15TwoLaddersAtOnce:
    """Two ladders of one model at once: neither loses its history, and neither breaks the other's files."""

    def test_concurrent_saves_keep_every_run_and_every_rung(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("TUILAB_HOME", str(tmp_path))
        writers = [subprocess.Popen([sys.executable, "-c", SAVE_MANY, f"2026-01-01T00:00:0{i}", "25"])
                   for i in range(3)]  # fmt: skip
        assert [w.wait(120) for w in writers] == [0, 0, 0]
        runs = read_runs(history_path("race", "box"))
        assert sorted(len(r.rungs) for r in runs) == [25, 25, 25]

    def test_two_quantizations_of_one_rung_at_once_both_succeed(
        self, tiny_models: TinyModels, tmp_path: Path
    ) -> None:
        pytest.importorskip("llama_cpp")
        dst = tmp_path / "rung-q8_0.gguf"
        errors: list[BaseException] = []

        def make() -> None:
            try:
                quantize_llama(tiny_models.gguf_f16, dst, parse_quant("Q8_0"))  # type: ignore[arg-type]
            except BaseException as exc:  # collected for the assertion below
                errors.append(exc)

        threads = [threading.Thread(target=make) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert errors == []
        assert read_gguf(dst).file_type_name == "Q8_0"
        assert sorted(p.name for p in tmp_path.iterdir()) == ["rung-q8_0.gguf"]  # no temporary left

    def test_a_run_in_progress_is_not_resumed_by_a_second_ladder(
        self, tiny_models: TinyModels, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        monkeypatch.setenv("TUILAB_HOME", str(tmp_path))
        source = resolve_source(str(tiny_models.gguf_f16))
        hw = HardwareSpec("box", Platform.CPU, 16 * 10**9, 8 * 10**9, 50.0, 4)
        first, claim = _start_run(source, hw, LadderOptions(), "key")
        save_run(first)  # interrupted-looking: not complete
        try:
            second, second_claim = _start_run(source, hw, LadderOptions(), "key")
            assert second.started_at != first.started_at  # the first is still being measured
            release(second_claim)
        finally:
            release(claim)
        third, third_claim = _start_run(source, hw, LadderOptions(), "key")
        release(third_claim)
        assert third.started_at == first.started_at  # now truly interrupted: resumed

    @pytest.mark.llama
    def test_a_failed_rung_is_a_nonzero_exit(
        self, tiny_models: TinyModels, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:  # fmt: skip
        pytest.importorskip("llama_cpp")
        monkeypatch.setenv("TUILAB_HOME", str(tmp_path / "home"))
        out = tmp_path / "rungs"
        out.mkdir()
        (out / f"{tiny_models.gguf_f16.stem}-q8_0.gguf").write_bytes(b"GGUF" + b"\0" * 64)  # a broken rung
        code = main(["bench", str(tiny_models.gguf_f16), "--quants", "F16,Q8_0", "--out", str(out), *FAST])
        captured = capsys.readouterr()
        f16 = next(line for line in captured.out.splitlines() if line.startswith("| ") and "F16" in line)
        assert "failed" not in f16 and "GB" in f16  # the good rung was measured ...
        assert code == 4 and "1 rung(s) failed: Q8_0" in captured.err  # ... and the bad one is not success

    @pytest.mark.slow
    @pytest.mark.llama
    def test_two_bench_commands_at_once_both_record_complete_runs(self, tmp_path: Path) -> None:
        pytest.importorskip("llama_cpp")
        env = {**os.environ, "TUILAB_HOME": str(tmp_path / "home")}
        args = [sys.executable, "-m", "tuilab", "bench", "demo", "--fresh", "--out", str(tmp_path / "D"),
                "--quants", "F16,Q8_0,Q4_K_M", *FAST]  # fmt: skip
        subprocess.run(
            [sys.executable, "-m", "tuilab", "fit", "demo"], env=env, check=True, capture_output=True
        )
        procs = [
            subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in "ab"
        ]
        results = [p.communicate(timeout=600) for p in procs]
        assert [p.returncode for p in procs] == [0, 0], [r[1][-2000:] for r in results]
        histories = list((tmp_path / "home" / "data" / "ladder").glob("*.toml"))
        runs = [r for h in histories for r in read_runs(h)]
        assert len(runs) == 2 and all(r.complete and len(r.rungs) == 3 for r in runs)
        assert all(r.ok for run in runs for r in run.rungs)
        assert not list((tmp_path / "D").glob("*.part"))


class TestItem16CtrlCDuringABench:
    """Ctrl-C reaches every process in the terminal's foreground group; a child must not die of it
    printing a KeyboardInterrupt traceback, even while it is still starting up."""

    def test_a_child_interrupted_while_it_starts_carries_on_quietly(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
    ) -> None:
        monkeypatch.setenv("TUILAB_HOME", str(tmp_path))  # the spawned child inherits it
        run = LadderRun("child", "box", "llama.cpp", "src", 64, 1, "key", "2026-01-01T00:00:00")
        process = multiprocessing.get_context("spawn").Process(target=save_run, args=(run,))
        start_without_sigint(process)
        assert process.pid is not None
        os.kill(process.pid, signal.SIGINT)  # as the terminal does, while the child still imports
        process.join(60)
        assert process.exitcode == 0 and read_runs(history_path("child", "box")) == [run]
        assert "KeyboardInterrupt" not in capfd.readouterr().err

    @pytest.mark.llama
    def test_ctrl_c_during_a_bench_prints_one_line_and_exits_130(self, tmp_path: Path) -> None:
        pytest.importorskip("llama_cpp")
        env = {**os.environ, "TUILAB_HOME": str(tmp_path / "home")}
        args = [sys.executable, "-m", "tuilab", "bench", "demo", "--quants", "F16,Q8_0", *FAST]
        bench = subprocess.Popen(args, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                 start_new_session=True, text=True)  # fmt: skip
        assert bench.stderr is not None
        for line in bench.stderr:  # the first step runs in a child: interrupt the whole group then
            if "reference" in line:
                break
        for _ in range(120):  # as a user presses again when a press lands while a child is being started
            os.killpg(bench.pid, signal.SIGINT)
            try:
                bench.wait(0.5)
                break
            except subprocess.TimeoutExpired:
                continue
        err = bench.stderr.read()
        assert bench.wait(60) == 130
        assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
        assert "interrupted" in err


def _measured(quant: str, file_bytes: int, kld: float, tg_tps: float) -> RungResult:
    return RungResult(quant, "ok", file_bytes=file_bytes, kld=kld, tg_tps=tg_tps, verdict="fits", ppl=10.0)


def _run_of(*rungs: RungResult, complete: bool = False) -> LadderRun:
    run = LadderRun(
        "m", "box", "llama.cpp", "/m.gguf", 512, 3, "k", "2026-12-01T00:00:00+00:00", complete=complete
    )
    run.rungs = list(rungs)
    return run


class TestItem19NoSweetSpotFromOneRung:
    """An interrupted ladder named its one measured rung (the reference, KLD 0 by definition) the sweet
    spot. A sweet spot now needs MIN_MEASURED_RUNGS measured rungs, and says so otherwise."""

    def test_one_measured_rung_is_not_enough(self) -> None:
        run = _run_of(_measured("F16", 1600, 0.0, 10.0))
        assert run.sweet_spot() is None
        assert run.no_spot_reason() == f"not enough rungs (1 measured, {MIN_MEASURED_RUNGS} needed)"

    def test_a_failed_rung_does_not_count(self) -> None:
        run = _run_of(_measured("F16", 1600, 0.0, 10.0), RungResult("Q8_0", "failed", "killed"))
        assert run.sweet_spot() is None and run.no_spot_reason().startswith("not enough rungs (1 measured")

    def test_two_measured_rungs_choose_between_them(self) -> None:
        run = _run_of(_measured("F16", 1600, 0.0, 10.0), _measured("Q8_0", 850, 0.002, 18.0))
        spot = run.sweet_spot()
        assert spot is not None and spot.quant == "Q8_0"

    def test_the_bench_report_says_not_enough_rungs(self) -> None:
        run = _run_of(_measured("F16", 1600, 0.0, 10.0))
        assert "No sweet spot: not enough rungs (1 measured, 2 needed)." in markdown(run)
        assert "Sweet spot: F16" not in markdown(run)
        result = run.to_dict()
        assert result["sweet_spot"] is None and result["no_sweet_spot_reason"].startswith("not enough rungs")

    def test_the_ladder_tab_says_not_enough_rungs(self) -> None:
        console = Console(width=80, record=True)
        console.print(ladder_view(_run_of(_measured("F16", 1600, 0.0, 10.0)), 80, "box"))
        text = console.export_text()
        assert "No sweet spot: not enough rungs (1 measured, 2 needed)." in text
        assert f"{SPOT_MARK} Sweet spot" not in text and f"{SPOT_MARK} F16" not in text

    def test_the_lab_notification_of_a_finished_one_rung_ladder(self) -> None:
        ended = LadderEnded("m", "done", "", _run_of(_measured("F16", 1600, 0.0, 10.0), complete=True))
        assert (
            ended_words(ended)[0]
            == "ladder of m finished: no sweet spot: not enough rungs (1 measured, 2 needed)"
        )


class TestItem19TheProgressLineSaysWhatEscDoes:
    """Esc kills the step in progress at once (ladder_control): the line no longer says 'after this step'."""

    def test_the_words_match_the_behaviour(self) -> None:
        line = progress_line("m", Progress(1, 5, "Q8_0", "score", None)).plain
        assert "Esc stops now; done rungs kept" in line and "after this step" not in line

    def test_the_words_fit_at_80_columns_with_an_eta(self) -> None:
        line = progress_line("tuilab tiny (random weights)", Progress(3, 5, "Q4_K_M", "quantize", 62.0)).plain
        assert line.index("done rungs kept") + len("done rungs kept") <= 80
