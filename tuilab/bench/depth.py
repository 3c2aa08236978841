"""Speed at depth: prompt and generation tokens/s, time to first token and peak memory after the context
is filled to each of a list of depths, each beside the plan's prediction (what `llama-bench -d` measures).

Per depth, one worker generation runs a prompt of `depth` tokens and another a prompt of `depth + chunk`
tokens (the engines clear their cache per generation); the chunk's prompt rate at that depth is the chunk
over the difference of the two prompt times, as llama-bench's pp512@d is. Generation is the second run's
rate after `depth + chunk` tokens. Each finished depth is saved at once (temp file and rename) and a
rerun with the same settings reuses it. Histories are kept per model, quant and machine, so the Context
pane can put each quant's points beside that quant's plan.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tuilab import paths
from tuilab.bench.child import BenchError, StopSignal
from tuilab.bench.measure import GREEDY
from tuilab.bench.rungs import slug
from tuilab.bench.texts import generated_text
from tuilab.core.errors import UsageError
from tuilab.core.fit import plan
from tuilab.core.hardware import HardwareSpec
from tuilab.core.plan_types import FitPlan
from tuilab.core.quant import parse_quant, quant_name
from tuilab.engines.client import EngineWorker
from tuilab.engines.events import Failed, Stats
from tuilab.engines.protocol import LoadSpec
from tuilab.models.resolve import resolve_model

DEPTH_DIR = "depth"
# llama-bench's default prompt test is pp512 and its generation test tg128 (tools/llama-bench -p/-n);
# 512 is also llama.cpp's default n_ubatch, so the chunk is one physical batch.
CHUNK_TOKENS = 512
GEN_TOKENS = 128
_TEXT_SEED = 16  # any fixed seed: the text only has to tokenize the same way on every run
# A chunk's rate is the difference of two prompt times; on a loaded machine the longer prompt can come out
# no slower than the shorter one. Each pair is measured again up to this many times, keeping the fastest
# time of each length (load only ever adds time).
CHUNK_RETRIES = 2


@dataclass(frozen=True)
class DepthOptions:
    depths: tuple[int, ...]
    chunk_tokens: int = CHUNK_TOKENS
    gen_tokens: int = GEN_TOKENS
    fresh: bool = False
    stop: StopSignal | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class DepthPoint:
    """One depth, measured beside its prediction. Rates are None when the engine reported none."""

    depth: int
    pp_tps: float | None
    tg_tps: float | None
    ttft_s: float | None
    peak_memory_bytes: int | None
    predicted_pp_tps: float
    predicted_tg_tps: float
    predicted_ttft_s: float
    prompt_tokens: int | None = (
        None  # the tokens of the measured prompt (depth + chunk), as the engine counted
    )

    def error(self, name: str) -> float | None:
        """Measured over predicted, less one: +0.10 is 10% faster (or longer, for TTFT) than planned."""
        measured, predicted = getattr(self, name), getattr(self, f"predicted_{name}")
        return None if measured is None or not predicted else measured / predicted - 1.0


@dataclass
class DepthRun:
    model: str
    machine: str
    engine: str
    path: str
    settings_key: str
    ctx_tokens: int
    quant: str = ""  # the weights' quant ("Q4_K_M", "mlx-4bit"); "" in histories written before it was kept
    points: list[DepthPoint] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in asdict(self).items() if k != "points"}
        d["depths"] = [_point_dict(p) for p in self.points]
        return d


def _point_dict(p: DepthPoint) -> dict[str, Any]:
    d = asdict(p)
    for name in ("pp_tps", "tg_tps", "ttft_s"):
        err = p.error(name)
        d[f"{name}_error"] = None if err is None else round(err, 4)
    return d


ProgressFn = Callable[[int, int, str], None]  # depth index, depth count, step


def parse_depths(text: str) -> tuple[int, ...]:
    """'0,4096,16384' -> (0, 4096, 16384); sorted, duplicates dropped; bad input is a UsageError."""
    try:
        depths = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError:
        raise UsageError(f"--depths takes whole token counts separated by commas, got {text!r}") from None
    if not depths or depths[0] < 0:
        raise UsageError(f"--depths needs one or more depths of 0 tokens or more, got {text!r}")
    return tuple(depths)


def history_path(model: str, machine: str, quant: str = "") -> Path:
    name = f"{slug(model)}--{slug(quant)}--{slug(machine)}" if quant else f"{slug(model)}--{slug(machine)}"
    return paths.data_dir() / DEPTH_DIR / f"{name}.json"


def read_history(model: str, machine: str, quant: str = "") -> DepthRun | None:
    """The last depth run recorded for this model, quant and machine; None when there is none or it is
    damaged."""
    return _read_run(history_path(model, machine, quant))


def read_histories(model: str, machine: str) -> list[DepthRun]:
    """Every quant's depth run for this model on this machine (damaged files are skipped)."""
    runs = (_read_run(p) for p in sorted((paths.data_dir() / DEPTH_DIR).glob("*.json")))
    return [r for r in runs if r is not None and r.model == model and r.machine == machine]


def measured_by_quant(model: str, machine: str) -> dict[str, tuple[DepthPoint, ...]]:
    """The depth bench's points for this model on this machine, by canonical quant name (a run recorded
    before quants were kept is under "")."""
    return {canonical_quant(r.quant): tuple(r.points) for r in read_histories(model, machine) if r.points}


def canonical_quant(name: str) -> str:
    """One spelling per quant, so a file's "q4_k_m" meets the plan's "Q4_K_M"; unknown names as given."""
    try:
        return quant_name(parse_quant(name)) if name else ""
    except UsageError:
        return name


def _read_run(path: Path) -> DepthRun | None:
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
        points = [
            DepthPoint(**{k: v for k, v in p.items() if not k.endswith("_error")}) for p in d.pop("depths")
        ]
        return DepthRun(**d, points=points)
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None


def save_history(run: DepthRun) -> Path:
    path = history_path(run.model, run.machine, run.quant)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(json.dumps(run.to_dict(), indent=2), encoding="utf-8")
    os.replace(tmp, path)
    return path


def run_depths(
    model: str, hw: HardwareSpec, options: DepthOptions, *, engine: str | None = None,
    progress: ProgressFn | None = None,
) -> DepthRun:  # fmt: skip
    resolved = resolve_model(model, None, engine)
    if resolved.path is None:
        raise UsageError(
            f"{model!r} is a profile without weights; a depth run needs a GGUF or a model folder"
        )
    ctx = options.depths[-1] + options.chunk_tokens + options.gen_tokens + 16
    trained = resolved.arch.max_ctx_tokens
    if ctx > trained:
        deepest = trained - options.chunk_tokens - options.gen_tokens - 16
        raise UsageError(
            f"depth {options.depths[-1]} is beyond {resolved.name}'s context of {trained} tokens "
            f"(the deepest it can measure with a {options.chunk_tokens}-token chunk and "
            f"{options.gen_tokens} generated tokens is {max(deepest, 0)})"
        )
    fit = plan(resolved.arch, resolved.quant, hw, ctx_tokens=ctx, engine=resolved.engine, advise=False)
    if fit.verdict == "no_fit":
        raise UsageError(f"{resolved.name} at {ctx} tokens will not fit: {fit.reason}")
    key = _settings_key(resolved.engine, resolved.path, options)
    run = _start(
        DepthRun(
            resolved.name, hw.name, resolved.engine, str(resolved.path), key, ctx, resolved.quant_name or ""
        ),
        options.fresh,
    )
    todo = [d for d in options.depths if d not in {p.depth for p in run.points}]
    if todo:
        _measure_all(run, fit, todo, options, progress or (lambda *_: None))
    by_depth = {p.depth: p for p in run.points}
    run.points = [by_depth[d] for d in options.depths]
    return run


def _settings_key(engine: str, path: Path, options: DepthOptions) -> str:
    size = path.stat().st_size if path.is_file() else sum(p.stat().st_size for p in path.glob("*"))
    parts = (engine, str(path.resolve()), size, options.chunk_tokens, options.gen_tokens)
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:12]


def _start(run: DepthRun, fresh: bool) -> DepthRun:
    """`run`, with the points of an earlier run of the same settings unless `fresh`."""
    earlier = None if fresh else read_history(run.model, run.machine, run.quant)
    if earlier is not None and earlier.settings_key == run.settings_key:
        run.points = list(earlier.points)
    return run


def _measure_all(
    run: DepthRun, fit: FitPlan, todo: list[int], options: DepthOptions, progress: ProgressFn
) -> None:
    gpu_layers = fit.gpu_layers if run.engine == "llama.cpp" else None
    spec = LoadSpec(run.path, ctx_tokens=run.ctx_tokens, gpu_layers=gpu_layers,
                    batch_tokens=min(LoadSpec.batch_tokens, run.ctx_tokens))  # fmt: skip
    stop = options.stop
    with EngineWorker(run.engine) as worker, stop.watching(worker.pid) if stop else nullcontext():
        loaded = worker.load(spec)
        if isinstance(loaded, Failed):
            raise BenchError(f"{run.engine} could not load {run.path}: {loaded.describe()}")
        text = _Text(worker, run.ctx_tokens)
        for i, depth in enumerate(todo):
            progress(i, len(todo), f"depth {depth}")
            run.points = [p for p in run.points if p.depth != depth] + [
                _measure_depth(worker, text, fit, depth, options)
            ]
            run.points.sort(key=lambda p: p.depth)
            save_history(run)


class _Text:
    """Prompts of a given token count, from one generated text, sized with the model's own tokenizer."""

    def __init__(self, worker: EngineWorker, ctx_tokens: int) -> None:
        self.worker = worker
        # A token is at least one character (plus BOS), so half the context in characters always fits.
        n_chars = min(4000, ctx_tokens // 2)
        sample = generated_text(_TEXT_SEED, n_chars)[:n_chars]
        stats = _generate(worker, sample, 1)
        self.chars_per_token = len(sample) / max(stats.prompt_tokens or 1, 1)

    def of(self, n_tokens: int) -> str:
        # 0.95: stay at or under the target when a stretch tokenizes a little denser than the sample
        n_chars = max(1, int(n_tokens * self.chars_per_token * 0.95))
        return generated_text(_TEXT_SEED, n_chars)[:n_chars]  # it writes whole paragraphs: cut to size


def _measure_depth(
    worker: EngineWorker, text: _Text, fit: FitPlan, depth: int, options: DepthOptions
) -> DepthPoint:
    before = _generate(worker, text.of(depth), 1) if depth else None
    after = _generate(worker, text.of(depth + options.chunk_tokens), options.gen_tokens)
    pp_tps = _chunk_rate_measured(worker, text, (depth, depth + options.chunk_tokens), before, after)
    prompt_tokens = after.prompt_tokens or depth + options.chunk_tokens
    return DepthPoint(
        depth=depth,
        pp_tps=pp_tps,
        tg_tps=after.gen_tps,
        ttft_s=after.ttft_s,
        peak_memory_bytes=after.peak_memory_bytes,
        predicted_pp_tps=round(fit.predicted_pp_tps_at(depth), 2),
        predicted_tg_tps=round(fit.predicted_tg_tps_at(prompt_tokens), 2),
        predicted_ttft_s=round(fit.predicted_ttft_s_at(prompt_tokens), 4),
        prompt_tokens=after.prompt_tokens,
    )


def _chunk_rate_measured(
    worker: EngineWorker, text: _Text, lengths: tuple[int, int], before: Stats | None, after: Stats
) -> float | None:
    """The chunk's rate from the two runs; a pair that gives none (the longer prompt no slower, as load
    can make it) is timed again up to CHUNK_RETRIES times, keeping the fastest time of each length."""
    (n0, t0), (n1, t1) = _prompt_time(before), _prompt_time(after)
    for _ in range(CHUNK_RETRIES if before is not None else 0):
        if _chunk_rate(n0, t0, n1, t1) is not None:
            break
        t0 = _fastest(t0, _prompt_time(_generate(worker, text.of(lengths[0]), 1))[1])
        t1 = _fastest(t1, _prompt_time(_generate(worker, text.of(lengths[1]), 1))[1])
    return _chunk_rate(n0, t0, n1, t1)


def _fastest(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else min(a, b)


def _chunk_rate(n0: int | None, t0: float | None, n1: int | None, t1: float | None) -> float | None:
    """Tokens per second of the part of the longer prompt the shorter one lacks."""
    if n0 is None or t0 is None or n1 is None or t1 is None or n1 <= n0 or t1 <= t0:
        return None
    return (n1 - n0) / (t1 - t0)


def _prompt_time(stats: Stats | None) -> tuple[int | None, float | None]:
    """Tokens and seconds of a run's prompt; (0, 0.0) for no run (depth 0)."""
    if stats is None:
        return 0, 0.0
    if not stats.prompt_tokens or not stats.prompt_tps:
        return stats.prompt_tokens, None
    return stats.prompt_tokens, stats.prompt_tokens / stats.prompt_tps


def _generate(worker: EngineWorker, prompt: str, max_tokens: int) -> Stats:
    stats: Stats | None = None
    for event in worker.generate(prompt, max_tokens, GREEDY):
        if isinstance(event, Stats):
            stats = event
        elif isinstance(event, Failed):
            raise BenchError(f"{worker.engine} failed while generating: {event.describe()}")
    if stats is None:
        raise BenchError(f"{worker.engine} finished a generation without stats")
    return stats
