"""The ladder pane: the latest quantization-ladder results for the chosen model. Until the bench package
records ladders, it says how to make one.
"""

from __future__ import annotations

from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static


def empty_state(model: str | None) -> Text:
    target = model or "MODEL"
    return Text.assemble(
        ("No ladder results yet", "bold"),
        f" for {model}.\n\n" if model else ".\n\n",
        "A ladder quantizes one model at each rung (F16, Q8_0 … IQ2_XS), then measures speed, memory,\n"
        "perplexity and KL divergence against F16, so you can see what 4 or 2 bits cost.\n\nMake one:\n  ",
        (f"tuilab bench {target}", "bold cyan"),
        "\n\nThe latest results for the chosen model will show here.",
    )


class LadderPane(VerticalScroll):
    def compose(self):  # type: ignore[no-untyped-def]
        yield Static(empty_state(None), id="ladder-body")

    def show(self, model: str | None) -> None:
        self.query_one("#ladder-body", Static).update(empty_state(model))
