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
from tuilab.cli.offload import add_offload_options, offload_kwargs
from tuilab.core.errors import EngineError, FitRefusedError
from tuilab.core.hardware import parse_size_bytes
from tuilab.core.plan_types import FitPlan, gb, tok_s
from tuilab.engines.events import Finished, Loaded, MemoryWarning, Stats
from tuilab.engines.prompt import read_prompt
from tuilab.engines.protocol import SamplingParams, engine_name
from tuilab.lab.launch import Launch, prepare_run, resolve_for_run
from tuilab.lab.machine import machine_spec
from tuilab.lab.planning import DEFAULT_CTX_TOKENS, FitQuery
from tuilab.lab.position import RunPosition, run_position
from tuilab.lab.prompt_rate import prompt_rate
from tuilab.lab.sampling import MAX_TEMPERATURE, check_max_tokens, sampling_for
from tuilab.lab.session import Listener, Session, interrupt_cancels

DEFAULT_PROMPT = "Once upon a time"
DEFAULT_MAX_TOKENS = 128


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "run", help="run a model: stream its text with measured speed and memory", description=__doc__
    )
    p.add_argument("model", help="GGUF path, model directory, HF repo id in the cache, or 'demo'")
    p.add_argument("--engine", help="llama.cpp or mlx (default: from the model's format)")
    p.add_argument("--prompt", help=f"prompt text (default {DEFAULT_PROMPT!r})")
    p.add_argument("--prompt-file", metavar="FILE", help="read the prompt (UTF-8) from FILE; '-' is stdin")
    p.add_argument("--max-tokens", type=int, default=DEFAULT_MAX_TOKENS, help="tokens to generate (128)")
    p.add_argument(
        "--ctx", type=int,
        help=f"context length in tokens (default {DEFAULT_CTX_TOKENS}); never past the model's trained one",
    )  # fmt: skip
    p.add_argument("--gpu-layers", type=int, help="llama.cpp layers to offload (default: the fit plan's)")
    p.add_argument("--kv-type", default="f16", help="KV cache type: f16, q8_0, q4_0, mlx-kv8, mlx-kv4")
    p.add_argument("--threads", type=int, help="llama.cpp CPU threads (default: physical cores)")
    p.add_argument(
        "--temperature",
        type=float,
        default=0.0,
        help=f"0 (the default) is greedy decoding; at most {MAX_TEMPERATURE:g}",
    )
    p.add_argument("--force", action="store_true", help="load even when the fit plan says it will not fit")
    add_offload_options(p)
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
    check_max_tokens(args.max_tokens)
    sampling = sampling_for(args.temperature)
    # Read and checked before anything loads; the cluster path reads it from args.
    prompt = args.prompt = read_prompt(args.prompt, args.prompt_file, sys.stdin.buffer, DEFAULT_PROMPT)
    engine = engine_name(args.engine) if args.engine else None
    query = FitQuery(
        ctx_tokens=args.ctx, kv_type=args.kv_type, engine=engine, gpu_layers=args.gpu_layers,
        **offload_kwargs(args),
        max_kv_tokens=args.max_kv_size,
    )  # fmt: skip
    if cluster.wants_cluster(args):
        return cluster.run_cluster_command(args, query)
    model = resolve_for_run(args.model, engine)
    try:
        launch = prepare_run(
            model, machine_spec(None), query, threads=args.threads, force=args.force,
            memory_guard=not args.no_memory_guard, memory_budget_bytes=args.memory_budget,
        )  # fmt: skip
    except FitRefusedError as exc:
        raise FitRefusedError(f"{exc}; pass --force to load anyway") from None
    if launch.note:
        print(f"tuilab: note: context {launch.note}", file=sys.stderr)
    if launch.warning:
        print(f"tuilab: warning: {launch.warning}; loading anyway (--force)", file=sys.stderr)
    loaded, stats, finished = stream_run(launch, prompt, args.max_tokens, sampling, sys.stdout)
    print(stats_line(launch, loaded, stats, finished), file=sys.stderr)
    if args.json:
        print(json.dumps(result_dict(launch, loaded, stats, finished)))
    return 0


def _size(text: str) -> int:
    try:
        size = parse_size_bytes(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if size <= 0:
        raise argparse.ArgumentTypeError(f"must be more than 0 bytes, got {text!r}")
    return size


def stream_run(
    launch: Launch, prompt: str, max_tokens: int, sampling: SamplingParams, out: TextIO
) -> tuple[Loaded, Stats, Finished]:
    """Load in a fresh session, write text to `out` as it arrives; Ctrl-C cancels and still reports stats.
    The launch's memory guard (unless --no-memory-guard) warns on stderr and stops the worker at the limit
    (finish reason 'memory')."""

    def write(text: str) -> None:
        out.write(text)
        out.flush()

    def warn(event: MemoryWarning) -> None:
        print(f"\ntuilab: warning: {event.describe()}", file=sys.stderr)

    with Session() as session:
        loaded = session.load(launch.engine, launch.spec, launch.label)
        if not isinstance(loaded, Loaded):
            raise loaded.error(f"{launch.engine} could not load {launch.spec.path}")
        with interrupt_cancels(session.cancel):
            result = session.generate(
                prompt, max_tokens, sampling, Listener(text=write, memory_warning=warn), guard=launch.guard
            )
    if result.failed is not None:
        raise result.failed.error(f"{launch.engine} failed while generating")  # a user error exits 2
    write("\n")  # the text ends before the stats line on stderr starts
    if result.stats is None or result.finished is None:
        raise EngineError(f"{launch.engine} finished without stats")
    return loaded, result.stats, result.finished


def result_dict(launch: Launch, loaded: Loaded, stats: Stats, finished: Finished) -> dict[str, Any]:
    fit: FitPlan = launch.fit
    return {
        "engine": launch.engine,
        "backend": loaded.info.backend,
        "build_backends": list(loaded.info.build_backends),
        "model": launch.model.name,
        "quant": launch.model.quant_name,
        "ctx": launch.spec.ctx_tokens,
        "ttft_s": stats.ttft_s,
        "prompt_tokens": stats.prompt_tokens,
        "prompt_tps": stats.prompt_tps,  # the engine's figure; the note says when it is not a rate
        "prompt_tps_note": prompt_rate(stats).why or None,
        "gen_tokens": stats.gen_tokens,
        "gen_tps": stats.gen_tps,
        "peak_memory_bytes": stats.peak_memory_bytes,
        "peak_memory_source": stats.peak_memory_source,
        "process_peak_bytes": stats.rss_peak_bytes,  # macOS phys_footprint, Linux VmHWM
        "mlx_active_peak_bytes": stats.engine_peak_memory_bytes,
        "predicted_tg_tps": round(fit.predicted_tg_tps, 2),
        "depth_tokens": _position(launch, stats).depth_tokens,
        "predicted_tg_tps_at_depth": round(_position(launch, stats).predicted_tg_tps, 2),
        "predicted_ttft_s": round(fit.predicted_ttft_s_at(stats.prompt_tokens or 0), 4),
        "predicted_memory_bytes": fit.memory.total_bytes,
        "load_s": loaded.load_s,
        "finish_reason": finished.reason,
        "offload_mode": fit.offload_mode,
        "cpu_moe_layers": fit.cpu_moe_layers,
        "overridden_tensors": list(loaded.info.overridden_tensors),
    }


def stats_line(launch: Launch, loaded: Loaded, stats: Stats, finished: Finished) -> str:
    ttft = "-" if stats.ttft_s is None else f"{stats.ttft_s * 1000:.0f} ms"
    peak = "-" if stats.peak_memory_bytes is None else gb(stats.peak_memory_bytes)
    if stats.engine_peak_memory_bytes:
        peak += f" (MLX active {gb(stats.engine_peak_memory_bytes)})"
    model, fit = launch.model, launch.fit
    return (
        f"{engine_label(launch.engine, loaded)} · {model.name} {model.quant_name or ''}"
        f" · load {loaded.load_s:.2f} s · ttft {ttft}"
        f" · prompt {stats.prompt_tokens} tok at {prompt_rate(stats).label()}"
        f" · gen {stats.gen_tokens} tok at {tok_s(stats.gen_tps)} ({finished.reason})"
        f" · peak {peak} · predicted {tok_s(fit.predicted_tg_tps)}, {gb(fit.memory.total_bytes)}"
        f" · {_position(launch, stats).describe()}"
    )


def _position(launch: Launch, stats: Stats) -> RunPosition:
    return run_position(launch.fit, stats.prompt_tokens or 0, stats.gen_tokens, stats.gen_tps)


def engine_label(engine: str, loaded: Loaded) -> str:
    """ "llama.cpp on cuda (build: CUDA, CPU)": where the model ran, and what the installed engine was
    built with, so a CPU-only build of llama-cpp-python shows itself (README, "Install")."""
    built = f" (build: {', '.join(loaded.info.build_backends)})" if loaded.info.build_backends else ""
    return f"{engine} on {loaded.info.backend}{built}"
