"""tuilab.lab.session: one owner of a loaded model, the one reader of engine events.

`consume` is fed event lists shaped as a worker sends them; the Session tests load the real tiny GGUF
in a real llama.cpp worker (skipped without llama-cpp-python)."""

from __future__ import annotations

import threading

import pytest

from tuilab.engines.events import Failed, Finished, Loaded, Stats, Tokens
from tuilab.engines.protocol import LoadInfo, LoadSpec, SamplingParams
from tuilab.lab.session import Listener, Session, consume
from tuilab.models.tiny import TinyModels

STATS = Stats(0.01, 5, 500.0, 3, 100.0, 10**6, None, 10**6, 10**6, None, 0.05)


def tokens(*texts: str) -> list[Tokens]:
    return [Tokens(t, 1, i + 1, 0.01 * (i + 1)) for i, t in enumerate(texts)]


class TestConsume:
    def test_text_reaches_the_listener_in_order_and_the_end_is_reported(self) -> None:
        seen: list[str] = []
        result = consume([*tokens("a", "b", "c"), STATS, Finished("length")], Listener(text=seen.append))
        assert "".join(seen) == result.text == "abc"
        assert result.stats == STATS and result.reason == "length" and result.failed is None

    def test_batches_text_when_asked_and_loses_none(self) -> None:
        seen: list[str] = []
        events = [*tokens(*"abcdef"), Finished("stop")]
        consume(events, Listener(text=seen.append), flush_interval_s=3600)
        assert seen == ["abcdef"]  # one batch: nothing flushed early, nothing dropped at the end

    def test_a_failure_ends_it_with_the_text_so_far(self) -> None:
        seen: list[str] = []
        result = consume([*tokens("x"), Failed("boom")], Listener(text=seen.append))
        assert seen == ["x"] and result.failed == Failed("boom") and result.reason == "failed"

    def test_a_load_inside_the_stream_is_kept(self) -> None:
        loaded = Loaded(1.5, LoadInfo("mlx", "cpu", None, None, None, None, None, None), None)
        assert consume([loaded, STATS, Finished("stop")], Listener()).loaded == loaded


class TestOwnership:
    def test_a_second_owner_is_told_who_holds_it(self) -> None:
        session = Session()
        assert session.claim("load") is None
        assert session.claim("run") == "load"
        session.release()
        assert session.claim("ladder") is None

    def test_only_one_of_many_threads_at_once_gets_it(self) -> None:
        session = Session()
        wins: list[str] = []
        barrier = threading.Barrier(8)

        def grab(name: str) -> None:
            barrier.wait()
            if session.claim(name) is None:
                wins.append(name)

        threads = [threading.Thread(target=grab, args=(f"t{i}",)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(wins) == 1


@pytest.fixture
def gguf(tiny_models: TinyModels) -> str:
    pytest.importorskip("llama_cpp")
    return str(tiny_models.gguf_f16)


class TestASessionWithARealEngine:
    def test_loads_once_per_spec_and_generates(self, gguf: str) -> None:
        spec = LoadSpec(gguf, ctx_tokens=256, threads=1)
        seen: list[str] = []
        with Session() as session:
            first = session.load("llama.cpp", spec, "tiny")
            pid = session.engine_pid
            assert isinstance(first, Loaded)
            assert session.load("llama.cpp", spec, "tiny") is first and session.engine_pid == pid
            result = session.generate("Once", 4, SamplingParams(), Listener(text=seen.append))
        assert result.stats is not None and result.stats.gen_tokens == 4 and "".join(seen) == result.text
        assert session.engine_pid is None  # closed on leaving the block

    def test_a_cancel_from_another_thread_ends_it_with_stats(self, gguf: str) -> None:
        with Session() as session:
            assert isinstance(
                session.load("llama.cpp", LoadSpec(gguf, ctx_tokens=2048, threads=1), "t"), Loaded
            )
            listener = Listener(text=lambda _: session.cancel())  # cancel as soon as text arrives
            result = session.generate("Once", 2000, SamplingParams(), listener)
        assert result.reason == "cancelled" and result.stats is not None
        assert result.stats.gen_tokens < 2000
