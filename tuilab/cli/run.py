"""`tuilab run MODEL`: load a model in an engine worker and stream its text, with measured speed and memory.

Text goes to stdout as it streams and the stats line to stderr; with --json the last stdout line is one
JSON object. The fit plan is checked before anything loads, and a load it says will not fit is refused
(exit 3) unless --force.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, TextIO

from tuilab.cli import cluster
from tuilab.core.errors import EngineError, FitRefusedError, UsageError
from tuilab.core.hardware import parse_size_bytes
from tuilab.core.plan_types import gb
from tuilab.core.quant import kv_type_refusal
from tuilab.engines.client import EngineWorker
from tuilab.engines.events import Failed, Finished, GuardSpec, Loaded, MemoryWarning, Stats, Tokens
from tuilab.engines.guard import guard_for_plan
from tuilab.engines.protocol import (
    ENGINE_FORMATS,
    MLX,
    LoadSpec,
    SamplingParams,
    check_kv_type,
    engine_name,
)
from tuilab.models.resolve import ResolvedModel, resolve_model

DEFAULT_PROMPT = "Once upon a time"
DEFAULT_MAX_TOKENS = 128
DEFAULT_CTX_TOKENS = 4096  # the same default as `tuilab fit`, capped at the model's trained context


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "run", help="run a model: stream its text with measured speed and memory", description=__doc__
    )
    p.add_argument("model", help="GGUF path, model directory, HF repo id in the cache, or 'demo'")
    p.add_argument("--engine", help="llama.cpp or mlx (default: from the model's format)")
    p.add_argument("--prompt", default=DEFAULT_PROMPT, help=f"prompt text (default {DEFAULT_PROMPT!r})")
    p.add_argument("--max-tokens", type=int, default=DEFAULT_MAX_TOKENS, help="tokens to generate (128)")
    p.add_argument("--ctx", type=int, help="context length in tokens (default: 4096 or the model's maximum)")
    p.add_argument("--gpu-layers", type=int, help="llama.cpp layers to offload (default: the fit plan's)")
    p.add_argument("--kv-type", default="f16", help="KV cache type: f16, q8_0, q4_0, mlx-kv8, mlx-kv4")
    p.add_argument("--threads", type=int, help="llama.cpp CPU threads (default: physical cores)")
    p.add_argument("--temperature", type=float, default=0.0, help="0 (the default) is greedy decoding")
    p.add_argument("--force", action="store_true", help="load even when the fit plan says it will not fit")
    p.add_argument(
        "--max-kv-size",
        type=int,
        metavar="N",
        help="MLX: keep at most N tokens in a rotating KV cache (mlx-lm max_kv_size); older ones drop out",
    )
    p.add_argument(
        "--memory-budget",
        type=_size,
        metavar="SIZE",
        help="stop generating (finish reason 'memory') when the worker would pass SIZE, e.g. 12GB "
        "(default: the fit plan's budget)",
    )
    p.add_argument(
        "--no-memory-guard", action="store_true", help="do not watch the worker's memory while generating"
    )
    p.add_argument("--json", action="store_true", help="end stdout with one JSON object of the stats")
    cluster.add_run_options(p)
    p.set_defaults(func=run_command)


def run_command(args: argparse.Namespace) -> int:
    if args.max_tokens < 1:
        raise UsageError(f"--max-tokens must be at least 1, got {args.max_tokens}")
    if cluster.wants_cluster(args):
        return cluster.run_cluster_command(args)
    engine = engine_name(args.engine) if args.engine else None
    model = resolve_for_run(args.model, engine)
    engine = engine or model.engine
    kv = check_kv_type(engine, args.kv_type)
    check_max_kv_size(args.max_kv_size, engine)
    refusal = kv_type_refusal(kv, model.arch, rotating_cache=args.max_kv_size is not None)
    if refusal:
        raise UsageError(refusal)
    ctx_tokens = args.ctx or min(DEFAULT_CTX_TOKENS, model.arch.max_ctx_tokens)
    fit = check_fit(
        model, engine=engine, ctx_tokens=ctx_tokens, kv_type=kv, gpu_layers=args.gpu_layers, force=args.force
    )
    gpu_layers = args.gpu_layers if args.gpu_layers is not None else fit.get("gpu_layers")
    spec = LoadSpec(
        str(model.path),
        ctx_tokens=ctx_tokens,
        gpu_layers=gpu_layers,
        kv_type=kv,
        threads=args.threads,
        max_kv_tokens=args.max_kv_size,
    )
    sampling = SamplingParams(temperature=args.temperature)
    guard = None if args.no_memory_guard else guard_for_plan(fit, engine, args.memory_budget)
    loaded, stats, finished = stream_run(
        engine, spec, args.prompt, args.max_tokens, sampling, sys.stdout, guard=guard
    )
    print(stats_line(engine, model, loaded, stats, finished, fit), file=sys.stderr)
    if args.json:
        print(json.dumps(result_dict(engine, model, loaded, stats, finished, fit)))
    return 0


def _size(text: str) -> int:
    try:
        size = parse_size_bytes(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if size <= 0:
        raise argparse.ArgumentTypeError(f"must be more than 0 bytes, got {text!r}")
    return size


def check_max_kv_size(max_kv_size: int | None, engine: str) -> None:
    """--max-kv-size is mlx-lm's rotating cache: MLX only, and at least one token."""
    if max_kv_size is None:
        return
    if engine != MLX:
        raise UsageError(f"--max-kv-size is an MLX option (mlx-lm's rotating KV cache); {engine} has none")
    if max_kv_size < 1:
        raise UsageError(f"--max-kv-size must be at least 1 token, got {max_kv_size}")


def resolve_for_run(spec: str, engine: str | None) -> ResolvedModel:
    """Resolve MODEL to something with weights on disk that the chosen engine can load."""
    if spec == "demo" and engine == MLX:
        from tuilab.models.tiny import ensure_demo_model

        spec = str(ensure_demo_model() / "tiny-mlx")
    model = resolve_model(spec, None, engine)
    if model.path is None:
        raise UsageError(f"{spec!r} is a profile without weights; give a GGUF file or a model directory")
    wanted = engine or model.engine
    if model.format not in ENGINE_FORMATS[wanted]:
        raise UsageError(
            f"{model.path}: a {model.format} model; {wanted} loads {', '.join(ENGINE_FORMATS[wanted])}"
        )
    return model


def check_fit(
    model: ResolvedModel, *, engine: str, ctx_tokens: int, kv_type: str, gpu_layers: int | None, force: bool
) -> dict[str, Any]:
    """The fit plan for this load on this machine, as a dict; raises FitRefusedError on no_fit unless forced.

    The one place `tuilab run` talks to the fit oracle, so a change in its names touches only this function.
    """
    from tuilab.cli.hw import machine_spec
    from tuilab.core.fit import plan

    fit = plan(
        model.arch,
        model.quant,
        machine_spec(None),
        ctx_tokens=ctx_tokens,
        kv_type=kv_type,
        engine=engine,
        gpu_layers=gpu_layers,
    ).to_dict()
    if fit["verdict"] == "no_fit":
        message = refusal_message(fit)
        if not force:
            raise FitRefusedError(f"{message}; pass --force to load anyway")
        print(f"tuilab: warning: {message}; loading anyway (--force)", file=sys.stderr)
    return fit


def refusal_message(fit: dict[str, Any]) -> str:
    parts = [
        f"the fit plan says it will not fit: {fit['reason']}",
        f"weights {gb(fit['weights_bytes'])}, KV cache {gb(fit['kv_cache_bytes'])} at {fit['ctx']} tokens, "
        f"compute {gb(fit['compute_bytes'])}, total {gb(fit['total_bytes'])}",
        f"budget {gb(fit['budget_bytes'])} GPU, {gb(fit['host_budget_bytes'])} RAM",
    ]
    parts += [f"advice: {a}" for a in fit.get("advice", [])]
    return "; ".join(parts)


def stream_run(
    engine: str,
    spec: LoadSpec,
    prompt: str,
    max_tokens: int,
    sampling: SamplingParams,
    out: TextIO,
    guard: GuardSpec | None = None,
) -> tuple[Loaded, Stats, Finished]:
    """Load in a fresh worker, write text to `out` as it arrives; Ctrl-C cancels and still reports stats.
    With `guard`, a memory warning goes to stderr and the worker stops at the limit (reason 'memory')."""
    with EngineWorker(engine) as worker:
        loaded = worker.load(spec)
        if isinstance(loaded, Failed):
            raise EngineError(f"{engine} could not load {spec.path}: {loaded.describe()}")
        stats: Stats | None = None
        events = worker.generate(prompt, max_tokens, sampling, guard)
        while True:
            try:
                event = next(events)
            except KeyboardInterrupt:
                worker.cancel()  # a second Ctrl-C while draining ends the command
                continue
            if isinstance(event, Tokens):
                out.write(event.text)
                out.flush()
            elif isinstance(event, Stats):
                stats = event
            elif isinstance(event, MemoryWarning):
                print(f"\ntuilab: warning: {event.describe()}", file=sys.stderr)
            elif isinstance(event, Failed):
                raise EngineError(f"{engine} failed while generating: {event.describe()}")
            elif isinstance(event, Finished):
                out.write("\n")
                out.flush()  # the text ends before the stats line on stderr starts
                if stats is None:
                    raise EngineError(f"{engine} finished without stats")
                return loaded, stats, event


def result_dict(
    engine: str, model: ResolvedModel, loaded: Loaded, stats: Stats, finished: Finished, fit: dict[str, Any]
) -> dict[str, Any]:
    return {
        "engine": engine,
        "model": model.name,
        "quant": model.quant_name,
        "ttft_s": stats.ttft_s,
        "prompt_tokens": stats.prompt_tokens,
        "prompt_tps": stats.prompt_tps,
        "gen_tokens": stats.gen_tokens,
        "gen_tps": stats.gen_tps,
        "peak_memory_bytes": stats.peak_memory_bytes,
        "peak_memory_source": stats.peak_memory_source,
        "process_peak_bytes": stats.rss_peak_bytes,  # macOS phys_footprint, Linux VmHWM
        "mlx_active_peak_bytes": stats.engine_peak_memory_bytes,
        "predicted_tg_tps": fit.get("predicted_tg_tps"),
        "predicted_memory_bytes": fit.get("total_bytes"),
        "load_s": loaded.load_s,
        "finish_reason": finished.reason,
    }


def stats_line(
    engine: str, model: ResolvedModel, loaded: Loaded, stats: Stats, finished: Finished, fit: dict[str, Any]
) -> str:
    def rate(tps: float | None) -> str:
        return "-" if tps is None else f"{tps:.1f} tok/s"

    ttft = "-" if stats.ttft_s is None else f"{stats.ttft_s * 1000:.0f} ms"
    peak = "-" if stats.peak_memory_bytes is None else gb(stats.peak_memory_bytes)
    if stats.engine_peak_memory_bytes:
        peak += f" (MLX active {gb(stats.engine_peak_memory_bytes)})"
    return (
        f"{engine} · {model.name} {model.quant_name or ''} · load {loaded.load_s:.2f} s · ttft {ttft}"
        f" · prompt {stats.prompt_tokens} tok at {rate(stats.prompt_tps)}"
        f" · gen {stats.gen_tokens} tok at {rate(stats.gen_tps)} ({finished.reason})"
        f" · peak {peak} · predicted {rate(fit.get('predicted_tg_tps'))}, {gb(fit.get('total_bytes', 0))}"
    )
