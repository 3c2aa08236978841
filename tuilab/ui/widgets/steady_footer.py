"""Textual's Footer, rebuilt only when the keys it shows change.

Textual's Footer removes and mounts all its keys again at every focus change, even when the keys shown
stay the same. Leaving the Run tab while a model streams moves the focus from the text to the tabs, and
that rebuild was part of the time the next key waited (docs/benchmarks.md, key latency). This footer
compares the keys it would show with the ones it shows and rebuilds only when they differ.
"""

from __future__ import annotations

from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer

Shown = tuple[tuple[Binding, bool, str], ...]


def shown_keys(screen: Screen[object]) -> Shown:
    """What Footer.compose draws from: each shown binding, whether it is enabled, and its tooltip."""
    active = screen.active_bindings.values()
    return tuple((binding, enabled, tooltip) for _, binding, enabled, tooltip in active if binding.show)


class SteadyFooter(Footer):
    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._shown: Shown | None = None

    def bindings_changed(self, screen: Screen[object]) -> None:
        shown = shown_keys(screen)
        if self._shown == shown:
            return
        if screen.app.app_focus and self.is_attached and screen is self.screen:
            self._shown = shown  # only what a rebuild will draw counts as shown
        super().bindings_changed(screen)
