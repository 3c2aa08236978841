"""Drives the engine worker for the app from a Textual thread worker: load when needed, generate, and
post messages with text batched to about 20 updates a second.

The model stays loaded between runs (a `ModelHost`); a worker that dies is forgotten, so the next run
starts a fresh one, and the app stays up.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from textual.message import Message

from tuilab.engines.client import ModelHost
from tuilab.engines.events import Failed, Finished, GuardSpec, MemoryWarning, Stats, Tokens
from tuilab.engines.protocol import LoadSpec, SamplingParams
from tuilab.ui.messages import (
    EngineLoaded,
    EngineLoading,
    MemoryWarned,
    RateUpdated,
    RunFailed,
    RunFinished,
    TextArrived,
)

# 50 ms between text messages: 20 updates a second, faster than reading speed and far below what a
# terminal over SSH redraws without falling behind (the "~20 updates a second").
FLUSH_INTERVAL_S = 0.05


@dataclass(frozen=True)
class RunRequest:
    engine: str
    spec: LoadSpec
    label: str
    prompt: str
    max_tokens: int
    guard: GuardSpec | None = None  # the live memory guard (tuilab.engines.guard.guard_for_plan)


class EngineRunner:
    """Call `run` on a thread; `cancel` and `close` from any thread."""

    def __init__(self, post: Callable[[Message], object], flush_interval_s: float = FLUSH_INTERVAL_S) -> None:
        self._post = post
        self._flush_interval_s = flush_interval_s
        self.host = ModelHost()
        self._loaded_key: tuple[str, LoadSpec] | None = None
        self.engine_rss_bytes = 0
        self.running = False

    @property
    def engine_pid(self) -> int | None:
        return self.host.worker.pid if self.host.worker is not None else None

    def load(self, engine: str, spec: LoadSpec, label: str) -> bool:
        """Load unless this exact spec is loaded already; False (and a RunFailed posted) on failure."""
        if self._loaded_key == (engine, spec) and self.host.worker is not None and self.host.worker.alive:
            return True
        self._post(EngineLoading(label))
        self._loaded_key = None
        event = self.host.load(engine, spec)
        if isinstance(event, Failed):
            self._post(RunFailed(f"{engine} could not load {label}: {event.describe()}"))
            return False
        self._loaded_key = (engine, spec)
        self.engine_rss_bytes = event.rss_bytes or 0
        self._post(EngineLoaded(label, event))
        return True

    def run(self, request: RunRequest) -> None:
        self.running = True
        try:
            if self.load(request.engine, request.spec, request.label):
                self._stream(request.prompt, request.max_tokens, request.guard)
        finally:
            self.running = False

    def _stream(self, prompt: str, max_tokens: int, guard: GuardSpec | None = None) -> None:
        worker = self.host.worker
        assert worker is not None
        pending: list[str] = []
        last_flush_s = time.monotonic()
        last_tokens, last_elapsed_s = 0, 0.0
        stats: Stats | None = None
        for event in worker.generate(prompt, max_tokens, SamplingParams(), guard):
            if isinstance(event, Tokens):
                pending.append(event.text)
                if time.monotonic() - last_flush_s >= self._flush_interval_s:
                    self._flush(pending, event, last_tokens, last_elapsed_s)
                    last_flush_s, last_tokens, last_elapsed_s = (
                        time.monotonic(),
                        event.total_tokens,
                        event.elapsed_s,
                    )
            elif isinstance(event, MemoryWarning):
                self._post(MemoryWarned(event.describe()))
            elif isinstance(event, Stats):
                stats = event
                self.engine_rss_bytes = event.rss_bytes or self.engine_rss_bytes
            elif isinstance(event, Finished):
                self._post(TextArrived("".join(pending)))
                self._post(RunFinished(stats, event.reason))
            elif isinstance(event, Failed):
                self._post(TextArrived("".join(pending)))
                self._forget()
                self._post(RunFailed(f"the engine failed while generating: {event.describe()}"))

    def _flush(self, pending: list[str], event: Tokens, last_tokens: int, last_elapsed_s: float) -> None:
        self._post(TextArrived("".join(pending)))
        pending.clear()
        span_s = event.elapsed_s - last_elapsed_s
        if span_s > 0:
            self._post(
                RateUpdated(event.total_tokens, event.elapsed_s, (event.total_tokens - last_tokens) / span_s)
            )

    def _forget(self) -> None:
        """A dead worker: free what is left of it so the next run starts clean."""
        self._loaded_key = None
        self.engine_rss_bytes = 0
        self.host.close()

    def cancel(self) -> None:
        if self.host.worker is not None:
            self.host.worker.cancel()

    def close(self) -> None:
        self.cancel()
        self.host.close()
        self._loaded_key = None
