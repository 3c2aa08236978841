"""The lab's owner of engine work: loads, runs and ladders on Textual thread workers, one at a time.

Every start first claims the lab's one `Session` (tuilab.lab.session) on the UI thread, so no key
sequence can start two owners (`l` then Enter is answered "a model is loading"); the thread releases it
when it ends. Resolving and planning happen on the thread too (`tuilab.lab.launch`), never on the event
loop. News goes up as messages posted through `post` (the app points it at the Run pane, so the pane
handles the news itself and it bubbles on to the screen and the app); text is batched to about 20 updates
a second.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import psutil
from textual.message import Message

from tuilab.core.errors import TuilabError
from tuilab.core.hardware import HardwareSpec
from tuilab.engines.events import Loaded
from tuilab.engines.protocol import SamplingParams
from tuilab.lab.launch import Launch, prepare_run, resolve_for_run
from tuilab.lab.planning import FitQuery, for_engine
from tuilab.lab.session import Listener, Session
from tuilab.ui.messages import (
    EngineLoaded,
    EngineLoading,
    MemoryWarned,
    RateUpdated,
    RunFailed,
    RunFinished,
    RunRefused,
    RunStarted,
    TextArrived,
)
from tuilab.ui.threads import os_error_line

# 50 ms between text messages: 20 updates a second, faster than reading speed and far below what a
# terminal over SSH redraws without falling behind (the "~20 updates a second").
FLUSH_INTERVAL_S = 0.05
BUSY_WORDS = {
    "load": "a model is loading; wait for it, or Esc",
    "run": "already generating; Esc cancels",
    "ladder": "a ladder is running; Esc stops it",
}
StartThread = Callable[[Callable[[], None]], object]


def ui_threads() -> int:
    """Engine threads for a run started from the lab: the engine's own default (physical cores, as
    llama-bench picks them) but never every core, so the event loop keeps one and keys are answered while
    a fast model streams (measured: with both cores of a 2-core box busy, key latency passed 100 ms)."""
    logical = os.cpu_count() or 1
    physical = psutil.cpu_count(logical=False) or logical
    return max(1, min(physical, logical - 1))


@dataclass(frozen=True)
class LaunchRequest:
    """What the lab asks to load: the chosen model as it is on disk (a what-if quant only plans), with the
    selection's context and KV type, on this machine (a what-if profile plans, it never runs)."""

    key: str
    ctx_tokens: int
    kv_type: str
    hw: HardwareSpec


def launch_for(request: LaunchRequest) -> Launch:
    """Resolve and plan (disk IO: call it on a thread); raises FitRefusedError or another TuilabError."""
    model = resolve_for_run(request.key, None)
    query = for_engine(
        FitQuery(ctx_tokens=request.ctx_tokens, kv_type=request.kv_type), model.engine, model.arch
    )
    return prepare_run(model, request.hw, query, threads=ui_threads())  # guarded, as `tuilab run` is


class EngineRunner:
    """Start work with `load`, `run` or `ladder` from the UI thread: each answers None when it started,
    or why not. `cancel` and `close` from any thread."""

    def __init__(
        self, post: Callable[[Message], object], start_thread: StartThread,
        flush_interval_s: float = FLUSH_INTERVAL_S,
    ) -> None:  # fmt: skip
        self.post = post
        self._start_thread = start_thread
        self._flush_interval_s = flush_interval_s
        self.session = Session()
        self._cancel_ladder: Callable[[], object] | None = None

    @property
    def busy(self) -> str | None:
        """What holds the engine now: "load", "run", "ladder", or None."""
        return self.session.owner

    @property
    def running(self) -> bool:
        return self.session.owner == "run"

    @property
    def engine_pid(self) -> int | None:
        return self.session.engine_pid

    @property
    def engine_rss_bytes(self) -> int:
        return self.session.engine_rss_bytes

    # --- starting work (UI thread) ------------------------------------------------------------------

    def load(self, request: LaunchRequest) -> str | None:
        return self._start("load", lambda: self._load_thread(request))

    def run(
        self, request: LaunchRequest, prompt: str, max_tokens: int, sampling: SamplingParams | None = None
    ) -> str | None:
        how = sampling or SamplingParams()  # greedy unless the Run pane's temperature says otherwise
        return self._start("run", lambda: self._run_thread(request, prompt, max_tokens, how))

    def ladder(self, job: Callable[[], None], cancel: Callable[[], object]) -> str | None:
        """A ladder owns the engine: the loaded model is closed first (every rung needs the memory)."""

        def work() -> None:
            self.session.close()
            job()

        return self._start("ladder", work, cancel)

    def _start(
        self, what: str, work: Callable[[], None], cancel: Callable[[], object] | None = None
    ) -> str | None:
        holder = self.session.claim(what)
        if holder is not None:
            return BUSY_WORDS[holder]
        self._cancel_ladder = cancel

        def owned() -> None:
            try:
                work()
            finally:
                self._cancel_ladder = None
                self.session.release()

        self._start_thread(owned)
        return None

    def cancel(self) -> str | None:
        """Esc: stop what runs; the word for what was asked to stop, or None when nothing ran."""
        if self.session.owner == "run":
            self.session.cancel()
            return "generation"
        if self.session.owner == "ladder" and self._cancel_ladder is not None:
            self._cancel_ladder()
            return "ladder"
        return None

    def close(self) -> None:
        if self._cancel_ladder is not None:
            self._cancel_ladder()  # kills the step in progress; the thread leaves at once
        self.session.close()

    # --- the threads --------------------------------------------------------------------------------

    def _listener(self) -> Listener:
        return Listener(
            loading=lambda label: self.post(EngineLoading(label)),
            loaded=lambda label, event: self.post(EngineLoaded(label, event)),
            text=lambda text: self.post(TextArrived(text)),
            rate=lambda total, elapsed, tps: self.post(RateUpdated(total, elapsed, tps)),
            memory_warning=lambda event: self.post(MemoryWarned(event.describe())),
        )

    def _prepare(self, request: LaunchRequest) -> Launch | None:
        try:
            return launch_for(request)
        except TuilabError as exc:
            self.post(RunRefused(str(exc)))
        except OSError as exc:  # an unreadable model file or folder: one line, the app stays up
            self.post(RunRefused(os_error_line(exc)))
        return None

    def _load(self, launch: Launch) -> bool:
        event = self.session.load(launch.engine, launch.spec, launch.label, self._listener())
        if not isinstance(event, Loaded):
            self.post(RunFailed(event.message(f"{launch.engine} could not load {launch.label}")))
            return False
        return True

    def _load_thread(self, request: LaunchRequest) -> None:
        launch = self._prepare(request)
        if launch is not None:
            self._load(launch)

    def _run_thread(
        self, request: LaunchRequest, prompt: str, max_tokens: int, sampling: SamplingParams
    ) -> None:
        launch = self._prepare(request)
        if launch is None:
            return
        if not self._load(launch):
            return
        self.post(RunStarted(launch.label, prompt, launch.fit))
        result = self.session.generate(
            prompt, max_tokens, sampling, self._listener(), self._flush_interval_s, launch.guard
        )
        if result.failed is not None:
            self.post(RunFailed(result.failed.message("the engine failed while generating")))
        else:
            self.post(RunFinished(result.stats, result.reason, launch.label))
