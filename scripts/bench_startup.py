"""Benchmark (not a test): how long the headless commands take to answer, against their goals.

    python scripts/bench_startup.py [--repeats 5]

Runs each command as a user would (`python -m tuilab ...` in a fresh process) and prints the median and
worst wall time beside its goal and the ratio. Goals: `tuilab fit` answers a local question in under
0.5 s (issue 13's startup goal, with no textual, mlx or llama_cpp import; a test checks the imports),
and `tuilab hw --json` reads this machine in under 2 s (issue 5's goal). Wall time on a loaded machine
also counts the wait for a core, so the CPU time of the child is printed beside it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Bytecode as a user's install has it: a shell with PYTHONDONTWRITEBYTECODE set (this workplace's is)
# recompiles every module at every start, which costs about 0.2 s of the fit answer.
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}

COMMANDS: tuple[tuple[str, tuple[str, ...], float], ...] = (
    ("fit (a profile)", ("fit", "llama-3-8b", "--hardware", "rtx-3060-12gb"), 0.5),
    ("fit --json (this machine)", ("fit", "llama-3-8b", "--json"), 0.5),
    ("hw --json", ("hw", "--json"), 2.0),
)


def one_run(args: tuple[str, ...]) -> tuple[float, float]:
    """Wall seconds and the child's CPU seconds for one fresh `python -m tuilab ...`."""
    before = os.times()
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "tuilab", *args], capture_output=True, cwd=ROOT, env=ENV)
    wall_s = time.perf_counter() - start
    after = os.times()
    if done.returncode != 0:
        raise SystemExit(f"tuilab {' '.join(args)} failed: {done.stderr.decode(errors='replace').strip()}")
    cpu_s = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    return wall_s, cpu_s


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    if args.repeats < 1:
        ap.error("--repeats must be at least 1")
    print(f"{'command':28} {'median s':>9} {'worst s':>8} {'cpu s':>6} {'goal s':>7} {'ratio':>6}")
    for label, command, goal_s in COMMANDS:
        one_run(command)  # warm the file cache: a user's second call is the common one
        runs = [one_run(command) for _ in range(args.repeats)]
        wall = statistics.median(w for w, _ in runs)
        cpu = statistics.median(c for _, c in runs)
        ratio = wall / goal_s
        print(
            f"{label:28} {wall:9.3f} {max(w for w, _ in runs):8.3f} {cpu:6.3f} {goal_s:7.1f} {ratio:6.2f}"
            f"  {'OK' if ratio <= 1 else 'OVER'}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
