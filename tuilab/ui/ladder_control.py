"""One quantization ladder run from the lab, on a thread, and the history reads that go with it.

The ladder runs `tuilab.bench.run_ladder` always on this machine (a what-if profile plans, it never
measures). `cancel` sets the run's StopSignal: it kills the process the step in progress runs in (a
quantize, a score or the speed run's engine), so the ladder ends within a moment; every finished rung is
already in the history, a half-made rung file is removed, and `b` again resumes. The history is read on
the ladder's thread and travels in its messages, so the Ladder pane never reads the disk.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

from textual.message import Message
from textual.notifications import SeverityLevel

from tuilab.bench.child import Stopped, StopSignal
from tuilab.bench.report import LadderRun, load_history
from tuilab.core.errors import TuilabError
from tuilab.core.hardware import HardwareSpec
from tuilab.engines.client import ensure_spawn_safe
from tuilab.ui.ladder_view import pick_run
from tuilab.ui.messages import LadderEnded, LadderStepped

if TYPE_CHECKING:
    from tuilab.bench.ladder import LadderOptions, Progress


def latest_run(model_name: str) -> LadderRun | None:
    """The newest recorded ladder of `model_name` worth showing (disk IO: call it off the event loop)."""
    return pick_run(load_history(model_name, machine=None))


def ended_words(message: LadderEnded) -> tuple[str, SeverityLevel]:
    """The notification of an ended ladder: its text and severity."""
    if message.outcome == "done":
        spot = message.run.sweet_spot() if message.run is not None else None
        if spot is not None:
            found = f"sweet spot {spot.quant}"
        else:
            found = f"no sweet spot: {message.run.no_spot_reason()}" if message.run else "no sweet spot"
        return f"ladder of {message.model} finished: {found}", "information"
    if message.outcome == "cancelled":
        return "ladder stopped; finished rungs are kept, b resumes", "information"
    return message.error.splitlines()[0], "error"


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
        self._post(LadderStepped(self.name, progress, latest_run(self.name)))

    def run(self) -> None:
        from tuilab.bench.ladder import run_ladder  # engines and numpy: loaded when a ladder starts

        try:
            ensure_spawn_safe()  # the ladder's first child may start before any engine worker
            run_ladder(self.key, self.hw, self.options, progress=self._progress)
        except Stopped:
            self._end("cancelled")
        except TuilabError as exc:
            self._end("failed", str(exc))
        except Exception as exc:  # the thread boundary: the app must hear of it and stay up
            self._end("failed", f"{type(exc).__name__}: {exc}")
        else:
            self._end("done")

    def _end(self, outcome: str, error: str = "") -> None:
        try:
            run = latest_run(self.name)
        except (OSError, TuilabError):
            run = None
        self._post(LadderEnded(self.name, outcome, error, run))
