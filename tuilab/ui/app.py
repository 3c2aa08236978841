"""The lab app wires the panes together: it holds the selection (model, quant, context, KV type,
hardware), hands it down to the panes, and routes what comes up (choices, engine and ladder news) to the
pane or service that owns it. Plans are computed on threads; engine work belongs to `EngineRunner`.

`run_app()` is what `tuilab` with no arguments calls. Attributes go down, messages come up: panes never
read each other, and every action is reachable from a key and from the command palette. Nothing here
reads the disk on the event loop: the settings and this machine are read on a thread at start (the status
line says "detecting" until they arrive, then the app posts `Ready`), and profiles, models, plans,
settings writes and ladder history are read on thread workers and delivered. Engine news goes to the Run
pane, never through here; the stepping rules of the keys live in `tuilab.lab.stepping`.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import signal
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from textual import on, work
from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Input, TabbedContent
from textual.worker import Worker, WorkerState, get_current_worker

from tuilab.bench.report import LadderRun
from tuilab.bench.source import bench_command
from tuilab.core.errors import TuilabError
from tuilab.core.hardware import HardwareSpec
from tuilab.core.plan_types import FitPlan, Verdict
from tuilab.hardware.sampler import MemorySampler
from tuilab.lab.machine import SamplerLike, budget_moved, detect_machine, profile_names, profile_spec
from tuilab.lab.model_sources import discover_models
from tuilab.lab.sampling import sampling_for
from tuilab.lab.stepping import ContextStep, clamp_context, next_context, next_kv_type, next_quant
from tuilab.lab.views import SelectionPlanner, SelectionView
from tuilab.models.discovery import FoundModel
from tuilab.models.profiles import model_profile_names
from tuilab.models.resolve import ResolvedModel
from tuilab.ui import catalog, commands, messages
from tuilab.ui.catalog import ModelEntry
from tuilab.ui.engine_runner import EngineRunner, LaunchRequest
from tuilab.ui.ladder_control import LadderJob, ended_words, latest_run
from tuilab.ui.messages import EngineState
from tuilab.ui.render import ctx_label
from tuilab.ui.screens.help import HelpScreen
from tuilab.ui.screens.main import MainScreen
from tuilab.ui.screens.picker import PickerScreen
from tuilab.ui.settings import Selection, load_selection, save_selection, settings_path
from tuilab.ui.threads import deliver, os_error_line
from tuilab.ui.widgets.cluster_pane import ClusterPane
from tuilab.ui.widgets.context_pane import ContextPane
from tuilab.ui.widgets.fit_pane import FitPane, toggled_offload_mode
from tuilab.ui.widgets.hardware_pane import HardwarePane
from tuilab.ui.widgets.ladder_pane import LadderPane
from tuilab.ui.widgets.models_pane import ModelsPane
from tuilab.ui.widgets.run_pane import RunPane
from tuilab.ui.widgets.status_line import Planned

if TYPE_CHECKING:
    from tuilab.bench.ladder import LadderOptions

# The live memory bar's refresh: the sampler's own rate (tuilab.hardware.sampler, 2 Hz).
LIVE_REFRESH_S = 0.5
DEFAULT_MAX_TOKENS = 256  # a few seconds of text on a laptop: enough to read a speed off
# How often this machine's budget is detected again (issue 12, item 11: a budget read once at start-up
# was 3 GB off eight minutes later). Detection is a few probes on a thread; every 30 s keeps the lab
# within half a minute of `tuilab fit`, which detects at each call.
REDETECT_INTERVAL_S = 30.0
MachineSource = Callable[[], tuple[HardwareSpec, tuple[str, ...]]]
ModelFinder = Callable[[Sequence[str]], list[FoundModel]]  # the user's folders in; what is found out


@dataclass(frozen=True)
class Startup:
    """What the start-up thread read: the saved selection, this machine, and the spec plans are for."""

    selection: Selection
    settings_warning: str | None
    machine: HardwareSpec
    machine_warnings: tuple[str, ...]
    hw: HardwareSpec
    hw_warning: str | None


class TuilabApp(App[int]):
    TITLE = "tuilab"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("question_mark", "help", "help"),
        Binding("h", "switch_hardware", "hardware"),
        Binding("m", "models", "models", show=False),
        Binding("left_square_bracket", "ctx(-1)", "ctx-"),
        Binding("right_square_bracket", "ctx(1)", "ctx+"),
        Binding("k", "kv", "KV"),
        Binding("o", "offload", "layers/experts", show=False),
        Binding("comma", "quant(-1)", "quant+", show=False),
        Binding("full_stop", "quant(1)", "quant-", show=False),
        Binding("l", "load", "load"),
        Binding("r", "run", "run"),
        Binding("b", "bench", "bench", show=False),
        Binding("escape", "cancel", "cancel"),
    ]

    def __init__(
        self,
        *,
        machine: MachineSource = detect_machine,
        sampler: SamplerLike | None = None,
        find_models: ModelFinder = discover_models,
        config_dir: Path | None = None,
        max_tokens: int = DEFAULT_MAX_TOKENS,
        ladder_options: LadderOptions | None = None,
        exit_on_sigterm: bool = False,
        redetect_interval_s: float = REDETECT_INTERVAL_S,
        freeze_gc_when_ready: bool = False,
    ) -> None:
        super().__init__()
        self._freeze_gc_when_ready = freeze_gc_when_ready
        self._redetect_interval_s = redetect_interval_s
        self._exit_on_sigterm = exit_on_sigterm
        self._machine_source = machine
        self.sampler: SamplerLike = sampler if sampler is not None else MemorySampler()
        self._find_models = find_models
        self._settings_path = settings_path(config_dir)
        self._save_lock = threading.Lock()
        self.max_tokens = max_tokens
        self.selection = Selection()
        self.machine_spec: HardwareSpec | None = None
        self.machine_warnings: tuple[str, ...] = ()
        self.hw: HardwareSpec | None = None  # the spec plans are for: this machine or the chosen profile
        self.entries: list[ModelEntry] = []
        self.badges: dict[str, str] = {}
        self.fit: FitPlan | None = None
        self.model: ResolvedModel | None = None
        self._plan_key: str | None = None  # the selection's model key `model` and `fit` are for
        self.planner = SelectionPlanner()  # plans, badges and the context table, on threads
        self.runner = EngineRunner(self.post_message, self._start_engine_thread)  # the Run pane's, once up
        self.ladder_options = ladder_options  # None: the bench's defaults (tests pass a tiny ladder)
        self.ladder_job: LadderJob | None = None
        self.main = MainScreen()
        self.offload_mode: str | None = None  # `o`: layers or experts for a MoE model; None: the planner's
        self.is_ready = False  # True once the settings and this machine are in and the first plan asked

    # Keys that plan or run need this machine and the saved selection: until the app is ready they do
    # nothing (the footer hides them); tabs, help, the palette and quitting answer at once.
    NEEDS_READY: ClassVar[frozenset[str]] = frozenset(
        {"switch_hardware", "ctx", "kv", "offload", "quant", "load", "run", "bench"}
    )

    class Ready(Message):
        """The settings and this machine arrived and the first plans were asked for: keys that plan work
        from here on (tests wait for this point before they drive the app)."""

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return self.is_ready or action not in self.NEEDS_READY

    # --- start and stop ---------------------------------------------------------------------------

    def on_mount(self) -> None:
        self.sampler.start()
        if self._exit_on_sigterm:
            self._handle_sigterm()
        self.push_screen(self.main)  # pushed, not the default screen, so its .tcss is loaded

    def _handle_sigterm(self) -> None:
        """SIGTERM (kill, a closing tmux pane) exits as `q` does, so Textual gives the terminal back: out
        of the alternate screen, mouse reporting off. Python's default would end the process mid-frame."""
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):  # not Unix, not main thread
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, self.exit)

    @work(thread=True, exclusive=True, group="startup")
    def _read_startup(self) -> None:
        """The settings, this machine and the saved profile, read off the event loop; the profile list is
        read here too, so the palette and the picker never read the disk."""
        selection, settings_warning = load_selection(self._settings_path)
        machine, machine_warnings = self._machine_source()
        hw, hw_warning = self._hardware_for(selection.hardware_profile, machine)
        profile_names()
        start = Startup(selection, settings_warning, machine, machine_warnings, hw, hw_warning)
        deliver(self, self._started, start)

    def _started(self, start: Startup) -> None:
        self.selection, self.machine_spec, self.machine_warnings, self.hw = (
            start.selection, start.machine, start.machine_warnings, start.hw,
        )  # fmt: skip
        if start.settings_warning:
            self.notify(start.settings_warning, title="settings", severity="warning", timeout=8)
        if start.hw_warning:
            self.notify(start.hw_warning, title="hardware profile", severity="warning")
            self.selection = replace(self.selection, hardware_profile=None)
        if self.selection.theme in self.available_themes:
            self.theme = self.selection.theme or self.theme
        self.set_interval(LIVE_REFRESH_S, self._show_live)
        self.set_interval(self._redetect_interval_s, self._redetect_machine)
        self.action_show_tab("fit" if self.selection.model else "models")
        self._discover_models()
        self.apply_selection(self.selection, save=False)
        self.main.query_one(ModelsPane).list_saved_hub_repos(self.selection.hub_repos)
        self.is_ready = True
        self.refresh_bindings()
        self.post_message(self.Ready())
        if self._freeze_gc_when_ready:
            self._freeze_gc()

    @staticmethod
    def _freeze_gc() -> None:
        """What is alive once the lab is up (modules, styles, widgets) lives as long as the process: it moves
        to the collector's permanent generation (https://docs.python.org/3/library/gc.html#gc.freeze), so
        a full collection while a model streams walks only what was made since. Measured on this box: a
        full collection went from 49-142 ms of the event loop to 33-66 (docs/benchmarks.md, key latency).
        Only for the process `tuilab` runs: tests make many apps in one process, and frozen ones would
        never be freed. No collection first: it would hold the first frames up as long, for the few
        start-up cycles it could free."""
        gc.freeze()

    @staticmethod
    def _hardware_for(name: str | None, machine: HardwareSpec) -> tuple[HardwareSpec, str | None]:
        if not name:
            return machine, None
        try:
            return profile_spec(name), None
        except TuilabError as exc:
            return machine, str(exc)

    @on(MainScreen.Ready)
    def _main_ready(self) -> None:
        self.runner.post = self.main.query_one(RunPane).post_message  # engine news: to the pane that shows it
        self._read_startup()

    def on_unmount(self) -> None:
        self.runner.close()
        self.sampler.stop()

    def _redetect_machine(self) -> None:
        """This machine's budget again, on a thread, so the lab gives the advice `tuilab fit` gives now.
        Never while the engine holds memory: a loaded model would count against its own budget."""
        if not self._engine_holds_memory():
            self._detect_again()

    def _engine_holds_memory(self) -> bool:
        return self.runner.busy is not None or self.runner.engine_pid is not None

    @work(thread=True, exclusive=True, group="machine")
    def _detect_again(self) -> None:
        machine, warnings = self._machine_source()
        deliver(self, self._machine_detected, machine, warnings)

    def _machine_detected(self, machine: HardwareSpec, warnings: tuple[str, ...]) -> None:
        """Re-plan when the budget moved; a what-if profile's plans stay as they are."""
        old = self.machine_spec
        if old is None or self._engine_holds_memory() or not budget_moved(old, machine):
            return
        self.machine_spec, self.machine_warnings = machine, warnings
        if self.hw is not None and not self.hw.is_profile:
            self.hw = machine
            self.apply_selection(self.selection, save=False)

    # --- selection --------------------------------------------------------------------------------

    def hardware(self) -> HardwareSpec:
        """The spec plans are for; kept, never re-read (a status refresh parses nothing)."""
        assert self.hw is not None
        return self.hw

    def apply_selection(self, selection: Selection, *, save: bool = True) -> None:
        """The one place a selection change goes through: panes, plans, badges and the settings file."""
        self.selection = selection
        hw = self.hardware()
        self.main.query_one(HardwarePane).show_spec(hw, () if hw.is_profile else self.machine_warnings)
        self.main.query_one(ClusterPane).show(selection, hw)
        self._show_run_controls(selection)
        self.main.query_one(ModelsPane).set_target(hw, selection.ctx_tokens, selection.kv_type)
        self._show_live()
        self.main.status.hw, self.main.status.selection = hw, selection
        if selection.model is not None:
            self._compute_plans(selection, hw)
        self._compute_badges(selection, hw)
        if save:
            self._save_settings()

    def _show_run_controls(self, selection: Selection) -> None:
        run_pane = self.main.query_one(RunPane)
        run_pane.show_sampling(selection.max_tokens or self.max_tokens, selection.temperature)
        run_pane.model_changed(selection.model)

    @on(RunPane.SamplingChanged)
    def _sampling_changed(self, event: RunPane.SamplingChanged) -> None:
        """Max tokens and temperature plan nothing: stored and saved, no replanning."""
        self.selection = replace(self.selection, max_tokens=event.max_tokens, temperature=event.temperature)
        self._save_settings()

    @work(thread=True, group="settings")
    def _save_settings(self) -> None:
        """Written on a thread; the lock and reading the selection at write time keep the newest last."""
        with self._save_lock:
            try:
                save_selection(self._settings_path, replace(self.selection, theme=self.theme))
            except OSError as exc:
                deliver(self, self._warn, f"could not save settings: {exc}")

    def _warn(self, text: str) -> None:
        self.notify(text, severity="warning")

    def choose_model(self, key: str, quant: str | None = None) -> None:
        self.apply_selection(replace(self.selection, model=key, quant=quant))
        self.main.query_one(ModelsPane).current = key
        self.main.query_one(ModelsPane).show_badges(self.badges)
        self.action_show_tab("fit")

    def choose_hardware(self, name: str | None) -> None:
        """This machine at once; a profile once a thread has read it (the first time: cached after)."""
        if not name:
            self.hw = self.machine_spec
            self.apply_selection(replace(self.selection, hardware_profile=None))
        else:
            self._read_profile(name)

    @work(thread=True, exclusive=True, group="hardware")
    def _read_profile(self, name: str) -> None:
        assert self.machine_spec is not None
        hw, warning = self._hardware_for(name, self.machine_spec)
        deliver(self, self._profile_read, name, hw, warning)

    def _profile_read(self, name: str, hw: HardwareSpec, warning: str | None) -> None:
        if warning:
            self.notify(warning, title="hardware profile", severity="warning")
            return
        self.hw = hw
        self.apply_selection(replace(self.selection, hardware_profile=name))

    def resolve(self, key: str, quant: str | None) -> ResolvedModel:
        """The model with a quant, resolved once (disk IO: called from threads)."""
        return self.planner.resolve(key, quant)

    # --- background computations ------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="discover")
    def _discover_models(self) -> None:
        try:
            found = self._find_models(self.selection.model_dirs)
        except OSError as exc:  # the models folder cannot be read: list the demo and the profiles
            deliver(self, self._warn, f"could not list the models on disk: {os_error_line(exc)}")
            found = []
        deliver(self, self._show_entries, catalog.catalog(found, model_profile_names()))

    def _show_entries(self, entries: list[ModelEntry]) -> None:
        self.entries = entries
        self.main.query_one(ModelsPane).show(entries, self.badges, self.selection.model)
        self._compute_badges(self.selection, self.hardware())

    @work(thread=True, exclusive=True, group="badges")
    def _compute_badges(self, selection: Selection, hw: HardwareSpec) -> None:
        keys = [entry.key for entry in self.entries]
        badges = self.planner.badges(keys, hw, selection.ctx_tokens, selection.kv_type)
        if not get_current_worker().is_cancelled:
            deliver(self, self._show_badges, badges)

    def _show_badges(self, badges: dict[str, str]) -> None:
        self.badges = badges
        self.main.query_one(ModelsPane).show_badges(badges)

    @work(thread=True, exclusive=True, group="plans")
    def _compute_plans(self, selection: Selection, hw: HardwareSpec) -> None:
        assert selection.model is not None
        try:
            view = self.planner.plan(
                selection.model,
                selection.quant,
                hw,
                selection.ctx_tokens,
                selection.kv_type,
                self.offload_mode,
            )
        except TuilabError as exc:
            deliver(self, self._show_plan_error, str(exc))
            return
        except OSError as exc:  # an unreadable file or data folder: one line, never a traceback
            deliver(self, self._show_plan_error, os_error_line(exc))
            return
        if get_current_worker().is_cancelled:
            return
        history = _ladder_history(view.model.name)
        deliver(self, self._show_fit, view.key, view.model, view.fit, history, bench_command(view.model))
        deliver(self, self._show_context, view, hw)

    def _show_plan_error(self, error: str) -> None:
        self.model, self.fit, self._plan_key = None, None, None
        self.main.query_one(FitPane).show(None, error)
        self.main.query_one(ContextPane).show_message(error)
        self.notify(error, title="model", severity="error")
        self.main.status.planned = None

    def _show_fit(
        self,
        key: str,
        model: ResolvedModel,
        fit: FitPlan,
        ladder: LadderRun | None,
        bench_line: str | None = None,
    ) -> None:
        self.model, self.fit, self._plan_key = model, fit, key
        self.main.query_one(FitPane).show(fit)
        machine = self.machine_spec.name if self.machine_spec else ""
        self.main.query_one(LadderPane).show(model.name, ladder, machine, bench_line)
        self.main.status.planned = Planned(model.name, fit)

    def _show_context(self, view: SelectionView, hw: HardwareSpec) -> None:
        fit, where = view.fit, f"{hw.name} ({'profile' if hw.is_profile else 'this machine'})"
        self.main.query_one(ContextPane).show(
            list(view.context_rows), ctx_tokens=fit.ctx_tokens, kv_type=fit.kv_type,
            budget_bytes=view.budget_bytes, current_quant=fit.quant, hardware_label=where,
            ttft_s=fit.predicted_ttft_s, measured=view.measured,
            offload_mode=fit.offload_mode if fit.verdict is Verdict.PARTIAL_OFFLOAD else None,
        )  # fmt: skip

    # --- the live memory view ----------------------------------------------------------------------

    def _show_live(self) -> None:
        # The interval is the app's: during shutdown a last tick can land after the screen's panes are
        # removed (a CI run failed on exactly that), so an absent pane is not an error.
        panes = self.main.query(HardwarePane)
        if panes:
            panes.first().show_live(self.sampler.latest(), self.runner.engine_rss_bytes)

    # --- actions (keys and the command palette) ---------------------------------------------------

    def action_show_tab(self, tab: str) -> None:
        self.main.query_one(TabbedContent).active = tab
        if tab == "models":
            self.main.query_one(ModelsPane).focus_list()
        elif tab == "run":
            self.main.query_one(RunPane).focus_prompt()
        else:
            self.main.query_one(TabbedContent).query_one("Tabs").focus()

    def action_models(self) -> None:
        self.action_show_tab("models")

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def action_switch_hardware(self) -> None:
        options = [("", "this machine (detected)"), *((n, n) for n in profile_names())]
        picker = PickerScreen(
            "Hardware: this machine or a profile", options, self.selection.hardware_profile or ""
        )
        self.push_screen(picker, self._hardware_picked)

    def _hardware_picked(self, name: str | None) -> None:
        if name is not None:
            self.choose_hardware(name)

    def action_ctx(self, delta: int) -> None:
        self._apply_context(next_context(self.selection.ctx_tokens, delta, self._trained_ctx_tokens()))

    def set_context(self, ctx_tokens: int) -> None:
        """The palette's "Set context": never past the model's trained context, as `[` and `]`."""
        self._apply_context(clamp_context(ctx_tokens, self._trained_ctx_tokens()))

    def _trained_ctx_tokens(self) -> int | None:
        """The shown model's trained context; None while its plan is stale or missing (no cap yet)."""
        shown = self.model is not None and self._plan_key == self.selection.model
        return self.model.arch.max_ctx_tokens if shown and self.model is not None else None

    def _apply_context(self, step: ContextStep) -> None:
        if step.stopped_at_trained is not None:
            name = self.model.name if self.model else "the model"
            trained = ctx_label(step.stopped_at_trained)
            self.notify(f"{name} was trained for {trained} tokens: the context stops there", title="context",
                        timeout=4)  # fmt: skip
        if step.ctx_tokens != self.selection.ctx_tokens:
            self.apply_selection(replace(self.selection, ctx_tokens=step.ctx_tokens))

    def action_kv(self) -> None:
        engine = self.model.engine if self.model else "llama.cpp"
        self.apply_selection(replace(self.selection, kv_type=next_kv_type(engine, self.selection.kv_type)))

    def action_offload(self) -> None:
        """`o`: keep whole layers or (MoE) the experts in RAM, where the plan only partly fits."""
        mode = toggled_offload_mode(self.fit)
        if mode is None:
            self.notify("o switches layers/experts for a MoE model that only partly fits", severity="warning")
            return
        self.offload_mode = mode
        self.apply_selection(self.selection, save=False)

    def action_quant(self, delta: int) -> None:
        if self.model is None:
            self.notify("choose a model first (2)", severity="warning")
            return
        current = self.selection.quant or (self.fit.quant if self.fit else None)
        self.apply_selection(replace(self.selection, quant=next_quant(self.model.engine, current, delta)))

    def _launch_request(self) -> LaunchRequest | None:
        """The chosen model on this machine, or None after saying what is missing."""
        key = self.selection.model
        if key is None or self.machine_spec is None:
            self.notify("choose a model first: 2 opens the list, Enter chooses", severity="warning")
            return None
        return LaunchRequest(key, self.selection.ctx_tokens, self.selection.kv_type, self.machine_spec)

    def action_load(self) -> None:
        request = self._launch_request()
        if request is not None:
            self._refused_if(self.runner.load(request))

    def action_run(self) -> None:
        self.action_show_tab("run")

    @on(RunPane.PromptEntered)
    def _prompt_entered(self, event: RunPane.PromptEntered) -> None:
        request = self._launch_request()
        if request is not None:
            sampling = sampling_for(event.temperature)
            self._refused_if(self.runner.run(request, event.prompt, event.max_tokens, sampling))

    def _refused_if(self, why: str | None) -> bool:
        if why is not None:
            self.notify(why, severity="warning")
        return why is not None

    def action_cancel(self) -> None:
        job = self.ladder_job
        stopping_already = job is not None and job.cancelling
        what = self.runner.cancel()
        if what is None and self.main.query_one(ModelsPane).stop_pull():
            return  # Esc from any tab stops a pull, once no engine work is left to cancel
        if what == "generation":
            self.notify("cancelling the generation…", timeout=2)
        elif what == "ladder" and not stopping_already:
            self.notify("stopping the ladder; finished rungs are kept", timeout=4)
        if isinstance(self.focused, Input):  # whatever Esc stopped, the next key is a key, not typed text
            self.main.query_one(TabbedContent).query_one("Tabs").focus()

    def action_bench(self) -> None:
        """`b`: a ladder for the chosen model on this machine; it owns the engine while it runs."""
        self.action_show_tab("ladder")
        if self.selection.model is None or self.model is None or self.machine_spec is None:
            self.notify("choose a model first: 2 opens the list, Enter chooses", severity="warning")
            return
        from tuilab.bench.ladder import LadderOptions

        pane = self.main.query_one(LadderPane)
        options = self.ladder_options or LadderOptions()
        job = LadderJob(pane.post_message, self.selection.model, self.model.name, self.machine_spec, options)
        if not self._refused_if(self.runner.ladder(job.run, job.cancel)):
            self.ladder_job = job
            self.main.status.engine = EngineState("ladder", self.model.name)

    @on(ModelsPane.Chosen)
    def _model_chosen(self, event: ModelsPane.Chosen) -> None:
        self.choose_model(event.key, event.quant)

    @on(ModelsPane.RefreshAsked)
    def _refresh_models(self) -> None:
        self.planner.forget()  # a pulled or re-made file must be read again
        self._discover_models()

    @on(ModelsPane.HubRepoAdded)
    def _hub_repo_added(self, event: ModelsPane.HubRepoAdded) -> None:
        repos = self.selection.hub_repos
        if event.repo_id not in repos:
            self.selection = replace(self.selection, hub_repos=(*repos, event.repo_id))
            self._save_settings()

    @on(ModelsPane.FolderAdded)
    def _folder_added(self, event: ModelsPane.FolderAdded) -> None:
        dirs = self.selection.model_dirs
        if event.path not in dirs:
            self.selection = replace(self.selection, model_dirs=(*dirs, event.path))
            self._save_settings()
        self.notify(f"looking for models in {event.path} too (saved in settings)", timeout=4)
        self._discover_models()

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield from commands.app_commands(self)

    # --- engine and ladder news: the panes show it; what bubbles up here is notified ----------------

    def _start_engine_thread(self, work: Callable[[], None]) -> None:
        self.run_worker(work, thread=True, group="engine", exit_on_error=False)

    def on_run_refused(self, message: messages.RunRefused) -> None:
        self.notify(message.reason, title="refused", severity="error", timeout=10)

    def on_memory_warned(self, message: messages.MemoryWarned) -> None:
        self.notify(message.text, title="memory", severity="warning", timeout=10)

    def on_run_failed(self, message: messages.RunFailed) -> None:
        self.notify(message.error.splitlines()[0], title="engine failed", severity="error", timeout=10)

    def on_ladder_ended(self, message: messages.LadderEnded) -> None:
        self.ladder_job = None
        self._discover_models()  # the rungs it made join the Models list
        text, severity = ended_words(message)
        title = "ladder failed" if severity == "error" else "ladder"
        self.notify(text, title=title, severity=severity, timeout=10 if severity == "error" else 8)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state is WorkerState.ERROR and event.worker.group == "engine":
            self.runner.post(messages.RunFailed(f"the engine thread stopped: {event.worker.error}"))


def _ladder_history(model_name: str) -> LadderRun | None:
    """The model's newest recorded ladder; an unreadable history shows as none (the bench rewrites it)."""
    try:
        return latest_run(model_name)
    except (OSError, TuilabError):
        return None


def run_app() -> int:
    """Open the lab; the exit code for `tuilab` with no arguments."""
    app = TuilabApp(exit_on_sigterm=True, freeze_gc_when_ready=True)
    app.run()
    return app.return_code or 0


__all__ = ["ModelFinder", "TuilabApp", "run_app"]
