"""What a new user hit in the lab (issue 11 and 12), reproduced with the Textual pilot at 80x24.

Each class is one report; each test failed before its fix. The event-loop guard below is the proof of "no
disk IO on the UI thread": file opens on the event loop's thread are recorded (and refused) while armed.
"""

from __future__ import annotations

import builtins
import fcntl
import io
import os
import pty
import select
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Input
from ui_helpers import settle, wait_until

from tuilab.ui.app import TuilabApp
from tuilab.ui.settings import SETTINGS_FILE, load_selection
from tuilab.ui.widgets.ladder_pane import LadderPane
from tuilab.ui.widgets.stream_view import StreamView

pytestmark = pytest.mark.anyio
SIZE = (80, 24)
# Textual reads a screen's stylesheet when the screen is first pushed: that is the framework's, not ours.
ALLOWED_SUFFIXES = (".tcss", ".css")


class EventLoopFileGuard:
    """While armed, opening a file on the main thread (where the pilot runs the event loop) is recorded
    and raises OSError; worker threads open freely."""

    def __init__(self) -> None:
        self.armed = False
        self.opened: list[str] = []

    def wrap(self, real: Callable[..., Any]) -> Callable[..., Any]:
        def guarded(file: Any, *args: Any, **kwargs: Any) -> Any:
            name = str(file)
            on_loop = threading.current_thread() is threading.main_thread()
            if (
                self.armed
                and on_loop
                and isinstance(file, str | Path)
                and not name.endswith(ALLOWED_SUFFIXES)
            ):
                self.opened.append(name)
                raise OSError(f"file opened on the event loop: {name}")
            return real(file, *args, **kwargs)

        return guarded


@pytest.fixture
def io_guard(monkeypatch: pytest.MonkeyPatch) -> Iterator[EventLoopFileGuard]:
    guard = EventLoopFileGuard()
    monkeypatch.setattr(builtins, "open", guard.wrap(builtins.open))
    monkeypatch.setattr(io, "open", guard.wrap(io.open))
    yield guard


class TestNoFileReadsOnTheEventLoop:
    """Issue 11: `App.hardware()` re-parsed the profile at every status refresh, `runnable` resolved and
    planned on the UI thread, and `LadderPane.show` read the ladder history at every step."""

    async def test_choosing_planning_switching_hardware_and_loading_read_on_threads(
        self, make_app: Callable[..., TuilabApp], io_guard: EventLoopFileGuard, ladder_home: Path
    ) -> None:
        app = make_app()
        io_guard.armed = True  # from the start: the settings and the machine are read on a thread too
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            app.choose_model("demo")  # its ladder history is on disk (ladder_home)
            await settle(pilot)
            app.choose_hardware("m3-max-40c-64gb")
            await settle(pilot)
            await pilot.press("right_square_bracket", "k", "6")
            await settle(pilot)
            await pilot.pause(1.2)  # two live refreshes and status updates on the profile
            app.choose_model("llama-3-8b")  # a profile: `l` is refused on its thread (no weights)
            await settle(pilot)
            await pilot.press("l")
            await settle(pilot)
            io_guard.armed = False
            assert io_guard.opened == []
            assert app.hw is not None and app.hw.is_profile
            assert app.main.query_one(LadderPane).model == "llama-3-8b"
            assert any("profile without weights" in n.message for n in app._notifications)

    def test_the_guard_catches_a_read_on_this_thread_and_not_on_another(
        self, io_guard: EventLoopFileGuard, tmp_path: Path
    ) -> None:
        path = tmp_path / "x.toml"
        path.write_text("a = 1")
        io_guard.armed = True
        with pytest.raises(OSError, match="on the event loop"):
            path.read_text()
        worker = threading.Thread(target=path.read_text)
        worker.start()
        worker.join()
        assert io_guard.opened == [str(path)]


class TestTheContextCap:
    """Issue 12, item 6: `]` kept raising the stored context past the model's trained one, silently."""

    async def test_stops_at_the_trained_context_stores_it_and_says_so(
        self, make_app: Callable[..., TuilabApp], tmp_path: Path
    ) -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            app.choose_model("demo")  # trained for 2048 tokens
            await settle(pilot)
            await pilot.press(*["right_square_bracket"] * 3)
            await settle(pilot)
            assert app.selection.ctx_tokens == 2048
            assert any("trained for 2k" in n.message for n in app._notifications)
        assert load_selection(tmp_path / SETTINGS_FILE)[0].ctx_tokens == 2048

    async def test_one_step_down_comes_back_below_it(self, make_app: Callable[..., TuilabApp]) -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            app.choose_model("llama-3-8b")  # trained for 8192 tokens
            await settle(pilot)
            await pilot.press(*["right_square_bracket"] * 6, "left_square_bracket")
            await settle(pilot)
            assert app.selection.ctx_tokens == 4096


class TestAnUnwritableDataFolder:
    """Issue 12, item 2: with TUILAB_HOME under a regular file the lab ended in a Textual traceback
    (NotADirectoryError from making the demo model); the CLI gives one clean line."""

    async def test_says_so_in_one_line_and_stays_up(
        self, make_app: Callable[..., TuilabApp], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        regular_file = tmp_path / "a-file"
        regular_file.write_text("")
        monkeypatch.setenv("TUILAB_HOME", str(regular_file / "home"))
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            errors = [n.message for n in app._notifications if n.severity == "error"]
            assert errors == [f"Not a directory: {regular_file / 'home' / 'data' / 'models'}"]
            await pilot.press("2")  # still answering keys
            await settle(pilot)
        assert app.return_code in (None, 0)


class TestOneEngineOwner:
    """Issue 11: `l` and then Enter started a second engine thread, which closed the first one's host."""

    async def test_enter_while_loading_is_refused_and_the_load_carries_on(
        self, make_app: Callable[..., TuilabApp]
    ) -> None:
        pytest.importorskip("llama_cpp")
        app = make_app(live=True)
        async with app.run_test(size=SIZE) as pilot:
            app.choose_model("demo")
            await wait_until(pilot, lambda: app.fit is not None, timeout_s=60)  # planned off the UI thread
            await settle(pilot)
            app.main.query_one("#prompt", Input).value = "Hi"  # typed before: an empty prompt never runs
            # The tiny model loads in well under a second, so a loaded box could finish the load before
            # Enter arrives. The load's thread waits at a gate until Enter has been answered; the load
            # itself is the real one.
            gate = threading.Event()
            start_thread = app.runner._start_thread
            app.runner._start_thread = lambda work: start_thread(lambda: (gate.wait(60), work()))
            await pilot.press("l", "5", "enter")
            assert app.runner.busy == "load"
            gate.set()
            await wait_until(pilot, lambda: app.runner.busy is None, timeout_s=60)
            await settle(pilot)
            assert any("a model is loading" in n.message for n in app._notifications)
            assert app.main.status.engine.verb == "loaded" and app.runner.engine_pid is not None
            assert app.main.query_one(StreamView).text == ""  # no run started


def read_until(fd: int, wanted: bytes, timeout_s: float) -> bytes:
    """Read a pty until `wanted` appears (or EOF, or the time is up); everything read is returned."""
    seen = b""
    deadline = time.monotonic() + timeout_s
    while wanted not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # the child closed its end (EIO on Linux)
                break
            if not chunk:
                break
            seen += chunk
    return seen


class TestSigtermGivesTheTerminalBack:
    """Issue 12, item 24: SIGTERM left the terminal in the alternate screen with mouse reporting on."""

    def test_the_lab_leaves_the_alternate_screen_and_turns_the_mouse_off(self, tmp_path: Path) -> None:
        main_fd, child_fd = pty.openpty()
        fcntl.ioctl(child_fd, termios.TIOCSWINSZ, struct.pack("HHHH", SIZE[1], SIZE[0], 0, 0))
        env = {**os.environ, "TUILAB_HOME": str(tmp_path / "home"), "TERM": "xterm-256color"}
        proc = subprocess.Popen([sys.executable, "-m", "tuilab"], stdin=child_fd, stdout=child_fd,
                                stderr=child_fd, env=env, start_new_session=True)  # fmt: skip
        os.close(child_fd)
        try:
            assert b"Hardware" in read_until(main_fd, b"Hardware", timeout_s=60)  # the tabs are drawn
            time.sleep(0.5)
            proc.send_signal(signal.SIGTERM)
            rest = read_until(main_fd, b"\x1b[?1049l", timeout_s=30)
            assert proc.wait(timeout=30) is not None
        finally:
            if proc.poll() is None:
                proc.kill()
            os.close(main_fd)
        assert b"\x1b[?1049l" in rest and b"\x1b[?1000l" in rest


class TestTheStatusLineKVType:
    """Issue 12, item 9: the status line showed `KV mlx-kv8` for a llama.cpp model."""

    async def test_shows_the_kv_type_the_plan_uses(self, make_app: Callable[..., TuilabApp]) -> None:
        app = make_app()
        async with app.run_test(size=(120, 24)) as pilot:
            app.choose_model("llama-3-8b")
            await settle(pilot)
            app.apply_selection(replace(app.selection, quant="mlx-4bit", kv_type="mlx-kv8"))
            await settle(pilot)
            assert "KV mlx-kv8" in str(app.main.query_one("#status").render())
            app.choose_model("demo")  # a GGUF: llama.cpp has no MLX KV type, so the plan is f16
            await settle(pilot)
            assert app.fit is not None and app.fit.kv_type == "f16"
            assert "KV f16" in str(app.main.query_one("#status").render())
