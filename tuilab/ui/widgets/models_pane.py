"""The models pane: discovered models, the demo, the profile catalog and Hub repos in one list with a fit
badge per row, or (`v`) the built-in catalog ranked for the hardware in use as `fit --rank` ranks it.

The list has the focus, so the digits switch tabs from here as from any tab; `/` opens the filter and Esc
leaves it. Enter chooses; the choice goes up as `Chosen`. `H` plans a Hub repo from its metadata (and the
app keeps it for the next start) and `p` pulls it: the note line (`PullLine`) runs the pull and shows its
progress, Esc stops it. `a` adds a models folder, `R` looks for models again. Hub reads and the ranking
run on thread workers; the folder and the re-discovery go up to the app, which owns both.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import DataTable, Input
from textual.widgets.data_table import CellDoesNotExist
from textual.worker import get_current_worker

from tuilab.core.errors import TuilabError
from tuilab.core.hardware import HardwareSpec
from tuilab.core.plan_types import gb
from tuilab.core.rank import Ranked
from tuilab.lab import views
from tuilab.lab.model_sources import (
    models_folder,
    pull_target,
    read_hub_repo,
    read_saved_hub_repo,
)
from tuilab.lab.planning import FitQuery
from tuilab.lab.ranking import CatalogRanking, on_device_bytes, rank_catalog
from tuilab.models.resolve import ResolvedModel
from tuilab.ui.catalog import ModelEntry, has_words, search_text
from tuilab.ui.render import BADGE_STYLES, ctx_label
from tuilab.ui.threads import deliver, os_error_line
from tuilab.ui.widgets.fixed_table import FixedWidthTable
from tuilab.ui.widgets.pull_line import PullLine

SOURCE_LABELS = {"profile": "what-if", "demo": "built-in", "ladder": "ladder rung", "hub": "hub repo"}
LIST_COLUMNS = ("fit", "model", "quant", "engine", "source")
RANKED_COLUMNS = ("fit", "model", "quant", "GB", "max ctx", "tok/s")
LIST_HINT = "/ filter · v ranked for this hardware · H Hub repo · a add folder · R refresh"


@dataclass(frozen=True)
class PlanTarget:
    """What the badges and the ranking are for: the hardware in use, the context and the KV type."""

    hw: HardwareSpec
    ctx_tokens: int
    kv_type: str


@dataclass(frozen=True)
class TableRow:
    """One row of the table, built once per fill: its key, its cells, and what the filter looks in."""

    key: str
    cells: tuple[Text, ...]
    search_text: str  # lower-cased


def _widths_cells(labels: Sequence[str], rows: Sequence[TableRow]) -> tuple[int, ...]:
    """Each column as wide as its label or its widest cell, as an auto-width DataTable column would be."""
    return tuple(max([len(label), *(r.cells[i].cell_len for r in rows)]) for i, label in enumerate(labels))


class FilterInput(Input):
    """The filter box, and the one-line question box (a Hub repo id, a models folder): Esc hands the keys
    back to the list."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "leave", "back to the list", show=False)]

    class Left(Message):
        """The user left the box (Esc)."""

    def action_leave(self) -> None:
        self.post_message(self.Left())


class ModelsPane(Vertical):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("down", "move(1)", "next", show=False),
        Binding("up", "move(-1)", "previous", show=False),
        Binding("pagedown", "move(10)", show=False),
        Binding("pageup", "move(-10)", show=False),
        Binding("slash", "filter", "filter"),
        Binding("v", "toggle_ranked", "ranked"),
        Binding("H", "ask_hub", "hub repo"),
        Binding("p", "pull", "pull", show=False),
        Binding("a", "ask_folder", "add folder", show=False),
        Binding("R", "refresh", "refresh", show=False),
        Binding("escape", "stop_pull", "stop pull", show=False),
    ]

    class Chosen(Message):
        """The user chose a model (Enter); `quant` is the ranked view's best quant, else None."""

        def __init__(self, key: str, quant: str | None = None) -> None:
            super().__init__()
            self.key, self.quant = key, quant

    class RefreshAsked(Message):
        """Look for the models on disk again (`R`, or a pull that finished)."""

    class HubRepoAdded(Message):
        """A Hub repo was planned with `H`: keep it in the settings, to list it again at the next start."""

        def __init__(self, repo_id: str) -> None:
            super().__init__()
            self.repo_id = repo_id

    class FolderAdded(Message):
        """The user added a readable models folder (`a`): save it and look again."""

        def __init__(self, path: str) -> None:
            super().__init__()
            self.path = path

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.entries: list[ModelEntry] = []
        self.badges: Mapping[str, str] = {}
        self.current: str | None = None
        self.target: PlanTarget | None = None
        self.ranked_view = False
        self.ranking: CatalogRanking | None = None
        self._ranking_for: PlanTarget | None = None
        self.hub_models: dict[str, ResolvedModel] = {}
        self._hub_badges: dict[str, str] = {}
        self._asking = ""  # what the question box asks for: "hub", "folder", or nothing
        self._line = PullLine(LIST_HINT, id="models-note")  # the note line, and a pull's progress
        self._rows: list[TableRow] = []  # every row of the view, its cells built once per fill
        self._columns: tuple[Sequence[str], tuple[int, ...]] = ((), ())  # labels and widths for _rows
        self._layout: tuple[Sequence[str], tuple[int, ...]] | None = None  # the columns the table has
        self._shown: list[str] = []  # the table's row keys, in order, as the last refill left them

    def compose(self) -> ComposeResult:
        yield FilterInput(placeholder="/ to filter models", id="model-filter", compact=True)
        yield self._line
        yield FilterInput(id="models-ask", compact=True)
        yield FixedWidthTable(id="model-table", cursor_type="row", zebra_stripes=True)

    # --- what the app hands down ------------------------------------------------------------------

    def show(self, entries: Sequence[ModelEntry], badges: Mapping[str, str], current: str | None) -> None:
        self.entries, self.badges, self.current = list(entries), dict(badges), current
        self._fill()

    def show_badges(self, badges: Mapping[str, str]) -> None:
        self.badges = dict(badges)
        self._fill()

    def set_target(self, hw: HardwareSpec, ctx_tokens: int, kv_type: str) -> None:
        """The hardware, context and KV type in use: the ranking follows them (recomputed on a thread)."""
        self.target = PlanTarget(hw, ctx_tokens, kv_type)
        self._hub_badges = {k: self._hub_badge(m) for k, m in self.hub_models.items()}
        if self.ranked_view and self._ranking_for != self.target:
            self._rank(self.target)
        elif self.entries or self.hub_models:
            self._fill()

    def focus_list(self) -> None:
        self.query_one("#model-table", DataTable).focus()

    def focus_filter(self) -> None:
        self.query_one("#model-filter", Input).focus()

    # --- the table --------------------------------------------------------------------------------

    def _query(self) -> str:
        return self.query_one("#model-filter", Input).value

    def _fill(self) -> None:
        """What the rows show changed (models, badges, the view, the width): build every row's cells
        once, for this fill and the keystrokes after it, then refill the table."""
        self._rows = self._ranked_rows() if self.ranked_view else self._list_rows()
        labels = RANKED_COLUMNS if self.ranked_view else LIST_COLUMNS
        self._columns = (labels, _widths_cells(labels, self._rows))
        self._refill()

    def _filter(self) -> None:
        """A keystroke in the filter: refill only when the matching rows changed. A refill draws every visible
        row again (DataTable drops its caches on any change), most of a keystroke's cost, which
        FixedWidthTable keeps low (scripts/bench_models_filter.py); removing rows one by one costs more
        (each removal re-indexes the table)."""
        if [r.key for r in self._matching()] != self._shown:
            self._refill()

    def _matching(self) -> list[TableRow]:
        query = self._query()
        return [r for r in self._rows if has_words(r.search_text, query)]

    def _refill(self) -> None:
        """Put the matching rows in the table, keeping the highlighted row. The columns are set again only
        when the view or a width changed: they are as wide as their widest cell over all rows (names are
        cut to the pane's width), so the filter never makes them jump."""
        table = self.query_one("#model-table", FixedWidthTable)
        keep = self._highlighted_key()
        if self._columns != self._layout:
            table.set_columns(*self._columns)
            self._layout = self._columns
        table.replace_rows((row.key, row.cells) for row in self._matching())
        self._shown = [str(k.value) for k in table.rows]
        self._keep_cursor(table, keep)

    def _keep_cursor(self, table: DataTable[Text], keep: str | None) -> None:
        target = keep or self.current
        if target is not None and target in table.rows:
            table.move_cursor(row=table.get_row_index(target), animate=False)

    def _list_rows(self) -> list[TableRow]:
        hub = [self._hub_entry(k, m) for k, m in self.hub_models.items()]
        return [self._list_row(e) for e in [*self.entries, *hub]]

    def _list_row(self, e: ModelEntry) -> TableRow:
        badge = "error" if e.error else self.badges.get(e.key) or self._hub_badges.get(e.key, "…")
        cells = (
            Text(badge, style=BADGE_STYLES.get(badge, "")), self._label(e.key, e.label, 48),
            Text(e.quant), Text(e.engine), Text(SOURCE_LABELS.get(e.source, e.source)),
        )  # fmt: skip
        return TableRow(e.key, cells, search_text(e))

    def _ranked_rows(self) -> list[TableRow]:
        return [self._ranked_row(r) for r in self.ranking.ranked] if self.ranking is not None else []

    def _ranked_row(self, r: Ranked) -> TableRow:
        badge = views.BADGES[r.plan.verdict]
        cells = (
            Text(badge, style=BADGE_STYLES.get(badge, "")), self._label(r.name, r.name, 46),
            Text(r.quant), Text(gb(on_device_bytes(r))[:-3], justify="right"),
            Text(ctx_label(r.plan.max_ctx), justify="right"),
            Text(f"{r.plan.predicted_tg_tps:.0f}", justify="right"),
        )  # fmt: skip
        return TableRow(r.name, cells, f"{r.name} {r.quant}".lower())

    def _label(self, key: str, label: str, other_cells: int) -> Text:
        """The name, marked when it is the current model, cut to what the other columns leave: their
        widths (about `other_cells` with cell padding), the scrollbar and the pane's padding."""
        text = Text(("▶ " if key == self.current else "  ") + label)
        text.truncate(max(16, (self.size.width or 80) - other_cells), overflow="ellipsis")
        return text

    def on_resize(self) -> None:
        if self.entries or self.ranking is not None:
            self._fill()

    def _highlighted_key(self) -> str | None:
        table = self.query_one("#model-table", DataTable)
        if not table.row_count:
            return None
        try:
            return str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)
        except CellDoesNotExist:  # a stale cursor after clear(): no row to keep
            return None

    def _note(self, text: str = "") -> None:
        self._line.update(text or self._view_note())

    def _view_note(self) -> str:
        if not self.ranked_view:
            return LIST_HINT
        if self.ranking is None or self.target is None:
            return "ranking the catalog for this hardware…"
        q, where = self.ranking.query, "the profile" if self.target.hw.is_profile else "this machine"
        return (
            f"{len(self.ranking.ranked)} of {self.ranking.planned} catalog models run on {where} · {q.engine}"
            f" · ctx {ctx_label(q.ctx_tokens)} · v: list"
        )

    # --- keys -------------------------------------------------------------------------------------

    def on_filter_input_left(self, event: FilterInput.Left) -> None:
        event.stop()
        self._end_question()

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        if event.input.id == "model-filter":
            self._filter()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.input.id != "models-ask":
            self._choose(self._highlighted_key())
            return
        topic, text = self._asking, event.value.strip()
        self._end_question()
        if text and topic == "hub":
            self._note(f"reading {text} from the Hub (config and headers only)…")
            self._read_hub(text)
        elif text and topic == "folder":
            self._check_folder(text)

    def _ask(self, topic: str, placeholder: str) -> None:
        """Put the question box where the note line is, focused; Enter answers, Esc leaves."""
        box = self.query_one("#models-ask", Input)
        self._asking, box.placeholder, box.value = topic, placeholder, ""
        self.query_one("#models-note").display = False
        box.display = True
        box.focus()

    def _end_question(self) -> None:
        self._asking = ""
        self.query_one("#models-ask").display = False
        self.query_one("#models-note").display = True
        self.focus_list()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self._choose(str(event.row_key.value))

    def _choose(self, key: str | None) -> None:
        if key is None:
            return
        ranked = self.ranking.ranked if self.ranked_view and self.ranking else []
        quant = next((r.quant for r in ranked if r.name == key), None)
        self.post_message(self.Chosen(key, quant))

    def action_move(self, rows: int) -> None:
        table = self.query_one("#model-table", DataTable)
        if table.row_count:
            table.move_cursor(row=max(0, min(table.row_count - 1, table.cursor_row + rows)), animate=False)

    def action_filter(self) -> None:
        self.focus_filter()

    def action_refresh(self) -> None:
        self.notify("looking for models again…", timeout=2)
        self.post_message(self.RefreshAsked())

    def action_toggle_ranked(self) -> None:
        self.ranked_view = not self.ranked_view
        if self.ranked_view and self.target is not None and self._ranking_for != self.target:
            self._rank(self.target)
        self._note()
        self._fill()

    # --- the ranking --------------------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="ranking")
    def _rank(self, target: PlanTarget) -> None:
        deliver(self.app, self._note, "ranking the catalog for this hardware…")
        query = FitQuery(ctx_tokens=target.ctx_tokens, kv_type=target.kv_type)
        try:
            ranking = rank_catalog(target.hw, query)
        except TuilabError as exc:
            deliver(self.app, self._failed, "ranking", str(exc))
            return
        if not get_current_worker().is_cancelled:
            deliver(self.app, self._ranked, target, ranking)

    def _ranked(self, target: PlanTarget, ranking: CatalogRanking) -> None:
        self.ranking, self._ranking_for = ranking, target
        self._note()
        self._fill()

    def _failed(self, title: str, error: str) -> None:
        self._note()
        self.notify(error, title=title, severity="error", timeout=10)

    # --- a Hub repo ----------------------------------------------------------------------------------

    def action_ask_hub(self) -> None:
        self._ask("hub", "Hub repo to plan (ORG/NAME, nothing downloaded); Enter plans, Esc leaves")

    @work(thread=True, exclusive=True, group="hub")
    def _read_hub(self, repo_id: str) -> None:
        try:
            model = read_hub_repo(repo_id)
        except TuilabError as exc:
            deliver(self.app, self._failed, "hub", str(exc))
        except OSError as exc:
            deliver(self.app, self._failed, "hub", os_error_line(exc))
        else:
            deliver(self.app, self._hub_read, repo_id, model)

    def _hub_read(self, repo_id: str, model: ResolvedModel) -> None:
        self.hub_models[repo_id] = model
        self._hub_badges[repo_id] = self._hub_badge(model)
        self.ranked_view = False
        self._note()
        self.post_message(self.HubRepoAdded(repo_id))
        self.post_message(self.Chosen(repo_id))
        target = pull_target(model)
        if target is not None:
            how = f"2 then p pulls it ({gb(target.total_bytes)}), or `{target.command}`"
            self.notify(f"{repo_id} planned from its Hub metadata; {how}", title="hub", timeout=10)

    def list_saved_hub_repos(self, repo_ids: Sequence[str]) -> None:
        """List the repos planned with `H` before this start, from the metadata they left in the cache."""
        if repo_ids:
            self._read_saved_hub(tuple(repo_ids))

    @work(thread=True, group="hub-saved")
    def _read_saved_hub(self, repo_ids: tuple[str, ...]) -> None:
        models: dict[str, ResolvedModel] = {}
        missing: list[str] = []
        for repo_id in repo_ids:
            try:
                models[repo_id] = read_saved_hub_repo(repo_id)
            except TuilabError as exc:
                missing.append(str(exc))
            except OSError as exc:
                missing.append(f"{repo_id}: {os_error_line(exc)}")
        deliver(self.app, self._saved_hub_read, models, missing)

    def _saved_hub_read(self, models: dict[str, ResolvedModel], missing: list[str]) -> None:
        """Saved repos are listed before any read with `H` since the start (a fresh read of the same repo
        wins); one line names the repos the cache could not answer for, which stay saved."""
        self.hub_models = {**models, **self.hub_models}
        self._hub_badges.update({k: self._hub_badge(m) for k, m in models.items()})
        self._fill()
        if missing:
            line = f"saved Hub repos not listed: {'; '.join(missing)}"
            self.notify(line, title="hub", severity="warning", timeout=10)

    def _hub_badge(self, model: ResolvedModel) -> str:
        if self.target is None:
            return "…"
        t = self.target
        return views.badge(model, t.hw, t.ctx_tokens, t.kv_type)

    @staticmethod
    def _hub_entry(repo_id: str, model: ResolvedModel) -> ModelEntry:
        return ModelEntry(repo_id, repo_id, "hub", model.engine, model.quant_name or "-")

    # --- pulling it ----------------------------------------------------------------------------------

    def action_pull(self) -> None:
        """`p`: download the highlighted (else the chosen) Hub repo into the Hugging Face cache."""
        if self._line.pulling:
            self.notify("a pull is running; Esc stops it", severity="warning")
            return
        key = next((k for k in (self._highlighted_key(), self.current) if k in self.hub_models), None)
        target = pull_target(self.hub_models[key]) if key is not None else None
        if target is None:
            self.notify("p pulls a Hub repo planned with H (type its repo id first)", severity="warning")
            return
        self._line.pull(target)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Esc stops a pull only while one runs; otherwise it goes on to the app (cancel a generation)."""
        return self._line.pulling if action == "stop_pull" else True

    def action_stop_pull(self) -> None:
        self.stop_pull()

    def stop_pull(self) -> bool:
        """Ask a running pull to stop (it ends at its next chunk); False when none runs."""
        return self._line.stop()

    def on_pull_line_ended(self, event: PullLine.Ended) -> None:
        event.stop()
        self._note()
        self.notify(event.text, title="pull", severity=event.severity, timeout=10)
        if event.severity == "information":
            self.post_message(self.RefreshAsked())

    # --- a models folder -----------------------------------------------------------------------------

    def action_ask_folder(self) -> None:
        self._ask("folder", "models folder to add (saved in settings); Enter adds, Esc leaves")

    @work(thread=True, group="folder")
    def _check_folder(self, text: str) -> None:
        try:
            path = models_folder(text)
        except TuilabError as exc:
            deliver(self.app, self._failed, "models folder", str(exc))
            return
        deliver(self.app, self._folder_ok, str(path))

    def _folder_ok(self, path: str) -> None:
        self.post_message(self.FolderAdded(path))
