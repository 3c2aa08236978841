"""The single owner of a loaded model, and the one consumer of engine events.

A `Session` holds at most one engine worker (`ModelHost`), loads only when the spec changed, and folds a
generation's events (text, rate, stats, the end) into callbacks on a `Listener` and one `Generation`
result. Whoever drives it (`tuilab run`, a cluster run, the lab's engine thread) only says what to do
with text and numbers. `claim` makes ownership exclusive: a load, a run and a ladder cannot overlap.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType, TracebackType

from tuilab.engines.client import ModelHost
from tuilab.engines.events import Event, Failed, Finished, GuardSpec, Loaded, MemoryWarning, Stats, Tokens
from tuilab.engines.protocol import LoadSpec, SamplingParams


def _ignore(*_: object) -> None:
    return None


@dataclass(frozen=True)
class Listener:
    """What a face does with a session's news; every callback may be left out. Callbacks run on the
    thread that drives the session (the lab posts Textual messages from them)."""

    loading: Callable[[str], object] = _ignore  # label
    loaded: Callable[[str, Loaded], object] = _ignore
    text: Callable[[str], object] = _ignore  # a batch of generated text
    rate: Callable[[int, float, float], object] = _ignore  # total tokens, elapsed s, tokens/s lately
    memory_warning: Callable[[MemoryWarning], object] = _ignore  # the memory guard's one warning


@dataclass(frozen=True)
class Generation:
    """How one generation ended: `finished` or `failed` (never both); `stats` once the engine sent them."""

    stats: Stats | None = None
    finished: Finished | None = None
    failed: Failed | None = None
    loaded: Loaded | None = None  # a distributed run reports its load inside the event stream
    text: str = ""

    @property
    def reason(self) -> str:
        return self.finished.reason if self.finished is not None else "failed"


@dataclass
class _Batcher:
    """Text batched to one callback per `interval_s`, with the rate over each batch."""

    listener: Listener
    interval_s: float
    pending: list[str] = field(default_factory=list)
    last_flush_s: float = field(default_factory=time.monotonic)
    last_tokens: int = 0
    last_elapsed_s: float = 0.0

    def add(self, event: Tokens) -> None:
        self.pending.append(event.text)
        if time.monotonic() - self.last_flush_s < self.interval_s:
            return
        self.flush()
        span_s = event.elapsed_s - self.last_elapsed_s
        if span_s > 0:
            self.listener.rate(
                event.total_tokens, event.elapsed_s, (event.total_tokens - self.last_tokens) / span_s
            )
        self.last_flush_s, self.last_tokens, self.last_elapsed_s = (
            time.monotonic(), event.total_tokens, event.elapsed_s,
        )  # fmt: skip

    def flush(self) -> None:
        if self.pending:
            self.listener.text("".join(self.pending))
            self.pending.clear()


def consume(events: Iterable[Event], listener: Listener, flush_interval_s: float = 0.0) -> Generation:
    """Fold one generation's events into callbacks and a `Generation`; the one reader of engine events."""
    batcher = _Batcher(listener, flush_interval_s)
    stats: Stats | None = None
    loaded: Loaded | None = None
    texts: list[str] = []
    for event in events:
        if isinstance(event, Tokens):
            texts.append(event.text)
            batcher.add(event)
        elif isinstance(event, MemoryWarning):
            batcher.flush()  # the text so far comes before the warning
            listener.memory_warning(event)
        elif isinstance(event, Stats):
            stats = event
        elif isinstance(event, Loaded):
            loaded = event
            listener.loaded("", event)
        elif isinstance(event, Finished | Failed):
            batcher.flush()
            finished, failed = (event, None) if isinstance(event, Finished) else (None, event)
            return Generation(stats, finished, failed, loaded, "".join(texts))
    batcher.flush()
    return Generation(stats, Finished("stop") if stats is not None else None, None, loaded, "".join(texts))


class Session:
    """One loaded model at a time. `load`, `generate` and `run` on one thread; `cancel`, `close`, `claim`
    and `release` from any."""

    def __init__(self, log_dir: Path | None = None) -> None:
        self._host = ModelHost(log_dir)
        self._loaded_key: tuple[str, LoadSpec] | None = None
        self._owner_lock = threading.Lock()
        self.owner: str | None = None
        self.engine_rss_bytes = 0

    # --- ownership ---------------------------------------------------------------------------------

    def claim(self, what: str) -> str | None:
        """Take the session for `what` ("load", "run", "ladder"); None on success, else who holds it."""
        with self._owner_lock:
            if self.owner is not None:
                return self.owner
            self.owner = what
            return None

    def release(self) -> None:
        with self._owner_lock:
            self.owner = None

    # --- the model ---------------------------------------------------------------------------------

    @property
    def engine_pid(self) -> int | None:
        worker = self._host.worker
        return worker.pid if worker is not None else None

    def is_loaded(self, engine: str, spec: LoadSpec) -> bool:
        worker = self._host.worker
        return self._loaded_key == (engine, spec) and worker is not None and worker.alive

    def load(
        self, engine: str, spec: LoadSpec, label: str, listener: Listener = Listener()
    ) -> Loaded | Failed:
        """Load unless this exact spec is loaded already (then the earlier `Loaded` is answered)."""
        if self.is_loaded(engine, spec) and self._host.loaded is not None:
            return self._host.loaded
        listener.loading(label)
        self._loaded_key = None
        event = self._host.load(engine, spec)
        if isinstance(event, Loaded):
            self._loaded_key = (engine, spec)
            self.engine_rss_bytes = event.rss_bytes or 0
            listener.loaded(label, event)
        return event

    def generate(
        self, prompt: str, max_tokens: int, sampling: SamplingParams, listener: Listener = Listener(),
        flush_interval_s: float = 0.0, guard: GuardSpec | None = None,
    ) -> Generation:  # fmt: skip
        """One generation on the loaded model; a worker that fails is forgotten, so the next load is fresh.
        With `guard`, the worker warns once (`Listener.memory_warning`) and stops at the memory limit with
        finish reason 'memory' (tuilab.engines.guard)."""
        worker = self._host.worker
        if worker is None:
            return Generation(failed=Failed("no model is loaded"))
        events = worker.generate(prompt, max_tokens, sampling, guard)
        result = consume(events, listener, flush_interval_s)
        if result.stats is not None and result.stats.rss_bytes:
            self.engine_rss_bytes = result.stats.rss_bytes
        if result.failed is not None:
            self.close()
        return result

    def cancel(self) -> None:
        """Ask the running generation to stop; it ends with Finished('cancelled') and its stats."""
        worker = self._host.worker
        if worker is not None:
            worker.cancel()

    def close(self) -> None:
        """End the worker, so its memory is back with the system when this returns."""
        self.cancel()
        self._host.close()
        self._loaded_key = None
        self.engine_rss_bytes = 0

    def __enter__(self) -> Session:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


@contextmanager
def interrupt_cancels(cancel: Callable[[], object]) -> Iterator[None]:
    """Within the block, the first Ctrl-C calls `cancel` (the generation ends with its stats) and a
    second one raises KeyboardInterrupt as usual. Only the main thread receives signals, so elsewhere
    this does nothing.

    A handler, not `except KeyboardInterrupt`: an interrupt raised inside the engine's event generator
    finishes that generator, and the next read of it raised StopIteration (issue 12, item 1).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pressed = False

    def on_sigint(signum: int, frame: FrameType | None) -> None:
        nonlocal pressed
        if pressed:
            raise KeyboardInterrupt
        pressed = True
        cancel()

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
