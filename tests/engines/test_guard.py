"""The live memory guard: its projection from footprint readings, and real workers stopped by it.

The guard's decisions are proved on scripted footprint readings (a growing KV cache); the end-to-end
tests run the real engines on the tiny model with a small forced budget, as issue 14 asks for Linux/CI.
"""

from __future__ import annotations

import pytest

from tuilab.cli import main
from tuilab.engines.client import EngineWorker
from tuilab.engines.events import Finished, GuardSpec, Loaded, MemoryWarning, Stats
from tuilab.engines.guard import CHECK_EVERY_TOKENS, MemoryGuard, guard_for_plan
from tuilab.engines.protocol import LLAMA_CPP, MLX, LoadSpec
from tuilab.models.tiny import TinyModels

MB = 10**6


def growing(start_bytes: int, per_token_bytes: int) -> tuple[MemoryGuard, list[int]]:
    """A guard whose reading grows like a KV cache: start + per_token x tokens checked so far."""
    tokens = [0]
    spec = GuardSpec(limit_bytes=100 * MB, kv_bytes_per_token=per_token_bytes)
    return MemoryGuard(spec, lambda: start_bytes + per_token_bytes * tokens[0]), tokens


class TestProjection:
    def test_warns_once_with_the_token_count_where_the_budget_is_crossed(self) -> None:
        guard, tokens = growing(60 * MB, 10_000)  # 40 MB of room at 10 kB a token: 4000 tokens
        verdicts = []
        for n in range(1, 201):
            tokens[0] = n
            verdicts.append(guard.check(n, planned=10_000))
        warnings = [v for v in verdicts if isinstance(v, MemoryWarning)]
        assert len(warnings) == 1 and warnings[0].at_tokens == 4000
        assert "4000 generated tokens" in warnings[0].describe()
        assert "stop" not in verdicts

    def test_no_warning_when_the_run_ends_before_the_crossing(self) -> None:
        guard, tokens = growing(60 * MB, 10_000)
        tokens[0] = CHECK_EVERY_TOKENS
        assert guard.check(CHECK_EVERY_TOKENS, planned=1000) is None

    def test_stops_before_the_next_tokens_cross_the_limit(self) -> None:
        guard, tokens = growing(60 * MB, 10_000)
        verdict = None
        n = 0
        while verdict != "stop":
            n += 1
            tokens[0] = n
            verdict = guard.check(n, planned=10_000)
        assert guard.stopped_at == n and 4000 - CHECK_EVERY_TOKENS <= n <= 4000

    def test_without_growth_it_stops_only_at_the_limit(self) -> None:
        guard = MemoryGuard(GuardSpec(100 * MB, 0.0), lambda: 99 * MB)
        assert guard.check(CHECK_EVERY_TOKENS, planned=10**6) is None
        over = MemoryGuard(GuardSpec(100 * MB, 0.0), lambda: 101 * MB)
        assert over.check(CHECK_EVERY_TOKENS, planned=10**6) == "stop"

    def test_no_reading_never_stops_a_run(self) -> None:
        guard = MemoryGuard(GuardSpec(1, 1.0), lambda: None)
        assert guard.check(CHECK_EVERY_TOKENS, planned=10**6) is None


LIBRARY = {LLAMA_CPP: "llama_cpp", MLX: "mlx_lm"}


class TestRealWorkersStopAtTheLimit:
    @pytest.mark.parametrize("engine", [LLAMA_CPP, MLX])
    def test_a_small_forced_budget_stops_generation_with_reason_memory(
        self, engine: str, tiny_models: TinyModels
    ) -> None:
        pytest.importorskip(LIBRARY[engine])
        path = tiny_models.gguf_f16 if engine == LLAMA_CPP else tiny_models.mlx_dir
        with EngineWorker(engine) as worker:
            assert isinstance(worker.load(LoadSpec(str(path), ctx_tokens=512)), Loaded)
            events = list(worker.generate("Once upon a time", 200, guard=GuardSpec(MB, 1024.0)))
            stats = [e for e in events if isinstance(e, Stats)]
            assert events[-1] == Finished("memory")
            assert len(stats) == 1 and stats[0].gen_tokens == CHECK_EVERY_TOKENS
            # the worker stays usable: an unguarded generation afterwards runs to its length
            again = list(worker.generate("Once upon a time", 4))
            assert isinstance(again[-1], Finished) and again[-1].reason != "memory"

    def test_tuilab_run_reports_the_memory_stop(
        self, tiny_models: TinyModels, capsys: pytest.CaptureFixture[str]
    ) -> None:
        pytest.importorskip("llama_cpp")
        args = ["run", str(tiny_models.gguf_f16), "--max-tokens", "100", "--memory-budget", "1MB", "--json"]
        assert main(args) == 0
        out, err = capsys.readouterr()
        assert '"finish_reason": "memory"' in out.strip().splitlines()[-1]
        assert "(memory)" in err

    def test_without_the_guard_the_same_run_finishes(
        self, tiny_models: TinyModels, capsys: pytest.CaptureFixture[str]
    ) -> None:
        pytest.importorskip("llama_cpp")
        args = ["run", str(tiny_models.gguf_f16), "--max-tokens", "16", "--memory-budget", "1MB"]
        assert main([*args, "--no-memory-guard", "--json"]) == 0
        assert '"finish_reason": "memory"' not in capsys.readouterr().out


PLAN = {"ctx": 4096, "kv_cache_bytes": 4096 * 1000, "gpu_layers": 0, "budget_bytes": 0,
        "host_budget_bytes": 20 * 10**9}  # fmt: skip


class TestGuardFromThePlan:
    def test_mlx_grows_by_the_plans_kv_bytes_per_token(self) -> None:
        spec = guard_for_plan(PLAN, MLX)
        assert spec.kv_bytes_per_token == 1000 and spec.limit_bytes == 20 * 10**9
        assert spec.measure == "process" and "RAM budget" in spec.source

    def test_llama_cpp_reserves_its_cache_at_load_so_nothing_grows(self) -> None:
        assert guard_for_plan(PLAN, LLAMA_CPP).kv_bytes_per_token == 0

    def test_a_gpu_plan_is_bounded_by_the_gpu_budget(self) -> None:
        spec = guard_for_plan({**PLAN, "gpu_layers": 32, "budget_bytes": 12 * 10**9}, LLAMA_CPP)
        assert spec.limit_bytes == 12 * 10**9 and "GPU budget" in spec.source

    def test_a_forced_budget_wins(self) -> None:
        spec = guard_for_plan(PLAN, MLX, forced_bytes=MB)
        assert spec.limit_bytes == MB and spec.source == "--memory-budget"
