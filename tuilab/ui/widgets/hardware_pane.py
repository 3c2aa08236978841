"""The hardware pane: the machine or profile the numbers are for, each engine's budget, and a live bar
of this machine's memory (tuilab's engine / other processes / free), swap and GPU memory and power.

The live part always describes this machine, even while a profile is chosen, and says so.
"""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static

from tuilab.core.hardware import HardwareSpec
from tuilab.hardware.budget import engine_budgets
from tuilab.hardware.sampler import Sample
from tuilab.ui.render import gb, legend, stacked_bar

ENGINE_STYLE, OTHER_STYLE, FREE_STYLE = "bold cyan", "yellow", "green"
BAR_WIDTH_MAX = 60


def machine_title(spec: HardwareSpec) -> Text:
    """One line that says whether the numbers are for this machine or a what-if profile."""
    if spec.is_profile:
        return Text.assemble(
            ("PROFILE ", "bold reverse magenta"), (f" {spec.name} (what-if, not this machine)")
        )
    return Text.assemble(("THIS MACHINE ", "bold reverse green"), f" {spec.name}")


def spec_table(spec: HardwareSpec) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_row(
        "RAM", gb(spec.ram_bytes), f"bandwidth {spec.ram_bandwidth_gbps:.0f} GB/s", f"{spec.cpu_cores} cores"
    )
    for i, gpu in enumerate(spec.gpus):
        bw = f"{gpu.bandwidth_gbps:.0f} GB/s" if gpu.bandwidth_gbps > 0 else "bandwidth unknown"
        table.add_row(f"GPU {i}", gpu.name, gb(gpu.memory_bytes), bw)
    if spec.wired_limit_bytes is not None:
        table.add_row(
            "wired limit",
            gb(spec.wired_limit_bytes),
            "macOS default" if spec.wired_limit_is_default else "raised",
            "",
        )
    return table


def budget_table(spec: HardwareSpec) -> Table:
    table = Table("engine", "device", "budget", "from", box=None, padding=(0, 1), header_style="bold")
    for b in engine_budgets(spec):
        table.add_row(b.engine, b.device, gb(b.budget_bytes), b.source)
    return table


def live_memory(
    sample: Sample | None, engine_rss_bytes: int, spec: HardwareSpec, width: int
) -> RenderableType:
    """This machine's RAM as engine / other / free, swap with a warning colour, each GPU's memory."""
    if sample is None:
        return Text("live memory: waiting for the first reading", style="dim")
    engine = min(engine_rss_bytes, sample.ram_used_bytes)
    other = sample.ram_used_bytes - engine
    bar_width = max(10, min(BAR_WIDTH_MAX, width - 24))
    ceiling = sample.ram_total_bytes - spec.os_reserve_bytes if not spec.is_profile else None
    ram = Text.assemble("RAM  ", stacked_bar(
        [(engine, ENGINE_STYLE), (other, OTHER_STYLE)], sample.ram_total_bytes, bar_width, ceiling,
    ), f" {gb(sample.ram_used_bytes)} / {gb(sample.ram_total_bytes)}")  # fmt: skip
    parts: list[RenderableType] = [ram, legend([
        (f"tuilab engine {gb(engine)}", ENGINE_STYLE), (f"other {gb(other)}", OTHER_STYLE),
        (f"free {gb(sample.ram_available_bytes)}", "dim"),
    ])]  # fmt: skip
    parts.append(swap_line(sample.swap_used_bytes))
    for gpu in sample.gpus:
        power = f" · {gpu.power_w:.0f} W" if gpu.power_w is not None else " · power unreadable"
        bar = stacked_bar([(gpu.used_bytes, OTHER_STYLE)], gpu.total_bytes, bar_width)
        head = f" {gb(gpu.total_bytes - gpu.used_bytes)} headroom"
        parts.append(
            Text.assemble(
                f"GPU{gpu.index} ", bar, f" {gb(gpu.used_bytes)} / {gb(gpu.total_bytes)}{head}{power}"
            )
        )
    return Group(*parts)


def swap_line(swap_used_bytes: int) -> Text:
    if swap_used_bytes > 0:
        return Text(
            f"swap {gb(swap_used_bytes)} in use: the OS is swapping; a model that spills will crawl",
            style="bold red",
        )
    return Text("swap none in use", style="green")


class HardwarePane(VerticalScroll):
    """Set `spec` (and `warnings`) when the hardware changes; call `show_live` at the sampler's rate."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.spec: HardwareSpec | None = None
        self.warnings: tuple[str, ...] = ()

    def compose(self):  # type: ignore[no-untyped-def]
        yield Static(id="hw-spec")
        yield Static(id="hw-live")
        yield Static("[b]h[/b] switch hardware (this machine or a profile)", id="hw-hint", classes="hint")

    def show_spec(self, spec: HardwareSpec, warnings: tuple[str, ...]) -> None:
        self.spec, self.warnings = spec, warnings
        items: list[RenderableType] = [
            machine_title(spec),
            spec_table(spec),
            Text(""),
            Text("Budget per engine", style="bold"),
            budget_table(spec),
        ]
        items += [Text(f"! {w}", style="yellow") for w in warnings]
        items.append(
            Text(
                "\nLive memory of this machine"
                + (" (the profile above is not measured)" if spec.is_profile else ""),
                style="bold",
            )
        )
        self.query_one("#hw-spec", Static).update(Group(*items))

    def show_live(self, sample: Sample | None, engine_rss_bytes: int) -> None:
        if self.spec is None or not self.size.width:
            return  # not laid out yet: the next tick draws it at its real width
        live = self.query_one_optional("#hw-live", Static)
        if live is None:  # the app is closing and removed the pane's lines first: a last tick is no error
            return
        live.update(live_memory(sample, engine_rss_bytes, self.spec, self.size.width))
