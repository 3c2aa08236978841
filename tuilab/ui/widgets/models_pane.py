"""The models pane: discovered models, the demo and the profile catalog in one list with a fit badge
per row, filtered as the user types. Arrows move, Enter chooses; the choice goes up as `Chosen`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import DataTable, Input
from textual.widgets.data_table import CellDoesNotExist

from tuilab.ui.catalog import ModelEntry, matches
from tuilab.ui.render import BADGE_STYLES

SOURCE_LABELS = {"profile": "what-if", "demo": "built-in", "ladder": "ladder rung"}


class ModelsPane(Vertical):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("down", "move(1)", "next", show=False),
        Binding("up", "move(-1)", "previous", show=False),
        Binding("pagedown", "move(10)", show=False),
        Binding("pageup", "move(-10)", show=False),
    ]

    class Chosen(Message):
        """The user chose a model (Enter)."""

        def __init__(self, key: str) -> None:
            super().__init__()
            self.key = key

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.entries: list[ModelEntry] = []
        self.badges: Mapping[str, str] = {}
        self.current: str | None = None

    def compose(self) -> ComposeResult:
        yield Input(
            placeholder="type to filter models; ↑↓ move, Enter select", id="model-filter", compact=True
        )
        table: DataTable[Text] = DataTable(id="model-table", cursor_type="row", zebra_stripes=True)
        table.add_columns("fit", "model", "quant", "engine", "source")
        yield table

    def show(self, entries: Sequence[ModelEntry], badges: Mapping[str, str], current: str | None) -> None:
        self.entries, self.badges, self.current = list(entries), dict(badges), current
        self._fill()

    def show_badges(self, badges: Mapping[str, str]) -> None:
        self.badges = dict(badges)
        self._fill()

    def _visible(self) -> Iterable[ModelEntry]:
        query = self.query_one("#model-filter", Input).value
        return (e for e in self.entries if matches(e, query))

    def _fill(self) -> None:
        table = self.query_one("#model-table", DataTable)
        keep = self._highlighted_key()
        table.clear()
        for e in self._visible():
            badge = "error" if e.error else self.badges.get(e.key, "…")
            mark = "▶ " if e.key == self.current else "  "
            label = Text(mark + e.label)
            label.truncate(self._label_cells(), overflow="ellipsis")
            table.add_row(
                Text(badge, style=BADGE_STYLES.get(badge, "")), label,
                e.quant, e.engine, SOURCE_LABELS.get(e.source, e.source), key=e.key,
            )  # fmt: skip
        target = keep or self.current
        if target is not None and target in table.rows:
            table.move_cursor(row=table.get_row_index(target), animate=False)

    def _label_cells(self) -> int:
        # The other four columns (fit, quant, engine, source: ~34 cells), cell padding (10), the
        # scrollbar and the pane's padding (4) take the rest; a long path keeps its start.
        return max(16, (self.size.width or 80) - 48)

    def on_resize(self) -> None:
        if self.entries:
            self._fill()

    def _highlighted_key(self) -> str | None:
        table = self.query_one("#model-table", DataTable)
        if not table.row_count:
            return None
        try:
            return str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)
        except CellDoesNotExist:  # a stale cursor after clear(): no row to keep
            return None

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self._fill()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        key = self._highlighted_key()
        if key is not None:
            self.post_message(self.Chosen(key))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.post_message(self.Chosen(str(event.row_key.value)))

    def action_move(self, rows: int) -> None:
        table = self.query_one("#model-table", DataTable)
        if table.row_count:
            table.move_cursor(row=max(0, min(table.row_count - 1, table.cursor_row + rows)), animate=False)

    def focus_filter(self) -> None:
        self.query_one("#model-filter", Input).focus()
