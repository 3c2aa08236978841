"""Ladder results: one row per rung, the sweet spot, and their three forms (Markdown, JSON, TOML history).

The history is one TOML file per model and machine under `data_dir()/ladder`, rewritten atomically after
every finished rung, so Ctrl-C never loses a finished rung and the TUI (`load_history`) can read it.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import tomli_w

from tuilab import paths
from tuilab.bench.files import locked, part_path
from tuilab.bench.rungs import slug
from tuilab.core.plan_types import gb

# Mean KL divergence (nats/token) under which a rung counts as "about as good as the top rung". 4- to
# 6-bit K-quants of 7-8B models measure 0.005-0.05 against F16, 3-bit and 2-bit ones 0.1 and far above
# (llama.cpp tools/perplexity/README.md, the KL divergence tables), so 0.1 keeps 4-bit and rejects 2-bit.
KLD_THRESHOLD = 0.1
# A sweet spot is a choice between rungs: it needs the reference (whose KLD is 0 by definition) and at least
# one quantized rung measured against it. An interrupted ladder with one rung names none (issue 12, item 19).
MIN_MEASURED_RUNGS = 2
LADDER_DIR = "ladder"


@dataclass(frozen=True)
class RungResult:
    quant: str
    status: str  # "ok", "needs_imatrix" or "failed"
    message: str = ""
    path: str = ""
    file_bytes: int | None = None
    predicted_memory_bytes: int | None = None
    verdict: str | None = None  # the fit oracle's verdict at this context on this machine
    peak_memory_bytes: int | None = None
    pp_tps: float | None = None
    pp_tps_low: float | None = None
    pp_tps_high: float | None = None
    tg_tps: float | None = None
    tg_tps_low: float | None = None
    tg_tps_high: float | None = None
    ppl: float | None = None
    kld: float | None = None
    same_top_fraction: float | None = None
    probes_passed: int | None = None
    probes_total: int = 0
    probes_failed: tuple[str, ...] = ()
    measured_at: str = ""
    reused: bool = False  # taken from an earlier run with the same settings

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["probes_failed"] = list(self.probes_failed)
        return d

    @staticmethod
    def from_dict(d: dict[str, Any]) -> RungResult:
        known = {f.name for f in fields(RungResult)}
        values = {k: v for k, v in d.items() if k in known}
        values["probes_failed"] = tuple(values.get("probes_failed", ()))
        return RungResult(**values)


@dataclass(frozen=True)
class SweetSpot:
    quant: str
    speedup: float | None  # generation tokens/s over the top rung's


@dataclass
class LadderRun:
    model: str
    machine: str
    engine: str
    source: str
    ctx_tokens: int
    trials: int
    settings_key: str
    started_at: str
    kld_threshold: float = KLD_THRESHOLD
    complete: bool = False
    rungs: list[RungResult] = field(default_factory=list)

    def sweet_spot(self) -> SweetSpot | None:
        return sweet_spot(self.rungs, self.kld_threshold)

    def no_spot_reason(self) -> str:
        return no_spot_reason(self.rungs, self.kld_threshold)

    def to_dict(self) -> dict[str, Any]:
        spot = self.sweet_spot()
        d = {k: v for k, v in asdict(self).items() if k != "rungs"}
        d["sweet_spot"] = None if spot is None else asdict(spot)
        d["no_sweet_spot_reason"] = None if spot is not None else self.no_spot_reason()
        d["rungs"] = [r.to_dict() for r in self.rungs]
        return d

    @staticmethod
    def from_dict(d: dict[str, Any]) -> LadderRun:
        known = {f.name for f in fields(LadderRun)} - {"rungs"}
        run = LadderRun(**{k: v for k, v in d.items() if k in known})
        run.rungs = [RungResult.from_dict(r) for r in d.get("rungs", [])]
        return run


def measured_rungs(rungs: list[RungResult]) -> int:
    """Rungs with a speed and a KLD against the reference: what a sweet spot is chosen between."""
    return sum(1 for r in rungs if r.ok and r.kld is not None)


def sweet_spot(rungs: list[RungResult], kld_threshold: float = KLD_THRESHOLD) -> SweetSpot | None:
    """The smallest rung the fit oracle says fits (with headroom) whose KLD stays under the threshold, once
    MIN_MEASURED_RUNGS rungs are measured."""
    if measured_rungs(rungs) < MIN_MEASURED_RUNGS:
        return None
    good = [r for r in rungs if r.ok and r.verdict == "fits" and r.kld is not None and r.kld <= kld_threshold]
    if not good:
        return None
    best = min(good, key=lambda r: r.file_bytes or 0)
    top = next((r for r in rungs if r.ok), None)
    speedup = None
    if top is not None and top.tg_tps and best.tg_tps:
        speedup = best.tg_tps / top.tg_tps
    return SweetSpot(best.quant, speedup)


def no_spot_reason(rungs: list[RungResult], kld_threshold: float = KLD_THRESHOLD) -> str:
    """Why there is no sweet spot, as a clause: too few rungs measured, or none good enough."""
    measured = measured_rungs(rungs)
    if measured < MIN_MEASURED_RUNGS:
        return f"not enough rungs ({measured} measured, {MIN_MEASURED_RUNGS} needed)"
    return f"no rung both fits with headroom and keeps KLD under {kld_threshold:g}"


# --- Markdown ----------------------------------------------------------------------------------------


def markdown(run: LadderRun) -> str:
    spot = run.sweet_spot()
    lines = [
        f"Ladder: {run.model} on {run.machine} ({run.engine}, {run.ctx_tokens}-token context, "
        f"{run.trials} trials)",
        "",
        "| Quant | Memory | Tokens/s | Perplexity | KLD | Probes |",
        "|---|---|---|---|---|---|",
    ]
    lines += [_row(r, spot) for r in run.rungs]
    lines += ["", _spot_line(spot, run)]
    notes = [f"- {r.quant}: {r.message}" for r in run.rungs if not r.ok and r.message]
    if notes:
        lines += ["", "Notes:", *notes]
    return "\n".join(lines)


def _row(r: RungResult, spot: SweetSpot | None) -> str:
    name = f"**{r.quant}** ★" if spot and spot.quant == r.quant else r.quant
    if not r.ok:
        return f"| {name} | {_STATUS_TEXT.get(r.status, r.status)} (see notes) | - | - | - | - |"
    memory = "-" if r.peak_memory_bytes is None else gb(r.peak_memory_bytes)
    if r.predicted_memory_bytes is not None:
        memory += f" (plan {gb(r.predicted_memory_bytes)})"
    tps = "-" if r.tg_tps is None else f"{r.tg_tps:.1f}"
    if r.tg_tps_low is not None and r.tg_tps_high is not None and r.tg_tps_high > r.tg_tps_low:
        tps += f" ({r.tg_tps_low:.1f}–{r.tg_tps_high:.1f})"
    ppl = "-" if r.ppl is None else f"{r.ppl:.4g}"
    kld = "-" if r.kld is None else f"{r.kld:.4f}"
    probes = "-" if r.probes_passed is None else f"{r.probes_passed}/{r.probes_total}"
    return f"| {name} | {memory} | {tps} | {ppl} | {kld} | {probes} |"


_STATUS_TEXT = {"needs_imatrix": "needs an importance matrix", "failed": "failed"}


def _spot_line(spot: SweetSpot | None, run: LadderRun) -> str:
    if spot is None:
        return f"No sweet spot: {run.no_spot_reason()}."
    faster = "" if spot.speedup is None else f", {spot.speedup:.2f}x the top rung's tokens/s"
    return f"Sweet spot: {spot.quant} (fits with headroom, KLD under {run.kld_threshold}{faster})."


# --- history -----------------------------------------------------------------------------------------


def history_path(model: str, machine: str) -> Path:
    return paths.data_dir() / LADDER_DIR / f"{slug(model)}--{slug(machine)}.toml"


def _drop_none(value: Any) -> Any:
    """TOML has no null: None values are left out and come back as the dataclass defaults."""
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_none(v) for v in value]
    return value


def read_runs(path: Path) -> list[LadderRun]:
    if not path.is_file():
        return []
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError):
        return []  # a damaged history is a lost history, never a crash
    runs = []
    for d in data.get("runs", []):
        try:
            runs.append(LadderRun.from_dict(d))
        except TypeError:
            continue  # a run written by an incompatible version
    return runs


def save_run(run: LadderRun) -> Path:
    """Write `run` into its history file, replacing an entry with the same start time; atomic, and under
    the history's lock, so a ladder running at the same time never loses its runs to this write."""
    path = history_path(run.model, run.machine)
    with locked(path):
        runs = [r for r in read_runs(path) if r.started_at != run.started_at] + [run]
        doc = {"model": run.model, "machine": run.machine, "runs": [_run_toml(r) for r in runs]}
        tmp = part_path(path)
        try:
            tmp.write_text(tomli_w.dumps(_drop_none(doc)), encoding="utf-8")
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
    return path


def _run_toml(run: LadderRun) -> dict[str, Any]:
    d = run.to_dict()
    d.pop("sweet_spot")  # derived; recomputed on load
    return d


def load_history(model_name: str, machine: str | None = None) -> list[LadderRun]:
    """Every recorded ladder run of `model_name` (on `machine`, or on any machine), newest first."""
    root = paths.data_dir() / LADDER_DIR
    pattern = f"{slug(model_name)}--{slug(machine) if machine else '*'}.toml"
    runs = [run for path in root.glob(pattern) for run in read_runs(path)]
    return sorted(runs, key=lambda r: r.started_at, reverse=True)


def reusable(
    runs: list[LadderRun], settings_key: str, quant: str, file_bytes: int | None
) -> RungResult | None:
    """The newest finished result for this rung under the same settings, if the rung file is unchanged."""
    for run in sorted(runs, key=lambda r: r.started_at, reverse=True):
        if run.settings_key != settings_key:
            continue
        for r in run.rungs:
            if r.quant == quant and r.ok and r.file_bytes == file_bytes:
                return replace(r, reused=True)
    return None
