"""What a new user hit with the ladder (issue 12), as a spec: a class per item, on the session's tiny
models and real ladder code (bench CLI, child processes, history files)."""

from __future__ import annotations

import shlex

import pytest

from tuilab.bench.source import bench_command, resolve_source
from tuilab.core.errors import UsageError
from tuilab.models.resolve import resolve_model
from tuilab.models.tiny import TinyModels
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
