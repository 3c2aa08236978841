"""Run one native-code job (quantize, score) in a child process started with "spawn".

llama.cpp and MLX can abort, segfault or be killed for memory; in a child that ends the job, not tuilab.
The job is a module-level function; its return value comes back over a pipe, a Python error comes back as
its message, and a death comes back as `BenchError` naming the signal, like the engine worker's `Failed`.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import tempfile
import threading
import traceback
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from tuilab.core.errors import TuilabError
from tuilab.engines.client import describe_exit, ensure_spawn_safe, start_without_sigint
from tuilab.engines.logs import file_tail


class BenchError(TuilabError):
    """A ladder step failed: a rung could not be made, scored or measured."""

    exit_code = 4  # the same status as an EngineError: the engine, not the user's input, failed


class Stopped(TuilabError):
    """The ladder was stopped on request (Esc in the lab): the step in progress was ended, and nothing is
    recorded for it. Not a BenchError, so no rung is marked failed for it."""

    exit_code = 130  # as an interrupted command


class StopSignal:
    """Stops a running ladder now, from any thread: `set` kills the processes its steps run in (a quantize
    or score child, the speed run's engine worker) instead of waiting for the step to end."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._pids: set[int] = set()

    @property
    def is_set(self) -> bool:
        return self._event.is_set()

    def set(self) -> None:
        with self._lock:
            self._event.set()
            pids = list(self._pids)
        for pid in pids:
            _kill(pid)

    def check(self) -> None:
        if self.is_set:
            raise Stopped("stopped on request")

    @contextlib.contextmanager
    def watching(self, pid: int | None) -> Iterator[None]:
        """While the block runs, `set` kills `pid`; a BenchError from a process killed so is Stopped."""
        if pid is None:
            yield
            return
        with self._lock:
            self._pids.add(pid)
            stopped_already = self._event.is_set()
        if stopped_already:
            _kill(pid)
        try:
            yield
        except BenchError:
            self.check()
            raise
        finally:
            with self._lock:
                self._pids.discard(pid)


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signal.SIGKILL)


def run_in_child(
    job: Callable[..., Any], *args: Any, timeout_s: float | None = None, stop: StopSignal | None = None
) -> Any:
    """`job(*args)` in a fresh spawned process; its result, or BenchError if it raised or died (Stopped
    when `stop` killed it)."""
    ensure_spawn_safe()  # a spawn from inside Textual needs a real stderr for the resource tracker
    context = multiprocessing.get_context("spawn")
    parent_conn, child_conn = context.Pipe(duplex=False)
    fd, log_path = tempfile.mkstemp(prefix=f"tuilab-bench-{job.__name__}-", suffix=".log")
    os.close(fd)
    process = context.Process(target=_child_main, args=(child_conn, log_path, job, args), daemon=True)
    try:
        start_without_sigint(process)  # a Ctrl-C during the start is raised here, then the child is killed
        child_conn.close()
        with stop.watching(process.pid) if stop else contextlib.nullcontext():
            return _answer(parent_conn, process, job, timeout_s)
    except BenchError as exc:
        tail = "\n".join(f"  | {line}" for line in file_tail(Path(log_path), 8))
        raise BenchError(f"{exc}\n{tail}" if tail else str(exc)) from None
    finally:
        if process.pid is not None:  # started: Ctrl-C or a timeout in the parent must not leave it behind
            if process.is_alive():
                process.kill()
            process.join(5.0)
        child_conn.close()
        parent_conn.close()
        Path(log_path).unlink(missing_ok=True)


def _answer(conn: Connection, process: Any, job: Callable[..., Any], timeout_s: float | None) -> Any:
    if not conn.poll(timeout_s):
        process.kill()
        raise BenchError(f"{job.__name__} gave no answer in {timeout_s:.0f} s; it was stopped")
    try:
        ok, value = conn.recv()
    except (EOFError, OSError):
        process.join(5.0)
        how = describe_exit(process.exitcode).replace("the engine worker", "its process")
        raise BenchError(f"{job.__name__} failed: {how}") from None
    if not ok:
        raise BenchError(value)
    return value


def _child_main(conn: Connection, log_path: str, job: Callable[..., Any], args: tuple[Any, ...]) -> None:
    # Native libraries print to fds 1 and 2; their lines belong in the log, not on the user's terminal.
    log_fd = os.open(log_path, os.O_WRONLY | os.O_APPEND)
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    os.close(log_fd)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's; it kills us when it stops
    try:
        result: tuple[bool, Any] = (True, job(*args))
    except TuilabError as exc:
        result = (False, str(exc))
    except Exception as exc:  # the process boundary: everything becomes a message
        traceback.print_exc()
        result = (False, f"{job.__name__}: {type(exc).__name__}: {exc}")
    with contextlib.suppress(OSError):
        conn.send(result)
    conn.close()
    os._exit(0)  # skip native atexit handlers (Metal, CUDA) that can hang a finished child
