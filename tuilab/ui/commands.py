"""The command palette's entries: every action by name, plus one entry per model, hardware profile and
context step, so anything a key does can also be found by typing."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from functools import partial
from typing import Protocol

from textual.app import SystemCommand

from tuilab.core.links import LINKS
from tuilab.lab.machine import profile_names
from tuilab.lab.stepping import CTX_STEPS_TOKENS
from tuilab.ui.catalog import ModelEntry
from tuilab.ui.render import ctx_label
from tuilab.ui.screens.main import TABS, MainScreen
from tuilab.ui.widgets.cluster_pane import ClusterPane
from tuilab.ui.widgets.models_pane import ModelsPane


class LabActions(Protocol):
    """What the palette calls: the app's actions (named here, so this module never imports the app)."""

    @property
    def main(self) -> MainScreen: ...
    @property
    def entries(self) -> Sequence[ModelEntry]: ...

    def action_models(self) -> None: ...
    def action_switch_hardware(self) -> None: ...
    def action_run(self) -> None: ...
    def action_load(self) -> None: ...
    def action_cancel(self) -> None: ...
    def action_bench(self) -> None: ...
    def action_kv(self) -> None: ...
    def action_quant(self, delta: int) -> None: ...
    def action_help(self) -> None: ...
    def action_show_tab(self, tab: str) -> None: ...
    def set_context(self, ctx_tokens: int) -> None: ...
    def choose_hardware(self, name: str | None) -> None: ...
    def choose_model(self, key: str) -> None: ...


def app_commands(app: LabActions) -> Iterator[SystemCommand]:
    yield SystemCommand("Switch model", "open the models list (2)", app.action_models)
    yield SystemCommand("Switch hardware", "this machine or a profile (h)", app.action_switch_hardware)
    yield SystemCommand("Run", "prompt the chosen model (r)", app.action_run)
    yield SystemCommand("Load model", "load the chosen model into its engine (l)", app.action_load)
    yield SystemCommand("Cancel", "stop the running generation or ladder (Esc)", app.action_cancel)
    yield SystemCommand("Bench", "a quantization ladder of the chosen model here (b)", app.action_bench)
    yield SystemCommand("Next KV cache type", "f16, q8_0, q4_0 … (k)", app.action_kv)
    yield SystemCommand("Next tok/s floor", "largest context above it, per quant (t)", app.main.action_floor)
    yield SystemCommand("Larger quant", "one rung up the ladder (,)", partial(app.action_quant, -1))
    yield SystemCommand("Smaller quant", "one rung down the ladder (.)", partial(app.action_quant, 1))
    # "Help", not "Keys": Textual's own "Keys" entry (its key panel) stays, and two entries had one name
    yield SystemCommand("Help", "every key binding of the lab (?)", app.action_help)
    yield from cluster_commands(app)
    yield from models_commands(app)
    for i, (tab, label) in enumerate(TABS):
        yield SystemCommand(f"Show {label.split()[1]}", f"tab {i + 1}", partial(app.action_show_tab, tab))
    for ctx in CTX_STEPS_TOKENS:
        yield SystemCommand(
            f"Set context {ctx_label(ctx)}", f"{ctx} tokens", partial(app.set_context, ctx), False
        )
    yield SystemCommand(
        "Switch hardware: this machine", "detected", partial(app.choose_hardware, None), False
    )
    for name in profile_names():
        yield SystemCommand(
            f"Switch hardware: {name}", "what-if profile", partial(app.choose_hardware, name), False
        )
    for entry in app.entries:
        yield SystemCommand(
            f"Switch model: {entry.label}", entry.source, partial(app.choose_model, entry.key), False
        )


MODELS_COMMANDS = (
    ("Ranked models", "the catalog ranked for this hardware, best first (v)", "toggle_ranked"),
    ("Plan a Hub repo", "ORG/NAME planned from its metadata, no download (H)", "ask_hub"),
    ("Pull the Hub repo", "download the planned Hub repo; Esc stops (p)", "pull"),
    ("Add a models folder", "also look for models there; saved in settings (a)", "ask_folder"),
    ("Refresh models", "look for the models on disk again (R)", "refresh"),
)


def models_commands(app: LabActions) -> Iterator[SystemCommand]:
    """The Models tab's own keys, each opening the tab first."""
    for title, help_text, action in MODELS_COMMANDS:
        yield SystemCommand(title, help_text, partial(_models_action, app, action))


def _models_action(app: LabActions, action: str) -> None:
    app.action_show_tab("models")
    getattr(app.main.query_one(ModelsPane), f"action_{action}")()


def cluster_commands(app: LabActions) -> Iterator[SystemCommand]:
    """The Cluster tab's controls, and one entry per link ("Cluster link: tb5")."""
    yield SystemCommand(
        "Cluster hosts", "plan across Macs: 2x m3-max-40c-64gb, or PROFILE,PROFILE (c)",
        partial(app.main.action_cluster, "hosts"),
    )  # fmt: skip
    link_next = partial(app.main.action_cluster, "link")
    yield SystemCommand("Next cluster link", "tb4, tb5, 10GbE … (L)", link_next)
    for name, link in LINKS.items():
        yield SystemCommand(f"Cluster link: {name}", link.label, partial(_set_link, app, name), False)


def _set_link(app: LabActions, name: str) -> None:
    app.action_show_tab("cluster")
    app.main.query_one(ClusterPane).set_link(name)
