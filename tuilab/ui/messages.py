"""Messages the engine and ladder threads post: named as things that happened, small and immutable.

Engine news is posted to the Run pane, which shows it, and bubbles up through the main screen, which
hands each message's `engine_state` to the status line, to the app, which notifies. Ladder news is posted
to the Ladder pane and bubbles the same way.

Text batches are never dropped; `RateUpdated` and `LadderStepped` may be replaced by a newer one when a
slow terminal falls behind (Textual's `can_replace`), so only stale numbers are lost.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual.message import Message

from tuilab.core.plan_types import FitPlan
from tuilab.engines.events import Loaded, Stats

if TYPE_CHECKING:  # the ladder module pulls in the engines and numpy; messages need only the type
    from tuilab.bench.ladder import Progress
    from tuilab.bench.report import LadderRun


@dataclass(frozen=True)
class EngineState:
    """What the engine is doing, as the status line says it: a verb that always shows ("loading",
    "generating", "engine idle") and the model's label, which gives way first on a narrow screen."""

    verb: str
    label: str = ""


IDLE = EngineState("engine idle")


class EngineNews(Message):
    """News from the engine or ladder thread; `engine_state` is what the status line says after it (None:
    unchanged)."""

    @property
    def engine_state(self) -> EngineState | None:
        return None


class EngineLoading(EngineNews):
    def __init__(self, label: str) -> None:
        super().__init__()
        self.label = label

    @property
    def engine_state(self) -> EngineState:
        return EngineState("loading", self.label)


class EngineLoaded(EngineNews):
    def __init__(self, label: str, loaded: Loaded) -> None:
        super().__init__()
        self.label = label
        self.loaded = loaded

    @property
    def engine_state(self) -> EngineState:
        return EngineState("loaded", self.label)


class RunRefused(EngineNews):
    """A load or run was not started: the model cannot run here, or the plan says it will not fit."""

    def __init__(self, reason: str) -> None:
        super().__init__()
        self.reason = reason


class RunStarted(EngineNews):
    """The model is loaded and the prompt went to the engine; `fit` is the plan that allowed it."""

    def __init__(self, label: str, prompt: str, fit: FitPlan) -> None:
        super().__init__()
        self.label = label
        self.prompt = prompt
        self.fit = fit

    @property
    def engine_state(self) -> EngineState:
        return EngineState("generating", self.label)


class TextArrived(EngineNews):
    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


class RateUpdated(EngineNews):
    """Live generation speed over the last batch; `ttft_s` once the first token is out."""

    def __init__(self, total_tokens: int, elapsed_s: float, rate_tps: float) -> None:
        super().__init__()
        self.total_tokens = total_tokens
        self.elapsed_s = elapsed_s
        self.rate_tps = rate_tps

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, RateUpdated)


class RunFinished(EngineNews):
    """The generation ended ("cancelled", or the engine's stop reason); the model stays loaded."""

    def __init__(self, stats: Stats | None, reason: str, label: str = "") -> None:
        super().__init__()
        self.stats = stats
        self.reason = reason
        self.label = label

    @property
    def engine_state(self) -> EngineState:
        return EngineState("loaded", self.label)


class MemoryWarned(EngineNews):
    """The memory guard's warning: the KV cache will cross the budget at a token count it names."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


class RunFailed(EngineNews):
    def __init__(self, error: str) -> None:
        super().__init__()
        self.error = error

    @property
    def engine_state(self) -> EngineState:
        return IDLE


class LadderStepped(EngineNews):
    """A ladder moved on a step; only the newest matters. `run` is the model's newest recorded ladder,
    read from the history by the ladder thread, so the pane never reads the disk."""

    def __init__(self, model: str, progress: Progress, run: LadderRun | None = None) -> None:
        super().__init__()
        self.model = model
        self.progress = progress
        self.run = run

    @property
    def engine_state(self) -> EngineState:
        return EngineState("ladder", self.model)

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, LadderStepped)


class LadderEnded(EngineNews):
    """The ladder thread is done: `outcome` is "done", "cancelled" or "failed" (then `error` says why);
    `run` is the model's newest recorded ladder, read on the ladder thread."""

    def __init__(self, model: str, outcome: str, error: str = "", run: LadderRun | None = None) -> None:
        super().__init__()
        self.model = model
        self.outcome = outcome
        self.error = error
        self.run = run

    @property
    def engine_state(self) -> EngineState:
        return IDLE
