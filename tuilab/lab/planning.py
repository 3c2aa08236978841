"""A fit question asked once for every face: `FitQuery` holds what the user chose, with ONE default
context and ONE rule for a context past what the model was trained for; `plan_fit` answers it with a
typed `FitPlan`, and `plan_ladder` plans every quant rung.

The rule (docs/decisions.md, "A context past the trained length is clamped, visibly"): the plan is made
at the trained context, and its basis carries a `context` line that says so. `tuilab fit`, `tuilab run`,
the lab's panes and cluster plans all go through `planned_context`, so they cannot disagree.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from tuilab.core.arch import ModelArch
from tuilab.core.cluster import ClusterHost, ClusterPlan, plan_cluster
from tuilab.core.errors import UsageError
from tuilab.core.fit import plan
from tuilab.core.hardware import HardwareSpec
from tuilab.core.plan_types import FitPlan
from tuilab.core.quant import (
    LLAMA_LADDER,
    MLX_LADDER,
    QuantSpec,
    kv_type_or_f16,
    kv_type_refusal,
    parse_quant,
)
from tuilab.engines.protocol import LLAMA_CPP, MLX, check_kv_type, engine_name
from tuilab.models.resolve import ResolvedModel, resolve_model

# The context a plan or a run gets when none is asked for: llama.cpp's own default n_ctx
# (common/common.h, `common_params::n_ctx = 4096`), capped at the model's trained context.
DEFAULT_CTX_TOKENS = 4096
CONTEXT_BASIS_KEY = "context"


@dataclass(frozen=True)
class FitQuery:
    """What a plan depends on besides the model and the machine; bad values are refused on creation.

    `ctx_tokens=None` is the default context. `kv_type` is checked against the engine by `plan_fit`, as
    `tuilab run` checks it: a KV type the engine does not offer is a usage error, never planned.
    """

    ctx_tokens: int | None = None
    kv_type: str = "f16"
    engine: str | None = None  # None: the model's own engine
    gpu_layers: int | None = None  # None: as many as fit
    flash_attn: bool = True
    offload_mode: str | None = None  # "layers" or "experts" (MoE, llama.cpp); None: the planner's choice
    cpu_moe_layers: int | str | None = None  # experts of the first N blocks in RAM; "all": every block's
    tensor_split: tuple[float, ...] | None = None  # share of the layers per GPU; None: by free memory
    max_kv_tokens: int | None = None  # MLX: a rotating KV cache of this many tokens (--max-kv-size)

    def __post_init__(self) -> None:
        if self.max_kv_tokens is not None and self.max_kv_tokens < 1:
            raise UsageError(f"--max-kv-size must be at least 1 token, got {self.max_kv_tokens}")
        if self.ctx_tokens is not None and self.ctx_tokens < 1:
            raise UsageError(f"the context must be at least 1 token, got {self.ctx_tokens}")
        if self.gpu_layers is not None and self.gpu_layers < 0:
            raise UsageError(f"GPU layers must be 0 or more, got {self.gpu_layers}")
        if self.engine is not None:
            object.__setattr__(self, "engine", engine_name(self.engine))


@dataclass(frozen=True)
class PlannedContext:
    """The context a plan uses, and the note that says why when it is not the one asked for."""

    ctx_tokens: int
    note: str | None


def planned_context(arch: ModelArch, asked_tokens: int | None) -> PlannedContext:
    """The one rule: the asked context (or the default), never past the trained context. An asked
    context past it is clamped with a note; the default is capped silently (nobody asked for 4096)."""
    trained = arch.max_ctx_tokens
    if asked_tokens is None:
        return PlannedContext(min(DEFAULT_CTX_TOKENS, trained), None)
    if asked_tokens <= trained:
        return PlannedContext(asked_tokens, None)
    note = f"{asked_tokens} tokens asked; planned at {trained}, the context {arch.name} was trained for"
    return PlannedContext(trained, note)


def with_context_note(fit: FitPlan, context: PlannedContext) -> FitPlan:
    if context.note is None:
        return fit
    return replace(fit, basis={CONTEXT_BASIS_KEY: context.note, **fit.basis})


def context_note(fit: FitPlan | ClusterPlan) -> str | None:
    """The clamp note of a plan, if its context was clamped."""
    return fit.basis.get(CONTEXT_BASIS_KEY)


def check_kv_cache(arch: ModelArch, engine: str, kv_type: str, max_kv_tokens: int | None = None) -> str:
    """The KV type checked against the engine and the model, for every face: `tuilab fit`, `tuilab run`,
    the Run pane and cluster runs. A KV type the engine lacks, `--max-kv-size` on an engine without a
    rotating cache, and an MLX quantized cache on a cache mlx-lm cannot quantize
    (`core.quant.kv_type_refusal`: sliding-window layers or a rotating cache) are usage errors."""
    kv = check_kv_type(engine, kv_type)
    if max_kv_tokens is not None and engine != MLX:
        raise UsageError(f"--max-kv-size is an MLX option (mlx-lm's rotating KV cache); {engine} has none")
    refusal = kv_type_refusal(kv, arch, rotating_cache=max_kv_tokens is not None) if engine == MLX else None
    if refusal:
        raise UsageError(refusal)
    return kv


def plan_fit(model: ResolvedModel, hw: HardwareSpec, query: FitQuery, *, advise: bool = True) -> FitPlan:
    """The plan for `model` on `hw`: the KV type checked against the engine and the model's cache
    (`check_kv_cache`), the context clamped."""
    engine = query.engine or model.engine
    kv = check_kv_cache(model.arch, engine, query.kv_type, query.max_kv_tokens)
    context = planned_context(model.arch, query.ctx_tokens)
    fit = plan(
        model.arch, model.quant, hw, ctx_tokens=context.ctx_tokens, kv_type=kv, engine=engine,
        gpu_layers=query.gpu_layers, flash_attn=query.flash_attn, advise=advise,
        **(offload_args(model, query) if engine == LLAMA_CPP else {}),
    )  # fmt: skip
    return with_context_note(fit, context)


def offload_args(model: ResolvedModel, query: FitQuery) -> dict[str, Any]:
    """The query's expert offload and GPU split for the planner ("all" experts: every block's)."""
    cpu_moe = model.arch.n_layers if query.cpu_moe_layers == "all" else query.cpu_moe_layers
    return {"offload_mode": query.offload_mode, "cpu_moe_layers": cpu_moe, "tensor_split": query.tensor_split}


def for_engine(query: FitQuery, engine: str, arch: ModelArch | None = None) -> FitQuery:
    """The query as a view spanning engines asks it: the KV type falls back to f16 where this engine does
    not offer it (the lab keeps one KV choice across models; `fit --ladder` spans both engines), and, given
    the model's `arch`, where mlx-lm could not quantize its cache (`core.quant.kv_type_refusal`)."""
    kv = kv_type_or_f16(engine, query.kv_type)
    rotating = query.max_kv_tokens is not None
    if arch is not None and engine == MLX and kv_type_refusal(kv, arch, rotating_cache=rotating):
        kv = "f16"
    return replace(query, engine=engine, kv_type=kv)


def ladder_for(engine: str) -> tuple[str, ...]:
    """The quant rungs of an engine, largest first."""
    return MLX_LADDER if engine == MLX else LLAMA_LADDER


def plan_ladder(model: ResolvedModel, hw: HardwareSpec, query: FitQuery) -> list[FitPlan]:
    """Every rung of the chosen engine's ladder (both engines' when none is chosen), without advice."""
    plans = []
    for engine in [query.engine] if query.engine else [LLAMA_CPP, MLX]:
        engine_query = for_engine(query, engine, model.arch)
        for name in ladder_for(engine):
            rung = replace(model, quant=parse_quant(name), quant_name=name, engine=engine)
            plans.append(plan_fit(rung, hw, engine_query, advise=False))
    return plans


def choose_quant(key: str, quant: str | None, *, hub: bool = False) -> ResolvedModel:
    """The model with the chosen quant. A profile or a catalog model takes any quant (its engine
    follows); a file on disk falls back to its own quant when its engine cannot use the chosen one. With
    `hub`, a repo id not on this machine is planned from its Hub metadata (a GGUF repo's file of that
    quant when it holds one)."""
    model = resolve_model(key, hub=hub)
    if quant is None or quant == model.quant_name:
        return model
    if model.format in ("profile", "catalog"):
        return resolve_model(key, quant)  # no file yet: any quant, and the engine follows it
    if model.hub is not None and any(c.quant == quant.upper() for c in model.hub.choices):
        return resolve_model(key, quant, hub=True)  # a file the GGUF repo really holds
    if (model.engine == MLX) != quant.lower().startswith("mlx-"):
        return model
    return replace(model, quant=parse_quant(quant), quant_name=quant)


def plan_cluster_fit(
    arch: ModelArch, quant: QuantSpec | None, hosts: Sequence[ClusterHost], query: FitQuery, *,
    mode: str = "auto", link: str,
) -> ClusterPlan:  # fmt: skip
    """A plan across hosts (MLX distributed), with the KV type and the context under the same rules."""
    kv = check_kv_type(MLX, query.kv_type)
    context = planned_context(arch, query.ctx_tokens)
    cluster = plan_cluster(
        arch, quant, hosts, ctx_tokens=context.ctx_tokens, kv_type=kv, mode=mode, link=link
    )
    if context.note is None:
        return cluster
    return replace(cluster, basis={CONTEXT_BASIS_KEY: context.note, **cluster.basis})
