"""What a new user hit (issue 12), as a spec: each class reproduces one item through the real `tuilab`
entry (`tuilab.cli.main`) with TUILAB_HOME in a temporary folder, on the session's tiny models."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from tuilab.cli import main
from tuilab.cli.cluster import _result, _stats_line
from tuilab.engines.client import EngineWorker
from tuilab.engines.events import Failed, Finished, Stats
from tuilab.engines.protocol import LoadSpec
from tuilab.lab.session import Generation
from tuilab.models.tiny import TinyModels
from tuilab.ui.render import ctx_label

LONG_PROMPT = "the quick brown fox jumps over the lazy dog " * 60  # ~500 tokens with the tiny vocab


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TUILAB_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def _no_engine(*_: Any, **__: Any) -> Any:
    raise AssertionError("an engine session started; the prompt should have been refused before any load")


def _model(tiny_models: TinyModels, engine: str) -> Path:
    pytest.importorskip("llama_cpp" if engine == "llama.cpp" else "mlx_lm")
    return tiny_models.gguf_f16 if engine == "llama.cpp" else tiny_models.mlx_dir


class TestItem13PromptLongerThanTheContext:
    """The reason is the one line a user reads, and it is their error (exit 2), not the engine's (4)."""

    @pytest.mark.parametrize("engine", ["llama.cpp", "mlx"])
    def test_the_cli_says_why_in_one_line_and_exits_2(
        self, engine: str, tiny_models: TinyModels, home: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        model = _model(tiny_models, engine)
        assert main(["run", str(model), "--ctx", "256", "--prompt", LONG_PROMPT, "--max-tokens", "4"]) == 2
        err_lines = capsys.readouterr().err.strip().splitlines()
        assert len(err_lines) == 1, err_lines  # no engine log lines pushing the reason away
        assert "the prompt has" in err_lines[0] and "the context holds 256" in err_lines[0]

    def test_the_run_pane_gets_the_reason_alone(self, tiny_models: TinyModels) -> None:
        # The lab's engine runner posts `Failed.message(...)` as the Run pane's message.
        model = _model(tiny_models, "llama.cpp")
        with EngineWorker("llama.cpp") as worker:
            assert not isinstance(worker.load(LoadSpec(str(model), ctx_tokens=256)), Failed)
            events = list(worker.generate(LONG_PROMPT, 4))
        failed = events[-1]
        assert isinstance(failed, Failed) and failed.user_error
        message = failed.message("the engine failed while generating")
        assert message.startswith("the prompt has") and "\n" not in message

    def test_an_engine_failure_keeps_its_reason_above_a_short_log_tail(self) -> None:
        failed = Failed("the engine worker was killed (SIGKILL)", tuple(f"log line {i}" for i in range(40)))
        lines = failed.message("llama.cpp failed while generating").splitlines()
        assert lines[0] == "llama.cpp failed while generating: the engine worker was killed (SIGKILL)"
        assert lines[-1].endswith("log line 39") and len(lines) <= 9  # the reason stays on the screen


class TestItem14UndecodablePrompt:
    """Bytes that are not UTF-8 are refused with exit 2 before the model loads, wherever they come from."""

    @pytest.fixture(autouse=True)
    def _engines_must_not_start(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr("tuilab.cli.run.Session", _no_engine)

    def test_an_argument_with_undecodable_bytes(
        self, tiny_models: TinyModels, home: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        prompt = b"caf\xe9 au lait".decode("utf-8", "surrogateescape")  # how Python receives such argv
        assert main(["run", str(tiny_models.gguf_f16), "--prompt", prompt]) == 2
        err = capsys.readouterr().err
        assert "not valid UTF-8 (byte 0xe9" in err and "Traceback" not in err

    def test_a_prompt_file_with_undecodable_bytes(
        self, tiny_models: TinyModels, tmp_path: Path, home: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        bad = tmp_path / "prompt.txt"
        bad.write_bytes(b"hello \xff\xfe world")
        assert main(["run", str(tiny_models.gguf_f16), "--prompt-file", str(bad)]) == 2
        assert f"{bad}: the prompt is not valid UTF-8 (byte 0xff at offset 6)" in capsys.readouterr().err

    def test_stdin_with_undecodable_bytes(
        self,
        tiny_models: TinyModels,
        home: Path,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b"\xc3\x28 broken")))
        assert main(["run", str(tiny_models.gguf_f16), "--prompt-file", "-"]) == 2
        assert "standard input: the prompt is not valid UTF-8" in capsys.readouterr().err

    def test_a_missing_prompt_file(
        self, tiny_models: TinyModels, home: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert main(["run", str(tiny_models.gguf_f16), "--prompt-file", "/no/such/prompt.txt"]) == 2
        assert "/no/such/prompt.txt: no such file" in capsys.readouterr().err


class TestItem14ValidPromptFromStdin:
    def test_utf8_on_stdin_is_the_prompt(
        self,
        tiny_models: TinyModels,
        home: Path,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        pytest.importorskip("llama_cpp")
        monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(("Grüße, world " * 20).encode())))
        args = ["run", str(tiny_models.gguf_f16), "--prompt-file", "-", "--max-tokens", "2", "--json"]
        assert main(args) == 0
        result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        assert result["prompt_tokens"] > 40  # the default prompt is a handful of tokens


@pytest.fixture
def isolated_stores(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No LM Studio, Ollama or Hugging Face cache of the real user: only tuilab's own models folder."""
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.delenv("OLLAMA_MODELS", raising=False)
    return home


class TestItem12NamesRoundTrip:
    """Every name `tuilab models` prints is a name fit and run accept, and no advice names a model that
    the command it advises would refuse."""

    def _listed_names(self, capsys: pytest.CaptureFixture[str]) -> list[str]:
        assert main(["fit", "demo"]) == 0  # writes the demo set into the models folder
        capsys.readouterr()
        assert main(["models", "--json"]) == 0
        return [m["name"] for m in json.loads(capsys.readouterr().out)]

    def test_every_listed_name_is_accepted_by_fit(
        self, isolated_stores: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        names = self._listed_names(capsys)
        assert "demo/tiny-f16" in names
        for name in names:
            assert main(["fit", name, "--json"]) == 0, name
            assert json.loads(capsys.readouterr().out)["verdict"] != "no_fit"

    def test_the_last_part_of_a_listed_name_is_enough_when_only_one_model_has_it(
        self, isolated_stores: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        self._listed_names(capsys)
        assert main(["fit", "tiny-f16", "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["quant"] == "F16"

    def test_run_accepts_a_listed_name(
        self, isolated_stores: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        pytest.importorskip("llama_cpp")
        self._listed_names(capsys)
        assert main(["run", "tiny-f16", "--max-tokens", "2", "--json"]) == 0

    def test_a_local_name_is_never_sent_to_the_hub(
        self, isolated_stores: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        self._listed_names(capsys)
        assert main(["fit", "demo/tiny-f16"]) == 0
        assert "tuilab pull" not in capsys.readouterr().out
        assert main(["fit", "demo/tiny-f17"]) == 2
        err = capsys.readouterr().err
        assert "tuilab pull" not in err and "did you mean 'demo/tiny-f16'" in err

    def test_a_repo_id_not_in_the_cache_still_points_to_pull(
        self, isolated_stores: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        # `fit` plans such a repo from its Hub metadata (tests/models/test_hub.py); `run` needs the weights
        assert main(["run", "Qwen/Qwen3-0.6B", "--prompt", "hi"]) == 2
        assert "tuilab pull Qwen/Qwen3-0.6B" in capsys.readouterr().err

    def test_demo_with_the_mlx_engine_is_the_demo_mlx_folder(
        self, isolated_stores: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert main(["fit", "demo", "--engine", "mlx", "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["engine"] == "mlx"


class TestItem23ErrorWording:
    """Each bad MODEL or --quant reads as what is wrong, in one line, with exit 2."""

    def _error(self, args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
        assert main(args) == 2
        err_lines = capsys.readouterr().err.strip().splitlines()
        assert len(err_lines) == 1, err_lines
        return err_lines[0]

    @pytest.mark.parametrize("spec", ["/no/such/model.gguf", "./missing.gguf", "missing.gguf", "~/nope/x"])
    def test_a_missing_file_is_no_such_file(
        self, spec: str, home: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert self._error(["fit", spec], capsys) == f"tuilab: error: {spec}: no such file or directory"

    def test_a_folder_of_models_names_them(
        self, tiny_models: TinyModels, tmp_path: Path, home: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        folder = tmp_path / "models"
        folder.mkdir()
        (folder / "a.gguf").write_bytes(tiny_models.gguf_f16.read_bytes())
        (folder / "b.gguf").write_bytes(tiny_models.gguf_f16.read_bytes())
        error = self._error(["fit", str(folder)], capsys)
        assert "config.json" not in error and "a.gguf, b.gguf" in error and "give one of them" in error

    def test_an_empty_folder_is_not_a_model_folder(
        self, tmp_path: Path, home: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert "not a model folder" in self._error(["fit", str(tmp_path)], capsys)

    def test_a_three_byte_file_says_it_is_too_short(
        self, tmp_path: Path, home: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        short = tmp_path / "short.gguf"
        short.write_bytes(b"GGU")
        error = self._error(["fit", str(short)], capsys)
        assert "3 bytes long" in error and "b''" not in error

    def test_a_load_error_names_the_engine_and_file_once(
        self, tiny_models: TinyModels, tmp_path: Path
    ) -> None:
        pytest.importorskip("llama_cpp")
        cut = tmp_path / "cut.gguf"  # tensor data cut short; straight to llama.cpp, past tuilab's own reader
        data = tiny_models.gguf_f16.read_bytes()
        cut.write_bytes(data[: len(data) // 2])
        with EngineWorker("llama.cpp") as worker:
            failed = worker.load(LoadSpec(str(cut), ctx_tokens=256))
        assert isinstance(failed, Failed)
        message = failed.message(f"llama.cpp could not load {cut}")  # as `tuilab run` and the lab word it
        assert message.count("could not load") == 1 and message.count(str(cut)) <= 2, message

    def test_an_unknown_quant_lists_the_common_ones(
        self, home: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        error = self._error(["fit", "demo", "--quant", "nonsense"], capsys)
        assert "unknown quant 'nonsense'" in error and "Q4_K_M" in error and "mlx-4bit" in error

    def test_a_near_miss_quant_gets_a_did_you_mean(
        self, home: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert "did you mean 'Q4_K_M'" in self._error(["fit", "demo", "--quant", "q4km"], capsys)


CPU_BOX = """
name = "cpu-box"
display_name = "A CPU-only box"
platform = "cpu"

[memory]
ram_gib = 16
ram_bandwidth_gbps = 51.2

[cpu]
cores = 8

[sources]
"memory.ram_gib" = "a test machine"
"memory.ram_bandwidth_gbps" = "a test machine"
"cpu.cores" = "a test machine"
"""


@pytest.fixture
def cpu_box(home: Path) -> str:
    """A user hardware profile of a machine without a GPU."""
    folder = home / "config" / "profiles" / "hardware"
    folder.mkdir(parents=True)
    (folder / "cpu-box.toml").write_text(CPU_BOX)
    return "cpu-box"


class TestItem21CpuOnlyWording:
    """On a machine without a GPU the fit report speaks of RAM, never of an empty device."""

    def test_the_table_has_one_ram_column_and_no_gpu_zeros(
        self, cpu_box: str, capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert main(["fit", "demo", "--hardware", cpu_box]) == 0
        out = capsys.readouterr().out
        assert "RAM (CPU)" in out and "(GPU)" not in out
        total = next(line for line in out.splitlines() if line.strip().startswith("total"))
        assert total.split()[1:] == ["0.14", "GB"]  # one column: the RAM the plan takes

    def test_advice_names_ram_not_the_device(self, cpu_box: str, capsys: pytest.CaptureFixture[str]) -> None:
        assert main(["fit", "llama-3-8b", "--quant", "F16", "--ctx", "8192", "--hardware", cpu_box]) == 0
        out = capsys.readouterr().out
        assert "on the device" not in out and "GB in RAM, ~" in out

    def test_no_context_that_fits_is_said_in_words(
        self, cpu_box: str, capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert main(["fit", "llama-3-70b", "--quant", "F16", "--hardware", cpu_box]) == 0
        out = capsys.readouterr().out
        assert "max ctx    none" in out and "0 tokens" not in out

    def test_the_ladder_plans_ram_on_a_cpu_box(
        self, cpu_box: str, capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert main(["fit", "demo", "--ladder", "--engine", "llama.cpp", "--hardware", cpu_box]) == 0
        f16 = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("F16"))
        assert f16.split()[3] == "0.14"  # the plan's RAM, not 0.00 on a device that is not there

    def test_the_lab_labels_a_zero_context_none(self) -> None:
        assert ctx_label(0) == "none"


# The tiny model on MLX's CPU backend, measured on the 2-core dev VM (docs/benchmarks.md, engine overhead
# table, medians): F16 387 tok/s, 4-bit 28 tok/s. Before the fix the plan said 16524 tok/s for the 4-bit.
MEASURED_MLX_CPU_TPS = {"mlx_dir": 387.15, "mlx_4bit_dir": 27.96}


class TestItem21MlxOnTheLinuxCpu:
    """MLX off a Mac is planned on its own CPU backend's costs, not as a memory-bound llama.cpp CPU run."""

    @pytest.mark.parametrize("which", sorted(MEASURED_MLX_CPU_TPS))
    def test_the_prediction_is_near_the_recorded_measurement(
        self, which: str, tiny_models: TinyModels, cpu_box: str, capsys: pytest.CaptureFixture[str]
    ) -> None:
        model = getattr(tiny_models, which)
        if model is None:
            pytest.skip("the 4-bit MLX tiny model needs mlx-lm")
        assert main(["fit", str(model), "--hardware", cpu_box, "--json"]) == 0
        fit = json.loads(capsys.readouterr().out)
        ratio = fit["predicted_tg_tps"] / MEASURED_MLX_CPU_TPS[which]
        assert 0.5 < ratio < 2.0, fit["predicted_tg_tps"]
        assert fit["basis"]["speed"].startswith("mlx-cpu:")

    def test_no_prompt_speed_is_invented_for_it(
        self, tiny_models: TinyModels, cpu_box: str, capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert main(["fit", str(tiny_models.mlx_dir), "--hardware", cpu_box]) == 0
        assert "prompt speed unknown" in capsys.readouterr().out

    def test_llama_cpp_on_the_same_cpu_keeps_its_own_path(
        self, tiny_models: TinyModels, cpu_box: str, capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert main(["fit", str(tiny_models.gguf_f16), "--hardware", cpu_box, "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["basis"]["speed"].startswith("cpu:")


class TestItem21MeasuredPromptSpeed:
    """`tuilab run` on the tiny GGUF: a few prompt tokens give "-" and why, never a rate like 3764814 tok/s;
    a prompt long enough to time shows the engine's rate."""

    def test_a_short_prompt_shows_a_dash_and_why(
        self, tiny_models: TinyModels, capsys: pytest.CaptureFixture[str]
    ) -> None:
        model = _model(tiny_models, "llama.cpp")
        assert (
            main(["run", str(model), "--prompt", "Hi there", "--max-tokens", "2", "--ctx", "512", "--json"])
            == 0
        )
        out, err = capsys.readouterr()
        result = json.loads(out.strip().splitlines()[-1])
        assert " tok at - (under 32 tok) · " in err
        assert result["prompt_tps_note"] == "under 32 tok"

    def test_a_long_prompt_shows_its_rate(
        self, tiny_models: TinyModels, capsys: pytest.CaptureFixture[str]
    ) -> None:
        model = _model(tiny_models, "llama.cpp")
        prompt = "the quick brown fox jumps over the lazy dog " * 10  # ~90 tokens
        assert (
            main(["run", str(model), "--prompt", prompt, "--max-tokens", "2", "--ctx", "512", "--json"]) == 0
        )
        out, err = capsys.readouterr()
        result = json.loads(out.strip().splitlines()[-1])
        assert result["prompt_tps_note"] is None and result["prompt_tps"] > 0
        assert f" tok at {result['prompt_tps']:.1f} tok/s · " in err

    def test_a_distributed_run_follows_the_same_rule(self) -> None:
        stats = Stats(
            ttft_s=0.002, prompt_tokens=4, prompt_tps=3764814.0, gen_tokens=8, gen_tps=90.0,
            peak_memory_bytes=None, engine_peak_memory_bytes=None, rss_bytes=None, rss_peak_bytes=None,
            device_memory_bytes=None, wall_s=0.1,
        )  # fmt: skip
        summary = _result("m", ("a", "b"), Generation(stats=stats, finished=Finished("length")), None)
        assert summary["prompt_tps_note"] == "under 32 tok"
        assert " · prompt - (under 32 tok) · " in _stats_line(summary)


class TestItem18RunSamplingOptions:
    """`tuilab run` takes the same max tokens and temperature rules as the lab's Run pane controls."""

    @pytest.mark.parametrize(
        ("option", "said"),
        [
            (["--temperature", "5"], "--temperature must be from 0 (greedy) to 2, got 5"),
            (["--temperature", "-0.5"], "--temperature must be from 0 (greedy) to 2, got -0.5"),
            (["--max-tokens", "0"], "--max-tokens must be a whole number of at least 1, got 0"),
        ],
        ids=["too-hot", "negative", "zero-tokens"],
    )
    def test_a_bad_value_is_one_line_and_exit_2_before_any_load(
        self,
        option: list[str],
        said: str,
        capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.setattr(EngineWorker, "__init__", _no_engine)
        assert main(["run", "demo", *option]) == 2
        assert capsys.readouterr().err.strip() == f"tuilab: error: {said}"
