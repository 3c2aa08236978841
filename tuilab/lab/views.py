"""What the lab's panes show, computed without Textual: the fit plan of the current selection as the lab
asks it, the fit badge of a model row, the memory- and speed-against-context table, and the one service
the app's threads call for them (`SelectionPlanner`), which keeps resolved models so a badge refresh
reads no file twice.

Plain data in, plain data out: the UI renders what comes back, and tests check the numbers without an app.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from tuilab.bench.depth import DepthPoint, measured_by_quant
from tuilab.core.errors import TuilabError
from tuilab.core.fit import plan
from tuilab.core.hardware import HardwareSpec
from tuilab.core.plan_types import FitPlan, Verdict
from tuilab.core.quant import MLX_LADDER, kv_type_or_f16, parse_quant
from tuilab.lab.planning import FitQuery, choose_quant, for_engine, plan_fit
from tuilab.lab.stepping import CTX_STEPS_TOKENS
from tuilab.models.resolve import ResolvedModel

# The rungs the context chart shows: one per size class of LLAMA_LADDER, so ten rows fit at 80x24.
CHART_LLAMA_QUANTS: tuple[str, ...] = (
    "F16", "Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "IQ4_XS", "Q3_K_M", "Q2_K", "IQ2_XS", "IQ1_M",
)  # fmt: skip
BADGES: dict[Verdict, str] = {
    Verdict.FITS: "fits",
    Verdict.TIGHT: "tight",
    Verdict.PARTIAL_OFFLOAD: "partial",
    Verdict.CPU_ONLY: "cpu",
    Verdict.NO_FIT: "no",
}


def fit_for(
    model: ResolvedModel,
    hw: HardwareSpec,
    ctx_tokens: int,
    kv_type: str,
    advise: bool = True,
    offload_mode: str | None = None,
) -> FitPlan:
    """The plan for this model on `hw` as the lab asks it: the selection's KV type where the model's
    engine offers it (else f16), the context under the lab's one rule (tuilab.lab.planning); an offload
    mode applies to a MoE model on llama.cpp and is ignored for others."""
    query = for_engine(FitQuery(ctx_tokens=ctx_tokens, kv_type=kv_type), model.engine, model.arch)
    query = replace(query, offload_mode=_offload_for(model, offload_mode))
    return plan_fit(model, hw, query, advise=advise)


def _offload_for(model: ResolvedModel, offload_mode: str | None) -> str | None:
    return offload_mode if model.arch.is_moe and model.engine == "llama.cpp" else None


def badge(model: ResolvedModel, hw: HardwareSpec, ctx_tokens: int, kv_type: str) -> str:
    """A model row's fit badge; a model that cannot be planned is "error", not a crash."""
    try:
        return BADGES[fit_for(model, hw, ctx_tokens, kv_type, advise=False).verdict]
    except TuilabError:
        return "error"


# The generation floors the Context pane's `t` key steps through: a user's choice, not a measurement
# (roughly reading speed up to fast agent loops).
TPS_FLOORS = (5.0, 10.0, 20.0, 30.0, 50.0, 100.0)


@dataclass(frozen=True)
class ContextRow:
    """One quant's memory at each context step (None past the model's trained context)."""

    quant: str
    total_bytes: tuple[int | None, ...]
    verdicts: tuple[Verdict | None, ...]
    max_ctx: int
    tg_tps: tuple[float | None, ...] = ()  # predicted generation with each step's context filled
    max_ctx_at_floor: tuple[int, ...] = ()  # the largest context above each of TPS_FLOORS
    ttft_s: tuple[float | None, ...] = ()  # predicted first-token time for a prompt filling each step
    pp_tps: float = 0.0  # predicted prompt rate from an empty context (llama-bench's pp512); 0: unknown


def context_table(
    model: ResolvedModel, hw: HardwareSpec, kv_type: str, offload_mode: str | None = None
) -> list[ContextRow]:
    """Memory against context for each quant of the model's engine, in the Fit pane's offload mode."""
    offload = _offload_for(model, offload_mode)
    quants = MLX_LADDER if model.engine == "mlx" else CHART_LLAMA_QUANTS
    kv = kv_type_or_f16(model.engine, kv_type)
    return [_context_row(model, name, hw, kv, offload) for name in quants]


def _context_row(
    model: ResolvedModel, quant: str, hw: HardwareSpec, kv: str, offload: str | None
) -> ContextRow:
    """One quant's plan at every context step the model can hold (None past its trained context)."""
    q = parse_quant(quant)
    fits = [
        plan(
            model.arch, q, hw, ctx_tokens=ctx, kv_type=kv, engine=model.engine, advise=False,
            offload_mode=offload,
        ) if ctx <= model.arch.max_ctx_tokens else None
        for ctx in CTX_STEPS_TOKENS
    ]  # fmt: skip
    first = next(
        (f for f in fits if f is not None), None
    )  # the smallest step: the verdict most likely on device
    return ContextRow(
        quant,
        tuple(f.memory.total_bytes if f else None for f in fits),
        tuple(f.verdict if f else None for f in fits),
        first.max_ctx if first else 0,
        tuple(f.predicted_tg_tps_full_ctx if f else None for f in fits),
        tuple(first.max_ctx_at_tps(t) for t in TPS_FLOORS) if first else (),
        tuple((f.predicted_ttft_s or None) if f else None for f in fits),
        first.predicted_pp_tps if first else 0.0,
    )


def budget_line_bytes(hw: HardwareSpec, engine: str) -> int:
    """The budget a whole model must stay under to run on the fastest device: the GPU's, else RAM's."""
    if hw.gpus and hw.unified:
        return hw.gpu_budget_bytes
    if hw.gpus and engine == "llama.cpp":
        return sum(g.free_bytes for g in hw.gpus)  # a layer split uses every GPU
    return hw.host_budget_bytes


@dataclass(frozen=True)
class SelectionView:
    """Everything the Fit and Context panes show for one selection on one machine or profile."""

    key: str
    model: ResolvedModel
    fit: FitPlan
    context_rows: tuple[ContextRow, ...]
    budget_bytes: int
    measured: Mapping[str, tuple[DepthPoint, ...]]  # the depth bench's points by quant


class SelectionPlanner:
    """The lab's planning service for the panes (disk IO: call it from threads). A model is resolved once
    per (key, quant) and kept; `forget` drops them when the models on disk may have changed."""

    def __init__(self) -> None:
        self._resolved: dict[tuple[str, str | None], ResolvedModel] = {}
        self._lock = threading.Lock()

    def resolve(self, key: str, quant: str | None) -> ResolvedModel:
        with self._lock:
            cached = self._resolved.get((key, quant))
        if cached is None:
            cached = choose_quant(key, quant, hub=True)
            with self._lock:
                self._resolved[(key, quant)] = cached
        return cached

    def forget(self) -> None:
        with self._lock:
            self._resolved.clear()

    def badges(self, keys: Iterable[str], hw: HardwareSpec, ctx_tokens: int, kv_type: str) -> dict[str, str]:
        """Each model's fit badge at its own quant; an unreadable model is "error", not a crash."""
        out: dict[str, str] = {}
        for key in keys:
            try:
                out[key] = badge(self.resolve(key, None), hw, ctx_tokens, kv_type)
            except (TuilabError, OSError):  # the file cannot be read or resolved
                out[key] = "error"
        return out

    def plan(
        self, key: str, quant: str | None, hw: HardwareSpec, ctx_tokens: int, kv_type: str,
        offload_mode: str | None = None,
    ) -> SelectionView:  # fmt: skip
        """The selection's plan with its context table; raises TuilabError or OSError as one line."""
        model = self.resolve(key, quant)
        fit = fit_for(model, hw, ctx_tokens, kv_type, offload_mode=offload_mode)
        rows = tuple(context_table(model, hw, kv_type, offload_mode))
        measured = measured_by_quant(model.name, hw.name)
        return SelectionView(key, model, fit, rows, budget_line_bytes(hw, model.engine), measured)
