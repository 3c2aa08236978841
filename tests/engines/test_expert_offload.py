"""Issue 15: the llama.cpp engine keeps MoE experts in host memory through buffer-type overrides.

Real llama.cpp on the tiny MoE GGUF (llama architecture with 4 experts, 2 used per token). On this CPU-only
machine every tensor is in host memory anyway, so the proof is llama.cpp's own load log: it names each
tensor an override placed ("buffer type overridden to CPU..."), and the override must change nothing the
model computes.
"""

from __future__ import annotations

import ctypes
from pathlib import Path

import pytest

from tuilab.engines.protocol import LoadSpec, SamplingParams
from tuilab.models.tiny import TinyModels

lc = pytest.importorskip("llama_cpp")

from tuilab.engines.llama import LlamaCppEngine, cpu_moe_overrides  # noqa: E402

EXPERTS = ("ffn_gate_exps", "ffn_up_exps", "ffn_down_exps")


def moe_model(tiny_models: TinyModels) -> Path:
    return tiny_models.moe.get("Q4_0") or tiny_models.moe["F16"]


def load(path: Path, cpu_moe_layers: int) -> tuple[LlamaCppEngine, tuple[str, ...]]:
    engine = LlamaCppEngine()
    info = engine.load(LoadSpec(str(path), ctx_tokens=256, cpu_moe_layers=cpu_moe_layers, threads=1))
    return engine, info.overridden_tensors


def greedy_text(engine: LlamaCppEngine, n_tokens: int = 24) -> str:
    return "".join(engine.generate("Once upon a time", n_tokens, SamplingParams(temperature=0.0)))


class TestOverridesAreBuiltAsNCpuMoeBuildsThem:
    def test_one_pattern_per_layer_then_a_null_terminator(self) -> None:
        array = cpu_moe_overrides(3)
        patterns = [array[i].pattern for i in range(4)]
        assert patterns[:3] == [rf"blk\.{i}\.ffn_(up|down|gate|gate_up)_(ch|)exps".encode() for i in range(3)]
        assert patterns[3] is None and array[3].buft is None
        assert all(array[i].buft for i in range(3))  # the CPU device's buffer type, not null

    def test_the_struct_is_two_pointers_as_in_llama_h(self) -> None:
        assert ctypes.sizeof(cpu_moe_overrides(1)) == 2 * 2 * ctypes.sizeof(ctypes.c_void_p)


class TestTheOverrideTakesEffect:
    @pytest.mark.parametrize("n_layers", [1, 2])
    def test_llama_cpp_places_exactly_the_experts_of_the_first_n_layers(
        self, tiny_models: TinyModels, n_layers: int
    ) -> None:
        engine, overridden = load(moe_model(tiny_models), n_layers)
        engine.unload()
        expected = {f"blk.{i}.{t}.weight" for i in range(n_layers) for t in EXPERTS}
        assert set(overridden) == expected

    def test_without_the_flag_nothing_is_overridden(self, tiny_models: TinyModels) -> None:
        engine, overridden = load(moe_model(tiny_models), 0)
        engine.unload()
        assert overridden == ()


class TestTheOverrideChangesNoToken:
    def test_greedy_tokens_match_a_run_without_overrides(self, tiny_models: TinyModels) -> None:
        plain, _ = load(moe_model(tiny_models), 0)
        expected = greedy_text(plain)
        plain.unload()
        offloaded, overridden = load(moe_model(tiny_models), 2)
        got = greedy_text(offloaded)
        offloaded.unload()
        assert overridden and expected and got == expected
