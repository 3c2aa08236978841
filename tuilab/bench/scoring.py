"""Logits for every scored position, per engine, and the perplexity / KL sums over them (child side).

`score(job)` runs inside a spawned child (see child.py). The same windows as llama.cpp's perplexity tool
(tools/perplexity/perplexity.cpp): each window is BOS plus ctx-1 text tokens, and only its second half is
scored, so every scored token has at least ctx/2 tokens of context. The reference run writes its
log-probabilities to a .npy file; every other rung reads it back to compute KL(reference || rung).
"""

from __future__ import annotations

import ctypes
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from tuilab.core.errors import EngineError

F32 = npt.NDArray[np.float32]


@dataclass(frozen=True)
class ScoreJob:
    engine: str  # "llama.cpp" or "mlx"
    model_path: str
    text: str
    tokens: tuple[int, ...] | None  # None: tokenize `text` here (the reference run)
    ctx_tokens: int
    max_windows: int
    reference_path: str  # float16 log-probs, one row per scored position
    write_reference: bool
    gpu_layers: int | None = None
    reference_part_path: str = ""  # where the reference is written before its rename; this writer's own


@dataclass(frozen=True)
class ScoreResult:
    tokens: tuple[int, ...]  # the text tokens the windows were cut from
    n_windows: int
    n_scored: int
    nll_sum: float
    kld_sum: float
    same_top_count: int  # positions where the rung's most likely token is the reference's
    chars_per_token: float


class Scorer(Protocol):
    bos: int | None

    def tokenize(self, text: str) -> list[int]: ...

    def logits(self, window: list[int], first: int) -> F32:
        """Float32 logits [len(window) - 1 - first, vocab] of positions first .. len(window) - 2."""
        ...


def windows(tokens: tuple[int, ...], bos: int | None, ctx_tokens: int, max_windows: int) -> list[list[int]]:
    """Non-overlapping windows of exactly ctx_tokens; the first token of each is BOS when there is one."""
    body = ctx_tokens - 1 if bos is not None else ctx_tokens
    n = min(max_windows, len(tokens) // body)
    prefix = [bos] if bos is not None else []
    return [prefix + list(tokens[i * body : (i + 1) * body]) for i in range(n)]


def log_softmax(logits: F32) -> F32:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    result: F32 = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    return result


def score(job: ScoreJob) -> ScoreResult:
    scorer = _make_scorer(job)
    tokens = job.tokens if job.tokens is not None else tuple(scorer.tokenize(job.text))
    wins = windows(tokens, scorer.bos, job.ctx_tokens, job.max_windows)
    if not wins:
        raise EngineError(
            f"the evaluation text is {len(tokens)} tokens, shorter than one {job.ctx_tokens}-token window"
        )
    first = job.ctx_tokens // 2
    n_scored_per = job.ctx_tokens - 1 - first
    ref: Any = None
    nll_sum = kld_sum = 0.0
    same_top = 0
    for i, window in enumerate(wins):
        logp = log_softmax(scorer.logits(window, first))
        if ref is None:
            ref = _open_reference(job, len(wins) * n_scored_per, logp.shape[1])
        targets = np.asarray(window[first + 1 :])
        nll_sum -= float(logp[np.arange(len(targets)), targets].sum())
        rows = slice(i * n_scored_per, (i + 1) * n_scored_per)
        if job.write_reference:
            ref[rows] = logp.astype(np.float16)
            same_top += len(targets)
        else:
            ref_logp = np.asarray(ref[rows], dtype=np.float32)
            if ref_logp.shape != logp.shape:
                raise EngineError(
                    f"the reference has {ref_logp.shape[1]} vocabulary entries, this rung {logp.shape[1]}"
                )
            kld_sum += float((np.exp(ref_logp) * (ref_logp - logp)).sum())
            same_top += int((ref_logp.argmax(axis=-1) == logp.argmax(axis=-1)).sum())
    _close_reference(job, ref)
    n_scored = len(wins) * n_scored_per
    chars_per_token = len(job.text) / max(1, len(tokens))
    return ScoreResult(tokens, len(wins), n_scored, nll_sum, kld_sum, same_top, chars_per_token)


def _open_reference(job: ScoreJob, n_rows: int, n_vocab: int) -> Any:
    """The reference log-probs: read-only memory map, or a new file under a temporary name."""
    if job.write_reference:
        return np.lib.format.open_memmap(_part(job), mode="w+", dtype=np.float16, shape=(n_rows, n_vocab))
    ref = np.load(job.reference_path, mmap_mode="r")
    if ref.shape[0] != n_rows:
        raise EngineError(f"the reference log-probs hold {ref.shape[0]} positions, this rung {n_rows}")
    return ref


def _close_reference(job: ScoreJob, ref: Any) -> None:
    if job.write_reference:
        ref.flush()
        del ref
        os.replace(_part(job), job.reference_path)  # a half-written file never counts


def _part(job: ScoreJob) -> str:
    return job.reference_part_path or job.reference_path + ".part"


def _make_scorer(job: ScoreJob) -> Scorer:
    if job.engine == "mlx":
        return MLXScorer(job.model_path)
    return LlamaScorer(job.model_path, job.ctx_tokens, job.gpu_layers)


class MLXScorer:
    """One forward pass of the mlx-lm model over a window (mlx_lm.load, model(tokens) -> logits)."""

    def __init__(self, path: str) -> None:
        from mlx_lm import load

        if not (Path(path) / "config.json").is_file():  # mlx_lm.load would go to the Hub otherwise
            raise EngineError(f"{path} is not an MLX model directory (no config.json)")
        loaded = load(path)
        self.model, self.tokenizer = loaded[0], loaded[1]
        self.bos: int | None = self.tokenizer.bos_token_id

    def tokenize(self, text: str) -> list[int]:
        return list(self.tokenizer.encode(text, add_special_tokens=False))

    def logits(self, window: list[int], first: int) -> F32:
        import mlx.core as mx

        out = self.model(mx.array(window)[None])[0, first : len(window) - 1].astype(mx.float32)
        return np.array(out, dtype=np.float32)


class LlamaScorer:
    """One llama_decode per window with output flags on the scored positions (llama.h llama_batch)."""

    def __init__(self, path: str, ctx_tokens: int, gpu_layers: int | None) -> None:
        import llama_cpp as lc

        self.lc = lc
        lc.llama_backend_init()
        params = lc.llama_model_default_params()
        params.n_gpu_layers = -1 if gpu_layers is None else gpu_layers  # llama.h: negative means all
        self.model = lc.llama_model_load_from_file(os.fsencode(path), params)
        if not self.model:
            raise EngineError(f"llama.cpp could not load {path}")
        cparams = lc.llama_context_default_params()
        cparams.n_ctx = cparams.n_batch = ctx_tokens  # one decode call per window
        cparams.n_ubatch = min(ctx_tokens, cparams.n_ubatch)
        self.ctx = lc.llama_init_from_model(self.model, cparams)
        if not self.ctx:
            raise EngineError(f"llama.cpp could not create a {ctx_tokens}-token context for {path}")
        self.vocab = lc.llama_model_get_vocab(self.model)
        self.n_vocab = int(lc.llama_vocab_n_tokens(self.vocab))
        bos = int(lc.llama_vocab_bos(self.vocab))
        self.bos = bos if bos >= 0 else None  # LLAMA_TOKEN_NULL (-1): the vocab has no BOS
        self.batch = lc.llama_batch_init(ctx_tokens, 0, 1)

    def tokenize(self, text: str) -> list[int]:
        data = text.encode("utf-8")
        capacity = len(data) + 8
        array = (self.lc.llama_token * capacity)()
        n = self.lc.llama_tokenize(self.vocab, data, len(data), array, capacity, False, False)
        if n < 0:
            raise EngineError(f"could not tokenize the evaluation text ({-n} tokens needed)")
        return list(array[:n])

    def logits(self, window: list[int], first: int) -> F32:
        lc, batch = self.lc, self.batch
        lc.llama_memory_clear(lc.llama_get_memory(self.ctx), True)
        for pos, token in enumerate(window):
            batch.token[pos], batch.pos[pos] = token, pos
            batch.n_seq_id[pos], batch.seq_id[pos][0] = 1, 0
            batch.logits[pos] = first <= pos < len(window) - 1
        batch.n_tokens = len(window)
        status = lc.llama_decode(self.ctx, batch)
        if status != 0:
            raise EngineError(f"llama_decode returned {status} while scoring")
        rows = []
        for pos in range(first, len(window) - 1):
            ptr = ctypes.cast(lc.llama_get_logits_ith(self.ctx, pos), ctypes.POINTER(ctypes.c_float))
            rows.append(np.ctypeslib.as_array(ptr, shape=(self.n_vocab,)).copy())
        return np.stack(rows).astype(np.float32)
