"""What fits here, best first, asked once for every face: the built-in catalog ranked for a machine.

`rank_catalog` takes the same `FitQuery` as a single plan (its context default and its KV type), picks
the engine (MLX on a Mac, llama.cpp elsewhere, unless the query names one) and its ladder, and ranks the
catalog models whose architecture the parser knows with `core.rank`. The CLI's `fit --rank` renders it.
"""

from __future__ import annotations

from dataclasses import dataclass

from tuilab.core.hardware import HardwareSpec
from tuilab.core.quant import LLAMA_LADDER, MLX_LADDER, kv_type_or_f16
from tuilab.core.rank import Ranked, RankQuery, default_engine, rank
from tuilab.lab.planning import DEFAULT_CTX_TOKENS, FitQuery
from tuilab.models.catalog import plannable


@dataclass(frozen=True)
class CatalogRanking:
    query: RankQuery
    ranked: list[Ranked]
    planned: int  # catalog models planned
    left_out: int  # catalog models whose architecture is not planned yet


def rank_catalog(hw: HardwareSpec, query: FitQuery, min_tps: float = 0.0) -> CatalogRanking:
    """The catalog models that run on `hw` at the query's context (each clamped to its trained one)."""
    engine = query.engine or default_engine(hw)
    q = RankQuery(
        hw,
        engine,
        MLX_LADDER if engine == "mlx" else LLAMA_LADDER,
        query.ctx_tokens or DEFAULT_CTX_TOKENS,
        kv_type_or_f16(engine, query.kv_type),
        min_tps,
    )
    pool = plannable()
    return CatalogRanking(q, rank(pool.candidates, q), len(pool.candidates), len(pool.left_out))


def on_device_bytes(r: Ranked) -> int:
    """What the model takes where it runs: the GPU's memory, or RAM on a machine without a GPU."""
    m = r.plan.memory
    return m.device_bytes if r.plan.budget_bytes else m.host_bytes
