"""Messages the engine thread posts to the app: named as things that happened, small and immutable.

Text batches are never dropped; `RateUpdated` may be replaced by a newer one when a slow terminal falls
behind (Textual's `can_replace`), so only stale numbers are lost.
"""

from __future__ import annotations

from textual.message import Message

from tuilab.engines.events import Loaded, Stats


class EngineLoading(Message):
    def __init__(self, label: str) -> None:
        super().__init__()
        self.label = label


class EngineLoaded(Message):
    def __init__(self, label: str, loaded: Loaded) -> None:
        super().__init__()
        self.label = label
        self.loaded = loaded


class TextArrived(Message):
    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


class RateUpdated(Message):
    """Live generation speed over the last batch; `ttft_s` once the first token is out."""

    def __init__(self, total_tokens: int, elapsed_s: float, rate_tps: float) -> None:
        super().__init__()
        self.total_tokens = total_tokens
        self.elapsed_s = elapsed_s
        self.rate_tps = rate_tps

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, RateUpdated)


class RunFinished(Message):
    def __init__(self, stats: Stats | None, reason: str) -> None:
        super().__init__()
        self.stats = stats
        self.reason = reason


class RunFailed(Message):
    def __init__(self, error: str) -> None:
        super().__init__()
        self.error = error
