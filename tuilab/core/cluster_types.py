"""The result types of a cluster plan: hosts, the split mode, and the frozen `ClusterPlan`.

Kept apart from the planner (tuilab.core.cluster) as `plan_types` is kept apart from `fit`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from tuilab.core.hardware import HardwareSpec
from tuilab.core.links import LinkSpec
from tuilab.core.memory import MemoryBreakdown
from tuilab.core.plan_types import FitPlan, Verdict


class SplitMode(StrEnum):
    SINGLE = "single"  # fits one host: no split, no link
    PIPELINE = "pipeline"
    TENSOR = "tensor"


SPLIT_CHOICES = ("auto", "pipeline", "tensor")


@dataclass(frozen=True)
class ClusterHost:
    """One machine of a cluster: its name (ssh host or profile label) and what it is."""

    name: str
    hw: HardwareSpec


@dataclass(frozen=True)
class HostPlan:
    name: str
    hardware: str
    rank: int
    layers: tuple[int, int] | None  # [start, end) for a pipeline stage; all layers otherwise
    shard: str | None  # "1/2" for tensor parallel
    memory: MemoryBreakdown
    budget_bytes: int
    verdict: Verdict
    reason: str
    compute_s_per_token: float

    @property
    def device_bytes(self) -> int:
        return self.memory.device_bytes

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "hardware": self.hardware,
            "rank": self.rank,
            "layers": list(self.layers) if self.layers is not None else None,
            "shard": self.shard,
            "device_bytes": self.device_bytes,
            "budget_bytes": self.budget_bytes,
            "headroom_bytes": self.budget_bytes - self.device_bytes,
            "verdict": str(self.verdict),
            "reason": self.reason,
            "compute_ms_per_token": round(self.compute_s_per_token * 1e3, 3),
        }


@dataclass(frozen=True)
class ClusterPlan:
    model: str
    quant: str
    mode: SplitMode
    link: LinkSpec
    ctx_tokens: int
    kv_type: str
    hosts: tuple[HostPlan, ...]
    unused_hosts: tuple[str, ...]
    verdict: Verdict
    reason: str
    predicted_tg_tps: float
    link_s_per_token: float
    single_host: FitPlan  # the first host alone, for "splits where one does not"
    basis: Mapping[str, str]

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "quant": self.quant,
            "engine": "mlx",
            "mode": str(self.mode),
            "link": self.link.name,
            "backend": self.link.backend,
            "ctx": self.ctx_tokens,
            "kv_type": self.kv_type,
            "hosts": [h.to_dict() for h in self.hosts],
            "unused_hosts": list(self.unused_hosts),
            "verdict": str(self.verdict),
            "reason": self.reason,
            "predicted_tg_tps": round(self.predicted_tg_tps, 2),
            "link_ms_per_token": round(self.link_s_per_token * 1e3, 3),
            "single_host": {
                "hardware": self.single_host.hardware,
                "verdict": str(self.single_host.verdict),
                "reason": self.single_host.reason,
            },
            "basis": dict(self.basis),
        }
