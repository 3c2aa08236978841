"""`tuilab bench MODEL`: the quantization ladder, measured on this machine.

Makes each rung (reusing those on disk), measures memory, tokens/s, perplexity, KL divergence against
the input model and a few probe prompts, then prints the table (or JSON with --json) and records the run
in the history the TUI reads. Progress goes to stderr; Ctrl-C keeps finished rungs and a rerun resumes.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tuilab.core.errors import UsageError
from tuilab.core.plan_types import duration


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("bench", help="the quantization ladder: memory, speed and quality per quant",
                       description=__doc__)  # fmt: skip
    p.add_argument("model", help="an F16/BF16 GGUF (llama.cpp) or an unquantized model directory (MLX)")
    p.add_argument("--engine", help="llama.cpp or mlx (default: from the model's format)")
    p.add_argument("--quants", help="comma-separated rungs, e.g. F16,Q8_0,Q4_K_M or fp16,8bit,4bit,mixed_3_6")
    p.add_argument("--ctx", type=int, default=512, help="context of the scored windows and the runs (512)")
    p.add_argument("--trials", type=int, default=3, help="timed generations per rung after a warm-up (3)")
    p.add_argument("--windows", type=int, default=8, help="evaluation windows scored per rung (8)")
    p.add_argument("--gen-tokens", type=int, default=64, help="tokens generated per timed trial (64)")
    p.add_argument("--max-kld", type=float, help="KLD threshold of the sweet spot (default 0.1 nats)")
    p.add_argument("--no-probes", action="store_true", help="skip the logic-trap probe prompts")
    p.add_argument("--fresh", action="store_true", help="measure every rung again, reusing no results")
    p.add_argument("--out", type=Path, help="where rungs are written (default: tuilab's models dir)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    p.add_argument(
        "--depths",
        help="measure speed at these context depths instead of the ladder, "
        "e.g. 0,4096,16384 (like llama-bench -d); any GGUF or MLX model",
    )
    p.add_argument(
        "--chunk", type=int, default=512, help="with --depths: prompt tokens timed per depth (512)"
    )
    p.set_defaults(func=bench_command)


def bench_command(args: argparse.Namespace) -> int:
    from tuilab.bench.ladder import LadderOptions, run_ladder
    from tuilab.bench.report import KLD_THRESHOLD, markdown
    from tuilab.lab.machine import machine_spec

    if args.depths is not None:
        return depths_command(args)
    options = LadderOptions(
        quants=_quants(args.quants),
        ctx_tokens=_at_least("--ctx", args.ctx, 16),
        max_windows=_at_least("--windows", args.windows, 1),
        trials=_at_least("--trials", args.trials, 1),
        gen_tokens=_at_least("--gen-tokens", args.gen_tokens, 2),
        probes=not args.no_probes,
        kld_threshold=KLD_THRESHOLD if args.max_kld is None else args.max_kld,
        fresh=args.fresh,
        out_dir=args.out,
    )
    printer = _ProgressPrinter()
    try:
        run = run_ladder(args.model, machine_spec(None), options, engine=args.engine, progress=printer)
    except KeyboardInterrupt:
        return _interrupted("rungs")
    print(json.dumps(run.to_dict(), indent=2) if args.json else markdown(run))
    failed = [r.quant for r in run.rungs if r.status == "failed"]
    if failed:  # measured rungs are kept, but a script must not read a failed rung as success
        print(f"tuilab: error: {len(failed)} rung(s) failed: {', '.join(failed)}", file=sys.stderr)
    return 4 if failed or not any(r.ok for r in run.rungs) else 0


def depths_command(args: argparse.Namespace) -> int:
    from tuilab.bench.depth import DepthOptions, parse_depths, run_depths
    from tuilab.bench.depth_report import depth_table
    from tuilab.lab.machine import machine_spec

    options = DepthOptions(
        depths=parse_depths(args.depths),
        chunk_tokens=_at_least("--chunk", args.chunk, 8),
        gen_tokens=_at_least("--gen-tokens", args.gen_tokens, 2),
        fresh=args.fresh,
    )

    def progress(i: int, n: int, step: str) -> None:
        print(f"[{i + 1}/{n}] {step}", file=sys.stderr, flush=True)

    try:
        run = run_depths(args.model, machine_spec(None), options, engine=args.engine, progress=progress)
    except KeyboardInterrupt:
        return _interrupted("depths")
    print(json.dumps(run.to_dict(), indent=2) if args.json else depth_table(run))
    return 0


def _interrupted(what: str) -> int:
    """Ctrl-C: what was measured is kept (atomic writes), and the same command resumes; exit 130."""
    print(f"\ntuilab: interrupted; finished {what} are kept, run the same command to resume", file=sys.stderr)
    return 130


def _quants(text: str | None) -> tuple[str, ...] | None:
    if text is None:
        return None
    names = tuple(q.strip() for q in text.split(",") if q.strip())
    if not names:
        raise UsageError("--quants needs at least one quant name")
    return names


def _at_least(flag: str, value: int, low: int) -> int:
    if value < low:
        raise UsageError(f"{flag} must be at least {low}, got {value}")
    return value


class _ProgressPrinter:
    """One stderr line per step: `[2/6] Q4_K_M: score (ETA 1m 20s)`."""

    def __call__(self, p: object) -> None:
        from tuilab.bench.ladder import Progress

        assert isinstance(p, Progress)
        where = "reference" if p.rung_index >= p.n_rungs else f"{p.rung_index + 1}/{p.n_rungs}"
        eta = "" if p.eta_s is None else f" (ETA {duration(p.eta_s)})"
        print(f"[{where}] {p.quant}: {p.step}{eta}", file=sys.stderr, flush=True)
