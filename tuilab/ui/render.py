"""Plain Unicode charts for the panes: stacked memory bars with a budget line, and short labels.

Rich `Text` only (no widgets), so every chart can be checked as a string and works in any terminal
over SSH: no braille, no graphics protocol.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
from rich.text import Text

from tuilab.core.plan_types import Verdict

FULL_BLOCK = "█"
EMPTY = "░"
BUDGET_MARK = "│"
VERDICT_STYLES: dict[Verdict | None, str] = {
    Verdict.FITS: "bold green",
    Verdict.TIGHT: "bold yellow",
    Verdict.PARTIAL_OFFLOAD: "bold dark_orange",
    Verdict.CPU_ONLY: "bold magenta",
    Verdict.NO_FIT: "bold red",
    None: "dim",
}
BADGE_STYLES: dict[str, str] = {
    "fits": "green",
    "tight": "yellow",
    "partial": "dark_orange",
    "cpu": "magenta",
    "no": "red",
    "error": "red",
    "…": "dim",
}


def gb(n_bytes: float | None) -> str:
    """Decimal gigabytes, as GGUF listings and datasheets use; two places under 10 GB."""
    if n_bytes is None:
        return "-"
    value = n_bytes / 1e9
    return f"{value:.2f} GB" if value < 10 else f"{value:.1f} GB"


def ctx_label(ctx_tokens: int) -> str:
    """4096 -> '4k', 131072 -> '128k', 129792 -> '126.8k', 1500 -> '1500', 0 -> 'none' (nothing fits)."""
    if ctx_tokens <= 0:
        return "none"
    if ctx_tokens % 1024 == 0:
        return f"{ctx_tokens // 1024}k"
    return f"{ctx_tokens / 1024:.1f}k" if ctx_tokens > 1024 else str(ctx_tokens)


def tps(rate: float | None) -> str:
    return "-" if rate is None else f"{rate:.1f} tok/s"


def stacked_bar(
    segments: Sequence[tuple[int, str]], scale_bytes: int, width: int, budget_bytes: int | None = None
) -> Text:
    """Segments of (bytes, style) laid end to end on a bar `width` cells wide for `scale_bytes`;
    the budget, when given, is drawn as a bar at its cell so the overshoot is visible."""
    width = max(width, 4)
    scale = max(scale_bytes, 1)
    cells: list[tuple[str, str]] = []
    used = 0.0
    for n_bytes, style in segments:
        start, used = round(used), used + n_bytes * width / scale
        cells += [(FULL_BLOCK, style)] * max(0, min(width, round(used)) - start)
    cells += [(EMPTY, "dim")] * (width - len(cells))
    if budget_bytes is not None and budget_bytes <= scale:
        at = min(width - 1, round(budget_bytes * width / scale))
        cells[at] = (BUDGET_MARK, "bold reverse")
    text = Text()
    for char, style in cells:
        text.append(char, style)
    return text


def legend(items: Sequence[tuple[str, str]]) -> Text:
    text = Text()
    for label, style in items:
        text.append(f"{FULL_BLOCK} ", style)
        text.append(f"{label}  ")
    return text


class AtWidth:
    """A renderable that `draw` makes for the width it is drawn at: bars that fill a pane at any size,
    with no redraw when the pane is resized (a CachedStatic draws it once per width)."""

    def __init__(self, draw: Callable[[int], RenderableType]) -> None:
        self.draw = draw

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield self.draw(options.max_width)
