"""The one error hierarchy of tuilab.

Every failure a user can cause (bad names, broken files, refused loads) is a `TuilabError`; the CLI maps
`exit_code` to the process status and the UI turns the message into a notification.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class TuilabError(Exception):
    """Base of every error tuilab reports to a user instead of a traceback."""

    exit_code: int = 1


class UsageError(TuilabError):
    """The user asked for something that does not exist or does not make sense."""

    exit_code = 2


class UnknownNameError(UsageError):
    """An unknown model, quant, profile or engine name, with close matches when there are any."""

    def __init__(
        self, kind: str, name: str, choices: Iterable[str], listing: Iterable[str] | None = None
    ) -> None:
        """`listing`: names to show when nothing is close (e.g. the common quants), so the user can pick."""
        self.kind = kind
        self.name = name
        self.suggestions = did_you_mean(name, choices)
        hint = f"; did you mean {' or '.join(repr(s) for s in self.suggestions)}?" if self.suggestions else ""
        if not hint and listing is not None:
            hint = f"; known ones include {', '.join(listing)}"
        super().__init__(f"unknown {kind} {name!r}{hint}")


class ModelFileError(UsageError):
    """A model file that cannot be read: corrupt, truncated, hostile or of an unknown format."""

    def __init__(self, path: str, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"{path}: {problem}")


class ProfileError(UsageError):
    """A profile TOML file that is missing keys, has wrong types or cannot be parsed."""

    def __init__(self, path: str, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"{path}: {problem}")


class FitRefusedError(TuilabError):
    """A load refused because the fit plan says it will not fit (overridable with --force)."""

    exit_code = 3


class EngineError(TuilabError):
    """An engine failed to load or run a model; the message carries the engine's reason."""

    exit_code = 4


def did_you_mean(name: str, choices: Iterable[str], n: int = 3) -> list[str]:
    """Close matches for `name`, compared case-insensitively, returned in their original spelling."""
    by_lower: dict[str, str] = {}
    for choice in choices:
        by_lower.setdefault(choice.lower(), choice)
    matches = difflib.get_close_matches(name.lower(), list(by_lower), n=n, cutoff=0.6)
    return [by_lower[m] for m in matches]
