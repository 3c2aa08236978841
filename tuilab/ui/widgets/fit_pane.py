"""The fit pane: the selected model's memory as a stacked bar (weights / KV / compute / overhead) against
the budget, the verdict and its reason in words, the advice, and predicted tokens/s with its basis.
"""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static

from tuilab.core.plan_types import FitPlan, Verdict
from tuilab.ui.render import VERDICT_STYLES, ctx_label, gb, legend, stacked_bar

TERM_STYLES = (
    ("weights", "bold blue"),
    ("KV cache", "bold magenta"),
    ("compute", "bold cyan"),
    ("overhead", "white"),
)
VERDICT_WORDS = {
    Verdict.FITS: "FITS",
    Verdict.TIGHT: "TIGHT",
    Verdict.PARTIAL_OFFLOAD: "PARTIAL OFFLOAD",
    Verdict.CPU_ONLY: "CPU ONLY",
    Verdict.NO_FIT: "DOES NOT FIT",
}


def terms(fit: FitPlan) -> list[tuple[str, int, str]]:
    """(label, bytes on every device, style) of each memory term."""
    m = fit.memory
    amounts = (
        m.weights_device_bytes + m.weights_host_bytes,
        m.kv_device_bytes + m.kv_host_bytes,
        m.compute_device_bytes + m.compute_host_bytes,
        m.overhead_device_bytes + m.overhead_host_bytes,
    )
    return [(label, n, style) for (label, style), n in zip(TERM_STYLES, amounts, strict=True)]


def budget_of(fit: FitPlan) -> int:
    return (
        fit.budget_bytes
        if fit.budget_bytes and fit.verdict is not Verdict.CPU_ONLY
        else fit.host_budget_bytes
    )


def memory_bar(fit: FitPlan, width: int) -> Text:
    budget = budget_of(fit)
    parts = terms(fit)
    scale = max(budget, fit.memory.total_bytes)
    bar = stacked_bar([(n, style) for _, n, style in parts], scale, width, budget)
    return Text.assemble(bar, f" {gb(fit.memory.total_bytes)} of {gb(budget)}")


def verdict_line(fit: FitPlan) -> Text:
    where = "profile" if fit.hardware_is_profile else "this machine"
    return Text.assemble(
        (f" {VERDICT_WORDS[fit.verdict]} ", VERDICT_STYLES[fit.verdict] + " reverse"),
        f" {fit.model} {fit.quant} · {ctx_label(fit.ctx_tokens)} ctx · KV {fit.kv_type} · {fit.engine}"
        f" on {fit.hardware} ({where})",
    )


def speed_table(fit: FitPlan) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_row(
        "generation",
        f"{fit.predicted_tg_tps:.1f} tok/s",
        f"{fit.predicted_tg_tps_full_ctx:.1f} tok/s with the context full",
    )
    table.add_row(
        "prompt",
        f"{fit.predicted_pp_tps:.0f} tok/s",
        f"GPU layers {fit.gpu_layers_label}; max ctx {ctx_label(fit.max_ctx)}",
    )
    return table


def render_fit(fit: FitPlan, width: int) -> RenderableType:
    items: list[RenderableType] = [verdict_line(fit), Text(fit.reason), Text("")]
    items += [
        memory_bar(fit, max(10, min(70, width - 22))),
        legend([(f"{label} {gb(n)}", s) for label, n, s in terms(fit)]),
    ]
    items.append(Text(f"│ budget {gb(budget_of(fit))}   headroom {gb(fit.headroom_bytes)}", style="dim"))
    if fit.advice:
        items += [Text("\nAdvice", style="bold"), *(Text(f"• {a}") for a in fit.advice)]
    items += [Text("\nPredicted speed", style="bold"), speed_table(fit)]
    items += [Text("\nBasis", style="bold"), *(Text(f"{k}: {v}", style="dim") for k, v in fit.basis.items())]
    return Group(*items)


class FitPane(VerticalScroll):
    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.fit: FitPlan | None = None

    def on_resize(self) -> None:
        if self.fit is not None:  # the bar is as wide as the pane: redraw it at the new width
            self.show(self.fit)

    def compose(self):  # type: ignore[no-untyped-def]
        yield Static("Choose a model in the Models tab (2) to see its fit.", id="fit-body")

    def show(self, fit: FitPlan | None, error: str | None = None) -> None:
        self.fit = fit if error is None else None
        body = self.query_one("#fit-body", Static)
        if error is not None:
            body.update(Text(error, style="red"))
        elif fit is None:
            body.update("Choose a model in the Models tab (2) to see its fit.")
        else:
            body.update(render_fit(fit, self.size.width or 80))
