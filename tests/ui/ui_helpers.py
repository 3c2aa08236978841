"""Helpers for pilot tests: waiting on the app (its workers, or a condition), and snapshot setup."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Input
from textual.worker import WorkerState


async def until_ready(pilot: Pilot[Any], timeout_s: float = 30.0) -> None:
    """Wait for the lab's ready point: the settings and this machine, read on a thread at start, are in
    and the first plans were asked for (`TuilabApp.Ready`). Other apps are ready at once."""
    await wait_until(pilot, lambda: getattr(pilot.app, "is_ready", True), timeout_s)


async def settle(pilot: Pilot[Any], timeout_s: float = 30.0) -> None:
    """Wait for the ready point, then until no background worker is pending or running (plans, badges,
    discovery), then for the screen to catch up. An engine run counts too, so call this only when none
    should be running."""
    await until_ready(pilot, timeout_s)
    await wait_until(pilot, lambda: not _busy(pilot), timeout_s)
    await pilot.pause()
    await wait_until(pilot, lambda: not _busy(pilot), timeout_s)


def _busy(pilot: Pilot[Any]) -> bool:
    return any(w.state in (WorkerState.PENDING, WorkerState.RUNNING) for w in pilot.app.workers)


async def wait_until(pilot: Pilot[Any], done: Callable[[], bool], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not done():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s")
        await pilot.pause(0.02)


SNAPSHOT_SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((160, 48), id="160x48")]


async def press_and_settle_for_snapshot(pilot: Pilot[Any], keys: tuple[str, ...] = ()) -> None:
    """The end of every snapshot's setup: the keys, then no work, animation or repaint left pending. Text
    boxes stop blinking, their cursor drawn steadily: a blinking one made a snapshot depend on when it was
    taken (the Models filter's cursor on its placeholder, seen in a full-suite run)."""
    if keys:
        await pilot.press(*keys)
    for box in pilot.app.screen.query(Input):
        box.cursor_blink = False
    await settle(pilot)
    await pilot.wait_for_scheduled_animations()
    await pilot.pause(0.1)
