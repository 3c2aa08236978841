"""Starting, following and stopping a quantization ladder from the lab, and reading its history.

The ladder runs `tuilab.bench.run_ladder` on a Textual thread worker, always on this machine (a what-if
profile plans, it never measures). Esc sets the run's StopSignal: it kills the process the step in
progress runs in (a quantize, a score or the speed run's engine), so the ladder ends within a moment;
every finished rung is already in the history, a half-made rung file is removed, and `b` again resumes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

from textual.message import Message

from tuilab.bench.child import Stopped, StopSignal
from tuilab.core.errors import TuilabError
from tuilab.core.hardware import HardwareSpec
from tuilab.engines.client import ensure_spawn_safe
from tuilab.ui.messages import LadderEnded, LadderStepped
from tuilab.ui.widgets.ladder_pane import LadderPane, latest_run

if TYPE_CHECKING:
    from tuilab.bench.ladder import LadderOptions, Progress
    from tuilab.ui.app import TuilabApp


class LadderJob:
    """One ladder run for one model; `run` on a thread, `cancel` from any thread."""

    def __init__(
        self, post: Callable[[Message], object], key: str, name: str, hw: HardwareSpec,
        options: LadderOptions,
    ) -> None:  # fmt: skip
        self._post = post
        self._stop = StopSignal()
        self.key, self.name, self.hw = key, name, hw
        self.options = replace(options, stop=self._stop)

    @property
    def cancelling(self) -> bool:
        return self._stop.is_set

    def cancel(self) -> None:
        self._stop.set()

    def _progress(self, progress: Progress) -> None:
        self._post(LadderStepped(self.name, progress))

    def run(self) -> None:
        from tuilab.bench.ladder import run_ladder  # engines and numpy: loaded when a ladder starts

        try:
            ensure_spawn_safe()  # the ladder's first child may start before any engine worker
            run_ladder(self.key, self.hw, self.options, progress=self._progress)
        except Stopped:
            self._post(LadderEnded(self.name, "cancelled"))
        except TuilabError as exc:
            self._post(LadderEnded(self.name, "failed", str(exc)))
        except Exception as exc:  # the thread boundary: the app must hear of it and stay up
            self._post(LadderEnded(self.name, "failed", f"{type(exc).__name__}: {exc}"))
        else:
            self._post(LadderEnded(self.name, "done"))


def start_ladder(app: TuilabApp) -> None:
    """`b`: a ladder for the chosen model on this machine, after freeing the engine's memory."""
    if app.ladder_job is not None:
        app.notify("a ladder is running; Esc stops it", severity="warning")
        return
    if app.runner.running:
        app.notify("the engine is generating; Esc cancels it first", severity="warning")
        return
    if app.selection.model is None or app.model is None:
        app.notify("choose a model first: 2 opens the list, Enter chooses", severity="warning")
        return
    assert app.machine_spec is not None
    from tuilab.bench.ladder import LadderOptions

    pane = app.main.query_one(LadderPane)
    options = app.ladder_options or LadderOptions()
    job = LadderJob(pane.post_message, app.selection.model, app.model.name, app.machine_spec, options)
    app.ladder_job = job

    def work() -> None:
        app.runner.close()  # the ladder loads every rung: the run tab's model must not hold memory
        job.run()

    app.run_worker(work, thread=True, group="ladder", exit_on_error=False)
    app.set_engine_state(f"ladder: {app.model.name}")


def cancel_ladder(app: TuilabApp) -> bool:
    """Esc while a ladder runs: ask it to stop; False when there is none."""
    job = app.ladder_job
    if job is None:
        return False
    if not job.cancelling:
        job.cancel()
        app.notify("stopping the ladder; finished rungs are kept", timeout=4)
    return True


def ladder_ended(app: TuilabApp, message: LadderEnded) -> None:
    app.ladder_job = None
    app.set_engine_state("engine idle")
    if message.outcome == "done":
        run = latest_run(message.model)
        spot = run.sweet_spot() if run is not None else None
        found = f"sweet spot {spot.quant}" if spot else "no sweet spot"
        app.notify(f"ladder of {message.model} finished: {found}", title="ladder", timeout=8)
    elif message.outcome == "cancelled":
        app.notify("ladder stopped; finished rungs are kept, b resumes", title="ladder", timeout=8)
    else:
        app.notify(message.error.splitlines()[0], title="ladder failed", severity="error", timeout=10)
