"""Generated text as it streams: wrapped at the pane's width and kept scrolled to the end while new text
arrives, until the reader scrolls up (Textual's anchor); scrolling back to the end follows again.

Textual's `Log` writes lines and never wraps, so a model's one long paragraph ran off the right edge of
an 80-column terminal; here the whole text is one wrapped `Static` inside a scrolling container.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static


class StreamView(VerticalScroll, can_focus=True):
    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._parts: list[str] = []

    def compose(self) -> ComposeResult:
        yield Static("", classes="stream-text", markup=False)

    def on_mount(self) -> None:
        self.anchor()

    @property
    def text(self) -> str:
        return "".join(self._parts)

    def clear(self) -> None:
        self._parts = []
        self._show()
        self.anchor()

    def write(self, text: str) -> None:
        """Append `text`; the app batches it (~20 calls a second), so a full re-wrap per call is cheap."""
        self._parts.append(text)
        self._show()

    def _show(self) -> None:
        # Text, not str: generated text is never read as Rich markup ("[/INST]" would raise).
        self.query_one(".stream-text", Static).update(Text(self.text))
