"""Benchmark (not a test): does StreamView's cost per write grow with the text it already shows?

    python scripts/bench_stream_view.py [--tokens 10000] [--batch 5] [--size 80x24] [--repeats 1]

Streams a synthetic answer of `--tokens` tokens into a StreamView inside a headless Textual app
(`App.run_test`), `--batch` tokens per write as the engine runner's ~20 flushes a second would at
~100 tok/s, and lets the screen lay out and paint after every write (`Pilot.pause`, which runs the
screen's refresh). Prints the process CPU time per 1,000 tokens for the first and the last thousand and
their ratio: a render cost independent of the text shown gives a ratio near 1. CPU time, not wall time,
so the pauses and other jobs on a shared box count less; `--repeats` takes the median of each block
over several streams, for a box whose load comes and goes. Results go into docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from textual.app import App, ComposeResult

from tuilab.ui.widgets.stream_view import StreamView

WORDS = [
    "the",
    "model",
    "of",
    "a",
    "memory",
    "cache",
    "context",
    "token",
    "layer",
    "weights",
    "quantization",
    "bandwidth",
    "prompt",
    "answer",
    "with",
    "for",
    "and",
    "is",
    "to",
    "in",
    "that",
    "it",
    "runs",
    "fits",
    "on",
    "GPU",
    "llama.cpp",
    "MLX",
    "throughput",
    "headroom",
    "verdict",
]
TOKENS_PER_BLOCK = 1000


def answer_tokens(n_tokens: int, seed: int = 0) -> list[str]:
    """Word-like tokens with sentence ends and a paragraph break every ~150 tokens, the shape of a long
    model answer (a fixed seed, so runs compare)."""
    rng = random.Random(seed)
    tokens: list[str] = []
    for i in range(n_tokens):
        token = " " + rng.choice(WORDS)
        if rng.random() < 0.06:
            token += "."
        if i % 150 == 149:
            token += "\n\n"
        tokens.append(token)
    return tokens


class StreamApp(App[None]):
    def compose(self) -> ComposeResult:
        yield StreamView(id="out")


async def stream(tokens: list[str], batch: int, size: tuple[int, int]) -> list[float]:
    """CPU seconds spent on each block of TOKENS_PER_BLOCK tokens (writes plus the paints after them)."""
    app = StreamApp()
    block_s: list[float] = []
    async with app.run_test(size=size) as pilot:
        view = app.query_one(StreamView)
        await pilot.pause()
        start_s = time.process_time()
        for i in range(0, len(tokens), batch):
            view.write("".join(tokens[i : i + batch]))
            await pilot.pause()
            if (i + batch) % TOKENS_PER_BLOCK == 0:
                now_s = time.process_time()
                block_s.append(now_s - start_s)
                start_s = now_s
    return block_s


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=5, help="tokens per write (divides 1000)")
    parser.add_argument("--size", default="80x24", help="terminal WIDTHxHEIGHT")
    parser.add_argument("--repeats", type=int, default=1, help="stream it N times; the median per block")
    args = parser.parse_args()
    if args.tokens < 2 * TOKENS_PER_BLOCK or TOKENS_PER_BLOCK % args.batch:
        parser.error(f"--tokens must be at least {2 * TOKENS_PER_BLOCK} and --batch must divide 1000")
    width, height = (int(n) for n in args.size.lower().split("x"))
    runs = [
        asyncio.run(stream(answer_tokens(args.tokens), args.batch, (width, height)))
        for _ in range(args.repeats)
    ]
    blocks = [statistics.median(run[i] for run in runs) for i in range(len(runs[0]))]
    first_ms, last_ms = blocks[0] * 1000, blocks[-1] * 1000
    print(
        f"{args.tokens} tokens, {args.batch} per write, {width}x{height}, median of {args.repeats}:"
        " CPU ms per 1,000 tokens"
    )
    print("blocks  " + " ".join(f"{b * 1000:.0f}" for b in blocks))
    print(f"first {first_ms:.0f} ms, last {last_ms:.0f} ms, last/first {last_ms / first_ms:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
