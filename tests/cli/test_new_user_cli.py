"""What a new user hit (issue 12), reproduced through the CLI as they ran it: each class one report.

Real processes and the real tiny model; each test failed before its fix."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tuilab.cli import main
from tuilab.models.tiny import TinyModels


class TestCtrlCDuringRun:
    """Issue 12, item 1: Ctrl-C during `tuilab run` ended in a StopIteration traceback and no stats."""

    def test_cancels_the_generation_and_still_reports_the_stats(
        self, tiny_models: TinyModels, tmp_path: Path
    ) -> None:
        pytest.importorskip("llama_cpp")
        argv = [sys.executable, "-m", "tuilab", "run", str(tiny_models.gguf_f16), "--max-tokens", "2000",
                "--ctx", "2048", "--threads", "1"]  # fmt: skip
        # A session of its own, signalled as a whole: a terminal's Ctrl-C reaches the worker too.
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                                start_new_session=True)  # fmt: skip
        assert proc.stdout is not None
        proc.stdout.read(1)  # the first text: the generation is under way
        time.sleep(0.2)
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        assert "Traceback" not in err and "StopIteration" not in err
        assert "(cancelled)" in err and "gen " in err  # the stats line, with the reason


class TestContextPastTheTrainedLength:
    """Issue 12, item 5: `fit` planned 131072 tokens next to "max ctx 8192"; `run` loaded a 1M context."""

    def test_fit_plans_at_the_trained_context_and_says_so(self, capsys: pytest.CaptureFixture[str]) -> None:
        assert main(["fit", "llama-3-8b", "--ctx", "131072", "--hardware", "rtx-3060-12gb"]) == 0
        out = capsys.readouterr().out
        assert "ctx 8192" in out and "131072 tokens asked; planned at 8192" in out

    def test_fit_and_the_lab_default_to_the_same_context(self, capsys: pytest.CaptureFixture[str]) -> None:
        assert main(["fit", "demo", "--json", "--hardware", "rtx-3060-12gb"]) == 0
        assert '"ctx": 2048' in capsys.readouterr().out  # 4096 capped at the demo's trained 2048


class TestBadFitValues:
    """Issue 12, items 9 and 10: `fit` planned an MLX KV type on llama.cpp and -3 GPU layers, exit 0."""

    @pytest.mark.parametrize(
        ("argv", "message"),
        [(["demo", "--kv-type", "mlx-kv4"], "not offered by llama.cpp"),
         (["llama-3-8b", "--gpu-layers", "-3"], "0 or more"), (["demo", "--ctx", "0"], "at least 1")],
        ids=["mlx-kv-on-llama", "negative-gpu-layers", "zero-context"],
    )  # fmt: skip
    def test_are_refused_as_run_refuses_them(
        self, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
    ) -> None:
        assert main(["fit", *argv]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1

    def test_a_llama_kv_type_on_an_mlx_folder_too(
        self, tiny_models: TinyModels, capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert main(["fit", str(tiny_models.mlx_dir), "--kv-type", "q4_0"]) == 2
        assert "not offered by mlx" in capsys.readouterr().err
