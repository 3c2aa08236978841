"""The fit pane: the selected model's memory as a stacked bar (weights / KV / compute / overhead) against
the budget, the verdict and its reason in words, the advice, and predicted tokens/s with its basis.
"""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.containers import VerticalScroll

from tuilab.core.plan_types import FitPlan, Verdict
from tuilab.ui.render import VERDICT_STYLES, AtWidth, ctx_label, gb, legend, stacked_bar
from tuilab.ui.widgets.cached_static import CachedStatic

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


def device_bars(fit: FitPlan, width: int) -> list[Text]:
    """One bar per GPU with that GPU's bytes against its own budget, then host RAM's bytes against the
    host's: each pool is drawn against its own limit, never one pool's bytes against another's budget."""
    label_width = 6
    lines = []
    for i, d in enumerate(fit.devices):
        parts = (d.weights_bytes, d.kv_cache_bytes, d.compute_bytes, d.overhead_bytes)
        label = f"GPU {i}" if len(fit.devices) > 1 else "GPU"
        lines.append(_bar(label, label_width, parts, d.device_bytes, d.budget_bytes, width))
    m = fit.memory
    host = (m.weights_host_bytes, m.kv_host_bytes, m.compute_host_bytes, m.overhead_host_bytes)
    lines.append(_bar("RAM", label_width, host, m.host_bytes, fit.host_budget_bytes, width))
    return lines


def _bar(label: str, label_width: int, parts: tuple[int, ...], used: int, budget: int, width: int) -> Text:
    styles = [style for _, style in TERM_STYLES]
    bar = stacked_bar(list(zip(parts, styles, strict=True)), max(budget, used), width, budget)
    return Text.assemble(f"{label:<{label_width}}", bar, f" {gb(used)} of {gb(budget)}")


def toggled_offload_mode(fit: FitPlan | None) -> str | None:
    """The mode `o` switches to: the other of layers/experts, for a MoE plan that only partly fits and
    where both are possible (the advice compares them); None where `o` has nothing to switch."""
    if fit is None or not any(a.startswith("experts on the CPU") for a in fit.advice):
        return None
    return "layers" if fit.offload_mode == "experts" else "experts"


def offload_line(fit: FitPlan) -> Text | None:
    """How a partial plan splits the model, and that `o` switches it (MoE models only)."""
    if fit.engine != "llama.cpp" or not fit.devices:
        return None
    if fit.offload_mode == "experts":
        words = f"experts of the first {fit.cpu_moe_layers} of {fit.n_layers} layers in RAM"
        other = "whole layers"
    elif fit.verdict is Verdict.PARTIAL_OFFLOAD:
        words, other = f"whole layers: {fit.gpu_layers_label} on the GPU", "experts"
    else:
        return None
    line = Text.assemble(("offload ", "bold"), words)
    if toggled_offload_mode(fit) is not None:
        line.append("   ")
        line.append("o", "bold")
        line.append(f" {other}")
    return line


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


def render_fit(fit: FitPlan) -> RenderableType:
    items: list[RenderableType] = [verdict_line(fit), Text(fit.reason), Text("")]
    # a bar fills the body but for the device's label and figures (26 cells), between 10 and 64 cells
    items.append(AtWidth(lambda width: Group(*device_bars(fit, max(10, min(64, width - 26))))))
    items.append(legend([(f"{label} {gb(n)}", s) for label, n, s in terms(fit)]))
    items.append(Text(f"│ budget {gb(budget_of(fit))}   headroom {gb(fit.headroom_bytes)}", style="dim"))
    offload = offload_line(fit)
    if offload is not None:
        items.append(offload)
    if fit.advice:
        items += [Text("\nAdvice", style="bold"), *(Text(f"• {a}") for a in fit.advice)]
    items += [Text("\nPredicted speed", style="bold"), speed_table(fit)]
    items += [Text("\nBasis", style="bold"), *(Text(f"{k}: {v}", style="dim") for k, v in fit.basis.items())]
    return Group(*items)


class FitPane(VerticalScroll):
    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.fit: FitPlan | None = None

    def compose(self):  # type: ignore[no-untyped-def]
        yield CachedStatic("Choose a model in the Models tab (2) to see its fit.", id="fit-body")

    def show(self, fit: FitPlan | None, error: str | None = None) -> None:
        self.fit = fit if error is None else None
        body = self.query_one("#fit-body", CachedStatic)
        if error is not None:
            body.update(Text(error, style="red"))
        elif fit is None:
            body.update("Choose a model in the Models tab (2) to see its fit.")
        else:
            body.update(render_fit(fit))
