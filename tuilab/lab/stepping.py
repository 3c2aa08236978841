"""The lab's stepping keys as plain rules: the next context step (`[`, `]`, and the palette's "Set context")
stopped at the model's trained context, the next KV cache type of an engine (`k`), and the next quant rung
(`,`, `.`). The app only applies what these return, so the rules are tested without a screen.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tuilab.core.quant import kv_types_for
from tuilab.lab.planning import ladder_for

# The context steps the lab offers (2k ... 128k): powers of two, the sizes model cards and llama.cpp's
# -c examples use.
CTX_STEPS_TOKENS: tuple[int, ...] = (2048, 4096, 8192, 16384, 32768, 65536, 131072)


@dataclass(frozen=True)
class ContextStep:
    """The context to store, and the trained context it was stopped at (None when it was not)."""

    ctx_tokens: int
    stopped_at_trained: int | None = None


def step_ctx(current_tokens: int, delta: int) -> int:
    """The next context step above (delta > 0) or below (delta < 0) `current_tokens`, kept on the grid."""
    if delta > 0:
        return next((c for c in CTX_STEPS_TOKENS if c > current_tokens), CTX_STEPS_TOKENS[-1])
    return next((c for c in reversed(CTX_STEPS_TOKENS) if c < current_tokens), CTX_STEPS_TOKENS[0])


def clamp_context(asked_tokens: int, trained_tokens: int | None) -> ContextStep:
    """`asked_tokens`, never past the model's trained context (None: no model planned yet, no cap). The
    stored value stops there, so one step down comes back below it (issue 12, item 6)."""
    if trained_tokens is not None and asked_tokens > trained_tokens:
        return ContextStep(trained_tokens, trained_tokens)
    return ContextStep(asked_tokens)


def next_context(current_tokens: int, delta: int, trained_tokens: int | None) -> ContextStep:
    """`]` (delta 1) and `[` (delta -1): one step of the grid, stopped at the trained context."""
    return clamp_context(step_ctx(current_tokens, delta), trained_tokens)


def cycle(values: Sequence[str], current: str) -> str:
    """The value after `current`, wrapping; an unknown one starts from the first."""
    return values[(list(values).index(current) + 1) % len(values)] if current in values else values[0]


def next_kv_type(engine: str, current: str) -> str:
    """`k`: the engine's next KV cache type (llama.cpp's f16, q8_0, q4_0; MLX's f16, mlx-kv8, ...)."""
    return cycle(kv_types_for(engine), current)


def step_name(values: Sequence[str], current: str | None, delta: int) -> str:
    """The neighbour of `current` in `values`, clamped at both ends; an unknown name starts from the
    middle."""
    if current is not None and current in values:
        return values[max(0, min(len(values) - 1, list(values).index(current) + delta))]
    return values[len(values) // 2]


def next_quant(engine: str, current: str | None, delta: int) -> str:
    """`,` (delta -1, larger) and `.` (delta 1, smaller): the neighbouring rung of the engine's ladder."""
    return step_name(ladder_for(engine), current, delta)
