"""Whether a run's prompt speed means anything, and what both faces show for it.

A prompt of a few tokens, or one evaluated in no measurable time, gives a "rate" that is the cost of one
step, not a throughput: `tuilab run demo` once printed "prompt 3764814 tok/s" (issue 12, item 21). The
rate is shown only when enough tokens were evaluated over a time the clock can resolve; otherwise "-"
with the reason, the same in `tuilab run` and the lab's Run pane.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from tuilab.engines.events import Stats

# Fewer prompt tokens than this are not timed as a prompt rate. llama.cpp treats a batch under 32 rows as
# per-token work (ggml/src/ggml-cuda/ggml-cuda.cu, ggml_backend_cuda_device_offload_op: min_batch_size =
# 32), so a shorter prompt measures the latency of a step, not the prompt throughput the plan predicts.
MIN_PROMPT_TOKENS = 32
# The prompt's time must be this many ticks of the worker's clock (time.perf_counter) at least, so the
# clock's rounding is under 0.1% of it; Python reports the tick (docs.python.org/3/library/time.html,
# get_clock_info). The worker and this process run on the same machine, so they share the clock.
MIN_CLOCK_TICKS = 1000


@dataclass(frozen=True)
class PromptRate:
    """The prompt tokens/s to show, or None and why not (`why` is empty when the rate is shown)."""

    tokens_per_s: float | None
    why: str = ""

    def label(self) -> str:
        """ "812.4 tok/s", or "- (under 32 tok)"."""
        if self.tokens_per_s is not None:
            return f"{self.tokens_per_s:.1f} tok/s"
        return f"- ({self.why})" if self.why else "-"


def min_prompt_time_s() -> float:
    return MIN_CLOCK_TICKS * time.get_clock_info("perf_counter").resolution


def prompt_rate(stats: Stats) -> PromptRate:
    """The engine's prompt rate when it is measurable: at least MIN_PROMPT_TOKENS tokens, over a time of
    at least MIN_CLOCK_TICKS ticks of the clock."""
    tokens, rate = stats.prompt_tokens, stats.prompt_tps
    if tokens is None or rate is None or rate <= 0:
        return PromptRate(None, "not reported")
    if tokens < MIN_PROMPT_TOKENS:
        return PromptRate(None, f"under {MIN_PROMPT_TOKENS} tok")
    if tokens / rate < min_prompt_time_s():
        return PromptRate(None, "too fast to time")
    return PromptRate(rate)
