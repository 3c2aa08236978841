"""The result types of the fit oracle: the verdict, the request it answers, and the frozen `FitPlan`.

Kept apart from the planner so the advisor, the UI and the CLI can name them without importing the
planning code.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from tuilab.core.memory import MemoryBreakdown
from tuilab.core.speed import SpeedPrediction

# Headroom under which a fit is called tight: 10% of the budget. Below it a browser tab or a longer
# prompt than planned can push the machine into swap or an allocation failure (docs/decisions.md).
TIGHT_HEADROOM_FRACTION = 0.10


class Verdict(StrEnum):
    FITS = "fits"
    TIGHT = "tight"
    PARTIAL_OFFLOAD = "partial_offload"
    CPU_ONLY = "cpu_only"
    NO_FIT = "no_fit"


RUNS_ON_DEVICE = (Verdict.FITS, Verdict.TIGHT)


def pool_verdict(need_bytes: int, budget_bytes: int) -> Verdict:
    """Everything in one memory pool: fits, tight (under 10% left) or no fit."""
    headroom = budget_bytes - need_bytes
    if headroom < 0:
        return Verdict.NO_FIT
    return Verdict.TIGHT if headroom < TIGHT_HEADROOM_FRACTION * budget_bytes else Verdict.FITS


@dataclass(frozen=True)
class Request:
    """Everything a plan depends on besides the model and the machine."""

    ctx_tokens: int
    kv_type: str = "f16"
    engine: str = "llama.cpp"
    gpu_layers: int | None = None
    flash_attn: bool = True
    offload_mode: str | None = None  # "layers" or "experts"; None: experts for a MoE model when they help
    cpu_moe_layers: int | None = None  # experts of the first N blocks in host RAM (llama.cpp --n-cpu-moe)
    tensor_split: tuple[float, ...] | None = None  # share of the layers per GPU; None: by free memory


OFFLOAD_MODES = ("layers", "experts")


@dataclass(frozen=True)
class DevicePlan:
    """One GPU of the plan: what it holds against what it may hold."""

    name: str
    device_bytes: int
    budget_bytes: int
    n_layers: int = 0  # repeating blocks placed on it
    weights_bytes: int = 0
    kv_cache_bytes: int = 0
    compute_bytes: int = 0
    overhead_bytes: int = 0

    @property
    def headroom_bytes(self) -> int:
        return self.budget_bytes - self.device_bytes

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "device_bytes": self.device_bytes,
            "budget_bytes": self.budget_bytes,
            "n_layers": self.n_layers,
            "weights_bytes": self.weights_bytes,
            "kv_cache_bytes": self.kv_cache_bytes,
            "compute_bytes": self.compute_bytes,
            "overhead_bytes": self.overhead_bytes,
        }


@dataclass(frozen=True)
class FitPlan:
    model: str
    quant: str
    engine: str
    hardware: str
    hardware_is_profile: bool
    ctx_tokens: int
    kv_type: str
    memory: MemoryBreakdown
    budget_bytes: int
    host_budget_bytes: int
    verdict: Verdict
    reason: str
    gpu_layers: int
    n_layers: int
    max_ctx: int
    predicted_tg_tps: float
    predicted_tg_tps_full_ctx: float
    predicted_pp_tps: float
    advice: tuple[str, ...] = ()
    basis: Mapping[str, str] = field(default_factory=dict)
    offload_mode: str = "layers"  # how a partial plan splits the model: whole layers, or MoE experts
    cpu_moe_layers: int = 0  # blocks whose expert tensors stay in host RAM (offload_mode "experts")
    devices: tuple[DevicePlan, ...] = ()  # one entry per GPU the plan uses (none on a CPU-only plan)
    predicted_ttft_s: float = 0.0  # a prompt filling ctx_tokens, from empty, to the first generated token
    speed_model: SpeedPrediction | None = field(default=None, compare=False, repr=False)

    def predicted_tg_tps_at(self, depth_tokens: int) -> float:
        return self.speed_model.tg_tps_at(depth_tokens) if self.speed_model else self.predicted_tg_tps

    def predicted_pp_tps_at(self, depth_tokens: int) -> float:
        return self.speed_model.pp_tps_at(depth_tokens) if self.speed_model else self.predicted_pp_tps

    def max_ctx_at_tps(self, min_tps: float) -> int:
        """The largest context that fits in memory and keeps generation at `min_tps` or faster to its
        last token; 0 when even an empty context is slower."""
        if self.speed_model is None:
            return self.max_ctx if self.predicted_tg_tps_full_ctx >= min_tps else 0
        depth = self.speed_model.depth_at_tps(min_tps)
        if depth is None:
            return 0
        return self.max_ctx if depth < 0 else min(self.max_ctx, depth)

    def predicted_ttft_s_at(self, prompt_tokens: int, depth_tokens: int = 0) -> float:
        return self.speed_model.ttft_s(prompt_tokens, depth_tokens) if self.speed_model else 0.0

    @property
    def weights_bytes(self) -> int:
        return self.memory.weights_device_bytes + self.memory.weights_host_bytes

    @property
    def gpu_layers_label(self) -> str:
        """ "20 of 32", or "all 32 + output" where llama.cpp's n_gpu_layers (n_layers + 1) also puts the
        output layer on the GPU."""
        label = (
            f"all {self.n_layers} + output"
            if self.gpu_layers > self.n_layers
            else f"{self.gpu_layers} of {self.n_layers}"
        )
        if self.cpu_moe_layers:
            label += f", experts of {self.cpu_moe_layers} in RAM"
        return label

    @property
    def headroom_bytes(self) -> int:
        """Room left in the pool that binds: the device's, or host RAM's for CPU plans; for a plan that
        does not fit, the tighter of the two (negative: the shortfall)."""
        device = self.budget_bytes - self.memory.device_bytes
        if len(self.devices) > 1:  # several GPUs: the fullest one binds
            device = min(d.headroom_bytes for d in self.devices)
        host = self.host_budget_bytes - self.memory.host_bytes
        if self.verdict is Verdict.NO_FIT and self.budget_bytes:
            return min(device, host)
        if self.budget_bytes and self.verdict is not Verdict.CPU_ONLY:
            return device
        return host

    def to_dict(self) -> dict[str, Any]:
        m = self.memory
        d: dict[str, Any] = {
            "model": self.model,
            "quant": self.quant,
            "engine": self.engine,
            "hardware": self.hardware,
            "hardware_is_profile": self.hardware_is_profile,
            "ctx": self.ctx_tokens,
            "kv_type": self.kv_type,
            "weights_bytes": self.weights_bytes,
            "kv_cache_bytes": m.kv_device_bytes + m.kv_host_bytes,
            "compute_bytes": m.compute_device_bytes + m.compute_host_bytes,
            "overhead_bytes": m.overhead_device_bytes + m.overhead_host_bytes,
            "total_bytes": m.total_bytes,
            "device_bytes": m.device_bytes,
            "host_bytes": m.host_bytes,
            "budget_bytes": self.budget_bytes,
            "host_budget_bytes": self.host_budget_bytes,
            "headroom_bytes": self.headroom_bytes,
            "verdict": str(self.verdict),
            "reason": self.reason,
            "advice": list(self.advice),
            "gpu_layers": self.gpu_layers,
            "n_layers": self.n_layers,
            "offload_mode": self.offload_mode,
            "cpu_moe_layers": self.cpu_moe_layers,
            "devices": [dev.to_dict() for dev in self.devices],
            "max_ctx": self.max_ctx,
            "predicted_tg_tps": round(self.predicted_tg_tps, 2),
            "predicted_tg_tps_full_ctx": round(self.predicted_tg_tps_full_ctx, 2),
            "predicted_pp_tps": round(self.predicted_pp_tps, 1),
            "predicted_ttft_s": round(self.predicted_ttft_s, 3),
            "memory": asdict(m),
            "basis": dict(self.basis),
        }
        return d


def gb(n_bytes: int | float) -> str:
    """Bytes as decimal gigabytes, the unit GGUF file listings and datasheets use."""
    return f"{n_bytes / 1e9:.2f} GB"


def tok_s(tps: float | None) -> str:
    """A rate as the CLI prints it; "-" for none."""
    return "-" if tps is None else f"{tps:.1f} tok/s"


def duration(seconds: float) -> str:
    """A wait as people read it: "42s", "3m 07s"."""
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"
