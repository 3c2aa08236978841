"""What fits here, best first: for each candidate model, the best quant that runs on the device at the
asked context and speed, and one score to sort them by.

Walk a ladder from best quality down, no lower than 4 bits per weight, and stop at the first rung whose
plan is `fits` or `tight` and whose predicted generation speed reaches `min_tps`. The score is the
model's parameter count: every rung offered is above the quality floor, where the quant costs little next
to the model's size, so the largest model that runs wins; among equals, more bits, then faster. No tuned
constant; what it favours (a larger model at 4 bits over a smaller one at 8, MoE models by total
parameters) is in docs/decisions.md, "fit --rank".
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from tuilab.core.arch import ModelArch
from tuilab.core.fit import plan
from tuilab.core.hardware import HardwareSpec
from tuilab.core.plan_types import RUNS_ON_DEVICE, FitPlan
from tuilab.core.quant import QuantSpec, nominal_bits, parse_quant


@dataclass(frozen=True)
class Candidate:
    name: str
    arch: ModelArch


@dataclass(frozen=True)
class Ranked:
    """A model with its best rung: the quant and the plan at the asked context."""

    name: str
    quant: str
    plan: FitPlan
    n_params: int
    bits_per_weight: float  # the rung's nominal bits

    @property
    def score(self) -> tuple[int, float, float]:
        """Parameters first; among equals, more bits, then faster generation."""
        return (self.n_params, self.bits_per_weight, self.plan.predicted_tg_tps)


@dataclass(frozen=True)
class RankQuery:
    hw: HardwareSpec
    engine: str
    ladder: Sequence[str]
    ctx_tokens: int
    kv_type: str = "f16"
    min_tps: float = 0.0
    # The quality floor: rungs below 4 bits per weight are not offered. 4-6-bit K-quants of 7-8B models
    # measure a KLD of about 0.005-0.05 nats against F16 in llama.cpp's tables, 3- and 2-bit ones 0.1 and
    # well above: the same line the ladder's sweet spot draws (docs/ladder.md, `--max-kld 0.1`).
    min_bits: float = 4.0


def best_rung(candidate: Candidate, q: RankQuery) -> Ranked | None:
    """The first rung from the top of the ladder that runs on the device at `min_tps` or faster; None when
    none does. The context is clamped to what the model was trained for."""
    ctx = min(q.ctx_tokens, candidate.arch.max_ctx_tokens)
    budget = _device_budget_bytes(q.hw, q.engine)
    n_params = candidate.arch.n_params
    for name in q.ladder:
        quant = parse_quant(name)
        if nominal_bits(quant) < q.min_bits:
            continue
        if weights_floor_bytes(n_params, quant) > budget:
            continue  # the weights alone overflow: planning this rung cannot change that
        fit = plan(
            candidate.arch, quant, q.hw, ctx_tokens=ctx, kv_type=q.kv_type, engine=q.engine, advise=False
        )
        if fit.verdict in RUNS_ON_DEVICE and fit.predicted_tg_tps >= q.min_tps:
            return Ranked(candidate.name, name, fit, n_params, nominal_bits(quant))
    return None


def weights_floor_bytes(n_params: int, quant: QuantSpec) -> int:
    """A lower bound of the rung's weight bytes: every tensor is stored at its quant's nominal bits or
    more (mixtures only raise some tensors; norms stay F32); tests/core/test_rank.py checks it."""
    return int(n_params * nominal_bits(quant) / 8)


def _device_budget_bytes(hw: HardwareSpec, engine: str) -> int:
    """The most a whole model may take on its device: the GPU's budget when the engine uses it, else RAM's."""
    if hw.gpus and (engine == "llama.cpp" or hw.unified):
        return hw.gpu_budget_bytes
    return hw.host_budget_bytes


def rank(
    candidates: Iterable[Candidate], q: RankQuery, on_skip: Callable[[Candidate], None] | None = None
) -> list[Ranked]:
    """Every candidate that runs here, best score first (ties: faster first, then by name)."""
    found: list[Ranked] = []
    for c in candidates:
        r = best_rung(c, q)
        if r is not None:
            found.append(r)
        elif on_skip is not None:
            on_skip(c)
    return sorted(found, key=lambda r: (*(-v for v in r.score), r.name))


def default_engine(hw: HardwareSpec) -> str:
    """MLX on a Mac's unified memory, llama.cpp everywhere else (the engines tuilab runs, README)."""
    return "mlx" if hw.unified and hw.gpus and hw.gpus[0].backend == "metal" else "llama.cpp"
