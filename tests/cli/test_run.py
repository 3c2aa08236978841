"""`tuilab run`: streamed text on stdout, stats on stderr, one JSON line with --json, and loads the fit
plan refuses turned away with exit 3 before any engine starts. A context past the trained one runs at the
trained one, with a note (the one rule of tuilab.lab.planning)."""

from __future__ import annotations

import json
import time
from dataclasses import replace

import pytest

from tuilab.cli import main
from tuilab.core.hardware import MIB, HardwareSpec
from tuilab.models.profiles import load_hardware_profile
from tuilab.models.tiny import TinyModels

JSON_KEYS = {
    "engine",
    "model",
    "quant",
    "ttft_s",
    "prompt_tokens",
    "prompt_tps",
    "gen_tokens",
    "gen_tps",
    "peak_memory_bytes",
    "peak_memory_source",
    "process_peak_bytes",
    "mlx_active_peak_bytes",
    "predicted_tg_tps",
    "predicted_memory_bytes",
}


def last_json_line(stdout: str) -> dict[str, object]:
    result: dict[str, object] = json.loads(stdout.strip().splitlines()[-1])
    return result


class TestRunStreams:
    @pytest.mark.parametrize("engine", ["llama.cpp", "mlx"])
    def test_json_line_ends_stdout_and_stats_go_to_stderr(
        self, engine: str, tiny_models: TinyModels, capsys: pytest.CaptureFixture[str]
    ) -> None:
        pytest.importorskip("llama_cpp" if engine == "llama.cpp" else "mlx_lm")
        model = tiny_models.gguf_f16 if engine == "llama.cpp" else tiny_models.mlx_dir
        assert main(["run", str(model), "--max-tokens", "12", "--json", "--ctx", "512"]) == 0
        out, err = capsys.readouterr()
        result = last_json_line(out)
        assert set(result) >= JSON_KEYS
        assert result["engine"] == engine
        assert result["gen_tokens"] == 12
        for key in ("ttft_s", "prompt_tps", "gen_tps", "peak_memory_bytes", "predicted_memory_bytes"):
            assert isinstance(result[key], int | float) and result[key] > 0, key
        assert out.strip().splitlines()[0].strip()  # the generated text came first
        assert "tok/s" in err
        # the process's own peak is the headline; MLX's active peak goes beside it, only for MLX
        assert result["process_peak_bytes"] == result["peak_memory_bytes"]
        assert (result["mlx_active_peak_bytes"] is not None) is (engine == "mlx")

    def test_llama_cpp_reports_where_it_ran_and_what_it_was_built_with(
        self, tiny_models: TinyModels, capsys: pytest.CaptureFixture[str]
    ) -> None:
        pytest.importorskip("llama_cpp")
        assert main(["run", str(tiny_models.gguf_f16), "--max-tokens", "2", "--json", "--ctx", "512"]) == 0
        out, err = capsys.readouterr()
        result = last_json_line(out)
        assert (result["backend"], result["build_backends"]) == ("cpu", ["CPU"])  # this box: a CPU build
        assert err.startswith("llama.cpp on cpu (build: CPU) · ")

    def test_demo_runs_without_a_path(self, capsys: pytest.CaptureFixture[str]) -> None:
        pytest.importorskip("llama_cpp")
        assert main(["run", "demo", "--max-tokens", "4", "--json"]) == 0
        assert last_json_line(capsys.readouterr().out)["gen_tokens"] == 4


def small_machine() -> HardwareSpec:
    """A CPU-only machine with 64 MiB free: a real profile's numbers, less its GPU and most of its RAM, so
    the tiny model (about 0.14 GB planned) cannot fit. The only way to get a no-fit on any test machine."""
    return replace(
        load_hardware_profile("rtx-3060-12gb"), gpus=(), ram_available_bytes=64 * MIB, os_reserve_bytes=0
    )


class TestRunRefuses:
    def test_a_load_the_plan_says_will_not_fit_is_refused_with_the_numbers(
        self, tiny_models: TinyModels, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr("tuilab.cli.run.machine_spec", lambda profile: small_machine())
        start_s = time.perf_counter()
        assert main(["run", str(tiny_models.gguf_f16)]) == 3
        err = capsys.readouterr().err
        assert "will not fit" in err and "--force" in err
        assert "KV cache" in err and "0.07 GB RAM" in err
        assert time.perf_counter() - start_s < 10  # refused before any engine started

    @pytest.mark.parametrize(
        ("extra", "message"),
        [
            (["--engine", "mlx"], "GGUF"),
            (["--kv-type", "mlx-kv4"], "not offered"),
            (["--engine", "vllm"], "unknown engine"),
            (["--max-tokens", "0"], "at least 1"),
        ],
        ids=["gguf-on-mlx", "kv-type-of-other-engine", "unknown-engine", "zero-tokens"],
    )
    def test_bad_requests_exit_2(
        self, tiny_models: TinyModels, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
    ) -> None:
        assert main(["run", str(tiny_models.gguf_f16), *extra]) == 2
        assert message in capsys.readouterr().err


class TestMaxKvSize:
    def test_is_an_mlx_option(self, tiny_models: TinyModels, capsys: pytest.CaptureFixture[str]) -> None:
        assert main(["run", str(tiny_models.gguf_f16), "--max-kv-size", "64"]) == 2
        assert "MLX option" in capsys.readouterr().err

    def test_a_quantized_kv_cache_cannot_go_with_it(
        self, tiny_models: TinyModels, capsys: pytest.CaptureFixture[str]
    ) -> None:
        code = main(["run", str(tiny_models.mlx_dir), "--max-kv-size", "64", "--kv-type", "mlx-kv4"])
        err = capsys.readouterr().err
        assert code == 2 and "RotatingKVCache" in err and len(err.strip().splitlines()) == 1

    def test_zero_is_refused(self, tiny_models: TinyModels, capsys: pytest.CaptureFixture[str]) -> None:
        assert main(["run", str(tiny_models.mlx_dir), "--max-kv-size", "0"]) == 2


class TestRunContext:
    def test_a_context_past_the_trained_one_runs_at_the_trained_one_and_says_so(
        self, tiny_models: TinyModels, capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert (
            main(["run", str(tiny_models.gguf_f16), "--ctx", "1000000", "--max-tokens", "2", "--json"]) == 0
        )
        captured = capsys.readouterr()
        assert last_json_line(captured.out)["ctx"] == 2048  # the tiny model's trained context
        assert "note: context 1000000 tokens asked; planned at 2048" in captured.err

    @pytest.mark.parametrize(
        ("extra", "message"),
        [(["--ctx", "0"], "at least 1 token"), (["--gpu-layers", "-3"], "0 or more")],
        ids=["zero-context", "negative-gpu-layers"],
    )
    def test_the_same_bad_values_fit_refuses_exit_2(
        self, tiny_models: TinyModels, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
    ) -> None:
        assert main(["run", str(tiny_models.gguf_f16), *extra]) == 2
        assert message in capsys.readouterr().err


class TestCpuMoe:
    """`tuilab run --cpu-moe N` loads with the experts of the first N layers placed by an override."""

    def test_the_json_names_the_overridden_expert_tensors(
        self, tiny_models: TinyModels, capsys: pytest.CaptureFixture[str]
    ) -> None:
        pytest.importorskip("llama_cpp")
        model = tiny_models.moe["F16"]
        assert main(["run", str(model), "--cpu-moe", "1", "--max-tokens", "4", "--json", "--ctx", "256"]) == 0
        result = last_json_line(capsys.readouterr().out)
        assert sorted(result["overridden_tensors"]) == [  # type: ignore[call-overload]
            f"blk.0.{t}.weight" for t in ("ffn_down_exps", "ffn_gate_exps", "ffn_up_exps")
        ]

    def test_a_dense_model_refuses_it_in_one_line(
        self, tiny_models: TinyModels, capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert main(["run", str(tiny_models.gguf_f16), "--cpu-moe", "1", "--max-tokens", "4"]) == 2
        err = capsys.readouterr().err
        assert "has no experts" in err and "Traceback" not in err


@pytest.mark.llama
class TestRunShowsWhereItIs:
    def test_depth_and_the_plans_rate_there_sit_beside_the_measured_rate(
        self, tiny_models: TinyModels, capsys: pytest.CaptureFixture[str]
    ) -> None:
        pytest.importorskip("llama_cpp")
        assert main(["run", str(tiny_models.gguf_f16), "--max-tokens", "12", "--json", "--ctx", "512"]) == 0
        out, err = capsys.readouterr()
        result = last_json_line(out)
        assert result["depth_tokens"] == result["prompt_tokens"] + result["gen_tokens"]  # type: ignore[operator]
        assert (
            isinstance(result["predicted_tg_tps_at_depth"], float) and result["predicted_tg_tps_at_depth"] > 0
        )
        assert f"depth {result['depth_tokens']} · " in err and "(plan " in err
