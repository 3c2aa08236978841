"""A worker's peak memory is its own (issue 12 item 4), and MLX's active peak sits beside it (issue 14).

Real engines on the tiny models; the parent holds a real 500 MB buffer while the worker runs. Before the
fix, Linux's `ru_maxrss` of a spawned worker started from its parent's RSS at fork: a 3 MB model read as
the parent's 0.5 GB, and MLX runs read MLX's active peak of a few megabytes (0.00 GB).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tuilab.engines.client import EngineWorker
from tuilab.engines.events import Loaded, Stats
from tuilab.engines.memory import process_peak_bytes
from tuilab.engines.protocol import LLAMA_CPP, MLX, LoadSpec
from tuilab.models.tiny import TinyModels

BALLAST_BYTES = 500 * 1024 * 1024
PAGE_BYTES = 4096
LIBRARY = {LLAMA_CPP: "llama_cpp", MLX: "mlx_lm"}


@pytest.fixture
def ballast() -> Iterator[bytearray]:
    """A parent holding half a gigabyte of touched (resident) memory."""
    buffer = bytearray(BALLAST_BYTES)
    for offset in range(0, BALLAST_BYTES, PAGE_BYTES):
        buffer[offset] = 1
    yield buffer


def generate_stats(engine: str, tiny_models: TinyModels) -> Stats:
    path = tiny_models.gguf_f16 if engine == LLAMA_CPP else tiny_models.mlx_dir
    with EngineWorker(engine) as worker:
        assert isinstance(worker.load(LoadSpec(str(path), ctx_tokens=256)), Loaded)
        stats = [e for e in worker.generate("Once upon a time", 8) if isinstance(e, Stats)]
    assert len(stats) == 1
    return stats[0]


class TestAWorkersPeakIsItsOwn:
    @pytest.mark.parametrize("engine", [LLAMA_CPP, MLX])
    def test_the_parents_big_buffer_is_not_in_the_workers_peak(
        self, engine: str, tiny_models: TinyModels, ballast: bytearray
    ) -> None:
        pytest.importorskip(LIBRARY[engine])
        own, _ = process_peak_bytes()
        assert own is not None and own > BALLAST_BYTES  # the parent really holds it
        stats = generate_stats(engine, tiny_models)
        # a Python process with an engine and a 3 MB model: far under the parent's half gigabyte
        peak = stats.peak_memory_bytes
        assert peak is not None and 10 * 2**20 < peak < BALLAST_BYTES / 2
        assert stats.rss_peak_bytes == stats.peak_memory_bytes
        assert stats.peak_memory_source in ("VmHWM", "phys_footprint")


class TestMlxPeakBesideTheProcessPeak:
    def test_mlx_active_peak_is_kept_beside_a_nonzero_headline(self, tiny_models: TinyModels) -> None:
        pytest.importorskip("mlx_lm")
        stats = generate_stats(MLX, tiny_models)
        assert stats.engine_peak_memory_bytes is not None and stats.engine_peak_memory_bytes > 0
        assert stats.peak_memory_bytes is not None
        # the process holds Python, MLX and the model: more than MLX's active buffers alone
        assert stats.peak_memory_bytes > stats.engine_peak_memory_bytes
