"""The context trade-off pane: memory against context length for each quant, coloured by verdict, with
the max context per quant and a bar per quant at the chosen context against the budget line.

`[` and `]` step the context (2k ... 128k) and `k` cycles the KV type; the app recomputes and calls `show`.
Below the memory curve sit the speed ones, per quant and context step: predicted generation with the
context filled (a cell the depth bench measured for that quant on this machine shows the measured rate,
marked) and the time to the first token for a prompt filling it. Then, per quant at the chosen context:
prompt tok/s, first-token time, the largest context that fits and the largest above a generation floor
that `t` steps through; and every measured depth beside the plan.
Partial plans are made in the Fit pane's offload mode (`o`: whole layers or MoE experts in RAM)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll

from tuilab.bench.depth import DepthPoint, canonical_quant
from tuilab.lab.stepping import CTX_STEPS_TOKENS
from tuilab.lab.views import TPS_FLOORS, ContextRow
from tuilab.ui.render import BUDGET_MARK, VERDICT_STYLES, AtWidth, ctx_label, gb, stacked_bar
from tuilab.ui.widgets.cached_static import CachedStatic

MEASURED_MARK = "●"  # a cell the depth bench measured (tuilab bench --depths), not the plan
MEASURED_STYLE = "bold cyan"


def memory_table(rows: Sequence[ContextRow], ctx_tokens: int, current_quant: str | None) -> Table:
    """GB per quant (rows) and context step (columns); the chosen context's column is highlighted."""
    table = Table(box=None, padding=(0, 1), header_style="bold", show_edge=False)
    _step_header(table, ctx_tokens)
    table.add_column("max ctx", justify="right")
    for row in rows:
        cells = [
            Text("-", style="dim") if n is None else Text(f"{n / 1e9:.1f}", style=VERDICT_STYLES[v])
            for n, v in zip(row.total_bytes, row.verdicts, strict=True)
        ]
        table.add_row(
            _quant_cell(row.quant, current_quant), *cells, ctx_label(row.max_ctx) if row.max_ctx else "none"
        )
    return table


def _step_header(table: Table, ctx_tokens: int) -> None:
    table.add_column("quant")
    for ctx in CTX_STEPS_TOKENS:
        table.add_column(
            ctx_label(ctx), justify="right", header_style="bold reverse" if ctx == ctx_tokens else "bold"
        )


def _quant_cell(quant: str, current_quant: str | None) -> Text:
    return Text(quant, style="bold underline" if quant == current_quant else "")


def step_of_depth(depth_tokens: int) -> int:
    """The context step a measured depth is drawn at: the nearest on a log scale (below the first step,
    the first: generation there is as fast as from empty)."""
    ratios = [abs(math.log2(max(depth_tokens, CTX_STEPS_TOKENS[0]) / c)) for c in CTX_STEPS_TOKENS]
    return ratios.index(min(ratios))


def _measured_tg_by_step(points: Sequence[DepthPoint]) -> dict[int, float]:
    return {step_of_depth(p.depth): p.tg_tps for p in points if p.tg_tps is not None}


def speed_table(
    rows: Sequence[ContextRow],
    ctx_tokens: int,
    current_quant: str | None,
    measured: Mapping[str, Sequence[DepthPoint]] | None = None,
) -> Table:
    """Predicted generation tok/s per quant with each context step filled; a step where the depth bench
    measured this quant shows the measured rate instead, marked with MEASURED_MARK."""
    table = Table(box=None, padding=(0, 1), header_style="bold", show_edge=False)
    _step_header(table, ctx_tokens)
    for row in rows:
        seen = _measured_tg_by_step((measured or {}).get(canonical_quant(row.quant), ()))
        cells = [
            Text("-", style="dim")
            if t is None
            else Text(f"{seen[i]:.0f}{MEASURED_MARK}", style=MEASURED_STYLE)
            if i in seen
            else Text(f"{t:.0f}")
            for i, t in enumerate(row.tg_tps)
        ]
        table.add_row(_quant_cell(row.quant, current_quant), *cells)
    return table


def seconds(s: float) -> str:
    return f"{s:.2f}" if s < 10 else f"{s:.1f}" if s < 100 else f"{s:.0f}"


def ttft_table(rows: Sequence[ContextRow], ctx_tokens: int, current_quant: str | None) -> Table:
    """Predicted seconds to the first token per quant, for a prompt that fills each context step."""
    table = Table(box=None, padding=(0, 1), header_style="bold", show_edge=False)
    _step_header(table, ctx_tokens)
    for row in rows:
        cells = [Text("-", style="dim") if t is None else Text(seconds(t)) for t in row.ttft_s]
        table.add_row(_quant_cell(row.quant, current_quant), *cells)
    return table


def at_context_table(
    rows: Sequence[ContextRow], ctx_tokens: int, current_quant: str | None, floor_index: int
) -> Table:
    """Per quant at the chosen context: prompt rate, first-token time, the largest context that fits
    and the largest that keeps generation at the floor or faster."""
    floor = TPS_FLOORS[floor_index]
    col = step_column(ctx_tokens)
    table = Table(box=None, padding=(0, 1), header_style="bold", show_edge=False)
    table.add_column("quant")
    for name in (
        "prompt tok/s",
        f"first token ({ctx_label(CTX_STEPS_TOKENS[col])})",
        "fits up to",
        f"≥{floor:g} tok/s to",
    ):
        table.add_column(name, justify="right")
    for row in rows:
        ttft = row.ttft_s[col] if row.ttft_s else None
        at_floor = row.max_ctx_at_floor[floor_index] if row.max_ctx_at_floor else 0
        table.add_row(
            _quant_cell(row.quant, current_quant),
            f"{row.pp_tps:.0f}" if row.pp_tps else "-",
            f"{seconds(ttft)} s" if ttft else "-",
            ctx_label(row.max_ctx) if row.max_ctx else "none",
            ctx_label(at_floor) if at_floor else "none",
        )
    return table


def step_column(ctx_tokens: int) -> int:
    """The column of the chosen context: its step, or the nearest step below it."""
    return max((i for i, c in enumerate(CTX_STEPS_TOKENS) if c <= ctx_tokens), default=0)


def measured_lines(measured: Mapping[str, Sequence[DepthPoint]], charted: Sequence[str]) -> list[Text]:
    """The depth bench's points per quant, each measured number beside the plan's."""
    lines = []
    for quant, points in sorted(measured.items()):
        note = "" if quant in charted else " (quant not recorded)" if not quant else " (not in the chart)"
        lines.append(Text(f"{quant or '?'}{note}", style="bold"))
        lines += [_measured_line(p) for p in points]
    return lines


def _measured_line(p: DepthPoint) -> Text:
    def pair(measured: float | None, planned: float, fmt: str) -> str:
        return f"{'-' if measured is None else format(measured, fmt)}/{format(planned, fmt)}"

    return Text(
        f"  depth {p.depth:>6}  gen {pair(p.tg_tps, p.predicted_tg_tps, '.1f')}"
        f"  prompt {pair(p.pp_tps, p.predicted_pp_tps, '.0f')}"
        f"  first token {pair(p.ttft_s, p.predicted_ttft_s, '.2f')} s"
    )


def bar_cells(width: int) -> int:
    """A bar's cells in a body `width` wide: the rest holds the quant (13 cells), the size (up to 9) and
    2 spare, between 10 and 60 cells."""
    return max(10, min(60, width - 24))


def bars_at(rows: Sequence[ContextRow], ctx_tokens: int, budget_bytes: int, width: int) -> list[Text]:
    """One bar per quant at the chosen context (or the nearest step below it), the budget drawn as │."""
    col = step_column(ctx_tokens)
    totals = [r.total_bytes[col] or 0 for r in rows]
    scale = max([budget_bytes, *totals]) or 1
    lines = []
    for row, total in zip(rows, totals, strict=True):
        style = VERDICT_STYLES[row.verdicts[col]]
        bar = stacked_bar([(total, style)], scale, width, budget_bytes)
        lines.append(Text.assemble(f"{row.quant:<13}", bar, f" {gb(total) if total else '-'}"))
    return lines


class ContextPane(VerticalScroll):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("t", "floor", "tok/s floor")]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._last: tuple[Sequence[ContextRow], dict[str, Any]] | None = None
        self.floor_index = TPS_FLOORS.index(10.0)  # about reading speed

    def action_floor(self) -> None:
        self.floor_index = (self.floor_index + 1) % len(TPS_FLOORS)
        if self._last is not None:
            self.show(self._last[0], **self._last[1])

    def compose(self):  # type: ignore[no-untyped-def]
        yield CachedStatic("Choose a model to see memory against context.", id="ctx-body")

    def show(
        self,
        rows: Sequence[ContextRow],
        *,
        ctx_tokens: int,
        kv_type: str,
        budget_bytes: int,
        current_quant: str | None,
        hardware_label: str,
        offload_mode: str | None = None,
        ttft_s: float | None = None,
        measured: Mapping[str, Sequence[DepthPoint]] | None = None,
    ) -> None:
        self._last = (
            rows,
            {
                "ctx_tokens": ctx_tokens,
                "kv_type": kv_type,
                "budget_bytes": budget_bytes,
                "current_quant": current_quant,
                "hardware_label": hardware_label,
                "offload_mode": offload_mode,
                "ttft_s": ttft_s,
                "measured": measured,
            },
        )
        head = Text.assemble(
            ("Memory (GB) by context", "bold"),
            f"  KV {kv_type} · budget {gb(budget_bytes)} on {hardware_label}",
            f" · offload {offload_mode}\n" if offload_mode else "\n",
            ("[ ] ", "bold"), "context  ", ("k ", "bold"), "KV type  ", (", . ", "bold"), "quant",
        )  # fmt: skip
        parts: list[RenderableType] = [head, memory_table(rows, ctx_tokens, current_quant), Text("")]
        parts.append(Text(f"At {ctx_label(ctx_tokens)} context  ({BUDGET_MARK} = budget)", style="bold"))
        parts.append(AtWidth(lambda width: Group(*bars_at(rows, ctx_tokens, budget_bytes, bar_cells(width)))))
        parts += self._speed_parts(rows, ctx_tokens, current_quant, ttft_s, measured or {})
        self.query_one("#ctx-body", CachedStatic).update(Group(*parts))

    def _speed_parts(
        self,
        rows: Sequence[ContextRow],
        ctx_tokens: int,
        current_quant: str | None,
        ttft_s: float | None,
        measured: Mapping[str, Sequence[DepthPoint]],
    ) -> list[RenderableType]:
        """The speed curves beside the memory one: generation and first-token time per quant and context
        step, the measured points overlaid, and the floor's largest context next to the largest that fits."""
        mark = (
            Text.assemble(" (plan; ", (f"{MEASURED_MARK} measured", MEASURED_STYLE), ")")
            if measured
            else " (plan)"
        )
        parts: list[RenderableType] = [
            Text(""),
            Text.assemble(("Generation tok/s with the context filled", "bold"), mark),
            speed_table(rows, ctx_tokens, current_quant, measured),
            Text(""),
            Text.assemble(("First token (s) after a prompt that fills the context", "bold"), " (plan)"),
            ttft_table(rows, ctx_tokens, current_quant),
        ]
        if ttft_s:
            parts.append(
                Text(f"First token after a {ctx_label(ctx_tokens)} prompt: {seconds(ttft_s)} s (plan)")
            )
        floor = TPS_FLOORS[self.floor_index]
        head = Text.assemble(
            (f"At {ctx_label(ctx_tokens)} context", "bold"),
            f", floor {floor:g} tok/s (",
            ("t", "bold"),
            " changes it)",
        )
        parts += [Text(""), head]
        parts.append(at_context_table(rows, ctx_tokens, current_quant, self.floor_index))
        if measured:
            charted = [canonical_quant(r.quant) for r in rows]
            parts += [Text(""), Text("Measured/plan (tuilab bench --depths)", style="bold")]
            parts += measured_lines(measured, charted)
        return parts

    def show_message(self, message: str) -> None:
        self._last = None
        self.query_one("#ctx-body", CachedStatic).update(message)
