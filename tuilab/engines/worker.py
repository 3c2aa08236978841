"""The engine worker process: hosts one engine, answers requests from its pipe, and owns the stopwatch.

It runs in a child started with multiprocessing's "spawn" context (see client.py), so CUDA or Metal state
is never shared with tuilab. Everything it or native code prints goes to its log file; every Python
failure becomes a `Failed` event. Token text crosses the pipe in batches, at most one message per
`FLUSH_INTERVAL_S`, so a fast model cannot flood the caller.
"""

from __future__ import annotations

import faulthandler
import os
import signal
import sys
import time
import traceback
from collections.abc import Iterator
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TextIO

from tuilab.core.errors import TuilabError, UnknownNameError, UsageError
from tuilab.engines.events import (
    CancelRequest,
    Event,
    Failed,
    Finished,
    GenerateRequest,
    Loaded,
    LoadRequest,
    MemoryWarning,
    ShutdownRequest,
    Stats,
    Tokens,
)
from tuilab.engines.guard import MemoryGuard
from tuilab.engines.logs import file_tail
from tuilab.engines.memory import nvml_process_bytes, private_rss_bytes, process_peak_bytes, rss_bytes
from tuilab.engines.protocol import ENGINE_NAMES, LLAMA_CPP, MLX, Engine, EngineReport

# 25 ms between token messages: at most 40 messages/s, under a 60 Hz terminal refresh, so no text is
# held back longer than a frame and a 1000 tok/s model still sends 40 messages/s, not 1000.
FLUSH_INTERVAL_S = 0.025


# The extra that installs each engine's library (pyproject.toml, [project.optional-dependencies]).
ENGINE_EXTRAS = {LLAMA_CPP: "llama", MLX: "mlx"}


def create_engine(name: str, log_echo: TextIO | None = None) -> Engine:
    """Import and build an engine by name; the import happens here, inside the worker, never in tuilab."""
    if name == LLAMA_CPP:
        from tuilab.engines.llama import LlamaCppEngine

        return LlamaCppEngine(log_echo=log_echo)
    if name == MLX:
        from tuilab.engines.mlx import MLXEngine

        return MLXEngine()
    raise UnknownNameError("engine", name, ENGINE_NAMES)


def worker_main(conn: Connection, engine_name: str, log_path: str) -> None:
    """The child's entry point: redirect output to the log, build the engine, serve until told to stop."""
    _redirect_output(Path(log_path))
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the caller's to handle; it cancels us
    try:
        engine = create_engine(engine_name, log_echo=sys.stderr)
    except ModuleNotFoundError as exc:  # installed without the engine's extra: a hint, not a traceback
        extra = ENGINE_EXTRAS.get(engine_name, engine_name)
        _send(
            conn, Failed(f"the {engine_name} engine is not installed ({exc}); install tuilab with [{extra}]")
        )
        return
    except Exception as exc:  # a broken engine library, native init failure
        traceback.print_exc()
        _send(conn, Failed(f"cannot start the {engine_name} engine: {exc}", _tail(log_path)))
        return
    try:
        _Server(conn, engine, log_path).serve()
    finally:
        engine.unload()


def _redirect_output(log_path: Path) -> None:
    """Point fds 1 and 2 at the log file, so native prints and aborts land there, not on the terminal."""
    fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(line_buffering=True)  # a native crash must not lose buffered lines
    faulthandler.enable(file=sys.stderr)


def _tail(log_path: str) -> tuple[str, ...]:
    sys.stdout.flush()
    sys.stderr.flush()
    return tuple(file_tail(Path(log_path)))


def _send(conn: Connection, event: Event) -> None:
    try:
        conn.send(event)
    except OSError:  # the caller is gone; nobody is left to tell
        raise SystemExit(0) from None


class _Server:
    def __init__(self, conn: Connection, engine: Engine, log_path: str) -> None:
        self.conn = conn
        self.engine = engine
        self.log_path = log_path
        self.stopping = False

    def serve(self) -> None:
        while not self.stopping:
            try:
                request = self.conn.recv()
            except (EOFError, OSError):
                return  # the caller closed the pipe or died: nothing more to do
            if isinstance(request, ShutdownRequest):
                return
            if isinstance(request, LoadRequest):
                self._load(request)
            elif isinstance(request, GenerateRequest):
                self._generate(request)
            # a CancelRequest with nothing running needs no answer

    def _load(self, request: LoadRequest) -> None:
        start_s = time.perf_counter()
        try:
            info = self.engine.load(request.spec)
        except Exception as exc:  # the worker boundary: any failure is reported, never raised
            _send(self.conn, self._failed(exc))
            return
        _send(self.conn, Loaded(time.perf_counter() - start_s, info, rss_bytes()))

    def _generate(self, request: GenerateRequest) -> None:
        run = _Run(self.conn, time.perf_counter())
        guard = MemoryGuard(request.guard) if request.guard is not None else None
        try:
            pieces = self.engine.generate(request.prompt, request.max_tokens, request.sampling)
            stopped = self._pump(pieces, run, guard, request.max_tokens)
        except Exception as exc:
            run.flush()
            _send(self.conn, self._failed(exc))
            return
        run.flush()
        report = self.engine.report()
        _send(self.conn, run.stats(report))
        _send(self.conn, Finished(stopped or report.finish_reason))

    def _pump(
        self, pieces: Iterator[str], run: _Run, guard: MemoryGuard | None, max_tokens: int
    ) -> str | None:
        """Forward pieces until the engine stops, a cancel arrives ("cancelled") or the memory guard stops
        the generation ("memory")."""
        try:
            for piece in pieces:
                run.add(piece, time.perf_counter())
                if guard is not None and self._guarded_stop(guard, run, max_tokens):
                    return "memory"
                if self.conn.poll() and self._interrupted():
                    return "cancelled"
            return None
        finally:
            close = getattr(pieces, "close", None)
            if close is not None:
                close()

    def _guarded_stop(self, guard: MemoryGuard, run: _Run, max_tokens: int) -> bool:
        verdict = guard.check(run.n_tokens, max_tokens)
        if isinstance(verdict, MemoryWarning):
            run.flush()  # the text so far goes first, then the warning
            _send(self.conn, verdict)
        return verdict == "stop"

    def _interrupted(self) -> bool:
        try:
            request = self.conn.recv()
        except (EOFError, OSError):
            request = ShutdownRequest()
        if isinstance(request, ShutdownRequest):
            self.stopping = True
        return isinstance(request, CancelRequest | ShutdownRequest)

    def _failed(self, exc: Exception) -> Failed:
        if not isinstance(exc, TuilabError):
            traceback.print_exc()  # an unexpected error: keep its traceback in the log
        if isinstance(exc, UsageError):  # the request's fault: its reason alone says what to change
            return Failed(str(exc), user_error=True)
        reason = str(exc) if isinstance(exc, TuilabError) else f"{type(exc).__name__}: {exc}"
        return Failed(reason, _tail(self.log_path))


class _Run:
    """The stopwatch and token batcher of one generation."""

    def __init__(self, conn: Connection, start_s: float) -> None:
        self.conn = conn
        self.start_s = start_s
        self.first_s: float | None = None
        self.last_s = start_s
        self.n_tokens = 0
        self.pending: list[str] = []
        self.last_flush_s = start_s

    def add(self, piece: str, now_s: float) -> None:
        self.n_tokens += 1
        self.last_s = now_s
        self.pending.append(piece)
        if self.first_s is None:
            self.first_s = now_s
            self.flush()  # the first token goes out at once: it is what time-to-first-token shows
        elif now_s - self.last_flush_s >= FLUSH_INTERVAL_S:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        n_pending = len(self.pending)
        text = "".join(self.pending)
        self.pending.clear()
        self.last_flush_s = self.last_s
        _send(self.conn, Tokens(text, n_pending, self.n_tokens, self.last_s - self.start_s))

    def stats(self, report: EngineReport) -> Stats:
        ttft_s = None if self.first_s is None else self.first_s - self.start_s
        prompt_tps = report.prompt_tps
        if prompt_tps is None and ttft_s and report.prompt_tokens:
            prompt_tps = report.prompt_tokens / ttft_s
        gen_tps = report.gen_tps
        if gen_tps is None and self.first_s is not None and self.n_tokens > 1 and self.last_s > self.first_s:
            gen_tps = (self.n_tokens - 1) / (self.last_s - self.first_s)  # decode rate after the first token
        peak, own_peak, peak_kind, device = _measured_peak()
        return Stats(
            ttft_s=ttft_s,
            prompt_tokens=report.prompt_tokens,
            prompt_tps=prompt_tps,
            gen_tokens=self.n_tokens,
            gen_tps=gen_tps,
            peak_memory_bytes=peak,
            engine_peak_memory_bytes=report.peak_memory_bytes,
            rss_bytes=rss_bytes(),
            rss_peak_bytes=own_peak,
            device_memory_bytes=device,
            wall_s=time.perf_counter() - self.start_s,
            peak_memory_source=peak_kind,
        )


def _measured_peak() -> tuple[int | None, int | None, str, int | None]:
    """(headline peak, the worker's own peak, what the headline is, NVIDIA device bytes).

    The headline is what the OS charges this worker (macOS phys_footprint, Linux VmHWM), which on a Mac
    includes MLX's buffer cache; MLX's own active peak goes beside it (issue 14). With weights on an NVIDIA
    GPU it is device use plus the host memory that is not the mmapped file.
    """
    (own_peak, kind), device = process_peak_bytes(), nvml_process_bytes()
    own_peak = max(own_peak or 0, rss_bytes() or 0) or None  # the high-water mark is updated lazily
    if device:
        return device + (private_rss_bytes() or 0), own_peak, "NVML device + private RSS", device
    return own_peak, own_peak, kind, device
