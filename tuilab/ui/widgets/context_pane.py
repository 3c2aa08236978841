"""The context trade-off pane: memory against context length for each quant, coloured by verdict, with
the max context per quant and a bar per quant at the chosen context against the budget line.

`[` and `]` step the context (2k ... 128k) and `k` cycles the KV type; the app recomputes and calls `show`.
Below the memory curve sits the speed one (predicted generation with each context filled), the measured
points of `tuilab bench --depths` when they exist for this model and machine, the time to first token at
the chosen context, and the largest context above a generation floor that `t` (here) steps through.
Partial plans are made in the Fit pane's offload mode (`o`: whole layers or MoE experts in RAM).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.widgets import Static

from tuilab.bench.depth import DepthPoint
from tuilab.ui.catalog import CTX_STEPS_TOKENS, TPS_FLOORS, ContextRow
from tuilab.ui.render import BUDGET_MARK, VERDICT_STYLES, ctx_label, gb, stacked_bar


def memory_table(rows: Sequence[ContextRow], ctx_tokens: int, current_quant: str | None) -> Table:
    """GB per quant (rows) and context step (columns); the chosen context's column is highlighted."""
    table = Table(box=None, padding=(0, 1), header_style="bold", show_edge=False)
    table.add_column("quant")
    for ctx in CTX_STEPS_TOKENS:
        table.add_column(
            ctx_label(ctx), justify="right", header_style="bold reverse" if ctx == ctx_tokens else "bold"
        )
    table.add_column("max ctx", justify="right")
    for row in rows:
        cells = [
            Text("-", style="dim") if n is None else Text(f"{n / 1e9:.1f}", style=VERDICT_STYLES[v])
            for n, v in zip(row.total_bytes, row.verdicts, strict=True)
        ]
        name = Text(row.quant, style="bold underline" if row.quant == current_quant else "")
        table.add_row(name, *cells, ctx_label(row.max_ctx) if row.max_ctx else "none")
    return table


def speed_table(rows: Sequence[ContextRow], ctx_tokens: int, current_quant: str | None) -> Table:
    """Predicted generation tok/s per quant with each context step filled, and the largest context
    that keeps it above the floor beside the largest that fits."""
    table = Table(box=None, padding=(0, 1), header_style="bold", show_edge=False)
    table.add_column("quant")
    for ctx in CTX_STEPS_TOKENS:
        table.add_column(
            ctx_label(ctx), justify="right", header_style="bold reverse" if ctx == ctx_tokens else "bold"
        )
    for row in rows:
        cells = [Text("-", style="dim") if t is None else Text(f"{t:.0f}") for t in row.tg_tps]
        name = Text(row.quant, style="bold underline" if row.quant == current_quant else "")
        table.add_row(name, *cells)
    return table


def floor_lines(rows: Sequence[ContextRow], floor_index: int) -> list[Text]:
    """Per quant: the largest context in memory, and the largest keeping generation above the floor."""
    floor = TPS_FLOORS[floor_index]
    lines = []
    for row in rows:
        at_floor = row.max_ctx_at_floor[floor_index] if row.max_ctx_at_floor else 0
        in_memory = ctx_label(row.max_ctx) if row.max_ctx else "none"
        fast = ctx_label(at_floor) if at_floor else "none"
        lines.append(Text(f"{row.quant:<13} {in_memory:>6} in memory · {fast:>6} at {floor:g}+ tok/s"))
    return lines


def measured_lines(points: Sequence[DepthPoint]) -> list[Text]:
    """The depth bench's points: measured beside planned generation and first-token time."""
    lines = []
    for p in points:
        tg = "-" if p.tg_tps is None else f"{p.tg_tps:.1f}"
        ttft = "-" if p.ttft_s is None else f"{p.ttft_s:.2f}"
        lines.append(Text(f"  depth {p.depth:>6}: gen {tg} tok/s (plan {p.predicted_tg_tps:.1f}) · "
                          f"first token {ttft} s (plan {p.predicted_ttft_s:.2f})"))  # fmt: skip
    return lines


def bars_at(rows: Sequence[ContextRow], ctx_tokens: int, budget_bytes: int, width: int) -> list[Text]:
    """One bar per quant at the chosen context (or the nearest step below it), the budget drawn as │."""
    col = max((i for i, c in enumerate(CTX_STEPS_TOKENS) if c <= ctx_tokens), default=0)
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

    def on_resize(self) -> None:
        if self._last is not None:  # the bars are as wide as the pane: redraw them at the new width
            self.show(self._last[0], **self._last[1])

    def compose(self):  # type: ignore[no-untyped-def]
        yield Static("Choose a model to see memory against context.", id="ctx-body")

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
        measured: Sequence[DepthPoint] = (),
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
        width = max(10, min(60, (self.size.width or 80) - 26))
        head = Text.assemble(
            ("Memory (GB) by context", "bold"),
            f"  KV {kv_type} · budget {gb(budget_bytes)} on {hardware_label}",
            f" · offload {offload_mode}\n" if offload_mode else "\n",
            ("[ ] ", "bold"), "context  ", ("k ", "bold"), "KV type  ", (", . ", "bold"), "quant",
        )  # fmt: skip
        parts: list[RenderableType] = [head, memory_table(rows, ctx_tokens, current_quant), Text("")]
        parts.append(Text(f"At {ctx_label(ctx_tokens)} context  ({BUDGET_MARK} = budget)", style="bold"))
        parts += bars_at(rows, ctx_tokens, budget_bytes, width)
        parts += [Text(""), Text("Generation tok/s with the context filled (plan)", style="bold")]
        parts.append(speed_table(rows, ctx_tokens, current_quant))
        if ttft_s:
            parts.append(Text(f"First token after a {ctx_label(ctx_tokens)} prompt: {ttft_s:.2f} s (plan)"))
        floor = TPS_FLOORS[self.floor_index]
        parts += [Text(""), Text.assemble(("Largest context ", "bold"), f"(floor {floor:g} tok/s, ",
                                          ("t", "bold"), " changes it)")]  # fmt: skip
        parts += floor_lines(rows, self.floor_index)
        if measured:
            parts += [
                Text(""),
                Text("Measured (tuilab bench --depths)", style="bold"),
                *measured_lines(measured),
            ]
        self.query_one("#ctx-body", Static).update(Group(*parts))

    def show_message(self, message: str) -> None:
        self._last = None
        self.query_one("#ctx-body", Static).update(message)
