"""The engine contract, proved on both real engines with the tiny models: streaming, max tokens, cancel,
plausible stats, surviving a killed worker, and the same greedy tokens from the same F16 weights."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tuilab.engines.client import EngineWorker, ModelHost
from tuilab.engines.events import Event, Failed, Finished, Loaded, Stats, Tokens
from tuilab.engines.protocol import LLAMA_CPP, MLX, Engine, LoadSpec, SamplingParams
from tuilab.engines.worker import FLUSH_INTERVAL_S, create_engine
from tuilab.models.tiny import TinyModels

PROMPT = "The quick brown fox"  # the tiny models' own cross-engine check uses this prompt
CTX_TOKENS = 2048  # the tiny model's trained context
LIBRARY = {LLAMA_CPP: "llama_cpp", MLX: "mlx_lm"}


def model_path(tiny_models: TinyModels, engine: str) -> Path:
    return tiny_models.gguf_f16 if engine == LLAMA_CPP else tiny_models.mlx_dir


@pytest.fixture(scope="module", params=[LLAMA_CPP, MLX])
def engine(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    pytest.importorskip(LIBRARY[name])
    return name


@pytest.fixture(scope="module")
def worker(engine: str, tiny_models: TinyModels) -> Iterator[EngineWorker]:
    """One loaded worker per engine, shared by the tests that leave it usable."""
    w = EngineWorker(engine)
    loaded = w.load(LoadSpec(str(model_path(tiny_models, engine)), ctx_tokens=CTX_TOKENS))
    assert isinstance(loaded, Loaded), loaded
    yield w
    w.close()


@pytest.fixture(scope="module")
def in_process(engine: str, tiny_models: TinyModels) -> Iterator[Engine]:
    """The bare engine in the test process, for what only a caller in the same process can time."""
    eng = create_engine(engine)
    eng.load(LoadSpec(str(model_path(tiny_models, engine)), ctx_tokens=CTX_TOKENS))
    yield eng
    eng.unload()


def run(worker: EngineWorker, max_tokens: int, prompt: str = PROMPT) -> list[Event]:
    return list(worker.generate(prompt, max_tokens))


def stats_of(events: list[Event]) -> Stats:
    stats = [e for e in events if isinstance(e, Stats)]
    assert len(stats) == 1, events
    return stats[0]


class TestStreaming:
    def test_text_arrives_as_token_batches_then_stats_then_finished(self, worker: EngineWorker) -> None:
        events = run(worker, 24)
        kinds = [type(e).__name__ for e in events]
        assert kinds[-2:] == ["Stats", "Finished"], kinds
        tokens = [e for e in events if isinstance(e, Tokens)]
        assert tokens and all(isinstance(e, Tokens) for e in events[:-2])
        assert "".join(t.text for t in tokens).strip()

    @pytest.mark.parametrize("max_tokens", [1, 7, 50], ids=["one-token", "a-few", "many"])
    def test_generates_exactly_max_tokens(self, worker: EngineWorker, max_tokens: int) -> None:
        events = run(worker, max_tokens)
        assert sum(e.n_tokens for e in events if isinstance(e, Tokens)) == max_tokens
        assert stats_of(events).gen_tokens == max_tokens
        assert events[-1] == Finished("length")

    def test_batches_cap_the_message_rate(self, worker: EngineWorker) -> None:
        events = run(worker, 1500)
        n_messages = sum(isinstance(e, Tokens) for e in events)
        # the first token goes alone, then at most one message per flush interval (plus the final flush)
        assert n_messages <= stats_of(events).wall_s / FLUSH_INTERVAL_S + 3
        assert n_messages < 1500


class TestStats:
    def test_reports_plausible_numbers(self, worker: EngineWorker) -> None:
        s = stats_of(run(worker, 32))
        assert s.ttft_s is not None and 0 < s.ttft_s < s.wall_s
        assert s.prompt_tokens is not None and s.prompt_tokens >= 4  # BOS + at least one per word
        assert s.prompt_tps is not None and s.prompt_tps > 0
        assert s.gen_tps is not None and s.gen_tps > 0
        assert s.peak_memory_bytes is not None and s.peak_memory_bytes > 0
        assert s.rss_bytes is not None and s.rss_bytes > 10 * 1024**2  # a Python process with an engine

    def test_loaded_reports_the_weights(self, engine: str, tiny_models: TinyModels) -> None:
        with EngineWorker(engine) as w:
            loaded = w.load(LoadSpec(str(model_path(tiny_models, engine)), ctx_tokens=256))
        assert isinstance(loaded, Loaded), loaded
        file_bytes = sum(p.stat().st_size for p in [model_path(tiny_models, engine)] if p.is_file()) or sum(
            p.stat().st_size for p in model_path(tiny_models, engine).glob("*.safetensors")
        )
        assert loaded.info.weights_bytes is not None
        assert 0.9 * file_bytes < loaded.info.weights_bytes <= file_bytes
        assert loaded.load_s > 0


class TestCancel:
    @pytest.mark.parametrize("after_tokens", [1, 5])
    def test_engine_stops_within_one_token(self, in_process: Engine, after_tokens: int) -> None:
        pieces = in_process.generate(PROMPT, 1000, SamplingParams())
        for _ in range(after_tokens):
            next(pieces)
        in_process.cancel()
        assert list(pieces) == []

    def test_worker_finishes_cancelled_and_stays_usable(self, worker: EngineWorker) -> None:
        events: list[Event] = []
        for event in worker.generate(PROMPT, CTX_TOKENS):
            if isinstance(event, Tokens) and event.total_tokens == event.n_tokens:
                worker.cancel()
            events.append(event)
        assert events[-1] == Finished("cancelled")
        assert stats_of(events).gen_tokens < CTX_TOKENS - 20
        assert run(worker, 3)[-1] == Finished("length")


class TestWorkerDeath:
    def test_a_killed_worker_becomes_a_failed_event(self, engine: str, tiny_models: TinyModels) -> None:
        with EngineWorker(engine) as w:
            assert isinstance(
                w.load(LoadSpec(str(model_path(tiny_models, engine)), ctx_tokens=CTX_TOKENS)), Loaded
            )
            events: list[Event] = []
            for event in w.generate(PROMPT, CTX_TOKENS):
                events.append(event)
                if isinstance(event, Tokens) and w.pid is not None and w.alive:
                    os.kill(w.pid, signal.SIGKILL)
            failed = events[-1]
            assert isinstance(failed, Failed)
            assert failed.exit_code == -signal.SIGKILL
            assert "SIGKILL" in failed.reason
            # the caller lives on, and asking the dead worker again answers at once
            start_s = time.perf_counter()
            assert run(w, 5)[-1] == failed
            assert time.perf_counter() - start_s < 1.0

    def test_a_bad_model_file_fails_with_the_engine_log(self, engine: str, tmp_path: Path) -> None:
        bad = tmp_path / ("broken.gguf" if engine == LLAMA_CPP else "broken-dir")
        if engine == LLAMA_CPP:
            bad.write_bytes(b"GGUF" + b"\0" * 64)
        else:
            bad.mkdir()
            (bad / "config.json").write_text('{"model_type": "llama"}')
        with EngineWorker(engine) as w:
            failed = w.load(LoadSpec(str(bad)))
            assert isinstance(failed, Failed)
            assert str(bad) in failed.reason or failed.log_tail
            assert w.alive  # a refused load leaves the worker ready for another


class TestSwitchingModels:
    def test_loading_another_model_ends_the_old_worker(self, tiny_models: TinyModels) -> None:
        pytest.importorskip("llama_cpp")
        host = ModelHost()
        try:
            assert isinstance(
                host.load(LLAMA_CPP, LoadSpec(str(tiny_models.gguf_f16), ctx_tokens=256)), Loaded
            )
            assert host.worker is not None
            first = host.worker
            assert isinstance(
                host.load(LLAMA_CPP, LoadSpec(str(tiny_models.gguf_f16), ctx_tokens=256)), Loaded
            )
            assert not first.alive
            assert host.worker is not first and host.worker.alive
        finally:
            host.close()


class TestKVCacheType:
    def test_q8_0_cache_is_the_q8_0_share_of_f16(self, tiny_models: TinyModels) -> None:
        pytest.importorskip("llama_cpp")
        sizes = {}
        for kv in ("f16", "q8_0"):
            with EngineWorker(LLAMA_CPP) as w:
                loaded = w.load(LoadSpec(str(tiny_models.gguf_f16), ctx_tokens=1024, kv_type=kv))
            assert isinstance(loaded, Loaded), loaded
            sizes[kv] = loaded.info.kv_cache_bytes
        # Q8_0 stores 32 values in 34 bytes, f16 in 64 (ggml-common.h block_q8_0)
        assert sizes["q8_0"] == pytest.approx(sizes["f16"] * 34 / 64, rel=0.01)  # type: ignore[operator]

    def test_mlx_quantized_cache_still_generates(self, tiny_models: TinyModels) -> None:
        pytest.importorskip("mlx_lm")
        with EngineWorker(MLX) as w:
            assert isinstance(w.load(LoadSpec(str(tiny_models.mlx_dir), kv_type="mlx-kv4")), Loaded)
            assert run(w, 8)[-1] == Finished("length")


class TestSameWeightsSameTokens:
    def test_f16_greedy_text_matches_across_engines(self, tiny_models: TinyModels) -> None:
        pytest.importorskip("llama_cpp")
        pytest.importorskip("mlx_lm")
        texts = {}
        for engine in (LLAMA_CPP, MLX):
            eng = create_engine(engine)
            eng.load(LoadSpec(str(model_path(tiny_models, engine)), ctx_tokens=256))
            texts[engine] = "".join(eng.generate(PROMPT, 12, SamplingParams()))
            eng.unload()
        assert texts[LLAMA_CPP].strip()
        assert texts[LLAMA_CPP] == texts[MLX]
