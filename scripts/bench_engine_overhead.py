"""Benchmark (not a test): generation tokens/s through `tuilab run` against the raw engine, same model.

    python scripts/bench_engine_overhead.py MODEL [--engine llama.cpp|mlx] [--tokens 64] [--repeats 3]

The raw side is llama-bench when one is on PATH (or given with --llama-bench), else llama-cpp-python's
low-level loop with no tuilab code in it; for MLX it is mlx_lm.stream_generate in this process. Runs
alternate raw / tuilab so drifting background load hits both alike; medians and their ratio are printed.
Goal (issue 4): ratio >= 0.97 where a token takes 5 ms or more. Results go into docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PROMPT = "Once upon a time"


def tuilab_tps(model: str, engine: str, n_tokens: int, ctx_tokens: int, threads: int) -> float:
    """Generation tok/s reported by a real `tuilab run --json` subprocess (worker process included)."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }
    cmd = [sys.executable, "-m", "tuilab", "run", model, "--engine", engine, "--prompt", PROMPT]
    cmd += ["--max-tokens", str(n_tokens), "--ctx", str(ctx_tokens), "--json", "--force"]
    if engine == "llama.cpp":
        cmd += ["--threads", str(threads)]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise SystemExit(f"tuilab run failed ({done.returncode}):\n{done.stderr}")
    return float(json.loads(done.stdout.strip().splitlines()[-1])["gen_tps"])


def llama_bench_tps(binary: str, model: str, n_tokens: int, threads: int) -> float:
    """llama-bench's tg test: -p 0 -n N, one repetition; avg_ts is tokens/s (llama-bench JSON output)."""
    cmd = [binary, "-m", model, "-p", "0", "-n", str(n_tokens), "-t", str(threads), "-r", "1", "-o", "json"]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return float(json.loads(done.stdout)[0]["avg_ts"])


def raw_llama_tps_factory(model: str, n_tokens: int, ctx_tokens: int, threads: int) -> Callable[[], float]:
    """llama-cpp-python's low-level API with no tuilab code: greedy decode, timed like tuilab's worker
    (tokens after the first over the time since the first)."""
    import ctypes

    import llama_cpp as lc

    quiet = lc.llama_log_callback(lambda *_: None)
    lc.llama_log_set(quiet, ctypes.c_void_p(0))
    lc.llama_backend_init()
    mparams = lc.llama_model_default_params()
    mdl = lc.llama_model_load_from_file(model.encode(), mparams)
    if not mdl:
        raise SystemExit(f"llama.cpp could not load {model}")
    cparams = lc.llama_context_default_params()
    cparams.n_ctx, cparams.n_threads, cparams.n_threads_batch = ctx_tokens, threads, threads
    cparams.flash_attn_type = lc.LLAMA_FLASH_ATTN_TYPE_ENABLED
    ctx = lc.llama_init_from_model(mdl, cparams)
    vocab = lc.llama_model_get_vocab(mdl)
    chain = lc.llama_sampler_chain_init(lc.llama_sampler_chain_default_params())
    lc.llama_sampler_chain_add(chain, lc.llama_sampler_init_greedy())
    prompt = (lc.llama_token * 64)()
    n_prompt = lc.llama_tokenize(vocab, PROMPT.encode(), len(PROMPT), prompt, 64, True, True)
    one = (lc.llama_token * 1)()
    buf = ctypes.create_string_buffer(256)

    def once() -> float:
        lc.llama_memory_clear(lc.llama_get_memory(ctx), True)
        lc.llama_decode(ctx, lc.llama_batch_get_one(prompt, n_prompt))
        first_s = 0.0
        for i in range(n_tokens):
            if i > 0:
                lc.llama_decode(ctx, lc.llama_batch_get_one(one, 1))
            one[0] = lc.llama_sampler_sample(chain, ctx, -1)
            lc.llama_token_to_piece(vocab, one[0], buf, 256, 0, False)
            if i == 0:
                first_s = time.perf_counter()
        return (n_tokens - 1) / (time.perf_counter() - first_s)

    once()  # warm-up, as llama-bench and tuilab's load both do
    return once


def raw_mlx_tps_factory(model: str, n_tokens: int) -> Callable[[], float]:
    """mlx_lm.stream_generate in this process; the last response's generation_tps, as mlx_lm.benchmark."""
    from mlx_lm import load, stream_generate

    mdl, tokenizer = load(model)[:2]

    def once() -> float:
        responses = list(stream_generate(mdl, tokenizer, PROMPT, max_tokens=n_tokens))
        return float(responses[-1].generation_tps)

    once()
    return once


def physical_cores() -> int:
    import psutil

    return int(psutil.cpu_count(logical=False) or os.cpu_count() or 1)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("model", help="GGUF file (llama.cpp) or MLX model directory")
    parser.add_argument("--engine", choices=("llama.cpp", "mlx"), help="default: mlx for a directory")
    parser.add_argument("--tokens", type=int, default=64, help="tokens generated per run (64)")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each side (3)")
    parser.add_argument("--ctx", type=int, default=512, help="context tokens (512)")
    parser.add_argument("--threads", type=int, help="llama.cpp threads, both sides (default: physical cores)")
    parser.add_argument("--llama-bench", help="path of a llama-bench binary (default: llama-bench on PATH)")
    args = parser.parse_args()
    engine = args.engine or ("mlx" if Path(args.model).is_dir() else "llama.cpp")
    threads = args.threads or physical_cores()
    raw_name, raw = raw_side(args, engine, threads)
    raw_runs, tuilab_runs = [], []
    for _ in range(args.repeats):
        raw_runs.append(raw())
        tuilab_runs.append(tuilab_tps(args.model, engine, args.tokens, args.ctx, threads))
    print(
        f"model   {args.model} ({engine}, {args.tokens} tokens, {threads} threads, {args.repeats} runs each)"
    )
    print(f"raw     {raw_name}: {[round(x, 2) for x in raw_runs]} tok/s")
    print(f"tuilab  tuilab run: {[round(x, 2) for x in tuilab_runs]} tok/s")
    # Best-of is the figure least moved by other processes on a shared box; the median is shown beside it.
    for label, pick in (("best", max), ("median", statistics.median)):
        raw_tps, ours = pick(raw_runs), pick(tuilab_runs)
        print(f"{label:7} raw {raw_tps:.2f}, tuilab {ours:.2f} tok/s, ratio {ours / raw_tps:.3f}", end="")
        print(f" ({1000 / raw_tps:.1f} ms per token raw)")
    return 0


def raw_side(args: argparse.Namespace, engine: str, threads: int) -> tuple[str, Callable[[], float]]:
    if engine == "mlx":
        return "mlx_lm.stream_generate", raw_mlx_tps_factory(args.model, args.tokens)
    binary = args.llama_bench or shutil.which("llama-bench")
    if binary:
        return f"llama-bench ({binary})", lambda: llama_bench_tps(binary, args.model, args.tokens, threads)
    return "llama-cpp-python low-level loop", raw_llama_tps_factory(
        args.model, args.tokens, args.ctx, threads
    )


if __name__ == "__main__":
    sys.exit(main())
