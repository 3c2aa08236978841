#!/usr/bin/env python3
"""Write tiny Llama-shaped test models (GGUF F16 + quants, MLX + MLX 4-bit, and a tiny MoE GGUF) from one
set of random weights, or with `--shape` one GGUF of that shape: `tiny-moe` (4 experts, 2 used per
token, for expert offload) or a real model's tensor shapes for speed and memory checks.

    python scripts/make_tiny_models.py OUTDIR [--shape tiny|tiny-moe|llama-3.2-1b|llama-3-8b] [--quants Q4_0]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from tuilab.core.errors import TuilabError
from tuilab.models import tiny


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("outdir", type=Path, help="directory to write into (created if missing)")
    parser.add_argument(
        "--shape", default="tiny", help=f"model shape: {', '.join(tiny.SHAPES)} (default tiny)"
    )
    parser.add_argument(
        "--quants",
        default=None,
        help="comma-separated llama.cpp quant types, '' for none "
        f"(default for tiny: {','.join(tiny.DEFAULT_QUANTS)}; for large shapes: none)",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed of the weights (default 0)")
    parser.add_argument("--no-mlx-4bit", action="store_true", help="tiny only: skip the MLX 4-bit copy")
    return parser.parse_args(argv)


def report(path: Path, seconds: float) -> None:
    size_bytes = sum(p.stat().st_size for p in path.rglob("*")) if path.is_dir() else path.stat().st_size
    print(f"wrote {path}  {size_bytes / 1e6:,.1f} MB  {seconds:.1f} s", flush=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.quants is None:
        quants = tiny.DEFAULT_QUANTS if args.shape == "tiny" else ()
    else:
        quants = tuple(q.strip().upper() for q in args.quants.split(",") if q.strip())
    try:
        if quants and not tiny.llama_cpp_available():
            print("llama-cpp-python is not installed: writing F16 only, no quantized GGUF", file=sys.stderr)
        if args.shape == "tiny":
            tiny.write_tiny_set(
                args.outdir, seed=args.seed, quants=quants, mlx_4bit=not args.no_mlx_4bit, progress=report
            )
        else:
            tiny.write_shape_true(args.outdir, args.shape, seed=args.seed, quants=quants, progress=report)
    except TuilabError as exc:
        print(f"make_tiny_models: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except OSError as exc:  # e.g. the output folder cannot be created
        where = exc.filename or args.outdir
        print(f"make_tiny_models: error: {where}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
