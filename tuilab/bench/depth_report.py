"""The depth run as a Markdown table: each measured number beside its prediction and the error."""

from __future__ import annotations

from tuilab.bench.depth import DepthPoint, DepthRun


def depth_table(run: DepthRun) -> str:
    head = (
        f"Speed at depth: {run.model}{' ' + run.quant if run.quant else ''} on {run.machine} "
        f"({run.engine}, context {run.ctx_tokens})\n\n"
        "| depth | prompt tok/s (plan, error) | gen tok/s (plan, error) | TTFT s (plan, error) "
        "| peak memory |\n"
        "|---:|---:|---:|---:|---:|"
    )
    return "\n".join([head, *(_row(p) for p in run.points)])


def _row(p: DepthPoint) -> str:
    peak = "-" if p.peak_memory_bytes is None else f"{p.peak_memory_bytes / 1e9:.2f} GB"
    return (
        f"| {p.depth} | {_cell(p, 'pp_tps', '.1f')} | {_cell(p, 'tg_tps', '.1f')} "
        f"| {_cell(p, 'ttft_s', '.3f')} | {peak} |"
    )


def _cell(p: DepthPoint, name: str, fmt: str) -> str:
    measured, predicted, err = getattr(p, name), getattr(p, f"predicted_{name}"), p.error(name)
    shown = "-" if measured is None else format(measured, fmt)
    error = "" if err is None else f", {err:+.0%}"
    return f"{shown} ({format(predicted, fmt)}{error})"
