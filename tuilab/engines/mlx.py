"""The MLX engine: Hugging Face-format model directories (quantized or not) through mlx-lm.

Generation is mlx-lm's `stream_generate`, whose responses carry mlx-lm's own prompt and generation tokens/s
and peak memory; those are what this engine reports. The wired limit is raised as mlx-lm does, on Metal
only, and the KV cache may be quantized to 8 or 4 bits.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mlx.core as mx
from mlx.utils import tree_reduce
from mlx_lm import load as mlx_load
from mlx_lm import stream_generate
from mlx_lm.models.cache import KVCache, RotatingKVCache, make_prompt_cache
from mlx_lm.sample_utils import make_sampler

from tuilab.core.errors import EngineError
from tuilab.engines.prompt import check_prompt, prompt_too_long
from tuilab.engines.protocol import (
    ENGINE_FORMATS,
    MLX,
    MLX_KV_BITS,
    MLX_KV_GROUP_SIZE,
    Capabilities,
    EngineReport,
    LoadInfo,
    LoadSpec,
    SamplingParams,
    check_kv_type,
)
from tuilab.hardware.mlx_compat import device_info

_GB = 1e9  # mlx-lm's GenerationResponse.peak_memory is mx.get_peak_memory() / 1e9
# Tokens a rotating cache always keeps from the start (the attention sink): mlx-lm's make_prompt_cache
# builds RotatingKVCache(max_size=max_kv_size, keep=4) (mlx_lm/models/cache.py).
ROTATING_KEEP_TOKENS = 4


class MLXEngine:
    """One MLX model and its tokenizer in this process."""

    name = MLX
    capabilities = Capabilities(
        formats=ENGINE_FORMATS[MLX], kv_types=("f16", *MLX_KV_BITS), gpu_offload=False, flash_attn=False
    )

    def __init__(self) -> None:
        self._model: Any = None
        self._tokenizer: Any = None
        self._kv_bits: int | None = None
        self._ctx_tokens = 0
        self._max_kv_tokens: int | None = None
        self.last_cache: list[Any] = []  # the rotating cache of the last generation, for inspection
        self._cancel = threading.Event()
        self._report = EngineReport()

    def load(self, spec: LoadSpec) -> LoadInfo:
        path = Path(spec.path)
        if not (path / "config.json").is_file():
            # mlx_lm.load would treat anything else as a Hub repo id and go to the network.
            raise EngineError("not an MLX model directory (no config.json)")
        self._kv_bits = MLX_KV_BITS.get(check_kv_type(MLX, spec.kv_type))
        self.unload()
        _set_wired_limit()
        try:
            loaded = mlx_load(str(path))
            self._model, self._tokenizer = loaded[0], loaded[1]
        except (OSError, ValueError, KeyError) as exc:
            raise EngineError(f"mlx-lm: {exc}") from exc  # callers name the engine and the file
        self._ctx_tokens = spec.ctx_tokens
        self._max_kv_tokens = spec.max_kv_tokens
        self._refuse_quantized_rotating_cache()
        n_layers = len(getattr(self._model, "layers", ())) or None
        on_gpu = mx.metal.is_available()
        return LoadInfo(
            engine=MLX,
            backend="metal" if on_gpu else "cpu",
            weights_bytes=_model_bytes(self._model),
            kv_cache_bytes=None,  # mlx-lm grows its cache as tokens arrive; nothing is reserved at load
            compute_bytes=None,
            n_layers=n_layers,
            gpu_layers=n_layers if on_gpu else 0,
            ctx_tokens=spec.ctx_tokens,
        )

    def _prompt_cache(self) -> list[Any]:
        """The model's own caches; with --max-kv-size, each plain KVCache becomes a RotatingKVCache.

        mlx-lm's `max_kv_size` only applies to models without a `make_cache` method, and its llama model
        has one, so passing the option through would silently do nothing there: tuilab builds the cache.
        """
        cache = make_prompt_cache(self._model)
        if self._max_kv_tokens is None:
            return cache
        return [_rotating(self._max_kv_tokens) if type(c) is KVCache else c for c in cache]

    def _refuse_quantized_rotating_cache(self) -> None:
        """mlx-lm cannot quantize a RotatingKVCache (sliding-window layers, or --max-kv-size): refuse at
        load, with the reason, rather than fail at the first quantization mid-generation."""
        if self._kv_bits is None:
            return
        cache = self._prompt_cache()
        rotating = sum(isinstance(c, RotatingKVCache) for c in cache)
        if rotating:
            self.unload()
            raise EngineError(
                f"a quantized KV cache cannot hold this model: {rotating} of its {len(cache)} layer caches "
                "are mlx-lm RotatingKVCaches (sliding window or --max-kv-size), which it cannot quantize; "
                "use f16"
            )

    def generate(self, prompt: str, max_tokens: int, sampling: SamplingParams) -> Iterator[str]:
        if self._model is None:
            raise EngineError("no model loaded")
        self._cancel.clear()
        tokens = list(self._tokenizer.encode(check_prompt(prompt, "the prompt")))
        room = self._ctx_tokens - len(tokens)
        if room <= 0:
            raise prompt_too_long(len(tokens), self._ctx_tokens)
        mx.random.seed(sampling.seed)
        mx.reset_peak_memory()
        self._report = EngineReport(prompt_tokens=len(tokens))
        yield from self._stream(tokens, min(max_tokens, room), max_tokens, sampling)

    def _stream(
        self, tokens: list[int], budget: int, max_tokens: int, sampling: SamplingParams
    ) -> Iterator[str]:
        last: Any = None
        try:
            for last in stream_generate(
                self._model, self._tokenizer, tokens, max_tokens=budget, **self._generate_kwargs(sampling)
            ):
                yield last.text
                if self._cancel.is_set():
                    return
        finally:  # also when the caller closes the generator early: report what happened so far
            if last is not None:
                self._report = _report_from(last, budget < max_tokens)

    def _generate_kwargs(self, sampling: SamplingParams) -> dict[str, Any]:
        greedy = sampling.temperature <= 0
        kwargs: dict[str, Any] = {
            "sampler": make_sampler(
                temp=sampling.temperature,
                top_p=0.0 if greedy else sampling.top_p,
                top_k=0 if greedy else sampling.top_k,
            )
        }
        if self._max_kv_tokens is not None:
            kwargs["prompt_cache"] = self.last_cache = self._prompt_cache()
        if self._kv_bits is not None:
            # quantized_kv_start=0: quantize from the first token; mlx-lm's default of 5000 tokens would
            # leave short chats unquantized and the option would silently do nothing.
            kwargs.update(kv_bits=self._kv_bits, kv_group_size=MLX_KV_GROUP_SIZE, quantized_kv_start=0)
        return kwargs

    def report(self) -> EngineReport:
        return self._report

    def cancel(self) -> None:
        self._cancel.set()

    def unload(self) -> None:
        self._model = self._tokenizer = None
        mx.clear_cache()

    def log_tail(self, n_lines: int = 40) -> list[str]:
        return []  # mlx-lm prints through Python; a worker's log file holds it


def _rotating(max_tokens: int) -> Any:
    return RotatingKVCache(max_size=max_tokens, keep=ROTATING_KEEP_TOKENS)  # type: ignore[no-untyped-call]


def _report_from(response: Any, ctx_limited: bool) -> EngineReport:
    reason = response.finish_reason or "length"
    if reason == "length" and ctx_limited:
        reason = "ctx_full"
    return EngineReport(
        prompt_tokens=int(response.prompt_tokens),
        prompt_tps=float(response.prompt_tps),
        gen_tps=float(response.generation_tps),
        peak_memory_bytes=round(response.peak_memory * _GB),
        finish_reason=reason,
    )


def _model_bytes(model: Any) -> int:
    nbytes = tree_reduce(  # type: ignore[no-untyped-call]
        lambda acc, x: acc + x.nbytes if isinstance(x, mx.array) else acc, model, 0
    )
    return int(nbytes)


def _set_wired_limit() -> None:
    """Wire up to Metal's recommended working set, as mlx_lm.utils.maybe_set_recommended_wired_limit does.

    The CPU backend reports no recommended size, so nothing is set there.
    """
    if not mx.metal.is_available():
        return
    limit = device_info(mx).get("max_recommended_working_set_size")  # mx.metal.device_info before 0.30.4
    if limit:
        mx.set_wired_limit(int(limit))
