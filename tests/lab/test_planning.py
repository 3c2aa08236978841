"""tuilab.lab.planning: one default context, one rule past the trained context, the checks every face
shares, and the ladder. Real profiles and the real tiny model; no fakes."""

from __future__ import annotations

import pytest

from tuilab.core.errors import UsageError
from tuilab.lab.machine import profile_spec
from tuilab.lab.planning import (
    DEFAULT_CTX_TOKENS,
    FitQuery,
    choose_quant,
    context_note,
    plan_fit,
    plan_ladder,
    planned_context,
)
from tuilab.models.resolve import resolve_model

HW = "rtx-3060-12gb"


class TestTheDefaultContext:
    def test_is_4096_capped_at_the_trained_context_without_a_note(self) -> None:
        llama = resolve_model("llama-3-8b")  # trained for 8192
        demo = resolve_model("demo")  # trained for 2048
        assert plan_fit(llama, profile_spec(HW), FitQuery()).ctx_tokens == DEFAULT_CTX_TOKENS
        fit = plan_fit(demo, profile_spec(HW), FitQuery())
        assert fit.ctx_tokens == 2048 and context_note(fit) is None


class TestAContextPastTheTrainedOne:
    def test_is_planned_at_the_trained_one_and_the_basis_says_so(self) -> None:
        fit = plan_fit(resolve_model("llama-3-8b"), profile_spec(HW), FitQuery(ctx_tokens=131072))
        assert fit.ctx_tokens == 8192 and fit.max_ctx <= 8192
        assert context_note(fit) == (
            "131072 tokens asked; planned at 8192, the context Meta Llama 3 8B was trained for"
        )

    def test_a_context_within_it_is_planned_as_asked(self) -> None:
        assert planned_context(resolve_model("llama-3-8b").arch, 8192).note is None


class TestBadValuesAreRefused:
    @pytest.mark.parametrize(
        ("fields", "message"),
        [
            ({"ctx_tokens": 0}, "at least 1 token"),
            ({"gpu_layers": -3}, "0 or more"),
            ({"engine": "vllm"}, "unknown engine"),
        ],
        ids=["zero-context", "negative-gpu-layers", "unknown-engine"],
    )
    def test_on_creation(self, fields: dict[str, object], message: str) -> None:
        with pytest.raises(UsageError, match=message):
            FitQuery(**fields)  # type: ignore[arg-type]

    @pytest.mark.parametrize(("model", "kv"), [("demo", "mlx-kv4"), ("llama-3-8b", "mlx-kv8")])
    def test_a_kv_type_the_engine_does_not_offer(self, model: str, kv: str) -> None:
        with pytest.raises(UsageError, match=r"not offered by llama\.cpp"):
            plan_fit(resolve_model(model), profile_spec(HW), FitQuery(kv_type=kv))


class TestTheLadder:
    def test_spans_both_engines_with_each_engines_kv_type(self) -> None:
        rungs = plan_ladder(resolve_model("llama-3-8b"), profile_spec(HW), FitQuery(kv_type="q8_0"))
        assert {r.engine for r in rungs} == {"llama.cpp", "mlx"}
        assert {r.kv_type for r in rungs if r.engine == "mlx"} == {"f16"}
        assert {r.kv_type for r in rungs if r.engine == "llama.cpp"} == {"q8_0"}


class TestChoosingAQuant:
    def test_a_profile_takes_any_quant_and_its_engine_follows(self) -> None:
        assert choose_quant("llama-3-8b", "mlx-4bit").engine == "mlx"

    def test_a_gguf_file_keeps_its_own_quant_for_an_mlx_one(self) -> None:
        demo = choose_quant("demo", "mlx-4bit")
        assert demo.engine == "llama.cpp" and demo.quant_name == resolve_model("demo").quant_name
