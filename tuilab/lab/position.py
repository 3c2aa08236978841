"""Where a run is in its context: the tokens already in the KV cache, and what the plan says generation
runs at there, beside what the engine measured. Both faces show it (`tuilab run`, the Run pane)."""

from __future__ import annotations

from dataclasses import dataclass

from tuilab.core.plan_types import FitPlan


@dataclass(frozen=True)
class RunPosition:
    depth_tokens: int  # prompt plus generated tokens so far: the context filled
    predicted_tg_tps: float  # the plan's generation rate at this depth
    measured_tg_tps: float | None

    @property
    def error(self) -> float | None:
        """Measured over predicted, less one; None before there is a measured rate."""
        if self.measured_tg_tps is None or not self.predicted_tg_tps:
            return None
        return self.measured_tg_tps / self.predicted_tg_tps - 1.0

    def describe(self) -> str:
        measured = "-" if self.measured_tg_tps is None else f"{self.measured_tg_tps:.1f}"
        error = "" if self.error is None else f", {self.error:+.0%}"
        return f"depth {self.depth_tokens} · {measured} tok/s (plan {self.predicted_tg_tps:.1f}{error})"


def run_position(
    fit: FitPlan, prompt_tokens: int, generated_tokens: int, measured_tg_tps: float | None
) -> RunPosition:
    """The position after `generated_tokens`; the plan's rate is the mean over the tokens generated so
    far (the KV read grows linearly with depth, so that is the rate at the middle of the stretch)."""
    depth = prompt_tokens + generated_tokens
    middle = prompt_tokens + generated_tokens // 2
    return RunPosition(depth, fit.predicted_tg_tps_at(middle), measured_tg_tps)
