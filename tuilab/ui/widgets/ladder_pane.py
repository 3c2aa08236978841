"""The ladder pane: the latest quantization-ladder results for the chosen model (table, tokens/s and KLD
bars, the sweet spot marked), a live progress line while a ladder runs, and how to make one when there
are no results yet. The recorded run comes down as an attribute (read from the history off the event
loop); the pane never reads the disk.
"""

from __future__ import annotations

from rich.console import Console, ConsoleOptions, RenderResult
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from tuilab.bench.report import LadderRun
from tuilab.ui.ladder_view import ladder_view, progress_line
from tuilab.ui.messages import LadderEnded, LadderStepped
from tuilab.ui.widgets.cached_static import CachedStatic


def empty_state(model: str | None, bench_line: str | None = None) -> Text:
    """`bench_line` is tuilab.bench.source.bench_command's answer for the chosen model."""
    if model is not None and bench_line is None:
        how: tuple[str | tuple[str, str], ...] = (
            "A ladder starts from 16-bit weights; this model has none (a profile, or already quantized). "
            "Choose its F16/BF16 GGUF or unquantized folder in Models.",
        )
    else:
        how = (("b", "bold cyan"), " here, on this machine, or in a shell:\n  ",
               (bench_line or "tuilab bench MODEL", "bold cyan"))  # fmt: skip
    return Text.assemble(
        ("No ladder results yet", "bold"),
        f" for {model}.\n\n" if model else ".\n\n",
        # one paragraph, wrapped by the pane: a line break inside it broke the sentence at 80 columns
        "A ladder quantizes one model at each rung (F16, Q8_0 … IQ2_XS), then measures speed, memory, "
        "perplexity and KL divergence against F16, so you can see what 4 or 2 bits cost.\n\nMake one:\n  ",
        *how,
        "\n\nThe latest results for the chosen model will show here.",
    )  # fmt: skip


class _SizedView:
    """Renders the ladder at the width Textual gives it, so the bars fill the pane at any size."""

    def __init__(self, run: LadderRun, this_machine: str) -> None:
        self.run, self.this_machine = run, this_machine

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield ladder_view(self.run, options.max_width, self.this_machine)


class LadderPane(VerticalScroll):
    """The ladder thread posts its messages here; `LadderEnded` then bubbles on to the app."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.model: str | None = None
        self.this_machine = ""
        self.bench_line: str | None = None

    def compose(self) -> ComposeResult:
        yield Static("", id="ladder-progress")
        yield CachedStatic(empty_state(None), id="ladder-body")
        yield Static("", id="ladder-hint", classes="hint")

    def show(
        self, model: str | None, run: LadderRun | None, this_machine: str = "", bench_line: str | None = None
    ) -> None:
        """`run`, the newest recorded ladder of `model`, or the empty state when there is none; `bench_line`
        (bench.source.bench_command) is kept for the model until another model is shown."""
        if bench_line is not None or model != self.model:
            self.bench_line = bench_line
        self.model, self.this_machine = model, this_machine
        body = self.query_one("#ladder-body", CachedStatic)
        body.update(empty_state(model, self.bench_line) if run is None else _SizedView(run, this_machine))
        hint = "" if run is None or model is None else f"b runs the ladder of {model} again on this machine"
        self.query_one("#ladder-hint", Static).update(hint)
        self.query_one("#ladder-hint", Static).display = bool(hint)

    def show_progress(self, line: Text | None) -> None:
        progress = self.query_one("#ladder-progress", Static)
        progress.update(line or "")
        progress.display = line is not None

    @on(LadderStepped)
    def _stepped(self, message: LadderStepped) -> None:
        self.show_progress(progress_line(message.model, message.progress))
        if message.model == self.model:
            self.show(self.model, message.run, self.this_machine)  # a finished rung is in it already

    @on(LadderEnded)
    def _ended(self, message: LadderEnded) -> None:
        self.show_progress(None)
        if message.model == self.model:
            self.show(self.model, message.run, self.this_machine)
