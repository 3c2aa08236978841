"""A one-line question in a box (a Hub repo id, a models folder): Enter answers, Esc leaves."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label


class AskScreen(ModalScreen[str | None]):
    """Dismisses with the text typed (stripped; None when empty or left with Esc)."""

    CSS_PATH = Path(__file__).parent.parent / "ask.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "leave", "close")]

    def __init__(self, title: str, placeholder: str, hint: str = "") -> None:
        super().__init__()
        self.title_text, self.placeholder, self.hint = title, placeholder, hint

    def compose(self) -> ComposeResult:
        with Vertical(id="ask-box"):
            yield Label(self.title_text, id="ask-title")
            yield Input(placeholder=self.placeholder, id="ask-input", compact=True)
            yield Label(self.hint, id="ask-hint")

    def on_mount(self) -> None:
        self.query_one("#ask-input", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(event.value.strip() or None)

    def action_leave(self) -> None:
        self.dismiss(None)
