"""The llama.cpp engine, driven through llama-cpp-python's low-level C API for GGUF files.

Sampling runs in llama.cpp's native sampler chain and the token loop makes a handful of ctypes calls per
token: the high-level `Llama` generate loop lost 6-14% of tokens/s against llama-bench (issue 4). Logs go
to a `LogRing` through `llama_log_set`, never to the terminal; the buffer sizes they announce become the
engine's memory report.
"""

from __future__ import annotations

import codecs
import ctypes
import os
import re
import threading
from collections.abc import Iterator
from typing import Any, TextIO

import llama_cpp as lc
import numpy as np

from tuilab.core.errors import EngineError
from tuilab.core.quant import GGML_TYPES
from tuilab.engines.logs import LogRing, buffer_total
from tuilab.engines.protocol import (
    ENGINE_FORMATS,
    LLAMA_CPP,
    Capabilities,
    EngineReport,
    LoadInfo,
    LoadSpec,
    SamplingParams,
    check_kv_type,
)

# "load_tensors: offloaded 33/33 layers to GPU" (llama.cpp src/llama-model.cpp, load_tensors).
_OFFLOAD_RE = re.compile(r"offloaded (\d+)/(\d+) layers to GPU")
# llama_print_system_info() (llama.cpp src/llama.cpp) writes "NAME : FEATURE = VALUE | ..." for each ggml
# backend registry that lists features: "CUDA : ARCHS = 700 | USE_GRAPHS = 1 | CPU : SSE3 = 1 | ...".
_REGISTRY_RE = re.compile(r"(?:^|\|)\s*([A-Za-z][\w-]*) : ")
_PIECE_BYTES = 256  # longest token piece seen in common vocabs is < 128 bytes; grown on demand


# llama.cpp keeps one process-wide log callback. Its ctypes wrapper must outlive every engine: a callback
# freed with an engine object while llama.cpp still calls it crashes the process at the next log line
# (seen when a second model loaded after the first engine was collected). So one wrapper, set once, that
# writes to the ring of the newest engine.
_LOG_TARGET: list[LogRing] = []


def _on_log(level: int, text: bytes | None, _user_data: Any) -> None:
    if text and _LOG_TARGET:
        _LOG_TARGET[0].add(level, text.decode("utf-8", errors="replace"))


_LOG_CALLBACK = lc.llama_log_callback(_on_log)


def build_backends(system_info: str) -> tuple[str, ...]:
    """The backends a llama.cpp build has, in the order it registered them, from its system info."""
    return tuple(_REGISTRY_RE.findall(system_info))


def _route_logs_to(ring: LogRing) -> None:
    if not _LOG_TARGET:
        lc.llama_log_set(_LOG_CALLBACK, ctypes.c_void_p(0))
    _LOG_TARGET[:] = [ring]


class LlamaCppEngine:
    """One GGUF model and one context in this process."""

    name = LLAMA_CPP
    capabilities = Capabilities(
        formats=ENGINE_FORMATS[LLAMA_CPP], kv_types=("f16", "q8_0", "q4_0"), gpu_offload=True, flash_attn=True
    )

    def __init__(self, log_echo: TextIO | None = None) -> None:
        self._logs = LogRing(echo=log_echo)
        _route_logs_to(self._logs)
        lc.llama_backend_init()
        self._model: Any = None
        self._ctx: Any = None
        self._vocab: Any = None
        self._sampler: Any = None
        self._n_ctx = 0
        self._n_vocab = 0
        self._greedy = True
        self._batch_tokens = 512
        self._cancel = threading.Event()
        self._report = EngineReport()
        self._piece_buf = ctypes.create_string_buffer(_PIECE_BYTES)
        self._one_token = (lc.llama_token * 1)()
        self._one_batch: Any = None

    # --- load / unload ---

    def load(self, spec: LoadSpec) -> LoadInfo:
        self.unload()
        self._logs.clear_buffers()
        model_params = lc.llama_model_default_params()
        # llama.h: "a negative value means all layers"
        model_params.n_gpu_layers = -1 if spec.gpu_layers is None else spec.gpu_layers
        self._model = lc.llama_model_load_from_file(os.fsencode(spec.path), model_params)
        if not self._model:
            raise EngineError(f"llama.cpp could not load {spec.path}: {self._last_error()}")
        self._ctx = lc.llama_init_from_model(self._model, self._context_params(spec))
        if not self._ctx:
            self.unload()
            raise EngineError(f"llama.cpp could not create a context for {spec.path}: {self._last_error()}")
        self._vocab = lc.llama_model_get_vocab(self._model)
        self._n_vocab = int(lc.llama_vocab_n_tokens(self._vocab))
        # llama.cpp pads n_ctx up to 256 but cuts n_batch down to the requested context: decoding in larger
        # chunks than that aborts in native code, so both limits follow what was asked for.
        self._n_ctx = min(int(lc.llama_n_ctx(self._ctx)), spec.ctx_tokens)
        self._batch_tokens = max(1, min(spec.batch_tokens, spec.ctx_tokens))
        self._one_batch = lc.llama_batch_get_one(self._one_token, 1)  # points at _one_token, reused
        self._warm_up()
        return self._load_info()

    def _warm_up(self) -> None:
        """Decode one token and forget it, as llama.cpp's common_init_from_params does ("warming up the
        model with an empty run"): the first decode's one-time setup then counts as load time, not TTFT."""
        self._one_token[0] = lc.llama_vocab_bos(self._vocab)
        self._check_decode(lc.llama_decode(self._ctx, self._one_batch))
        lc.llama_memory_clear(lc.llama_get_memory(self._ctx), True)

    def _context_params(self, spec: LoadSpec) -> Any:
        kv_id = GGML_TYPES[check_kv_type(LLAMA_CPP, spec.kv_type).upper()].type_id
        params = lc.llama_context_default_params()
        params.n_ctx = spec.ctx_tokens
        params.n_batch = min(spec.batch_tokens, spec.ctx_tokens)
        params.n_ubatch = min(params.n_batch, params.n_ubatch)
        threads = spec.threads or _physical_cores()
        params.n_threads = threads
        params.n_threads_batch = threads
        params.flash_attn_type = (
            lc.LLAMA_FLASH_ATTN_TYPE_ENABLED if spec.flash_attn else lc.LLAMA_FLASH_ATTN_TYPE_DISABLED
        )
        params.type_k = kv_id
        params.type_v = kv_id
        return params

    def _load_info(self) -> LoadInfo:
        buffers = tuple(self._logs.buffers)
        offloaded = next((m for line in self._logs.tail(400) if (m := _OFFLOAD_RE.search(line))), None)
        devices = [b.device for b in buffers if not b.device.upper().startswith("CPU")]
        backend = re.sub(r"\d+$", "", devices[0]).lower() if devices else "cpu"
        weights = buffer_total(buffers, "model") or int(lc.llama_model_size(self._model))
        compute = buffer_total(buffers, "compute")
        output = buffer_total(buffers, "output")
        return LoadInfo(
            engine=LLAMA_CPP,
            backend=backend,
            weights_bytes=weights,
            kv_cache_bytes=buffer_total(buffers, "KV"),
            compute_bytes=None if compute is None else compute + (output or 0),
            n_layers=int(lc.llama_model_n_layer(self._model)),
            gpu_layers=int(offloaded.group(1)) if offloaded else 0,
            ctx_tokens=self._n_ctx,
            buffers=buffers,
            build_backends=build_backends(lc.llama_print_system_info().decode("utf-8", errors="replace")),
        )

    def unload(self) -> None:
        if self._sampler:
            lc.llama_sampler_free(self._sampler)
        if self._ctx:
            lc.llama_free(self._ctx)
        if self._model:
            lc.llama_model_free(self._model)
        self._sampler = self._ctx = self._model = self._vocab = self._one_batch = None

    # --- generation ---

    def generate(self, prompt: str, max_tokens: int, sampling: SamplingParams) -> Iterator[str]:
        if not self._ctx:
            raise EngineError("no model loaded")
        self._cancel.clear()
        tokens = self._tokenize(prompt)
        if len(tokens) >= self._n_ctx:
            raise EngineError(f"the prompt has {len(tokens)} tokens; the context holds {self._n_ctx}")
        lc.llama_memory_clear(lc.llama_get_memory(self._ctx), True)
        self._set_sampler(sampling)
        self._greedy = sampling.temperature <= 0
        self._report = EngineReport(prompt_tokens=len(tokens))
        if not self._decode_prompt(tokens):
            return
        yield from self._token_loop(len(tokens), max_tokens)

    def _token_loop(self, n_past: int, max_tokens: int) -> Iterator[str]:
        """Sample, yield, decode: per token only a few ctypes calls and one incremental UTF-8 decode."""
        ctx, vocab, sampler, batch, one = (
            self._ctx,
            self._vocab,
            self._sampler,
            self._one_batch,
            self._one_token,
        )
        utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")
        for i in range(max_tokens):
            if i > 0:
                if n_past >= self._n_ctx:
                    self._finish("ctx_full")
                    return
                self._check_decode(lc.llama_decode(ctx, batch))
                n_past += 1
            if self._cancel.is_set():
                return
            token = self._argmax() if self._greedy else lc.llama_sampler_sample(sampler, ctx, -1)
            if lc.llama_vocab_is_eog(vocab, token):
                self._finish("stop")
                return
            one[0] = token
            yield utf8.decode(self._piece(token))
        self._finish("length")

    def _argmax(self) -> int:
        """Greedy pick straight from the logits buffer.

        llama_sampler_sample first copies every logit into a candidate array (0.10 ms a token for a 128k
        vocabulary on the dev box, against 0.008 ms for this argmax: /tmp microbenchmark recorded in
        docs/benchmarks/cuda-nvidia-h100-80gb-hbm3.md); on an H100 that copy was several percent of a
        token. Greedy needs no accept step, so the result is the greedy sampler's, ties to the lowest id.
        """
        logits = lc.llama_get_logits_ith(self._ctx, -1)
        return int(np.ctypeslib.as_array(logits, shape=(self._n_vocab,)).argmax())

    def _piece(self, token: int) -> bytes:
        n_bytes = lc.llama_token_to_piece(self._vocab, token, self._piece_buf, len(self._piece_buf), 0, False)
        if n_bytes < 0:  # llama.h: a negative result is the size the piece needs
            self._piece_buf = ctypes.create_string_buffer(-n_bytes)
            return self._piece(token)
        return self._piece_buf.raw[:n_bytes]

    def _tokenize(self, prompt: str) -> list[int]:
        text = prompt.encode("utf-8")
        capacity = len(text) + 8  # a token covers at least one byte, plus BOS/EOS specials
        array = (lc.llama_token * capacity)()
        n_tokens = lc.llama_tokenize(self._vocab, text, len(text), array, capacity, True, True)
        if n_tokens < 0:
            raise EngineError(f"could not tokenize the prompt ({-n_tokens} tokens needed)")
        tokens = list(array[:n_tokens])
        return tokens or [int(lc.llama_vocab_bos(self._vocab))]

    def _decode_prompt(self, tokens: list[int]) -> bool:
        """Decode the prompt in batches; False if cancelled between batches."""
        for start in range(0, len(tokens), self._batch_tokens):
            if self._cancel.is_set():
                return False
            chunk = tokens[start : start + self._batch_tokens]
            array = (lc.llama_token * len(chunk))(*chunk)
            self._check_decode(lc.llama_decode(self._ctx, lc.llama_batch_get_one(array, len(chunk))))
        return True

    def _check_decode(self, status: int) -> None:
        # llama.h llama_decode: 0 ok, 1 no KV slot, 2 aborted, -1 invalid batch, < -1 fatal.
        if status != 0:
            raise EngineError(f"llama_decode returned {status}: {self._last_error()}")

    def _set_sampler(self, sampling: SamplingParams) -> None:
        if self._sampler:
            lc.llama_sampler_free(self._sampler)
        chain = lc.llama_sampler_chain_init(lc.llama_sampler_chain_default_params())
        if sampling.temperature <= 0:
            lc.llama_sampler_chain_add(chain, lc.llama_sampler_init_greedy())
        else:  # the order of llama.cpp's common sampler: top-k, top-p, temperature, then draw
            lc.llama_sampler_chain_add(chain, lc.llama_sampler_init_top_k(sampling.top_k))
            lc.llama_sampler_chain_add(chain, lc.llama_sampler_init_top_p(sampling.top_p, 1))
            lc.llama_sampler_chain_add(chain, lc.llama_sampler_init_temp(sampling.temperature))
            lc.llama_sampler_chain_add(chain, lc.llama_sampler_init_dist(sampling.seed))
        self._sampler = chain

    def _finish(self, reason: str) -> None:
        self._report = EngineReport(prompt_tokens=self._report.prompt_tokens, finish_reason=reason)

    def report(self) -> EngineReport:
        return self._report

    def cancel(self) -> None:
        self._cancel.set()

    def log_tail(self, n_lines: int = 40) -> list[str]:
        return self._logs.tail(n_lines)

    def _last_error(self) -> str:
        """The last few error lines llama.cpp logged: the first of them usually names the cause."""
        lines = self._logs.tail(400)
        errors = [line.strip() for line in lines if "error" in line.lower() or "failed" in line.lower()]
        return "; ".join(errors[-3:]) if errors else (lines or ["no log output"])[-1].strip()


def _physical_cores() -> int:
    """llama-bench's default thread count is the physical core count (common/common.cpp cpu_get_num_math)."""
    try:
        import psutil

        return int(psutil.cpu_count(logical=False) or os.cpu_count() or 1)
    except ImportError:
        return os.cpu_count() or 1
