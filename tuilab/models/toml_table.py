"""A TOML table read key by key with checks: types, ranges, required keys, and no unknown leftovers.

Every problem is a `ProfileError` naming the file and the dotted key, with a "did you mean" for typos;
the profile loaders (tuilab.models.profiles) build on it.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import TypeVar

from tuilab.core.errors import ProfileError, did_you_mean

_T = TypeVar("_T")


class Table:
    """One TOML table being read; it remembers the keys asked for so that leftovers are reported."""

    def __init__(self, path: Path, data: Mapping[str, object], prefix: str = "") -> None:
        self.path, self.data, self.prefix = path, data, prefix
        self.known: list[str] = []
        self.children: list[Table] = []

    def error(self, key: str, problem: str) -> ProfileError:
        return ProfileError(str(self.path), f"key '{self.prefix}{key}': {problem}")

    def _take(self, key: str) -> object | None:
        self.known.append(key)
        return self.data.get(key)

    def required(self, key: str, value: _T | None) -> _T:
        if value is None:
            close = did_you_mean(key, [k for k in self.data if k not in self.known], n=1)
            typo = f"; is '{self.prefix}{close[0]}' a misspelling of it?" if close else ""
            raise self.error(key, f"missing (it is required){typo}")
        return value

    def _wrong(self, key: str, expected: str, value: object) -> ProfileError:
        got = {dict: "a table", list: "an array", bool: str(value).lower()}.get(type(value), repr(value))
        return self.error(key, f"expected {expected}, got {got}")

    def opt_text(self, key: str) -> str | None:
        value = self._take(key)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise self._wrong(key, "a non-empty string", value)
        return value

    def text(self, key: str) -> str:
        return self.required(key, self.opt_text(key))

    def opt_integer(self, key: str, minimum: int = 0) -> int | None:
        value = self._take(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise self._wrong(key, "an integer", value)
        if value < minimum:
            raise self._wrong(key, f"an integer of at least {minimum}", value)
        return value

    def integer(self, key: str, minimum: int = 0) -> int:
        return self.required(key, self.opt_integer(key, minimum))

    def opt_number(self, key: str) -> float | None:
        value = self._take(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise self._wrong(key, "a positive number", value)
        return float(value)

    def number(self, key: str) -> float:
        return self.required(key, self.opt_number(key))

    def flag(self, key: str) -> bool:
        value = self._take(key)
        if value is not None and not isinstance(value, bool):
            raise self._wrong(key, "true or false", value)
        return bool(value)

    def opt_table(self, key: str) -> Table | None:
        value = self._take(key)
        if value is None:
            return None
        if not isinstance(value, dict):
            raise self._wrong(key, "a table", value)
        child = Table(self.path, value, f"{self.prefix}{key}.")
        self.children.append(child)
        return child

    def table(self, key: str) -> Table:
        return self.required(key, self.opt_table(key))

    def sources(self, citable: tuple[str, ...]) -> dict[str, str]:
        """The [sources] table: each key names a citable key, each value is a string."""
        table = self.opt_table("sources") or Table(self.path, {}, "sources.")
        for key in table.data:
            if key not in citable:
                raise table.error(key, "nothing of that name to cite" + _hint(key, citable, ""))
        return {key: table.text(key) for key in citable if key in table.data}

    def finish(self) -> None:
        """Refuse keys nobody asked for: a misspelt key must not silently fall back to a default."""
        for key in self.data:
            if key not in self.known:
                problem = "unknown key" + _hint(key, self.known, self.prefix)
                raise ProfileError(str(self.path), f"key '{self.prefix}{key}': {problem}")
        for child in self.children:
            child.finish()


def _hint(key: str, choices: list[str] | tuple[str, ...], prefix: str) -> str:
    close = did_you_mean(key, choices, n=1)
    return f"; did you mean '{prefix}{close[0]}'?" if close else ""


def load_toml(path: Path) -> dict[str, object]:
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        problem = f"cannot read the file: {e}" if isinstance(e, OSError) else f"not valid TOML: {e}"
        raise ProfileError(str(path), problem) from e
