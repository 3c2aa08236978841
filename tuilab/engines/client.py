"""tuilab's side of an engine worker: start it, send requests, read events, survive its death.

Each loaded model lives in a child process started with the "spawn" context, so CUDA or Metal state never
leaks into tuilab. When the child dies (native crash, abort, out-of-memory kill) the caller reads a
`Failed` event with the exit signal and the tail of the child's log, and carries on.
"""

from __future__ import annotations

import contextlib
import io
import multiprocessing
import os
import signal
import sys
import tempfile
import threading
from collections.abc import Iterator
from multiprocessing import resource_tracker
from multiprocessing.connection import wait
from pathlib import Path
from types import TracebackType

from tuilab.engines.events import (
    CancelRequest,
    Event,
    Failed,
    Finished,
    GenerateRequest,
    GuardSpec,
    Loaded,
    LoadRequest,
    Request,
    ShutdownRequest,
)
from tuilab.engines.logs import file_tail
from tuilab.engines.protocol import LoadSpec, SamplingParams, engine_name
from tuilab.engines.worker import worker_main

# What a signal that ends a worker most likely means, for the Failed reason a user reads.
_SIGNAL_HINTS: dict[int, str] = {
    signal.SIGKILL: "killed (SIGKILL): the system's out-of-memory killer, or a kill -9",
    signal.SIGABRT: "aborted (SIGABRT): the engine failed a native assertion",
    signal.SIGSEGV: "crashed (SIGSEGV): the engine touched invalid memory",
    signal.SIGBUS: "crashed (SIGBUS): a memory-mapped model file changed or ran out of backing",
    signal.SIGTERM: "terminated (SIGTERM)",
}


def describe_exit(exit_code: int | None) -> str:
    """A sentence for how a worker ended: negative codes are signals (multiprocessing.Process.exitcode)."""
    if exit_code is None:
        return "the engine worker stopped answering"
    if exit_code < 0:
        try:
            hint = _SIGNAL_HINTS.get(-exit_code) or f"killed by {signal.Signals(-exit_code).name}"
        except ValueError:
            hint = f"killed by signal {-exit_code}"
        return f"the engine worker was {hint}"
    return f"the engine worker exited unexpectedly with status {exit_code}"


# One spawn-guard at a time: the guard swaps the process-wide sys.stderr for a moment.
_SPAWN_GUARD = threading.Lock()


def _fileno_is_bad(stream: object) -> bool:
    """True when `stream.fileno()` answers a number that is no open descriptor (Textual's print capture
    answers -1); a stream without a fileno is fine, the resource tracker then passes none."""
    try:
        fd = stream.fileno()  # type: ignore[attr-defined]
    except (AttributeError, OSError, ValueError):
        return False
    try:
        os.fstat(fd)
    except (OSError, TypeError, ValueError):
        return True
    return False


def ensure_spawn_safe() -> None:
    """Start multiprocessing's resource tracker so that a "spawn" start works whatever sys.stderr is.

    Every spawned process needs the tracker, and the first start of the tracker passes
    `sys.stderr.fileno()` to it; a replaced stderr that answers -1 makes that spawn fail with
    "bad value(s) in fds_to_keep" (CPython Lib/multiprocessing/resource_tracker.py, ensure_running;
    textual/app.py, _PrintCapture.fileno). The real stderr stands in while the tracker starts. Cheap when
    the tracker runs already; call it before any spawned process starts (EngineWorker does).
    """
    with _SPAWN_GUARD:
        if not _fileno_is_bad(sys.stderr):
            resource_tracker.ensure_running()
            return
        replaced = sys.stderr
        real = sys.__stderr__
        sys.stderr = real if real is not None and not _fileno_is_bad(real) else io.StringIO()
        try:
            resource_tracker.ensure_running()
        finally:
            sys.stderr = replaced


def start_without_sigint(process: multiprocessing.process.BaseProcess) -> None:
    """Start a spawned child that Ctrl-C cannot interrupt: the terminal sends SIGINT to the whole
    foreground process group, and a child still importing (before it can set its own handler) would die
    printing a KeyboardInterrupt traceback. A signal ignored at exec stays ignored, and Python then leaves
    it so (CPython Modules/signalmodule.c installs its SIGINT handler only over SIG_DFL). Ctrl-C is the
    parent's to handle: it cancels or kills its children; a press in the milliseconds of the start is
    dropped (a blocked SIGINT did not stay blocked in the spawned child: tried, the child died of it).
    Off the main thread no handler can be set, and no SIGINT arrives there either (a Textual app reads
    Ctrl-C as a key), so the child starts as it is."""
    if threading.current_thread() is not threading.main_thread():
        process.start()
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        process.start()
    finally:
        signal.signal(signal.SIGINT, previous if previous is not None else signal.default_int_handler)


class EngineWorker:
    """One engine in its own process. `load`, then `generate` as often as needed, then `close`."""

    def __init__(self, engine: str, *, log_dir: Path | None = None) -> None:
        self.engine = engine_name(engine)
        fd, path = tempfile.mkstemp(prefix=f"tuilab-{self.engine}-", suffix=".log", dir=log_dir)
        os.close(fd)
        self.log_path = Path(path)
        ensure_spawn_safe()
        context = multiprocessing.get_context("spawn")
        self._conn, child_conn = context.Pipe(duplex=True)
        self._process = context.Process(
            target=worker_main,
            args=(child_conn, self.engine, str(self.log_path)),
            name=f"tuilab-{self.engine}",
            daemon=True,  # never outlive tuilab
        )
        try:
            start_without_sigint(self._process)
        except BaseException:  # e.g. spawn refusing a script without a __main__ guard, or a Ctrl-C
            if self._process.pid is not None and self._process.is_alive():
                self._process.kill()
            self._conn.close()
            self.log_path.unlink(missing_ok=True)
            raise
        finally:
            child_conn.close()
        self._send_lock = threading.Lock()
        self._death: Failed | None = None

    @property
    def pid(self) -> int | None:
        return self._process.pid

    @property
    def alive(self) -> bool:
        return self._process.is_alive()

    def load(self, spec: LoadSpec, timeout_s: float | None = None) -> Loaded | Failed:
        self._send(LoadRequest(spec))
        event = self._next_event(timeout_s)
        if isinstance(event, Loaded | Failed):
            return event
        return Failed(f"the worker answered a load with {type(event).__name__}")

    def generate(
        self,
        prompt: str,
        max_tokens: int,
        sampling: SamplingParams | None = None,
        guard: GuardSpec | None = None,
    ) -> Iterator[Event]:
        """Events of one generation: Tokens (and at most one MemoryWarning), then Stats and Finished, or a
        Failed at any point. With `guard`, the worker stops at the memory limit with Finished('memory')."""
        self._send(GenerateRequest(prompt, max_tokens, sampling or SamplingParams(), guard))
        while True:
            event = self._next_event()
            yield event
            if isinstance(event, Finished | Failed):
                return

    def cancel(self) -> None:
        """Ask the running generation to stop; safe from any thread. It ends with Finished('cancelled')."""
        self._send(CancelRequest())

    def close(self, timeout_s: float = 5.0) -> None:
        """End the worker and wait for it, so its memory is back with the system when this returns."""
        if self._process.is_alive():
            self._send(ShutdownRequest())
            self._process.join(timeout_s)
        if self._process.is_alive():
            self._process.kill()
            self._process.join(timeout_s)
        self._conn.close()
        with contextlib.suppress(OSError):
            self.log_path.unlink()

    def __enter__(self) -> EngineWorker:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _send(self, request: Request) -> None:
        # a dead worker's pipe refuses the send; the next read reports how it died
        with self._send_lock, contextlib.suppress(OSError):
            self._conn.send(request)

    def _next_event(self, timeout_s: float | None = None) -> Event:
        if self._death is not None:
            return self._death
        ready = wait([self._conn, self._process.sentinel], timeout_s)
        if not ready:
            self._process.kill()  # stuck in native code: only a kill frees it
            return self._died(f"no answer from the engine worker in {timeout_s:.0f} s; it was stopped")
        if self._conn in ready:
            try:
                event: Event = self._conn.recv()
                return event
            except (EOFError, OSError):
                pass
        return self._died(None)

    def _died(self, reason: str | None) -> Failed:
        self._process.join(5.0)
        exit_code = self._process.exitcode
        self._death = Failed(
            reason or describe_exit(exit_code), tuple(file_tail(self.log_path)), exit_code=exit_code
        )
        return self._death


class ModelHost:
    """Holds at most one loaded model: loading another ends the old worker first, freeing its memory."""

    def __init__(self, log_dir: Path | None = None) -> None:
        self._log_dir = log_dir
        self.worker: EngineWorker | None = None
        self.loaded: Loaded | None = None

    def load(self, engine: str, spec: LoadSpec, timeout_s: float | None = None) -> Loaded | Failed:
        self.close()
        self.worker = EngineWorker(engine, log_dir=self._log_dir)
        event = self.worker.load(spec, timeout_s)
        if isinstance(event, Failed):
            self.close()
        else:
            self.loaded = event
        return event

    def close(self) -> None:
        if self.worker is not None:
            self.worker.close()
        self.worker = None
        self.loaded = None
