"""Handing a worker thread's result to the UI loop."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.app import App


def deliver(app: App[Any], callback: Callable[..., None], *args: Any) -> None:
    """Run `callback(*args)` on the UI loop, from a worker thread, unless the app has begun shutting down
    by the time it runs: Textual removes the screens' widgets first, so a late result would find its pane
    gone (NoMatches) and end the app with a traceback."""

    def if_running() -> None:
        if app.is_running:
            callback(*args)

    app.call_from_thread(if_running)


def os_error_line(exc: OSError) -> str:
    """One line for a file-system error met on a thread (a data folder under a regular file, a model
    that cannot be read), as the CLI prints it: the reason, then the path."""
    where = f": {exc.filename}" if exc.filename else ""
    return f"{exc.strerror or exc}{where}"
