"""A live memory guard for one generation: warn before the KV cache's growth crosses the budget, and stop
cleanly (finish reason `memory`) at the limit, rather than let macOS swap or the CUDA allocator fail.

It runs inside the engine worker, beside the token loop. Each check reads what the worker holds on the
device that bounds it (macOS: the process's phys_footprint against the unified-memory budget; NVIDIA: this
process's VRAM against what was free; a CPU: the resident set against available RAM) and projects the
plan's KV bytes per token forward. Users of mlx-lm report kernel panics as the cache grows (issue 14).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from typing import Any

from tuilab.engines.events import GuardSpec, MemoryWarning

__all__ = ["CHECK_EVERY_TOKENS", "GuardSpec", "MemoryGuard", "MemoryWarning", "guard_for_plan", "reader_for"]

# Read the footprint every 8 tokens: proc_pid_rusage or /proc/self/status costs tens of microseconds, so
# this is under 0.1% of a 1000 tok/s decode, and the KV cache grows by at most 8 tokens between checks.
CHECK_EVERY_TOKENS = 8

MEASURE_PROCESS = "process"  # GuardSpec.measure: phys_footprint on macOS, the resident set elsewhere
MEASURE_NVML = "nvml"  # GuardSpec.measure: this process's memory on NVIDIA GPUs


def guard_for_plan(plan: Mapping[str, Any], engine: str, forced_bytes: int | None = None) -> GuardSpec:
    """The live memory guard for a run, from its fit plan (`FitPlan.to_dict()`): the KV bytes per token,
    and the budget of the device that bounds the run (macOS: the unified-memory budget against the
    process's footprint; NVIDIA: the VRAM that was free, against this process's VRAM; a CPU: available
    RAM against its resident set). `forced_bytes` (`--memory-budget`) replaces the plan's budget.

    llama.cpp reserves its whole KV cache at load, so its footprint does not grow per token: the guard
    then only stops at the limit. mlx-lm grows its cache as tokens arrive, so its growth is projected."""
    ctx = int(plan.get("ctx") or 0)
    grows = engine == "mlx"
    kv_per_token = float(plan.get("kv_cache_bytes") or 0) / ctx if ctx and grows else 0.0
    on_gpu = bool(plan.get("gpu_layers")) and int(plan.get("budget_bytes") or 0) > 0
    measure = MEASURE_NVML if on_gpu and sys.platform != "darwin" else MEASURE_PROCESS
    limit = int(plan.get("budget_bytes") or 0) if on_gpu else int(plan.get("host_budget_bytes") or 0)
    source = "the fit plan's GPU budget" if on_gpu else "the fit plan's RAM budget"
    if forced_bytes is not None:
        limit, source = forced_bytes, "--memory-budget"
    return GuardSpec(limit, kv_per_token, measure, source)


def reader_for(measure: str) -> Callable[[], int | None]:
    """The footprint reading for `measure`, from tuilab.engines.memory."""
    from tuilab.engines import memory

    if measure == MEASURE_NVML:
        return memory.nvml_process_bytes
    if sys.platform == "darwin":
        return memory.footprint_bytes
    return memory.rss_bytes


class MemoryGuard:
    """Call `check(generated_tokens, planned_tokens)` as tokens arrive; it answers None, a MemoryWarning
    (once), or "stop" when the next tokens would cross the limit."""

    def __init__(self, spec: GuardSpec, read_bytes: Callable[[], int | None] | None = None) -> None:
        self.spec = spec
        self._read = read_bytes or reader_for(spec.measure)
        self.warned = False
        self.stopped_at: int | None = None
        self.last_used_bytes: int | None = None

    def crossing_tokens(self, generated: int, used_bytes: int) -> int:
        """The generated-token count at which the KV growth reaches the limit, from `used_bytes` now."""
        room = self.spec.limit_bytes - used_bytes
        if self.spec.kv_bytes_per_token <= 0:
            return generated if room <= 0 else sys.maxsize
        return generated + int(room // self.spec.kv_bytes_per_token)

    def check(self, generated: int, planned: int) -> MemoryWarning | str | None:
        if generated % CHECK_EVERY_TOKENS:
            return None
        used = self._read()
        if used is None:
            return None  # no reading on this system: the guard cannot judge, so it never stops a run
        self.last_used_bytes = used
        crossing = self.crossing_tokens(generated, used)
        if crossing < generated + CHECK_EVERY_TOKENS:
            self.stopped_at = generated
            return "stop"
        if not self.warned and crossing < planned:
            self.warned = True
            return MemoryWarning(crossing, used, self.spec.limit_bytes)
        return None
