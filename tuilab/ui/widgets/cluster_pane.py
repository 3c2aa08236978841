"""The cluster pane: the selected model planned across a set of Macs with MLX distributed, read-only.

It keeps the host set and the link (`c` edits the hosts, `L` cycles the link), plans on a thread
whenever they or the app's selection change, and draws the plan with `tuilab.ui.cluster_view`.
"""

from __future__ import annotations

from dataclasses import replace

from rich.console import Console, ConsoleOptions, RenderResult
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Input, Label, Static
from textual.worker import get_current_worker

from tuilab.core.cluster import ClusterPlan
from tuilab.core.errors import TuilabError
from tuilab.core.hardware import HardwareSpec
from tuilab.core.links import DEFAULT_LINK
from tuilab.models.hosts import parse_hosts
from tuilab.ui.cluster_view import (
    DEFAULT_HOSTS,
    ClusterModel,
    ClusterRequest,
    default_hosts,
    next_link,
    plan_request,
    render_cluster,
)  # fmt: skip
from tuilab.ui.settings import Selection
from tuilab.ui.threads import deliver, os_error_line

EMPTY = "Choose a model in the Models tab (2) to plan it across several Macs."
HINT = (
    "c edits the hosts (2x PROFILE or PROFILE,PROFILE), L the link. This tab only plans; run it from a "
    "shell with `tuilab run MODEL --hostfile FILE` (mlx.launch)."
)


class _SizedView:
    """Renders the plan at the width Textual gives it, so the bars fill the pane at any size."""

    def __init__(self, model: ClusterModel, plan: ClusterPlan) -> None:
        self.model, self.plan = model, plan

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield render_cluster(self.model, self.plan, options.max_width)


class ClusterPane(VerticalScroll):
    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.hosts_spec = DEFAULT_HOSTS
        self.user_hosts = False  # once the user names hosts, a hardware switch no longer resets them
        self.link = DEFAULT_LINK
        self.request: ClusterRequest | None = None
        self.plan: ClusterPlan | None = None

    def compose(self) -> ComposeResult:
        with Horizontal(id="cluster-bar"):
            yield Label("hosts (c) ", id="cluster-hosts-label")
            yield Input(self.hosts_spec, id="cluster-hosts", compact=True)
            yield Label("", id="cluster-link")
        yield Static(EMPTY, id="cluster-body")
        yield Static(HINT, id="cluster-hint", classes="hint")

    def on_mount(self) -> None:
        self._show_link()

    # --- attributes down: the app's selection ----------------------------------------------------

    def show(self, selection: Selection, hw: HardwareSpec) -> None:
        """The app's selection changed: replan (the default hosts follow a Mac hardware profile)."""
        if not self.user_hosts:
            self._set_hosts(default_hosts(hw, selection.hardware_profile))
        if selection.model is None:
            self.request = None
            self.query_one("#cluster-body", Static).update(EMPTY)
            return
        self.request = ClusterRequest(
            selection.model, selection.quant, selection.ctx_tokens, selection.kv_type, self.hosts_spec,
            self.link,
        )  # fmt: skip
        self._compute(self.request)

    # --- the pane's own keys (bound on the main screen, and in the command palette) ---------------

    def ask_hosts(self) -> None:
        """`c`: focus the hosts box; Enter plans with what was typed, Esc leaves it."""
        box = self.query_one("#cluster-hosts", Input)
        box.focus()
        box.action_select_all()

    def cycle_link(self) -> None:
        """`L`: the next link of tuilab.core.links.LINKS."""
        self.set_link(next_link(self.link))

    def set_link(self, name: str) -> None:
        self.link = name
        self._show_link()
        self._replan()

    @on(Input.Submitted, "#cluster-hosts")
    def _hosts_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._check_hosts(event.value.strip())

    @work(thread=True, exclusive=True, group="cluster-hosts")
    def _check_hosts(self, spec: str) -> None:
        """Profiles only, read on a thread (they are files): a typo is answered at once."""
        try:
            parse_hosts(spec)
        except TuilabError as exc:
            deliver(self.app, self._hosts_refused, str(exc))
            return
        deliver(self.app, self._hosts_accepted, spec)

    def _hosts_refused(self, error: str) -> None:
        self.notify(error, title="cluster hosts", severity="error", timeout=8)

    def _hosts_accepted(self, spec: str) -> None:
        self.user_hosts = True
        self._set_hosts(spec)
        self.focus()  # out of the box, so `L` and the tab keys work again
        self._replan()

    # --- planning ---------------------------------------------------------------------------------

    def _set_hosts(self, spec: str) -> None:
        self.hosts_spec = spec
        self.query_one("#cluster-hosts", Input).value = spec

    def _show_link(self) -> None:
        self.query_one("#cluster-link", Label).update(Text.assemble(" link ", (self.link, "bold"), " (L)"))

    def _replan(self) -> None:
        if self.request is not None:
            self.request = replace(self.request, hosts_spec=self.hosts_spec, link=self.link)
            self._compute(self.request)

    @work(thread=True, exclusive=True, group="cluster")
    def _compute(self, request: ClusterRequest) -> None:
        try:
            model, plan = plan_request(request)
        except TuilabError as exc:
            deliver(self.app, self._show_error, request, str(exc))
            return
        except OSError as exc:  # e.g. a data folder that cannot be made: one line, the app stays up
            deliver(self.app, self._show_error, request, os_error_line(exc))
            return
        if not get_current_worker().is_cancelled:
            deliver(self.app, self._show_plan, request, model, plan)

    def _show_plan(self, request: ClusterRequest, model: ClusterModel, plan: ClusterPlan) -> None:
        if request == self.request:  # a newer request is on its way: this one is stale
            self.plan = plan
            self.query_one("#cluster-body", Static).update(_SizedView(model, plan))

    def _show_error(self, request: ClusterRequest, error: str) -> None:
        if request == self.request:
            self.plan = None
            self.query_one("#cluster-body", Static).update(Text(error, style="red"))
