"""Issue 14's run-time rules as the lab layer holds them: one KV refusal for every face
(`lab.planning.check_kv_cache`), the memory guard in every `Launch`, and its warning through the session."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tuilab.core.errors import UsageError
from tuilab.engines.events import Finished, MemoryWarning, Stats, Tokens
from tuilab.lab.launch import prepare_run, resolve_for_run
from tuilab.lab.machine import profile_spec
from tuilab.lab.planning import FitQuery, for_engine, plan_fit
from tuilab.lab.session import Listener, consume
from tuilab.models.resolve import resolve_model
from tuilab.models.tiny import TinyModels


class TestTheKvRefusal:
    def test_a_quantized_mlx_cache_on_sliding_layers_is_refused_by_the_plan(self) -> None:
        model = resolve_model("gemma-2-9b", "mlx-4bit")
        with pytest.raises(UsageError, match="RotatingKVCache"):
            plan_fit(model, profile_spec("m4-max-32c-36gb"), FitQuery(kv_type="mlx-kv8", engine="mlx"))

    def test_max_kv_size_is_mlx_only_and_goes_with_f16_only(self) -> None:
        gguf = resolve_model("llama-3-8b", "Q4_K_M")
        with pytest.raises(UsageError, match="MLX option"):
            plan_fit(gguf, profile_spec("m4-max-32c-36gb"), FitQuery(max_kv_tokens=64))
        mlx = resolve_model("llama-3-8b", "mlx-4bit")
        query = FitQuery(kv_type="mlx-kv4", engine="mlx", max_kv_tokens=64)
        with pytest.raises(UsageError, match="--max-kv-size"):
            plan_fit(mlx, profile_spec("m4-max-32c-36gb"), query)
        with pytest.raises(UsageError, match="at least 1 token"):
            FitQuery(max_kv_tokens=0)

    def test_the_lab_plans_f16_where_the_cache_cannot_be_quantized(self) -> None:
        arch = resolve_model("gemma-2-9b", "mlx-4bit").arch
        assert for_engine(FitQuery(kv_type="mlx-kv8"), "mlx", arch).kv_type == "f16"
        llama = resolve_model("llama-3-8b", "mlx-4bit").arch
        assert for_engine(FitQuery(kv_type="mlx-kv8"), "mlx", llama).kv_type == "mlx-kv8"


class TestTheGuardInALaunch:
    def test_every_launch_is_guarded_by_the_plans_budget(self, tiny_models: TinyModels) -> None:
        model = resolve_for_run(str(tiny_models.gguf_f16), None)
        hw = replace(profile_spec("rtx-3060-12gb"), gpus=())
        launch = prepare_run(model, hw, FitQuery(ctx_tokens=512))
        assert launch.guard is not None and launch.guard.limit_bytes == launch.fit.host_budget_bytes

    def test_a_forced_budget_and_no_guard(self, tiny_models: TinyModels) -> None:
        model = resolve_for_run(str(tiny_models.gguf_f16), None)
        hw = profile_spec("rtx-3060-12gb")
        forced = prepare_run(model, hw, FitQuery(ctx_tokens=512), memory_budget_bytes=10**9)
        assert forced.guard is not None and forced.guard.limit_bytes == 10**9
        assert forced.guard.source == "--memory-budget"
        assert prepare_run(model, hw, FitQuery(ctx_tokens=512), memory_guard=False).guard is None


def test_the_session_hands_the_warning_to_the_listener_after_the_text_so_far() -> None:
    seen: list[object] = []
    warning = MemoryWarning(at_tokens=40, used_bytes=10, limit_bytes=20)
    stats = Stats(None, 1, None, 2, None, None, None, None, None, None, 0.1)
    events = [Tokens("a", 1, 1, 0.1), warning, Tokens("b", 1, 2, 0.2), stats, Finished("memory")]
    listener = Listener(text=lambda t: seen.append(t), memory_warning=lambda w: seen.append(w))
    result = consume(events, listener)
    assert seen == ["a", warning, "b"] and result.reason == "memory"
