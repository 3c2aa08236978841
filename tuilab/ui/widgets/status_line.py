"""The status line: which hardware the numbers are for, the verdict, the model with its quant, context and
KV type, and what the engine is doing, on one line at any width.

It renders from attributes the app and the main screen set (`hw`, `selection`, `planned`, `engine`).
At 80 columns the names give way first: the engine's model label, then the hardware name, then the model
name are shortened with an ellipsis, so the verdict, quant, context, KV type and engine state always show
(issue 12, item 7).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from tuilab.core.hardware import HardwareSpec
from tuilab.core.plan_types import FitPlan
from tuilab.lab.views import BADGES
from tuilab.ui.messages import EngineState
from tuilab.ui.render import VERDICT_STYLES, ctx_label
from tuilab.ui.settings import Selection

HERE_TAG = ("THIS MACHINE ", "bold reverse green")
PROFILE_TAG = ("PROFILE ", "bold reverse magenta")
SEPARATOR = " │ "
# The order names give way in, each down to a floor first and then to nothing: the engine's label repeats
# the model's name, and the hardware tag already says this machine or a profile.
LABEL, HARDWARE, MODEL = 0, 1, 2
SHRINK_STEPS: tuple[tuple[int, int], ...] = (
    (LABEL, 0), (HARDWARE, 12), (MODEL, 12), (HARDWARE, 0), (MODEL, 0),
)  # fmt: skip


@dataclass(frozen=True)
class Planned:
    """The plan the status line shows: the model's name and its fit plan."""

    model_name: str
    fit: FitPlan


def shrink_to_fit(lengths: Sequence[int], room: int, steps: Sequence[tuple[int, int]]) -> list[int]:
    """Widths for names of `lengths` that sum to at most `room`: each step shrinks one name, in order,
    no further than its floor, and only as far as needed."""
    widths = list(lengths)
    for index, floor in steps:
        over = sum(widths) - max(0, room)
        if over <= 0:
            break
        widths[index] = max(min(floor, widths[index]), widths[index] - over)
    return widths


# A name cut to fewer columns than this says nothing ("N…"): it is left out instead.
MIN_CUT_NAME_COLUMNS = 4


def ellipsized(name: str, width: int) -> str:
    if len(name) <= width:
        return name
    return name[: width - 1] + "…" if width >= MIN_CUT_NAME_COLUMNS else ""


class StatusLine(Widget):
    DEFAULT_CSS = """
    StatusLine {
        height: 1;
    }
    """

    hw: reactive[HardwareSpec | None] = reactive(None)  # None: this machine is still being detected
    selection: reactive[Selection] = reactive(Selection)
    planned: reactive[Planned | None] = reactive(None)
    engine: reactive[EngineState] = reactive(EngineState("engine idle"))

    def render(self) -> Text:
        if self.hw is None:
            return Text("detecting this machine…", style="dim")
        pieces = self._pieces(self.hw)
        names = {index: piece for piece, _, index in pieces if index is not None}
        room = self.size.width - sum(len(piece) for piece, _, index in pieces if index is None) - len(names)
        widths = shrink_to_fit([len(names[i]) for i in (LABEL, HARDWARE, MODEL)], room, SHRINK_STEPS)
        text = Text(no_wrap=True, overflow="ellipsis")
        for piece, style, index in pieces:
            if index is None:
                text.append(piece, style)
            elif shown := ellipsized(piece, widths[index]):
                text.append(" " + shown)  # a name, after one space
        return text

    def _pieces(self, hw: HardwareSpec) -> list[tuple[str, str, int | None]]:
        """The line in order as (text, style, name index): a name (index set) may give way, the rest stays."""
        fit = self.planned.fit if self.planned is not None else None
        model = self.planned.model_name if self.planned is not None else (self.selection.model or "no model")
        ctx = ctx_label(fit.ctx_tokens if fit else self.selection.ctx_tokens)
        kv = fit.kv_type if fit else self.selection.kv_type  # the plan's: never an MLX KV type for llama.cpp
        quant = f" {fit.quant}" if fit else ""
        tag, tag_style = PROFILE_TAG if hw.is_profile else HERE_TAG
        return [
            (tag, tag_style, None), (hw.name, "", HARDWARE), (SEPARATOR, "", None), *self._badge(fit),
            (model, "", MODEL), (f"{quant} · {ctx} · KV {kv}", "", None),
            (SEPARATOR + self.engine.verb, "", None), (self.engine.label, "", LABEL),
        ]  # fmt: skip

    @staticmethod
    def _badge(fit: FitPlan | None) -> list[tuple[str, str, int | None]]:
        if fit is None:
            return []
        return [(f" {BADGES[fit.verdict].upper()} ", VERDICT_STYLES[fit.verdict] + " reverse", None)]
