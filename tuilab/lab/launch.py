"""Preparing a run: resolve MODEL to weights an engine loads, plan it on this machine, and either hand back
a typed `Launch` or refuse with the plan's reason (`FitRefusedError`) before anything loads.

`tuilab run`, the lab's Run pane and cluster runs all start here, so a run refused in one face is refused
in every face, with the same words.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tuilab.core.cluster import ClusterPlan
from tuilab.core.errors import FitRefusedError, UsageError
from tuilab.core.hardware import HardwareSpec
from tuilab.core.plan_types import FitPlan, Verdict, gb
from tuilab.engines.events import GuardSpec
from tuilab.engines.guard import guard_for_plan
from tuilab.engines.protocol import ENGINE_FORMATS, MLX, LoadSpec, check_kv_type
from tuilab.lab.planning import FitQuery, check_kv_cache, context_note, plan_cluster_fit, plan_fit
from tuilab.models.hosts import Hostfile, hostfile_hosts
from tuilab.models.resolve import ResolvedModel, resolve_model


@dataclass(frozen=True)
class Launch:
    """Everything a session needs to load and run one model, and the plan that allowed it."""

    model: ResolvedModel
    engine: str
    spec: LoadSpec
    fit: FitPlan
    warning: str | None = None  # set when a no-fit load was forced
    note: str | None = None  # set when the context was clamped to the trained one
    guard: GuardSpec | None = None  # the live memory guard (tuilab.engines.guard); None: unguarded

    @property
    def label(self) -> str:
        return f"{self.model.name} {self.model.quant_name or ''}".strip()


def resolve_for_run(model_spec: str, engine: str | None) -> ResolvedModel:
    """MODEL resolved to something with weights on disk that the chosen engine can load."""
    if model_spec == "demo" and engine == MLX:
        from tuilab.models.tiny import ensure_demo_model

        model_spec = str(ensure_demo_model() / "tiny-mlx")
    model = resolve_model(model_spec, None, engine)
    if model.path is None:
        raise UsageError(
            f"{model_spec!r} is a profile without weights; give a GGUF file or a model directory"
        )
    wanted = engine or model.engine
    if model.format not in ENGINE_FORMATS[wanted]:
        raise UsageError(
            f"{model.path}: a {model.format} model; {wanted} loads {', '.join(ENGINE_FORMATS[wanted])}"
        )
    return model


def prepare_run(
    model: ResolvedModel, hw: HardwareSpec, query: FitQuery, *, threads: int | None = None,
    force: bool = False, memory_guard: bool = True, memory_budget_bytes: int | None = None,
) -> Launch:  # fmt: skip
    """The launch for `model` on `hw` (this machine: a what-if profile plans, it never runs). Raises
    FitRefusedError when the plan says no fit, unless `force`; then the launch carries the warning.

    Every run is guarded (`tuilab run` and the Run pane alike) unless `memory_guard` is False: the guard's
    budget is the plan's for the device that bounds the run, or `memory_budget_bytes` when given."""
    engine = query.engine or model.engine
    fit = plan_fit(model, hw, query)
    warning = None
    if fit.verdict is Verdict.NO_FIT:
        message = refusal_message(fit)
        if not force:
            raise FitRefusedError(message)
        warning = message
    spec = LoadSpec(
        str(model.path), ctx_tokens=fit.ctx_tokens,
        gpu_layers=query.gpu_layers if query.gpu_layers is not None else fit.gpu_layers,
        kv_type=fit.kv_type, threads=threads, max_kv_tokens=query.max_kv_tokens,
        cpu_moe_layers=_cpu_moe_to_load(query, fit), tensor_split=query.tensor_split,
    )  # fmt: skip
    guard = guard_for_plan(fit.to_dict(), engine, memory_budget_bytes) if memory_guard else None
    return Launch(model, engine, spec, fit, warning, context_note(fit), guard)


def refusal_message(fit: FitPlan) -> str:
    """Why a load is refused, with the numbers behind it and the plan's advice."""
    m = fit.memory
    parts = [
        f"the fit plan says it will not fit: {fit.reason}",
        f"weights {gb(fit.weights_bytes)}, KV cache {gb(m.kv_device_bytes + m.kv_host_bytes)} at "
        f"{fit.ctx_tokens} tokens, compute {gb(m.compute_device_bytes + m.compute_host_bytes)}, "
        f"total {gb(m.total_bytes)}",
        f"budget {gb(fit.budget_bytes)} GPU, {gb(fit.host_budget_bytes)} RAM",
    ]
    parts += [f"advice: {a}" for a in fit.advice]
    return "; ".join(parts)


@dataclass(frozen=True)
class ClusterLaunch:
    """A run across the hosts of an mlx.launch hostfile; `fit` is None when a host names no profile."""

    model: ResolvedModel
    model_path: str
    hostfile: Hostfile
    kv_type: str
    fit: ClusterPlan | None
    warning: str | None = None


def prepare_cluster_run(
    model_spec: str, hostfile: Hostfile, query: FitQuery, *, mode: str, link: str, force: bool = False
) -> ClusterLaunch:
    """Check the cluster plan when every host names a profile, then hand back the launch; a no-fit
    plan is refused unless `force`, as a single-machine run is."""
    check_kv_type(MLX, query.kv_type)  # the plan counts this KV cache, so the ranks must hold it
    model = resolve_for_run(model_spec, MLX)
    kv = check_kv_cache(model.arch, MLX, query.kv_type)  # and mlx-lm must be able to quantize it
    path = str(Path(str(model.path)).resolve())
    if any(h.profile is None for h in hostfile.hosts):
        return ClusterLaunch(model, path, hostfile, kv, None)
    fit = plan_cluster_fit(model.arch, model.quant, hostfile_hosts(hostfile), query, mode=mode, link=link)
    warning = None
    if fit.verdict is Verdict.NO_FIT:
        message = f"the cluster plan says it will not fit: {fit.reason}"
        if not force:
            raise FitRefusedError(message)
        warning = message
    return ClusterLaunch(model, path, hostfile, kv, fit, warning)


def _cpu_moe_to_load(query: FitQuery, fit: FitPlan) -> int:
    """Blocks whose experts stay in host RAM: the number asked for, else the plan's (0 when the model fits,
    or without a GPU, where everything is in RAM anyway)."""
    if isinstance(query.cpu_moe_layers, int):
        return query.cpu_moe_layers
    return fit.cpu_moe_layers
