"""A Static for large Rich renderables (the Context and Ladder panes' tables): it draws its content once
per content, width and style, and every later layout and repaint reuses those lines.

A plain Static draws its content twice per layout (once to count its lines, once for them), and Textual
lays a pane out again each time its tab is shown: for the Context pane's tables that was 150-240 ms of
a tab key while a model streamed (docs/benchmarks.md, key latency). The lines are drawn exactly as a
Static draws them, so the screen does not change.
"""

from __future__ import annotations

from textual.geometry import Size
from textual.strip import Strip
from textual.style import Style
from textual.visual import Visual, VisualType
from textual.widgets import Static

# Widths kept per content: a scrolling pane asks for two (with and without its scrollbar); a terminal
# dragged wider asks for many, and the oldest go.
KEPT_WIDTHS = 4


class CachedStatic(Static):
    """A Static whose drawn lines are kept until its content or its style changes, for a few widths."""

    def __init__(
        self, content: VisualType = "", *, id: str | None = None, classes: str | None = None
    ) -> None:
        super().__init__(content, id=id, classes=classes)
        self._drawn_for: tuple[Visual, Style] | None = None
        self._lines_by_width: dict[int, list[Strip]] = {}
        self.draws = 0  # how many times the content was drawn: the tests prove the reuse with it

    def lines_at(self, width: int) -> list[Strip]:
        """The content drawn at `width`: drawn now unless this content in this style was drawn at this
        width already (each update makes a new visual, so old lines are never shown for new content)."""
        visual, style = self.visual, self.visual_style
        if self._drawn_for is None or self._drawn_for[0] is not visual or self._drawn_for[1] != style:
            self._drawn_for, self._lines_by_width = (visual, style), {}
        lines = self._lines_by_width.get(width)
        if lines is None:
            lines = Visual.to_strips(self, visual, width, None, style, apply_selection=False)
            self.draws += 1
            if len(self._lines_by_width) >= KEPT_WIDTHS:
                del self._lines_by_width[next(iter(self._lines_by_width))]  # the oldest width
            self._lines_by_width[width] = lines
        return lines

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return len(self.lines_at(width)) if width else 0

    def render_line(self, y: int) -> Strip:
        lines = self.lines_at(self.size.width)
        return lines[y] if y < len(lines) else Strip.blank(self.size.width, self.visual_style.rich_style)
