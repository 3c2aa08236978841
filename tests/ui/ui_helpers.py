"""Waiting on the app from a pilot test: for its background workers, or for a condition to hold."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from textual.pilot import Pilot
from textual.worker import WorkerState


async def settle(pilot: Pilot[Any], timeout_s: float = 30.0) -> None:
    """Wait until no background worker is pending or running (plans, badges, discovery), then for the
    screen to catch up. An engine run counts too, so call this only when none should be running."""
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
