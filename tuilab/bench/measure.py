"""Speed, memory and probe answers of one rung, through the same engine worker `tuilab run` uses.

One worker per rung: load, one warm-up generation, then N timed trials (median and spread of the
engine's prompt and generation tokens/s, the highest peak memory), then the probe prompts, greedy.
The numbers are the worker's `Stats`, so a ladder row and a `tuilab run` line agree.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass

from tuilab.bench.child import BenchError, StopSignal
from tuilab.bench.probes import Probe
from tuilab.engines.client import EngineWorker
from tuilab.engines.events import Failed, Stats, Tokens
from tuilab.engines.protocol import LoadSpec, SamplingParams

GREEDY = SamplingParams(temperature=0.0)


@dataclass(frozen=True)
class Spread:
    """Median and range of one rate over the trials; None when the engine reported none."""

    median: float | None
    low: float | None
    high: float | None

    @staticmethod
    def of(values: Sequence[float | None]) -> Spread:
        seen = [v for v in values if v is not None]
        if not seen:
            return Spread(None, None, None)
        return Spread(statistics.median(seen), min(seen), max(seen))


@dataclass(frozen=True)
class SpeedResult:
    pp_tps: Spread
    tg_tps: Spread
    peak_memory_bytes: int | None
    load_s: float
    probe_answers: tuple[str, ...]


@dataclass(frozen=True)
class SpeedJob:
    engine: str
    path: str
    ctx_tokens: int
    gpu_layers: int | None
    prompt: str
    gen_tokens: int
    trials: int
    probes: tuple[Probe, ...]


def measure(job: SpeedJob, stop: StopSignal | None = None) -> SpeedResult:
    # A prompt batch larger than the context trips a llama.cpp assertion (n_batch is clamped to n_ctx).
    batch_tokens = min(LoadSpec.batch_tokens, job.ctx_tokens)
    spec = LoadSpec(job.path, ctx_tokens=job.ctx_tokens, gpu_layers=job.gpu_layers, batch_tokens=batch_tokens)
    with EngineWorker(job.engine) as worker, stop.watching(worker.pid) if stop else nullcontext():
        loaded = worker.load(spec)
        if isinstance(loaded, Failed):
            raise BenchError(loaded.message(f"{job.engine} could not load {job.path}"))
        _generate(worker, job.prompt, min(job.gen_tokens, 4))  # warm-up: caches, lazy allocations
        runs = [_generate(worker, job.prompt, job.gen_tokens)[0] for _ in range(job.trials)]
        answers = tuple(_generate(worker, p.prompt, p.max_tokens)[1] for p in job.probes)
    peaks = [s.peak_memory_bytes for s in runs if s.peak_memory_bytes is not None]
    return SpeedResult(
        pp_tps=Spread.of([s.prompt_tps for s in runs]),
        tg_tps=Spread.of([s.gen_tps for s in runs]),
        peak_memory_bytes=max(peaks) if peaks else None,
        load_s=loaded.load_s,
        probe_answers=answers,
    )


def _generate(worker: EngineWorker, prompt: str, max_tokens: int) -> tuple[Stats, str]:
    """One greedy generation: its Stats and its text; a Failed event becomes BenchError."""
    stats: Stats | None = None
    pieces: list[str] = []
    for event in worker.generate(prompt, max_tokens, GREEDY):
        if isinstance(event, Tokens):
            pieces.append(event.text)
        elif isinstance(event, Stats):
            stats = event
        elif isinstance(event, Failed):
            raise BenchError(event.message(f"{worker.engine} failed while generating"))
    if stats is None:
        raise BenchError(f"{worker.engine} finished a generation without stats")
    return stats, "".join(pieces)
