"""Turning "load" and "run" into engine work: pick what to load for the chosen model, check the fit on
this machine (never on a what-if profile), and hand a request to the engine thread.

A model the fit oracle says will not fit here is refused with its reason, as `tuilab run` does.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import psutil

from tuilab.core.errors import TuilabError
from tuilab.core.plan_types import FitPlan, Verdict
from tuilab.core.quant import kv_type_or_f16
from tuilab.engines.guard import guard_for_plan
from tuilab.engines.protocol import LoadSpec
from tuilab.models.resolve import ResolvedModel, resolve_model
from tuilab.ui import catalog
from tuilab.ui.engine_runner import RunRequest
from tuilab.ui.widgets.run_pane import RunPane

if TYPE_CHECKING:
    from tuilab.ui.app import TuilabApp


def ui_threads() -> int:
    """Engine threads for a run started from the lab: the engine's own default (physical cores, as
    llama-bench picks them) but never every core, so the event loop keeps one and keys are answered while
    a fast model streams (measured: with both cores of a 2-core box busy, key latency passed 100 ms)."""
    logical = os.cpu_count() or 1
    physical = psutil.cpu_count(logical=False) or logical
    return max(1, min(physical, logical - 1))


def runnable(app: TuilabApp) -> tuple[ResolvedModel, FitPlan, LoadSpec] | None:
    """What to load for the chosen model, or None after telling the user why not."""
    key = app.selection.model
    if key is None:
        app.notify("choose a model first: 2 opens the list, Enter chooses", severity="warning")
        return None
    try:
        model = app.resolve(key, None)  # the file as it is; a what-if quant is for planning only
        if model.format == "hf":  # an unquantized directory runs as stored, like `tuilab run`
            model = resolve_model(key, "f16", "mlx")
        if model.path is None:
            app.notify(
                f"{key} is a profile without weights: choose a model on disk, or the demo", severity="warning"
            )
            return None
        assert app.machine_spec is not None
        fit = catalog.fit_for(model, app.machine_spec, app.selection.ctx_tokens, app.selection.kv_type)
    except TuilabError as exc:
        app.notify(str(exc), title="model", severity="error")
        return None
    if fit.verdict is Verdict.NO_FIT:
        advice = f" Advice: {fit.advice[0]}" if fit.advice else ""
        app.notify(
            f"will not fit on this machine: {fit.reason}.{advice}",
            title="refused",
            severity="error",
            timeout=10,
        )
        return None
    spec = LoadSpec(
        str(model.path), ctx_tokens=fit.ctx_tokens, gpu_layers=fit.gpu_layers if fit.gpu_layers else None,
        kv_type=kv_type_or_f16(model.engine, app.selection.kv_type), threads=ui_threads(),
    )  # fmt: skip
    return model, fit, spec


def label_of(model: ResolvedModel) -> str:
    return f"{model.name} {model.quant_name or ''}".strip()


def busy(app: TuilabApp) -> bool:
    """True (after saying so) while a ladder runs: it needs the memory and the cores."""
    if app.ladder_job is not None:
        app.notify("a ladder is running; Esc stops it", severity="warning")
        return True
    return False


def start_load(app: TuilabApp) -> None:
    if busy(app):
        return
    if app.runner.running:
        app.notify("the engine is busy; Esc cancels the generation", severity="warning")
        return
    found = runnable(app)
    if found is not None:
        model, _, spec = found
        app.run_worker(
            lambda: app.runner.load(model.engine, spec, label_of(model)),
            thread=True,
            group="engine",
            exit_on_error=False,
        )


def start_run(app: TuilabApp, prompt: str) -> None:
    if busy(app):
        return
    if app.runner.running:
        app.notify("already generating; Esc cancels", severity="warning")
        return
    found = runnable(app)
    if found is None:
        return
    model, fit, spec = found
    guard = guard_for_plan(fit.to_dict(), model.engine)
    request = RunRequest(model.engine, spec, label_of(model), prompt, app.max_tokens, guard)
    app.main.query_one(RunPane).started(label_of(model), prompt, fit)
    app.runner.running = True  # before the thread starts, so a second Enter is refused at once
    app.run_worker(lambda: app.runner.run(request), thread=True, group="engine", exit_on_error=False)
