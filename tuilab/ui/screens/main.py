"""The main screen: a status line that always says which hardware the numbers are for, seven tabs
(hardware, models, fit, context, run, ladder, cluster) and a footer of bindings.

Keys here switch tabs and reach the cluster and context panes' own controls from any tab; every other
action belongs to the app, so the command palette and the bindings call the same code. Engine and ladder
news bubbles up through this screen from the pane it was posted to; the screen hands its engine state
down to the status line.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.screen import Screen
from textual.widgets import TabbedContent, TabPane

from tuilab.ui.messages import EngineNews
from tuilab.ui.widgets.cluster_pane import ClusterPane
from tuilab.ui.widgets.context_pane import ContextPane
from tuilab.ui.widgets.fit_pane import FitPane
from tuilab.ui.widgets.hardware_pane import HardwarePane
from tuilab.ui.widgets.ladder_pane import LadderPane
from tuilab.ui.widgets.models_pane import ModelsPane
from tuilab.ui.widgets.run_pane import RunPane
from tuilab.ui.widgets.status_line import StatusLine
from tuilab.ui.widgets.steady_footer import SteadyFooter

TABS: tuple[tuple[str, str], ...] = (
    ("hardware", "1 Hardware"),
    ("models", "2 Models"),
    ("fit", "3 Fit"),
    ("context", "4 Context"),
    ("run", "5 Run"),
    ("ladder", "6 Ladder"),
    ("cluster", "7 Cluster"),
)


class MainScreen(Screen[None]):
    CSS_PATH = Path(__file__).parent.parent / "main.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        *(
            Binding(str(i + 1), f"app.show_tab('{tab}')", label, show=False)
            for i, (tab, label) in enumerate(TABS)
        ),
        Binding("tab", "app.focus_next", "focus", show=False),
        Binding("c", "cluster('hosts')", "hosts", show=False),
        Binding("L", "cluster('link')", "link", show=False),
        Binding("t", "floor", "tok/s floor", show=False),
    ]

    class Ready(Message):
        """The panes exist: the app may fill them."""

    def on_mount(self) -> None:
        self.post_message(self.Ready())

    @property
    def status(self) -> StatusLine:
        return self.query_one(StatusLine)

    @on(EngineNews)
    def _engine_news(self, message: EngineNews) -> None:
        if message.engine_state is not None:
            self.status.engine = message.engine_state

    def action_cluster(self, control: str) -> None:
        """`c` (edit the hosts) and `L` (next link) from any tab: they show the Cluster tab first."""
        self.query_one(TabbedContent).active = "cluster"
        pane = self.query_one(ClusterPane)
        pane.ask_hosts() if control == "hosts" else pane.cycle_link()

    def action_floor(self) -> None:
        """`t` from any tab: show the Context tab and step its generation floor."""
        self.query_one(TabbedContent).active = "context"
        self.query_one(ContextPane).action_floor()

    def compose(self) -> ComposeResult:
        yield StatusLine(id="status")
        with TabbedContent(id="tabs"):
            with TabPane(TABS[0][1], id="hardware"):
                yield HardwarePane(id="hardware-pane")
            with TabPane(TABS[1][1], id="models"):
                yield ModelsPane(id="models-pane")
            with TabPane(TABS[2][1], id="fit"):
                yield FitPane(id="fit-pane")
            with TabPane(TABS[3][1], id="context"):
                yield ContextPane(id="context-pane")
            with TabPane(TABS[4][1], id="run"):
                yield RunPane(id="run-pane")
            with TabPane(TABS[5][1], id="ladder"):
                yield LadderPane(id="ladder-pane")
            with TabPane(TABS[6][1], id="cluster"):
                yield ClusterPane(id="cluster-pane")
        yield SteadyFooter()
