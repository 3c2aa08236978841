"""The non-GPU parts of the partial-offload prompt check a lent CUDA machine runs (scripts/gpu_check.sh and
gpu_recheck.sh): scripts/predict_prompt.py plans the rates per prompt and ubatch, and scripts/gpu_report.py
sets llama-bench's rows beside them."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _predict(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, str(ROOT / "scripts" / "predict_prompt.py"), *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120, check=False)


def _rates(*args: str) -> dict[tuple[int, int], float]:
    done = _predict(*args, "--prompts", "512,4096", "--ubatches", "512,2048")
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    return {(r["n_prompt"], r["n_ubatch"]): r["predicted_pp_tps"] for r in rows}


def _report() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gpu_report", ROOT / "scripts" / "gpu_report.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class TestPredictPrompt:
    def test_a_partial_offload_runs_faster_with_a_larger_ubatch(self) -> None:
        rates = _rates("llama-3-70b", "--hardware", "rtx-4090-24gb", "--gpu-layers", "40")
        assert set(rates) == {(512, 512), (512, 2048), (4096, 512), (4096, 2048)}
        assert rates[(4096, 2048)] > 1.5 * rates[(4096, 512)]
        assert rates[(512, 2048)] == rates[(512, 512)]  # a 512-token prompt is one ubatch either way

    def test_a_model_on_the_gpu_alone_does_not_care(self) -> None:
        rates = _rates("llama-3-8b", "--hardware", "rtx-4090-24gb")
        assert rates[(4096, 2048)] == rates[(4096, 512)]

    @pytest.mark.parametrize(
        "args",
        [
            pytest.param(("no-such-model", "--hardware", "rtx-4090-24gb"), id="unknown-model"),
            pytest.param(("llama-3-8b", "--hardware", "rtx-4090-24gb", "--prompts", "5x"), id="bad-list"),
        ],
    )
    def test_bad_input_is_one_line_and_exit_2(self, args: tuple[str, ...]) -> None:
        done = _predict(*args)
        assert done.returncode == 2
        assert "Traceback" not in done.stderr
        # one line says what is wrong (argparse prints its usage above it)
        assert done.stderr.strip().splitlines()[-1].startswith("predict_prompt")


class TestReportSetsBenchBesidePlan:
    def test_each_prompt_row_meets_its_plan(self, tmp_path: Path) -> None:
        done = _predict("llama-3-70b", "--hardware", "rtx-4090-24gb", "--gpu-layers", "40")
        (tmp_path / "pred-partial-pp.jsonl").write_text(done.stdout)
        planned = json.loads(done.stdout.splitlines()[-1])  # -p 4096 -ub 2048
        # Rows as llama-bench -o json names its fields (tools/llama-bench/llama-bench.cpp, test::get_fields);
        # the rate is made up to give a round error, and the tg row must be skipped.
        bench: list[dict[str, Any]] = [
            {"n_prompt": 4096, "n_ubatch": 2048, "n_gen": 0, "avg_ts": planned["predicted_pp_tps"] / 1.25},
            {"n_prompt": 0, "n_ubatch": 512, "n_gen": 64, "avg_ts": 3.0},
        ]
        (tmp_path / "bench-partial-pp.json").write_text(json.dumps(bench))
        rows = _report().partial_prompt_rows(tmp_path)
        assert len(rows) == 3
        assert rows[2].startswith("| 4096 | 2048 |") and rows[2].endswith("| +25.0% |")

    def test_no_results_leave_the_header_only(self, tmp_path: Path) -> None:
        assert len(_report().partial_prompt_rows(tmp_path)) == 2
