"""`tuilab fit` as a user runs it: JSON keys, human table, ladder, clean errors, headless imports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tuilab.cli import main

JSON_KEYS = {
    "weights_bytes", "kv_cache_bytes", "compute_bytes", "overhead_bytes", "total_bytes", "device_bytes",
    "host_bytes", "budget_bytes", "headroom_bytes", "verdict", "reason", "advice", "gpu_layers", "n_layers",
    "max_ctx", "predicted_tg_tps", "predicted_pp_tps", "predicted_ttft_s", "basis",
}  # fmt: skip


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


class TestJsonOutput:
    def test_has_every_documented_key(self, capsys: pytest.CaptureFixture[str]) -> None:
        code, out, _ = run_cli(capsys, "fit", "llama-3-8b", "--hardware", "rtx-3060-12gb", "--json")
        assert code == 0
        data = json.loads(out)
        assert data.keys() >= JSON_KEYS
        assert data["total_bytes"] == data["device_bytes"] + data["host_bytes"]
        assert data["hardware_is_profile"] is True

    def test_human_table_says_the_verdict_in_words(self, capsys: pytest.CaptureFixture[str]) -> None:
        code, out, _ = run_cli(capsys, "fit", "llama-3-8b", "--quant", "F16", "--hardware", "rtx-3060-12gb")
        assert code == 0
        assert "PARTIAL OFFLOAD" in out and "layers fit on" in out and "basis" in out


class TestLadder:
    def test_ladder_spans_both_engines_from_f16_to_ternary(self, capsys: pytest.CaptureFixture[str]) -> None:
        code, out, _ = run_cli(
            capsys, "fit", "llama-3-8b", "--ladder", "--hardware", "m3-max-40c-48gb", "--json"
        )
        assert code == 0
        quants = [r["quant"] for r in json.loads(out)["rungs"]]
        assert quants[0] == "F16" and "TQ1_0" in quants and "IQ1_S" in quants
        assert "mlx-4bit" in quants and "mlx-8bit" in quants

    def test_every_rung_carries_prompt_speed_and_first_token_time(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        argv = ("fit", "llama-3.1-8b", "--ladder", "--hardware", "rtx-3090-24gb", "--engine", "llama.cpp")
        code, out, _ = run_cli(capsys, *argv, "--ctx", "16384", "--json")
        rungs = {r["quant"]: r for r in json.loads(out)["rungs"]}
        assert code == 0 and all(
            r["predicted_pp_tps"] > 0 and r["predicted_ttft_s"] > 0 for r in rungs.values()
        )
        # F16 runs on FP16 tensor cores, Q4_K_M on INT8 ones: the quantized rung reads its prompt faster
        assert rungs["Q4_K_M"]["predicted_ttft_s"] < rungs["F16"]["predicted_ttft_s"]
        _, text, _ = run_cli(capsys, *argv, "--ctx", "16384")
        assert "prompt  TTFT s" in text and "for a 16384-token prompt" in text
        q4 = next(line for line in text.splitlines() if line.startswith("Q4_K_M ")).split()
        assert q4[-2:] == [
            f"{rungs['Q4_K_M']['predicted_pp_tps']:.0f}",
            f"{rungs['Q4_K_M']['predicted_ttft_s']:.2f}",
        ]


class TestCleanErrors:
    @pytest.mark.parametrize(
        ("argv", "hint"),
        [
            (["fit", "llama-3-8bb"], "llama-3-8b"),
            (["fit", "llama-3-8b", "--quant", "Q4_K_N"], "Q4_K_M"),
            (["fit", "llama-3-8b", "--hardware", "rtx-3060-12g"], "rtx-3060-12gb"),
        ],
        ids=["unknown-model", "unknown-quant", "unknown-profile"],
    )
    def test_unknown_names_exit_2_with_did_you_mean(
        self, capsys: pytest.CaptureFixture[str], argv: list[str], hint: str
    ) -> None:
        code, _, err = run_cli(capsys, *argv)
        assert code == 2
        assert "did you mean" in err and hint in err
        assert "Traceback" not in err

    def test_corrupt_gguf_exits_2_with_one_line_naming_the_file(
        self, capsys: pytest.CaptureFixture[str], tmp_path: Path
    ) -> None:
        bad = tmp_path / "broken.gguf"
        bad.write_bytes(b"GGUF\x03\x00\x00\x00" + b"\xff" * 40)
        code, _, err = run_cli(capsys, "fit", str(bad))
        assert code == 2
        assert err.strip().count("\n") == 0 and "broken.gguf" in err


class TestGgufFile:
    def test_weights_bytes_equal_the_files_tensor_bytes(
        self, capsys: pytest.CaptureFixture[str], tmp_path: Path
    ) -> None:
        gguf = pytest.importorskip("gguf")
        path = tmp_path / "m.gguf"
        w = gguf.GGUFWriter(str(path), "llama")
        w.add_block_count(1)
        w.add_embedding_length(64)
        w.add_head_count(4)
        w.add_head_count_kv(2)
        w.add_feed_forward_length(128)
        w.add_context_length(512)
        rng = np.random.default_rng(0)
        shapes = {
            "token_embd.weight": (100, 64), "blk.0.attn_norm.weight": (64,),
            "blk.0.attn_q.weight": (64, 64), "blk.0.attn_k.weight": (32, 64),
            "blk.0.attn_v.weight": (32, 64), "blk.0.attn_output.weight": (64, 64),
            "blk.0.ffn_norm.weight": (64,), "blk.0.ffn_gate.weight": (128, 64),
            "blk.0.ffn_up.weight": (128, 64), "blk.0.ffn_down.weight": (64, 128),
            "output_norm.weight": (64,), "output.weight": (100, 64),
        }  # fmt: skip
        for name, shape in shapes.items():
            dtype = np.float32 if len(shape) == 1 else np.float16
            w.add_tensor(name, rng.standard_normal(shape).astype(dtype))
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()
        expected = sum(int(t.n_bytes) for t in gguf.GGUFReader(str(path)).tensors)
        code, out, err = run_cli(capsys, "fit", str(path), "--json", "--hardware", "rtx-3060-12gb")
        assert code == 0, err
        assert json.loads(out)["weights_bytes"] == expected


class TestUnknownArchitecture:
    def test_plans_it_with_exact_weights_and_says_kv_is_full_attention(
        self, capsys: pytest.CaptureFixture[str], tmp_path: Path
    ) -> None:
        """A GGUF whose general.architecture tuilab does not know: exit 0, weights from its header, and
        the basis saying how KV was planned."""
        gguf = pytest.importorskip("gguf")
        path = tmp_path / "novel.gguf"
        w = gguf.GGUFWriter(str(path), "novel")
        for key, value in (("block_count", 1), ("embedding_length", 64), ("attention.head_count", 4),
                           ("feed_forward_length", 128), ("context_length", 512)):  # fmt: skip
            w.add_uint32(f"novel.{key}", value)
        shapes = {
            "token_embd.weight": (100, 64),
            "blk.0.attn_q.weight": (64, 64),
            "blk.0.ffn_up.weight": (128, 64),
            "output.weight": (100, 64),
        }
        for name, shape in shapes.items():
            w.add_tensor(name, np.zeros(shape, dtype=np.float16))
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()
        code, out, err = run_cli(capsys, "fit", str(path), "--json", "--hardware", "rtx-3060-12gb")
        assert code == 0, err
        data = json.loads(out)
        assert data["weights_bytes"] == sum(int(t.n_bytes) for t in gguf.GGUFReader(str(path)).tensors)
        assert (
            "unknown architecture novel: KV planned as full attention on every layer"
            in data["basis"]["kv_cache"]
        )


class TestHeadless:
    def test_fit_path_imports_no_ui_or_engine(self) -> None:
        code = (
            "import sys; from tuilab.cli import main; "
            "rc = main(['fit', 'llama-3-8b', '--hardware', 'h100-sxm-80gb', '--json']); "
            "heavy = [m for m in ('textual', 'mlx', 'mlx_lm', 'llama_cpp', 'huggingface_hub', 'numpy') "
            "if m in sys.modules]; print('HEAVY', heavy, file=sys.stderr); sys.exit(rc or bool(heavy))"
        )
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        assert "HEAVY []" in proc.stderr


class TestFilesystemErrors:
    def test_an_unwritable_place_is_one_line_not_a_traceback(self, tmp_path: Path) -> None:
        blocker = tmp_path / "not-a-dir"
        blocker.write_text("a file where a folder should be")
        env = {**__import__("os").environ, "TUILAB_HOME": str(blocker / "home")}
        proc = subprocess.run(
            [sys.executable, "-m", "tuilab", "fit", "demo"],
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
        )
        assert proc.returncode != 0
        assert "Traceback" not in proc.stderr
        assert proc.stderr.startswith("tuilab: error:") and proc.stderr.count("\n") == 1


class TestExpertOffloadAndSeveralGpus:
    """Issue 15 through the CLI: --offload, --cpu-moe, --tensor-split and 'Nx PROFILE'."""

    def test_a_moe_model_on_a_small_card_plans_experts_in_ram(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        code, out, _ = run_cli(capsys, "fit", "qwen3-30b-a3b", "--hardware", "rtx-3060-12gb", "--json")
        data = json.loads(out)
        assert code == 0 and data["offload_mode"] == "experts" and data["cpu_moe_layers"] > 0
        assert data["verdict"] == "partial_offload" and len(data["devices"]) == 1

    def test_offload_layers_and_cpu_moe_all(self, capsys: pytest.CaptureFixture[str]) -> None:
        base = ["fit", "qwen3-30b-a3b", "--hardware", "rtx-3060-12gb", "--json"]
        _, out, _ = run_cli(capsys, *base, "--offload", "layers")
        assert json.loads(out)["offload_mode"] == "layers"
        _, out, _ = run_cli(capsys, *base, "--cpu-moe", "all")
        assert json.loads(out)["cpu_moe_layers"] == 48

    def test_the_table_names_the_offload(self, capsys: pytest.CaptureFixture[str]) -> None:
        code, out, _ = run_cli(capsys, "fit", "qwen3-30b-a3b", "--hardware", "rtx-3060-12gb")
        assert code == 0 and "offload    experts of the first" in out and "experts on the CPU" in out

    def test_two_gpus_get_a_column_each(self, capsys: pytest.CaptureFixture[str]) -> None:
        code, out, _ = run_cli(capsys, "fit", "llama-3-70b", "--hardware", "2x rtx-3090-24gb")
        head = next(line for line in out.splitlines() if "host (RAM)" in line)
        assert code == 0 and head.split() == ["GPU", "0", "GPU", "1", "host", "(RAM)"]
        assert "FITS" in out

    def test_json_devices_for_two_gpus(self, capsys: pytest.CaptureFixture[str]) -> None:
        _, out, _ = run_cli(capsys, "fit", "llama-3-70b", "--hardware", "2x rtx-3090-24gb", "--json")
        devices = json.loads(out)["devices"]
        assert [d["n_layers"] for d in devices] == [41, 39]
        assert all({"name", "device_bytes", "budget_bytes"} <= d.keys() for d in devices)

    @pytest.mark.parametrize(
        ("argv", "words"),
        [
            (["--hardware", "2x rtx-3090-24gb", "--tensor-split", "1,2,3"], "3 shares for 2 GPUs"),
            (["--hardware", "2x rtx-3090-24gb", "--tensor-split", "a,b"], "numbers separated by commas"),
            (["--hardware", "rtx-3060-12gb", "--cpu-moe", "-2"], "cannot be negative"),
            (["--hardware", "rtx-3060-12gb", "--cpu-moe", "4"], "has no experts"),
            (["--hardware", "2x m3-max-40c-48gb"], "discrete GPU"),
        ],
    )
    def test_bad_flags_get_one_line(
        self, capsys: pytest.CaptureFixture[str], argv: list[str], words: str
    ) -> None:
        try:
            code = main(["fit", "llama-3-8b", *argv])
        except SystemExit as exc:  # argparse's own refusal of a malformed value
            code = int(str(exc.code))
        err = capsys.readouterr().err
        assert code == 2 and words in err and "Traceback" not in err


class TestMinTps:
    ARGS = ("fit", "llama-3.1-8b", "--hardware", "rtx-3090-24gb", "--quant", "Q4_K_M", "--ctx", "131072")

    def test_json_gives_the_largest_context_above_the_floor_next_to_the_memory_one(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        code, out, _ = run_cli(capsys, *self.ARGS, "--min-tps", "60", "--json")
        d = json.loads(out)
        assert code == 0 and d["min_tps"] == 60
        assert 0 < d["max_ctx_at_min_tps"] < d["max_ctx"]  # speed binds before memory here
        assert d["predicted_tg_tps"] > 60 > d["predicted_tg_tps_full_ctx"]

    def test_a_floor_above_the_empty_context_rate_gives_zero(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        code, out, _ = run_cli(capsys, *self.ARGS, "--min-tps", "10000")
        assert code == 0 and "max ctx    0 tokens at 10000 tok/s or faster" in out

    def test_a_floor_of_zero_is_one_clear_line(self, capsys: pytest.CaptureFixture[str]) -> None:
        code, _, err = run_cli(capsys, *self.ARGS, "--min-tps", "0")
        assert code == 2 and err.strip() == "tuilab: error: --min-tps must be above 0, got 0"


class TestQuantizedMlxCacheRefusedForSlidingWindows:
    def test_fit_refuses_a_quantized_mlx_cache_for_gemma_2(self, capsys: pytest.CaptureFixture[str]) -> None:
        assert (
            main(["fit", "gemma-2-9b", "--engine", "mlx", "--quant", "mlx-4bit", "--kv-type", "mlx-kv4"]) == 2
        )
        err = capsys.readouterr().err
        assert "sliding window" in err and len(err.strip().splitlines()) == 1

    def test_fit_plans_f16_for_gemma_2_as_before(self, capsys: pytest.CaptureFixture[str]) -> None:
        assert main(["fit", "gemma-2-9b", "--engine", "mlx", "--quant", "mlx-4bit", "--json"]) == 0


class TestNoPromptSpeedNoFirstTokenTime:
    def test_the_first_token_time_is_unknown_not_zero(self, capsys: pytest.CaptureFixture[str]) -> None:
        """Audit of issue 13: MLX off a Mac has no FLOPS figure, so the plan said "prompt speed unknown"
        and, on the next line, "first tok 0.00 s for a 4096-token prompt"."""
        argv = ("fit", "llama-3-8b", "--quant", "mlx-4bit", "--hardware", "rtx-4090-24gb")
        code, out, _ = run_cli(capsys, *argv)
        assert code == 0 and "prompt speed unknown" in out
        assert "  first tok  unknown for a 4096-token prompt (no prompt speed for this device)" in out

    def test_a_known_prompt_speed_still_gives_seconds(self, capsys: pytest.CaptureFixture[str]) -> None:
        code, out, _ = run_cli(capsys, "fit", "llama-3-8b", "--hardware", "rtx-4090-24gb")
        assert code == 0 and " s for a 4096-token prompt" in out and "first tok  unknown" not in out
