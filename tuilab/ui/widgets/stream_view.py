"""Generated text as it streams: wrapped at the pane's width and kept scrolled to the end while new text
arrives, until the reader scrolls up (Textual's anchor); scrolling back to the end follows again.

A write costs the same at the 10,000th token as at the first (scripts/bench_stream_view.py): the lines
already wrapped are kept as rendered strips and only the last visual line, plus what was just written,
is wrapped again. That is exact because Textual wraps each line of text on its own and greedily
(`rich._wrap.divide_line`): text appended at the end can move words off the last visual line but never
changes a line before it. Tabs are expanded from the start of their line, so a line holding a tab is
re-wrapped from its start. A change of width or style wraps everything once. What the screen shows,
and what a mouse selection copies, is what a `Static` holding the whole text gives; the tests in
tests/ui/test_stream_view.py compare the two.
"""

from __future__ import annotations

from itertools import pairwise

from rich._wrap import divide_line
from rich.segment import Segment
from rich.style import Style as RichStyle
from textual.content import Content
from textual.events import Resize
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.selection import Selection
from textual.strip import Strip
from textual.style import Style
from textual.visual import Visual


class StreamView(ScrollView, can_focus=True):
    DEFAULT_CSS = """
    StreamView {
        overflow-x: hidden;
        overflow-y: auto;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._done: list[str] = []  # whole lines of text, "\n" included, wrapped for good
        self._head = ""  # the current line's text before the tail, wrapped for good
        self._tail = ""  # from the start of the last visual line on: wrapped again at each write
        self._lines: list[Strip] = []  # the visual lines of `_done` and `_head`
        self._head_lines = 0  # how many of `_lines` belong to `_head`
        self._tail_lines: list[Strip] = []
        self._width = 0  # the width `_lines` were wrapped at; 0 before the first layout
        self._style: Style | None = None  # the style `_lines` were drawn in

    def on_mount(self) -> None:
        self.anchor()

    @property
    def text(self) -> str:
        return "".join(self._done) + self._head + self._tail

    def clear(self) -> None:
        self._done, self._head, self._tail = [], "", ""
        self._lines, self._head_lines, self._tail_lines = [], 0, []
        self._wrap_tail()
        self.anchor()

    def write(self, text: str) -> None:
        """Append `text`; wraps only the last visual line and `text`, never what is already settled."""
        self._tail += text
        self._wrap_tail()

    # --- wrapping ---

    def _on_resize(self, _event: Resize) -> None:
        self._wrap_if_width_changed()

    def watch_show_vertical_scrollbar(self) -> None:
        self._wrap_if_width_changed()  # the scrollbar takes columns from the text, as it did from a Static

    def notify_style_update(self) -> None:
        super().notify_style_update()
        # The kept lines carry the old colours (a theme change, say). A focus change restyles the view
        # too but leaves its colours: wrapping 2,000 tokens again then held the next key up 12-17 ms.
        if self._width and self.visual_style != self._style:
            self._wrap_all()

    def _wrap_if_width_changed(self) -> None:
        width = self.scrollable_content_region.width
        if width != self._width:
            self._width = width
            self._wrap_all()

    def _wrap_all(self) -> None:
        self._style = self.visual_style
        self._tail = self.text
        self._done, self._head, self._lines, self._head_lines = [], "", [], 0
        self._wrap_tail()

    def _wrap_tail(self) -> None:
        if self._width > 0:
            *whole, last = self._tail.split("\n")
            for line in whole:
                line, strips = self._wrap_from_head(line)
                self._lines.extend(strips)
                self._done.append(self._head + line + "\n")
                self._head, self._head_lines = "", 0
            self._tail, self._tail_lines = self._wrap_from_head(last)
            self._settle()
        self.virtual_size = Size(self._width, len(self._lines) + len(self._tail_lines))
        self.refresh()

    def _wrap_from_head(self, piece: str) -> tuple[str, list[Strip]]:
        """The visual lines of the current line from the tail's start on. A line holding a tab is wrapped
        from its own start (a tab's width depends on its column), so the head's lines are drawn again."""
        if self._head and "\t" in piece:
            del self._lines[len(self._lines) - self._head_lines :]
            piece, self._head, self._head_lines = self._head + piece, "", 0
        return piece, self._draw(piece, len(self._head), len(self._done))

    def _settle(self) -> None:
        """Every visual line of the tail but the last is final: it moves to the head."""
        if "\t" in self._tail or len(self._tail_lines) < 2:
            return
        start = divide_line(self._tail, self._width)[-1]
        settled = len(self._tail_lines) - 1
        self._lines.extend(self._tail_lines[:settled])
        self._head += self._tail[:start]
        self._head_lines += settled
        self._tail, self._tail_lines = self._tail[start:], self._tail_lines[settled:]

    def _draw(self, piece: str, x: int, y: int) -> list[Strip]:
        """`piece`, which starts at column `x` of line `y` of the text, wrapped into visual lines. Each cell
        carries its place in the whole text, as a Static's do, so a mouse selection maps onto the text."""
        strips = Visual.to_strips(
            self, Content(piece), self._width, None, self.visual_style, apply_selection=False
        )
        return [strip.apply_offsets(x + _first_offset(strip), y) for strip in strips]

    # --- drawing ---

    def render_line(self, y: int) -> Strip:
        index = self.scroll_offset.y + y - self._space_above()
        settled = len(self._lines)
        if 0 <= index < settled:
            strip = self._lines[index]
        elif settled <= index < settled + len(self._tail_lines):
            strip = self._tail_lines[index - settled]
        else:
            return Strip.blank(self._width, self.rich_style)
        selection = self.text_selection
        if selection is None:
            return strip
        # the selection's colours over the widget's, as Content renders a selected span in a Static
        selected = self.visual_style + Style.from_styles(
            self.screen.get_component_styles("screen--selection")
        )
        return _highlight(strip, selection, selected.rich_style)

    # --- mouse selection, as a Static has it ---

    def get_selection(self, selection: Selection) -> tuple[str, str] | None:
        return selection.extract(self.text), "\n"

    def selection_updated(self, selection: Selection | None) -> None:
        self.refresh()

    def _space_above(self) -> int:
        """Rows left empty above text shorter than the pane: an anchored container lays its content out
        from the bottom up (Textual's compositor scrolls it to `bottom - height`, below zero), so the old
        Static sat on the pane's last rows and the text grew upwards; this keeps that look."""
        if not self._anchored or self._anchor_released:
            return 0
        return max(0, self.scrollable_content_region.height - self.virtual_size.height)


def _first_offset(strip: Strip) -> int:
    """The column in its piece where a visual line starts (Textual's `offset` style metadata)."""
    for segment in strip:
        if segment.style is not None and (offset := segment.style.meta.get("offset")) is not None:
            return int(offset[0])
    return 0


def _highlight(strip: Strip, selection: Selection, selected: RichStyle) -> Strip:
    """`strip` with the selected characters in the selection style, found by each segment's offset."""
    segments: list[Segment] = []
    for segment in strip:
        text, style = segment.text, segment.style
        offset = style.meta.get("offset") if style is not None else None
        span = selection.get_span(offset[1]) if offset is not None else None
        if style is None or offset is None or span is None:
            segments.append(segment)
            continue
        x, y = offset
        start = min(max(span[0] - x, 0), len(text))
        end = len(text) if span[1] == -1 else min(max(span[1] - x, start), len(text))
        for (a, b), base in zip(pairwise((0, start, end, len(text))), (style, selected, style), strict=True):
            if a < b:
                segments.append(Segment(text[a:b], base + RichStyle.from_meta({"offset": (x + a, y)})))
    return Strip(segments, strip.cell_length)
