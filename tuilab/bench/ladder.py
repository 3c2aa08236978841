"""The ladder from start to finish: resolve the input, make each rung, measure it, record it.

Each finished rung is written to the history at once, so Ctrl-C keeps it, and a rerun with the same
settings reuses what is there: rung files on disk, the reference scores, and rung results whose file is
unchanged. Progress (rung, step, ETA) goes to a callback; the CLI prints it on stderr, the TUI shows it.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from tuilab import paths
from tuilab.bench import rungs as rungs_mod
from tuilab.bench.child import BenchError, StopSignal
from tuilab.bench.files import try_claim
from tuilab.bench.measure import SpeedJob, SpeedResult, measure
from tuilab.bench.probes import PROBES, Probe, passed
from tuilab.bench.quality import EvalSettings, Quality, Reference
from tuilab.bench.report import (
    KLD_THRESHOLD,
    LadderRun,
    RungResult,
    history_path,
    read_runs,
    reusable,
    save_run,
)
from tuilab.bench.rungs import Rung, make_rung, plan_rungs, rung_bytes, slug
from tuilab.bench.source import Source, resolve_source
from tuilab.bench.texts import eval_text, text_sha256
from tuilab.core.fit import plan
from tuilab.core.hardware import HardwareSpec
from tuilab.models.discovery import LADDER_DIR


@dataclass(frozen=True)
class LadderOptions:
    quants: tuple[str, ...] | None = None  # None: the default ladder of the engine
    ctx_tokens: int = 512  # llama.cpp's perplexity tool default context (tools/perplexity, -c 512)
    max_windows: int = 8  # 8 x 255 scored tokens; llama.cpp's KLD runs use a few hundred chunks for papers
    trials: int = 3
    prompt_tokens: int = 256
    gen_tokens: int = 64
    probes: bool = True
    kld_threshold: float = KLD_THRESHOLD
    fresh: bool = False  # measure every rung again instead of reusing recorded results
    out_dir: Path | None = None
    stop: StopSignal | None = field(default=None, compare=False, repr=False)  # ends the step in progress


@dataclass(frozen=True)
class Progress:
    rung_index: int  # 0-based; equal to n_rungs for the reference step before the first rung
    n_rungs: int
    quant: str
    step: str  # "reference", "quantize", "score", "speed", "done", "reused", "skipped"
    eta_s: float | None


ProgressFn = Callable[[Progress], None]
PROBE_MIN_CTX_TOKENS = 256


def settings_key(source: Source, text: str, options: LadderOptions) -> str:
    parts = (source.engine, text_sha256(text), options.ctx_tokens, options.max_windows,
             options.prompt_tokens, options.gen_tokens)  # fmt: skip
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:12]


def run_ladder(
    model: str,
    hw: HardwareSpec,
    options: LadderOptions | None = None,
    *,
    engine: str | None = None,
    progress: ProgressFn | None = None,
) -> LadderRun:
    options = options or LadderOptions()
    source = resolve_source(model, engine)
    text = eval_text()
    key = settings_key(source, text, options)
    out_dir = options.out_dir or paths.models_dir() / LADDER_DIR / slug(source.name)
    quants = options.quants or tuple(rungs_mod.default_quants(source.engine, source.quant))
    ladder = plan_rungs(source.path, source.engine, source.quant, quants, out_dir)
    run, claim = _start_run(source, hw, options, key)
    settings = EvalSettings(source.engine, text, options.ctx_tokens, options.max_windows, None, key)
    try:
        _Runner(source, hw, options, run, Reference(out_dir, settings), progress or _quiet).run(ladder)
    finally:
        release(claim)
    return run


def _quiet(_: Progress) -> None:
    pass


def _start_run(
    source: Source, hw: HardwareSpec, options: LadderOptions, key: str
) -> tuple[LadderRun, IO[str] | None]:
    """Continue the newest run when it was interrupted under the same settings (and no other ladder is
    measuring it now), else start a new one; --fresh always starts a new one. With the run comes its claim,
    held until the ladder ends. A start time to the microsecond keeps two runs started together apart."""
    path = history_path(source.name, hw.name)
    last = max(read_runs(path), key=lambda r: r.started_at, default=None)
    if not options.fresh and last is not None and not last.complete and last.settings_key == key:
        claim = try_claim(_claim_path(path, last))
        if claim is not None:
            return last, claim
    started = datetime.now(UTC).isoformat(timespec="microseconds")
    run = LadderRun(source.name, hw.name, source.engine, str(source.path), options.ctx_tokens,
                    options.trials, key, started, options.kld_threshold)  # fmt: skip
    return run, try_claim(_claim_path(path, run))


def _claim_path(history: Path, run: LadderRun) -> Path:
    return history.with_name(f"{history.name}.{slug(run.started_at)}")


def release(claim: IO[str] | None) -> None:
    """Give up a run's claim and remove its lock file (a finished or interrupted run claims no more)."""
    if claim is not None:
        Path(claim.name).unlink(missing_ok=True)
        claim.close()


class _Runner:
    def __init__(
        self, source: Source, hw: HardwareSpec, options: LadderOptions, run: LadderRun, ref: Reference,
        progress: ProgressFn,
    ) -> None:  # fmt: skip
        self.source, self.hw, self.options, self.run_, self.ref = source, hw, options, run, ref
        self.progress = progress
        self.stop = options.stop or StopSignal()  # never set when nobody holds it
        self.history = [] if options.fresh else read_runs(history_path(source.name, hw.name))
        self.measured_s: list[float] = []

    def run(self, ladder: list[Rung]) -> None:
        self._tell(len(ladder), len(ladder), self.source.quant, "reference")
        self.ref_quality = self.ref.score_source(self.source.path, self.stop)
        for i, rung in enumerate(ladder):
            start_s = time.perf_counter()
            result = self._rung(i, len(ladder), rung)
            if not result.reused and result.ok:
                self.measured_s.append(time.perf_counter() - start_s)
            self.run_.rungs = [r for r in self.run_.rungs if r.quant != rung.quant] + [result]
            save_run(self.run_)
            self._tell(i, len(ladder), rung.quant, "reused" if result.reused else "done")
        order = {rung.quant: i for i, rung in enumerate(ladder)}  # a resumed run keeps the ladder's order
        self.run_.rungs.sort(key=lambda r: order.get(r.quant, len(order)))
        self.run_.complete = True
        save_run(self.run_)

    def _tell(self, index: int, n: int, quant: str, step: str) -> None:
        self.stop.check()  # between steps, too: a stop that came while nothing was running
        eta = None
        remaining = n - index - (1 if step in ("done", "reused") else 0)
        if self.measured_s and remaining > 0:
            eta = sum(self.measured_s) / len(self.measured_s) * remaining
        self.progress(Progress(index, n, quant, step, eta))

    def _rung(self, i: int, n: int, rung: Rung) -> RungResult:
        self._tell(i, n, rung.quant, "quantize")
        try:
            made = make_rung(rung, self.source.path, self.stop)
        except BenchError as exc:
            return RungResult(rung.quant, "failed", f"could not make the rung: {exc}", str(rung.path))
        if made == "needs_imatrix":
            return RungResult(rung.quant, "needs_imatrix", rungs_mod.imatrix_hint(rung, self.source.path))
        file_bytes = rung_bytes(rung)
        earlier = reusable(self.history, self.run_.settings_key, rung.quant, file_bytes)
        if earlier is not None:
            return earlier
        fit = plan(self.source.arch, rung.spec, self.hw, ctx_tokens=self.options.ctx_tokens,
                   engine=self.source.engine).to_dict()  # fmt: skip
        base = RungResult(
            rung.quant, "ok", "", str(rung.path), file_bytes, fit["total_bytes"], fit["verdict"]
        )
        if fit["verdict"] == "no_fit":
            return replace(base, status="failed", message=f"will not fit: {fit['reason']}")
        try:
            return self._measure(i, n, rung, base, fit["gpu_layers"])
        except BenchError as exc:
            return replace(base, status="failed", message=str(exc))

    def _measure(self, i: int, n: int, rung: Rung, base: RungResult, fit_gpu_layers: int) -> RungResult:
        self._tell(i, n, rung.quant, "score")
        quality = self.ref_quality if rung.is_source else self.ref.score_rung(rung.path, self.stop)
        self._tell(i, n, rung.quant, "speed")
        gpu_layers = fit_gpu_layers if self.source.engine == "llama.cpp" else None
        speed = measure(self._speed_job(rung, gpu_layers, quality), self.stop)
        return _result(base, quality, speed, self._probes())

    def _probes(self) -> tuple[Probe, ...]:
        # The probe prompts are under 100 tokens with real tokenizers and ~130 with the tiny test vocab;
        # below PROBE_MIN_CTX_TOKENS they would not fit with their answers, so they are left out.
        return PROBES if self.options.probes and self.options.ctx_tokens >= PROBE_MIN_CTX_TOKENS else ()

    def _speed_job(self, rung: Rung, gpu_layers: int | None, quality: Quality) -> SpeedJob:
        o = self.options
        prompt_tokens = max(8, min(o.prompt_tokens, o.ctx_tokens - o.gen_tokens - 16))
        # 0.9: stay under the token target when this stretch of text tokenizes a little denser
        prompt = self.ref.settings.text[: int(prompt_tokens * quality.chars_per_token * 0.9)]
        return SpeedJob(self.source.engine, str(rung.path), o.ctx_tokens, gpu_layers, prompt, o.gen_tokens,
                        o.trials, self._probes())  # fmt: skip


def _result(base: RungResult, quality: Quality, speed: SpeedResult, probes: tuple[Probe, ...]) -> RungResult:
    failed = tuple(p.name for p, a in zip(probes, speed.probe_answers, strict=True) if not passed(p, a))
    d = base.to_dict()
    d.update(
        peak_memory_bytes=speed.peak_memory_bytes,
        pp_tps=speed.pp_tps.median, pp_tps_low=speed.pp_tps.low, pp_tps_high=speed.pp_tps.high,
        tg_tps=speed.tg_tps.median, tg_tps_low=speed.tg_tps.low, tg_tps_high=speed.tg_tps.high,
        ppl=quality.ppl, kld=quality.kld, same_top_fraction=quality.same_top_fraction,
        probes_passed=(len(probes) - len(failed)) if probes else None, probes_total=len(probes),
        probes_failed=failed, measured_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )  # fmt: skip
    return RungResult.from_dict(d)
