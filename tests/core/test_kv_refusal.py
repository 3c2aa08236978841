"""The one rule for which KV cache type can hold which model: MLX's quantized caches and rotating caches.

mlx-lm keeps sliding-window layers in a RotatingKVCache, whose to_quantized raises "RotatingKVCache
Quantization NYI" (mlx_lm/models/cache.py), so `--kv-type mlx-kv8/kv4` must be refused up front there.
"""

from __future__ import annotations

import pytest

from tuilab.core.quant import kv_type_refusal
from tuilab.models.profiles import load_model_profile


class TestQuantizedMlxCacheOnSlidingWindowModels:
    @pytest.mark.parametrize("kv", ["mlx-kv8", "mlx-kv4"])
    def test_gemma_2_with_its_sliding_layers_is_refused_saying_why(self, kv: str) -> None:
        arch = load_model_profile("gemma-2-9b").arch
        assert arch.sliding_window and arch.swa_layers  # the premise: Gemma 2 alternates sliding layers
        why = kv_type_refusal(kv, arch)
        assert why is not None
        assert kv in why and "sliding window" in why and "RotatingKVCache" in why and "f16" in why

    @pytest.mark.parametrize("kv", ["f16", "q8_0", "q4_0"])
    def test_other_cache_types_are_not_this_rules_business(self, kv: str) -> None:
        assert kv_type_refusal(kv, load_model_profile("gemma-2-9b").arch) is None

    def test_a_model_without_sliding_layers_may_quantize(self) -> None:
        assert kv_type_refusal("mlx-kv4", load_model_profile("llama-3-8b").arch) is None


class TestQuantizedMlxCacheWithARotatingCache:
    def test_max_kv_size_makes_every_layer_rotating_so_it_is_refused(self) -> None:
        why = kv_type_refusal("mlx-kv8", load_model_profile("llama-3-8b").arch, rotating_cache=True)
        assert why is not None and "--max-kv-size" in why

    def test_f16_goes_with_a_rotating_cache(self) -> None:
        assert kv_type_refusal("f16", load_model_profile("llama-3-8b").arch, rotating_cache=True) is None
