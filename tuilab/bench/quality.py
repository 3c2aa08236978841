"""Perplexity and KL divergence of a rung against the reference (the input model), on the same tokens.

The reference is scored once per settings key: its log-probabilities (.npy) and its tokens and sums
(.json) stay in the ladder's output directory, so a rerun or a later rung reuses them. Every score runs
in a spawned child (child.py): a native crash ends that rung's score, not tuilab.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

from tuilab.bench.child import StopSignal, run_in_child
from tuilab.bench.files import part_path, remove_stale_parts
from tuilab.bench.scoring import ScoreJob, ScoreResult, score


@dataclass(frozen=True)
class Quality:
    ppl: float
    kld: float  # mean KL(reference || rung) in nats per scored token
    same_top_fraction: float  # scored positions where both pick the same most likely token
    n_scored: int
    chars_per_token: float


@dataclass(frozen=True)
class EvalSettings:
    engine: str
    text: str
    ctx_tokens: int
    max_windows: int
    gpu_layers: int | None
    key: str  # fingerprint of engine, text, context and windows: results compare only within one key


def _quality(result: ScoreResult, kld: float) -> Quality:
    n = max(1, result.n_scored)
    return Quality(
        ppl=math.exp(result.nll_sum / n),
        kld=kld,
        same_top_fraction=result.same_top_count / n,
        n_scored=result.n_scored,
        chars_per_token=result.chars_per_token,
    )


class Reference:
    """The reference run's files for one settings key."""

    def __init__(self, out_dir: Path, settings: EvalSettings) -> None:
        self.settings = settings
        self.logprobs_path = out_dir / f"reference-{settings.key}.npy"
        self.meta_path = out_dir / f"reference-{settings.key}.json"

    def ready(self) -> bool:
        return self.logprobs_path.is_file() and self.meta_path.is_file()

    def tokens(self) -> tuple[int, ...]:
        return tuple(json.loads(self.meta_path.read_text())["tokens"])

    def quality(self) -> Quality:
        meta = json.loads(self.meta_path.read_text())
        return Quality(meta["ppl"], 0.0, 1.0, meta["n_scored"], meta["chars_per_token"])

    def score_source(self, source: Path, stop: StopSignal | None = None) -> Quality:
        """Score the input model and keep its log-probs; reused when already on disk."""
        if self.ready():
            return self.quality()
        self.logprobs_path.parent.mkdir(parents=True, exist_ok=True)
        s = self.settings
        remove_stale_parts(self.logprobs_path)
        part = part_path(self.logprobs_path)  # another ladder may be scoring the same source right now
        job = ScoreJob(s.engine, str(source), s.text, None, s.ctx_tokens, s.max_windows,
                       str(self.logprobs_path), True, s.gpu_layers, str(part))  # fmt: skip
        try:
            result: ScoreResult = run_in_child(score, job, stop=stop)
        finally:
            part.unlink(missing_ok=True)  # renamed into place already, unless the child failed
        quality = _quality(result, 0.0)
        meta = {"tokens": list(result.tokens), "ppl": quality.ppl, "n_scored": quality.n_scored,
                "chars_per_token": quality.chars_per_token}  # fmt: skip
        tmp = part_path(self.meta_path)
        tmp.write_text(json.dumps(meta))
        os.replace(tmp, self.meta_path)
        return quality

    def score_rung(self, path: Path, stop: StopSignal | None = None) -> Quality:
        s = self.settings
        job = ScoreJob(s.engine, str(path), s.text, self.tokens(), s.ctx_tokens, s.max_windows,
                       str(self.logprobs_path), False, s.gpu_layers)  # fmt: skip
        result: ScoreResult = run_in_child(score, job, stop=stop)
        return _quality(result, result.kld_sum / max(1, result.n_scored))
