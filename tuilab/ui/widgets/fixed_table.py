"""A DataTable for lists refilled on every keystroke: fixed column widths, one-line rows, and one-line text
cells drawn without Rich's general layout, so a refill costs little more than the rows it shows.

Textual's DataTable (textual 8.2.8, pinned) is slow to refill in three places (profiled in
docs/benchmarks.md, "Models pane"). On its next idle it measures every cell of every new row through Rich,
for auto-width columns and auto-height rows (`_update_dimensions`); with fixed widths and one-line rows
nothing measured can change, so it is skipped. It draws every visible cell again through Rich's
`Padding`, `Styled` and line splitting (`_render_cell`); a cell that is one line of text in one style,
fitting its column, is drawn here as the same segments directly. And for every row it reads styles that
walk the widget's ancestors; here they are read once a frame. tests/ui/test_fixed_table.py proves the
cells and whole frames equal to DataTable's own.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar, cast

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.color import Color
from textual.geometry import Region
from textual.strip import Strip
from textual.widgets import DataTable
from textual.widgets.data_table import RowKey

SegmentLines = list[list[Segment]]
T = TypeVar("T")


class FixedWidthTable(DataTable[Text]):
    """Fill it with `set_columns` (fixed widths) and `replace_rows` (one-line rows); read it as a DataTable.
    Anything else DataTable allows still works, drawn and measured by DataTable itself."""

    _frame: dict[object, object] | None = None  # styles read while one frame is drawn (render_lines)

    def set_columns(self, labels: Sequence[str], widths_cells: Sequence[int]) -> None:
        """Replace the columns (and clear the rows): each label over a column `widths_cells` wide."""
        self.clear(columns=True)
        for label, width in zip(labels, widths_cells, strict=True):
            self.add_column(label, width=width)

    def replace_rows(self, rows: Iterable[tuple[str, Sequence[Text]]]) -> None:
        """Clear the rows and add these (key, cells), one line high. The table's size follows at once, not
        on the next idle as after `add_row`, so the frame drawn after a refill is not drawn twice."""
        self.clear()
        for key, cells in rows:
            self.add_row(*cells, key=key, height=1)
        if not self._measures():
            self._require_update_dimensions = False
            self._new_rows.clear()
            super()._update_dimensions(())

    # --- not measuring ----------------------------------------------------------------------------------

    def _measures(self, new_rows: Sequence[RowKey] = ()) -> bool:
        """Whether DataTable's measuring can change anything: an auto-width column, or a new row with a
        label or an auto height."""
        rows = (self.rows.get(k) for k in new_rows)
        return any(c.auto_width for c in self.columns.values()) or any(
            r is not None and (r.auto_height or r.label is not None) for r in rows
        )

    def _update_dimensions(self, new_rows: Iterable[RowKey]) -> None:
        rows = list(new_rows)
        super()._update_dimensions(rows if self._measures(rows) else ())  # () still sizes the table

    # --- drawing ------------------------------------------------------------------------------------------

    def render_lines(self, crop: Region) -> list[Strip]:
        """Draw, with the styles DataTable reads for every row (its own, its rows', its background) looked
        up once a frame: each walks the widget's ancestors, and nothing restyles them mid-frame."""
        self._frame = {}
        try:
            return super().render_lines(crop)
        finally:
            self._frame = None

    def _once_a_frame(self, key: object, read: Callable[[], T]) -> T:
        if self._frame is None:
            return read()
        if key not in self._frame:
            self._frame[key] = read()
        return cast(T, self._frame[key])

    @property
    def rich_style(self) -> Style:
        return self._once_a_frame("rich_style", lambda: super(FixedWidthTable, self).rich_style)

    @property
    def background_colors(self) -> tuple[Color, Color]:
        return self._once_a_frame("background", lambda: super(FixedWidthTable, self).background_colors)

    def _get_row_style(self, row_index: int, base_style: Style) -> Style:
        """A row's style depends only on whether it is the header, a fixed row, or an odd or even row."""
        kind = row_index if row_index < self.fixed_rows else self.fixed_rows + row_index % 2  # header: -1
        read_style = super()._get_row_style
        return self._once_a_frame(("row", kind, base_style), lambda: read_style(row_index, base_style))

    def _render_cell(
        self,
        row_index: int,
        column_index: int,
        base_style: Style,
        width: int,
        cursor: bool = False,
        hover: bool = False,
    ) -> SegmentLines:
        text = self._one_line_text(row_index, column_index, width)
        if text is None:
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        is_fixed = row_index >= 0 and (row_index < self.fixed_rows or column_index < self.fixed_columns)
        component, post = self._get_styles_to_render_cell(
            row_index == -1, False, is_fixed, hover, cursor, self.show_cursor, self._show_hover_cursor,
            self.cursor_foreground_priority == "css", self.cursor_background_priority == "css",
        )  # fmt: skip
        pre = base_style + _where(row_index, column_index) + component
        text_style = self.app.console.get_style(text.style, default=Style.null())
        return [_cell_line(text, text_style, width, self.cell_padding, pre, post)]

    def _one_line_text(self, row_index: int, column_index: int, width: int) -> Text | None:
        """The cell, when it is what `_cell_line` draws exactly: one line of text with one style, no wider
        than the column, in a one-line row; None for anything else (DataTable draws it)."""
        if column_index < 0:
            return None
        if row_index >= 0:
            key = self._row_locations.get_key(row_index)
            if key is None or self.rows[key].height != 1:
                return None
        elif self.header_height != 1:
            return None
        cells = self._get_row_renderables(row_index).cells
        cell = cells[column_index] if column_index < len(cells) else None
        if not isinstance(cell, Text) or cell.spans or any(c in cell.plain for c in "\n\t"):
            return None
        if cell.justify not in (None, "default", "left", "right") or cell.plain != cell.plain.rstrip():
            return None
        return cell if cell.cell_len <= width - 2 * self.cell_padding else None


@functools.lru_cache(maxsize=4096)
def _where(row_index: int, column_index: int) -> Style:
    """The meta DataTable gives a cell's segments, so a click finds its row and column; made once per cell
    position, as `Style.from_meta` pickles its dict on every call."""
    return Style.from_meta({"row": row_index, "column": column_index})


def _cell_line(
    text: Text, text_style: Style, width: int, padding: int, pre: Style, post: Style
) -> list[Segment]:
    """One cell as Rich draws `Styled(Padding(text, (0, padding)), pre, post)` at `width`: the text in its
    own style; the gap to the column's edge in the text's style when justified (Rich pads the text
    itself) and in the cell's otherwise (Rich pads the line); the padding in the cell's style."""
    edge, body = _styled(pre, post, Style.null()), _styled(pre, post, text_style)
    gap, pad = " " * (width - 2 * padding - text.cell_len), " " * padding
    if text.justify == "right":
        parts = [(pad, edge), (gap + text.plain, body), (pad, edge)]
    elif text.justify == "left":
        parts = [(pad, edge), (text.plain + gap, body), (pad, edge)]
    else:
        parts = [(pad, edge), (text.plain, body), (gap + pad, edge)]
    return [Segment(part, style) for part, style in parts if part]


def _styled(pre: Style, post: Style, style: Style) -> Style:
    """What `Segment.apply_style(..., pre, post)` (Rich's `Styled`) makes of a segment's style."""
    inner = pre + style
    return inner + post if inner else post
