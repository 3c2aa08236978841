"""mlx-lm's limits, met by the real MLX engine on the tiny model: a rotating cache (`--max-kv-size`) and the
quantized KV cache that mlx-lm cannot put in one (RotatingKVCache.to_quantized raises NYI)."""

from __future__ import annotations

import pytest

from tuilab.core.errors import EngineError
from tuilab.engines.protocol import LoadSpec, SamplingParams
from tuilab.models.tiny import TinyModels

pytest.importorskip("mlx_lm")

from tuilab.engines.mlx import MLXEngine


class TestRotatingCache:
    def test_generation_runs_past_the_rotating_cache_size(self, tiny_models: TinyModels) -> None:
        engine = MLXEngine()
        engine.load(LoadSpec(str(tiny_models.mlx_dir), ctx_tokens=512, max_kv_tokens=16))
        try:
            pieces = list(engine.generate("Once upon a time", 40, SamplingParams()))
        finally:
            engine.unload()
        assert len(pieces) == 40  # more tokens than the 16 the cache keeps: old ones rotate out
        assert engine.last_cache and all(c.keys.shape[-2] <= 16 for c in engine.last_cache)

    @pytest.mark.parametrize("kv", ["mlx-kv8", "mlx-kv4"])
    def test_a_quantized_cache_with_a_rotating_one_is_refused_at_load(
        self, tiny_models: TinyModels, kv: str
    ) -> None:
        engine = MLXEngine()
        with pytest.raises(EngineError, match="RotatingKVCache"):
            engine.load(LoadSpec(str(tiny_models.mlx_dir), ctx_tokens=512, kv_type=kv, max_kv_tokens=16))
