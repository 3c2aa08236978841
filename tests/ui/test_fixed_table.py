"""The Models list's table (`FixedWidthTable`): it draws one-line text cells itself, for speed
(scripts/bench_models_filter.py), and must draw them exactly as Textual's DataTable does. Every check
compares with DataTable's own `_render_cell` on the same mounted table, so both sides are real.
"""

from __future__ import annotations

import pytest
from rich.segment import Segment
from rich.text import Text
from textual.app import App, ComposeResult
from textual.geometry import Region
from textual.widgets import DataTable

from tuilab.ui.widgets.fixed_table import FixedWidthTable

pytestmark = pytest.mark.anyio

# The kinds of cell the Models pane shows: a styled badge, a name with the current-model mark, one cut
# with an ellipsis, a wide-character name, plain text, empty text, right-justified numbers.
ROWS = [
    (Text("fits", style="green"), Text("▶ qwen3-8b"), Text("Q4_K_M"), Text("4.9", justify="right")),
    (Text("tight", style="yellow"), Text("  Meta-Llama-3.1-8B-Ins…"), Text(""), Text("12", justify="right")),
    (Text("error", style="bold red"), Text("  模型-7b"), Text("F16"), Text("", justify="right")),
    (Text("…"), Text("  gpt-oss-20b", justify="left"), Text("MXFP4"), Text("128k", justify="right")),
]
LABELS = ("fit", "model", "quant", "GB")
WIDTHS = (6, 28, 7, 5)


class TableApp(App[None]):
    """Our table, and beside it (same width, same parent) Textual's own with the same columns and rows."""

    CSS = "DataTable { height: 8; }"

    def compose(self) -> ComposeResult:
        yield FixedWidthTable(cursor_type="row", zebra_stripes=True)
        yield DataTable[Text](cursor_type="row", zebra_stripes=True, id="theirs")

    def on_mount(self) -> None:
        ours, theirs = self.query_one(FixedWidthTable), self.query_one("#theirs", DataTable)
        ours.set_columns(LABELS, WIDTHS)
        for label, width in zip(LABELS, WIDTHS, strict=True):
            theirs.add_column(label, width=width)
        for i, cells in enumerate(ROWS):
            ours.add_row(*cells, key=str(i), height=1)
            theirs.add_row(*cells, key=str(i), height=1)


def simplified(lines: list[list[Segment]]) -> list[list[Segment]]:
    """As the table's line cache keeps them: adjacent segments of one style merged."""
    return [list(Segment.simplify(line)) for line in lines]


class TestCellsAreDrawnAsDataTableDrawsThem:
    @pytest.mark.parametrize(("cursor", "hover"), [(False, False), (True, False), (False, True)])
    async def test_every_header_and_body_cell(self, cursor: bool, hover: bool) -> None:
        app = TableApp()
        async with app.run_test(size=(80, 12)) as pilot:
            await pilot.pause()
            table = app.query_one(FixedWidthTable)
            for row in range(-1, len(ROWS)):
                base = table._get_row_style(row, table.rich_style)
                for col, column in enumerate(table.ordered_columns):
                    width = column.get_render_width(table)
                    assert table._one_line_text(row, col, width) is not None  # the fast path draws it
                    ours = table._render_cell(row, col, base, width, cursor, hover)
                    theirs = DataTable._render_cell(table, row, col, base, width, cursor, hover)
                    assert simplified(ours) == simplified(theirs), (row, col)

    async def test_a_cell_it_cannot_draw_goes_to_data_table(self) -> None:
        app = TableApp()
        async with app.run_test(size=(80, 12)) as pilot:
            table = app.query_one(FixedWidthTable)
            table.add_row(Text("fits"), Text.assemble(("two", "red"), " styles"), key="spans", height=1)
            table.add_row(Text("x" * 9), Text("a\nb"), key="wide", height=1)
            await pilot.pause()
            width = table.ordered_columns[1].get_render_width(table)
            assert table._one_line_text(4, 1, width) is None  # spans
            assert table._one_line_text(5, 0, table.ordered_columns[0].get_render_width(table)) is None
            assert table._one_line_text(5, 1, width) is None  # two lines


class TestFramesAreDrawnAsDataTableDrawsThem:
    @pytest.mark.parametrize("cursor_row", [0, 2])
    async def test_the_whole_table(self, cursor_row: int) -> None:
        app = TableApp()
        async with app.run_test(size=(80, 20)) as pilot:
            ours, theirs = app.query_one(FixedWidthTable), app.query_one("#theirs", DataTable)
            for table in (ours, theirs):
                table.move_cursor(row=cursor_row, animate=False)
            app.set_focus(None)
            await pilot.pause()
            crop = Region(0, 0, ours.size.width, ours.size.height)
            assert ours.size == theirs.size
            assert [list(s.simplify()) for s in ours.render_lines(crop)] == [
                list(s.simplify()) for s in theirs.render_lines(crop)
            ]


class TestFixedWidths:
    async def test_columns_keep_their_widths_whatever_the_rows(self) -> None:
        app = TableApp()
        async with app.run_test(size=(80, 12)) as pilot:
            table = app.query_one(FixedWidthTable)
            table.clear()
            table.add_row(Text("x"), Text("y"), Text("z"), Text("1"), key="short", height=1)
            await pilot.pause()
            pad = 2 * table.cell_padding
            assert [c.get_render_width(table) - pad for c in table.ordered_columns] == list(WIDTHS)
            assert table.virtual_size.height == 2  # the header and the one row
