"""What the lab's panes compute, without Textual: the model catalog (discovered models, the demo, the
profile catalog), a fit plan for the current selection, and the memory-against-context table.

Every function here is plain data in, plain data out, so the UI only renders and the tests can check
the numbers without an app.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from tuilab import paths
from tuilab.core.errors import TuilabError
from tuilab.core.fit import plan
from tuilab.core.hardware import HardwareSpec
from tuilab.core.plan_types import FitPlan, Verdict
from tuilab.core.quant import MLX_LADDER, kv_type_or_f16, parse_quant
from tuilab.lab.planning import FitQuery, choose_quant, for_engine, plan_fit
from tuilab.models.discovery import FoundModel
from tuilab.models.resolve import ResolvedModel
from tuilab.models.tiny import gguf_file_name

# The context steps the issue asks for (2k ... 128k): powers of two, the sizes model cards and
# llama.cpp's -c examples use.
CTX_STEPS_TOKENS: tuple[int, ...] = (2048, 4096, 8192, 16384, 32768, 65536, 131072)
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


@dataclass(frozen=True)
class ModelEntry:
    """One row of the models list: `key` is what resolve_model takes."""

    key: str
    label: str
    source: str  # "demo", "profile", or a discovery source ("hf-cache", "lmstudio", ...)
    engine: str
    quant: str  # the file's quant, or the profile's default
    error: str | None = None

    @property
    def on_disk(self) -> bool:
        return self.source != "profile"


def catalog(found: Sequence[FoundModel], profile_names: Sequence[str]) -> list[ModelEntry]:
    """The demo first, then what is on disk, then the profile catalog ("what if" models)."""
    entries = [ModelEntry("demo", "demo (built-in tiny model)", "demo", "llama.cpp", "F16")]
    demo_file = paths.models_dir() / "demo" / gguf_file_name("tiny", "F16")
    for m in found:
        if m.path == demo_file:
            continue  # the demo row above is this file
        entries.append(ModelEntry(str(m.path), m.name, m.source, m.engine, m.quant or "-", m.error))
    entries += [ModelEntry(name, name, "profile", "llama.cpp", "default") for name in profile_names]
    return entries


def matches(entry: ModelEntry, query: str) -> bool:
    """Type-to-filter: every word of the query appears in the label, source or quant."""
    haystack = f"{entry.label} {entry.source} {entry.quant}".lower()
    return all(word in haystack for word in query.lower().split())


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


def badge_for(key: str, hw: HardwareSpec, ctx_tokens: int, kv_type: str) -> str:
    """The fit badge of one catalog row; an unreadable model is "error", not a crash."""
    try:
        return BADGES[fit_for(choose_quant(key, None), hw, ctx_tokens, kv_type, advise=False).verdict]
    except TuilabError:
        return "error"


def step_ctx(current_tokens: int, delta: int) -> int:
    """The next context step above (delta > 0) or below (delta < 0) `current_tokens`, clamped."""
    if delta > 0:
        return next((c for c in CTX_STEPS_TOKENS if c > current_tokens), CTX_STEPS_TOKENS[-1])
    return next((c for c in reversed(CTX_STEPS_TOKENS) if c < current_tokens), CTX_STEPS_TOKENS[0])


def step_name(values: Sequence[str], current: str | None, delta: int) -> str:
    """The neighbour of `current` in `values`, clamped; an unknown name starts from the middle."""
    if current is not None and current in values:
        return values[max(0, min(len(values) - 1, list(values).index(current) + delta))]
    return values[len(values) // 2]


def cycle(values: Sequence[str], current: str) -> str:
    return values[(list(values).index(current) + 1) % len(values)] if current in values else values[0]


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
