"""The Models pane's note line, which also pulls: it shows the pane's hints and, while a Hub repo downloads
into the Hugging Face cache, that download's progress. The pull runs on a thread worker and ends with
`PullLine.Ended` (done, stopped or failed); `stop` asks it to end at its next chunk.
"""

from __future__ import annotations

import threading
import time

from textual import work
from textual.message import Message
from textual.notifications import SeverityLevel
from textual.widgets import Static

from tuilab.core.errors import TuilabError
from tuilab.core.plan_types import gb
from tuilab.lab.model_sources import PullCancelled, PullTarget, pull_with_progress
from tuilab.ui.threads import deliver

# How often a pull's progress line is redrawn: often enough to look alive, rarely enough that a fast
# download on a slow terminal queues no backlog of repaints (Textual's own 60 fps cap is far above).
PULL_REDRAW_S = 0.25


class PullLine(Static):
    class Ended(Message):
        """The pull ended: `severity` is "information" when the files are in the cache."""

        def __init__(self, text: str, severity: SeverityLevel) -> None:
            super().__init__()
            self.text, self.severity = text, severity

    def __init__(self, text: str, *, id: str | None = None) -> None:
        super().__init__(text, id=id)
        self._stop: threading.Event | None = None

    @property
    def pulling(self) -> bool:
        return self._stop is not None

    def pull(self, target: PullTarget) -> None:
        """Start downloading `target` (one pull at a time: check `pulling` first)."""
        assert self._stop is None, "a pull is already running"
        self._stop = threading.Event()
        self._pull(target, self._stop)

    def stop(self) -> bool:
        """Ask a running pull to stop (it ends at its next chunk); False when none runs."""
        if self._stop is None:
            return False
        self._stop.set()
        return True

    @work(thread=True, exclusive=True, group="pull")
    def _pull(self, target: PullTarget, stop: threading.Event) -> None:
        last_s = 0.0

        def progress(done_bytes: int) -> None:
            nonlocal last_s
            if time.monotonic() - last_s >= PULL_REDRAW_S:
                last_s = time.monotonic()
                deliver(self.app, self.update, _pull_line(target, done_bytes))

        deliver(self.app, self.update, _pull_line(target, 0))
        try:
            path = pull_with_progress(target, progress, stop.is_set)
        except PullCancelled as exc:
            deliver(self.app, self._ended, str(exc), "warning")
        except TuilabError as exc:
            deliver(self.app, self._ended, str(exc), "error")
        else:
            deliver(self.app, self._ended, f"pulled {target.repo_id} into the Hugging Face cache: {path}")

    def _ended(self, text: str, severity: SeverityLevel = "information") -> None:
        self._stop = None
        self.post_message(self.Ended(text, severity))


def _pull_line(target: PullTarget, done_bytes: int) -> str:
    total = max(1, target.total_bytes)
    return (
        f"pulling {target.repo_id}: {gb(done_bytes)} of {gb(target.total_bytes)} "
        f"({100 * done_bytes / total:.0f}%) · Esc stops"
    )
