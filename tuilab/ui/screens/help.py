"""The help screen (`?`): every key and what it does, plus where the numbers come from."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

KEYS: tuple[tuple[str, str], ...] = (
    ("1 … 7", "hardware, models, fit, context, run, ladder, cluster tab"),
    ("h", "switch hardware: this machine or a what-if profile"),
    ("m", "models tab: ↑↓ move, Enter chooses; digits still switch"),
    ("/", "models: filter the list; Esc goes back to the list"),
    ("v", "models: the catalog ranked for this hardware (fit --rank)"),
    ("H", "models: plan a Hub repo ORG/NAME from metadata only"),
    ("p", "models: pull that Hub repo into the HF cache (Esc stops)"),
    ("a", "models: add a models folder (saved in settings.toml)"),
    ("R", "models: look for models on disk again"),
    ("[  ]", "context down / up (2k … 128k); t: next tok/s floor"),
    ("k", "next KV cache type (f16, q8_0, q4_0; MLX mlx-kv8, mlx-kv4)"),
    (",  .", "quant up / down the ladder (what-if for a file on disk)"),
    ("l", "load the chosen model into its engine (fit checked first)"),
    ("r", "run tab: Enter generates; Tab: max tokens, temperature"),
    ("Esc", "stop a generation or a ladder at once; leave a text box"),
    ("b", "bench: a quantization ladder of the chosen model, here"),
    ("c", "cluster tab: the hosts, e.g. 2x m3-max-40c-64gb"),
    ("L", "cluster tab: next link (TB4, TB5, RDMA, 10 GbE)"),
    ("ctrl+p", "command palette: every action by name"),
    ("?", "this help (Esc closes)   ctrl+q quit"),
)
NOTE = (
    "The status line always says whether the numbers are for THIS MACHINE or a PROFILE; live memory "
    "always describes this machine. Predictions come from tuilab.core.fit; the Fit tab lists their basis."
)


def help_table() -> Table:
    table = Table.grid(padding=(0, 2))
    for key, action in KEYS:
        table.add_row(Text(key, style="bold cyan"), action)
    return table


class HelpScreen(ModalScreen[None]):
    CSS_PATH = Path(__file__).parent.parent / "help.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,question_mark,q", "app.pop_screen", "close"),
    ]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box"):
            yield Static(Text("tuilab keys", style="bold"))
            yield Static(help_table())
            yield Static(Text(NOTE, style="dim"), id="help-note")
