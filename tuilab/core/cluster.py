"""Cluster fit: one model across several machines with MLX distributed, as mlx-lm shards it.

`plan_cluster()` splits a model's layers across hosts (pipeline parallel) or shards every layer across
them (tensor parallel), exactly as mlx-lm's `sharded_load` would, and returns each host's memory and
verdict, an overall verdict, and predicted tokens/s including the per-token cost of the link.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from tuilab.core import speed
from tuilab.core.arch import ModelArch
from tuilab.core.cluster_types import SPLIT_CHOICES, ClusterHost, ClusterPlan, HostPlan, SplitMode
from tuilab.core.errors import UnknownNameError, UsageError
from tuilab.core.fit import plan
from tuilab.core.hardware import HardwareSpec
from tuilab.core.links import DEFAULT_LINK, LinkSpec, link_spec
from tuilab.core.memory import MLX_KV_STEP_TOKENS, MemoryBreakdown, kv_layer_bytes, mlx_memory, pad_tokens
from tuilab.core.plan_types import RUNS_ON_DEVICE, FitPlan, Verdict, gb, pool_verdict
from tuilab.core.quant import QuantSpec, SizedTensor, kv_type, weight_tensors

__all__ = [
    "SPLIT_CHOICES",
    "ClusterHost",
    "ClusterPlan",
    "HostPlan",
    "SplitMode",
    "link_seconds_per_token",
    "pipeline_ranges",
    "plan_cluster",
]

# Activations travel as bf16/fp16, mlx-lm's compute dtype for these models: 2 bytes per element.
ACTIVATION_BYTES = 2

# mlx-lm 0.32.2 model types with tensor sharding (`Model.shard`) and with pipelining
# (`model.model.pipeline`), by `grep -l "def shard\|def pipeline" mlx_lm/models/*.py`; mistral loads as
# llama (mlx_lm/utils.py MODEL_REMAPPING). Compared without underscores, as tuilab's families spell them.
TENSOR_FAMILIES = frozenset(
    "deepseek_v2 deepseek_v3 deepseek_v32 exaone_moe glm4_moe glm4_moe_lite gpt_oss kimi_k25 llama mistral "
    "minimax ministral3 mistral4 qwen2 qwen3 qwen3_5 qwen3_moe step3p5".replace("_", "").split()
)
PIPELINE_FAMILIES = frozenset(
    "bailing_hybrid deepseek_v2 deepseek_v3 deepseek_v32 deepseek_v41 glm4_moe glm4_moe_lite kimi_k3 "
    "ministral3 mistral4 qwen2 qwen3_5 qwen3_moe qwen3_next".replace("_", "").split()
)


def pipeline_ranges(n_layers: int, n_hosts: int) -> tuple[tuple[int, int], ...]:
    """Each rank's [start, end) layers as mlx-lm's PipelineMixin.pipeline splits them (models/pipeline.py):
    an even split with the extra layers on low ranks, and rank 0 running the *last* layers."""
    base, extra = divmod(n_layers, n_hosts)
    split = [base + (1 if r < extra else 0) for r in range(n_hosts)]
    starts = [sum(split[r + 1 :]) for r in range(n_hosts)]
    return tuple((starts[r], starts[r] + split[r]) for r in range(n_hosts))


def plan_cluster(
    arch: ModelArch,
    quant: QuantSpec | None,
    hosts: Sequence[ClusterHost],
    *,
    ctx_tokens: int,
    kv_type: str = "f16",
    mode: str = "auto",
    link: str = DEFAULT_LINK,
) -> ClusterPlan:
    """Plan MODEL on these hosts: one host if it fits one, else every host split as mlx-lm would."""
    if not hosts:
        raise UsageError("a cluster needs at least one host")
    if mode not in SPLIT_CHOICES:
        raise UnknownNameError("split mode", mode, SPLIT_CHOICES)
    wire = link_spec(link)
    alone = [
        plan(arch, quant, h.hw, ctx_tokens=ctx_tokens, kv_type=kv_type, engine="mlx", advise=False)
        for h in hosts
    ]
    job = _Job(arch, weight_tensors(quant, arch), tuple(hosts), ctx_tokens, kv_type, wire, alone[0])
    for i, fit in enumerate(alone):
        if fit.verdict in RUNS_ON_DEVICE or len(hosts) == 1:
            return _single(job, i, fit)  # one host: nothing to split, its own verdict stands
    chosen = _choose_mode(arch, len(hosts), mode)
    if not isinstance(chosen, SplitMode):  # a SplitMode is a str too: test for it, not for str
        return _unsplittable(job, chosen)
    if chosen is SplitMode.PIPELINE:
        return _assemble(job, chosen, _pipeline_hosts(arch, job.weights, hosts, ctx_tokens, kv_type))
    return _assemble(job, chosen, _tensor_hosts(arch, job.weights, hosts, ctx_tokens, kv_type))


@dataclass(frozen=True)
class _Job:
    arch: ModelArch
    weights: tuple[SizedTensor, ...]
    hosts: tuple[ClusterHost, ...]
    ctx_tokens: int
    kv_type: str
    wire: LinkSpec
    first_alone: FitPlan

    def plan(self, **kw: Any) -> ClusterPlan:
        return ClusterPlan(
            model=self.arch.name,
            quant=self.first_alone.quant,
            link=self.wire,
            ctx_tokens=self.ctx_tokens,
            kv_type=self.kv_type,
            single_host=self.first_alone,
            **kw,
        )


def _choose_mode(arch: ModelArch, n_hosts: int, mode: str) -> SplitMode | str:
    """The split mlx-lm can do for this family (tensor first, as sharded_load), or why none works."""
    family = arch.family.replace("_", "").lower()
    if family == "llama" and arch.is_moe:
        family = "mixtral"  # GGUF calls Mixtral "llama"; mlx-lm's mixtral.py has no shard or pipeline
    heads_ok = arch.n_heads % n_hosts == 0 and arch.n_kv_heads % n_hosts == 0
    tensor = family in TENSOR_FAMILIES and heads_ok
    pipeline = family in PIPELINE_FAMILIES and arch.n_layers >= n_hosts
    if mode in ("auto", "tensor") and tensor:
        return SplitMode.TENSOR
    if mode in ("auto", "pipeline") and pipeline:
        return SplitMode.PIPELINE
    if mode in ("auto", "tensor") and family in TENSOR_FAMILIES and not (mode == "auto" and pipeline):
        return (
            f"tensor parallel divides the {arch.n_heads} attention and {arch.n_kv_heads} KV heads "
            f"evenly; {n_hosts} hosts do not"
        )
    what = "pipeline" if mode == "pipeline" else "tensor or pipeline"
    return f"mlx-lm 0.32 has no {what} sharding for {arch.family} models"


def _budget(hw: HardwareSpec) -> int:
    # MLX on a Mac uses the GPU's wired pool; anywhere else it runs on the CPU from RAM (core.fit).
    return hw.gpu_budget_bytes if hw.unified else hw.host_budget_bytes


def _verdict(need: int, budget: int) -> tuple[Verdict, str]:
    headroom = budget - need
    verdict = pool_verdict(need, budget)
    if verdict is Verdict.NO_FIT:
        return verdict, f"needs {gb(need)}, over its {gb(budget)} budget by {gb(-headroom)}"
    return verdict, f"{gb(need)} of {gb(budget)}; {gb(headroom)} headroom"


def _host_memory(
    arch: ModelArch, weights: Sequence[SizedTensor], ctx_tokens: int, kv: str, kv_bytes: int
) -> MemoryBreakdown:
    mem = mlx_memory(arch, weights, ctx_tokens=ctx_tokens, kv=kv_type(kv))
    return replace(mem, kv_device_bytes=kv_bytes)


def _kv_bytes(arch: ModelArch, layers: range, ctx_tokens: int, kv: str) -> int:
    ctx = pad_tokens(ctx_tokens, MLX_KV_STEP_TOKENS)
    return sum(kv_layer_bytes(arch, i, ctx, kv_type(kv), 0, engine="mlx") for i in layers)


def _read_bytes(weights: Sequence[SizedTensor], arch: ModelArch, head: bool) -> dict[str, int]:
    """Weight bytes read per token by type: the layers' (head False) or the output head's (head True).
    The input embedding is one row per token, negligible, unless tied to the output (core.fit)."""
    moe_share = arch.n_experts_used / arch.n_experts if arch.is_moe else 1.0
    out: dict[str, int] = {}
    for w in weights:
        if (w.layer is None) != head or (w.name == "token_embd.weight" and not arch.tied_embeddings):
            continue
        share = moe_share if "_exps." in w.name else 1.0
        out[w.type_name] = out.get(w.type_name, 0) + int(w.n_bytes * share)
    return out


def _seconds(hw: HardwareSpec, by_type: Mapping[str, int], kv_bytes: int, n_layers: int) -> float:
    """One token's time on this host for these bytes, by the single-machine speed model (core.speed)."""
    if hw.unified and hw.gpus:
        # The cluster runs mlx-lm on every host, so MLX's constants for this chip's generation apply.
        gpu = hw.gpus[0]
        dev = speed.DeviceTraffic("mlx", gpu.bandwidth_gbps, by_type, kv_bytes, n_layers, chip=gpu.name)
    else:
        dev = speed.DeviceTraffic(  # MLX off a Mac: its CPU backend (core.speed, "mlx-cpu")
            "mlx-cpu", hw.ram_bandwidth_gbps, by_type, kv_bytes, n_layers,
            bandwidth_measured=hw.ram_bandwidth_measured,
        )  # fmt: skip
    tps = speed.predict((dev,)).tg_tps
    return 1.0 / tps if tps > 0 else 0.0


def _host_plan(
    host: ClusterHost, rank: int, span: tuple[int, int], shard: str | None, mem: MemoryBreakdown, t: float
) -> HostPlan:
    budget = _budget(host.hw)
    verdict, reason = _verdict(mem.device_bytes, budget)
    return HostPlan(host.name, host.hw.name, rank, span, shard, mem, budget, verdict, reason, t)


def _pipeline_hosts(
    arch: ModelArch, weights: Sequence[SizedTensor], hosts: Sequence[ClusterHost], ctx: int, kv: str
) -> tuple[HostPlan, ...]:
    # Every stage keeps the embeddings, final norm and head (mlx_lm/utils.py sharded_load) and computes
    # the head on the all-gathered hidden state, so the head's time is counted per host, in parallel.
    plans = []
    for rank, (start, end) in enumerate(pipeline_ranges(arch.n_layers, len(hosts))):
        mine = [w for w in weights if w.layer is None or start <= w.layer < end]
        kv_bytes = _kv_bytes(arch, range(start, end), ctx, kv)
        mem = _host_memory(arch, mine, ctx, kv, kv_bytes)
        t = _seconds(hosts[rank].hw, _read_bytes(mine, arch, head=False), 0, end - start)
        plans.append(_host_plan(hosts[rank], rank, (start, end), None, mem, t))
    return tuple(plans)


def _tensor_hosts(
    arch: ModelArch, weights: Sequence[SizedTensor], hosts: Sequence[ClusterHost], ctx: int, kv: str
) -> tuple[HostPlan, ...]:
    # Model.shard splits every projection of every layer N ways and the KV heads with them; norms,
    # embeddings and the head stay whole on every host (mlx_lm/models/llama.py, shard).
    n = len(hosts)
    mine = [
        replace(w, n_bytes=-(-w.n_bytes // n)) if w.layer is not None and "norm" not in w.name else w
        for w in weights
    ]
    kv_bytes = -(-_kv_bytes(arch, range(arch.n_layers), ctx, kv) // n)
    mem = _host_memory(arch, mine, ctx, kv, kv_bytes)
    layer_bytes = _read_bytes(mine, arch, head=False)
    plans = [
        _host_plan(h, r, (0, arch.n_layers), f"1/{n}", mem, _seconds(h.hw, layer_bytes, 0, arch.n_layers))
        for r, h in enumerate(hosts)
    ]
    return tuple(plans)


def link_seconds_per_token(arch: ModelArch, mode: SplitMode, n_hosts: int, link: LinkSpec) -> float:
    """Time on the wire per generated token.

    Pipeline (mlx-lm's pipelined models): N-1 sends of the hidden state down the stages, then a ring
    all_gather (N-1 steps). Tensor: two all_sums per layer (attention and MLP outputs), each a ring
    all-reduce of 2(N-1) steps carrying 1/N of the hidden state (ml-explore/mlx PR #1784).
    """
    if mode is SplitMode.SINGLE or n_hosts < 2:
        return 0.0
    hidden_bytes = arch.hidden_size * ACTIVATION_BYTES
    bytes_per_s = link.gbps * 1e9 / 8
    if mode is SplitMode.PIPELINE:
        hops = 2 * (n_hosts - 1)
        return hops * (link.hop_latency_s + hidden_bytes / bytes_per_s)
    steps = 2 * arch.n_layers * 2 * (n_hosts - 1)
    return steps * (link.hop_latency_s + hidden_bytes / n_hosts / bytes_per_s)


def _head_seconds(job: _Job) -> float:
    head = _read_bytes(job.weights, job.arch, head=True)
    return max(_seconds(h.hw, head, 0, 0) for h in job.hosts)


def _assemble(job: _Job, mode: SplitMode, host_plans: tuple[HostPlan, ...]) -> ClusterPlan:
    compute = [h.compute_s_per_token for h in host_plans]
    # Pipeline stages run one after another; tensor shards run side by side and wait for the slowest.
    layers_s = sum(compute) if mode is SplitMode.PIPELINE else max(compute)
    head_s = _head_seconds(job)
    link_s = link_seconds_per_token(job.arch, mode, len(host_plans), job.wire)
    total = layers_s + head_s + link_s
    verdict = _worst(h.verdict for h in host_plans)
    wire = job.wire
    basis = {
        "split": _split_basis(mode, host_plans),
        "link": f"{wire.label}, {wire.gbps:g} Gb/s, {wire.hop_latency_s * 1e6:g} us per hop "
        f"({wire.source}; docs/cluster.md): {link_s * 1e3:.2f} ms per token",
        "compute": f"layers {layers_s * 1e3:.2f} ms + head {head_s * 1e3:.2f} ms per token "
        "(core.speed on each host, docs/benchmarks/calibration.md)",
        "speed": f"1 / ({layers_s * 1e3:.2f} + {head_s * 1e3:.2f} + {link_s * 1e3:.2f} link) ms",
    }
    return job.plan(
        mode=mode,
        hosts=host_plans,
        unused_hosts=(),
        verdict=verdict,
        reason=_overall_reason(mode, host_plans, verdict, job.first_alone),
        predicted_tg_tps=1.0 / total if total > 0 else 0.0,
        link_s_per_token=link_s,
        basis=basis,
    )


def _single(job: _Job, index: int, fit: FitPlan) -> ClusterPlan:
    """The model fits one host: run it there; a split would only add the link's cost to every token."""
    host = job.hosts[index]
    hp = HostPlan(
        host.name,
        host.hw.name,
        0,
        (0, job.arch.n_layers),
        None,
        fit.memory,
        fit.budget_bytes,
        fit.verdict,
        fit.reason,
        1.0 / fit.predicted_tg_tps if fit.predicted_tg_tps > 0 else 0.0,
    )
    others = tuple(h.name for i, h in enumerate(job.hosts) if i != index)
    if fit.verdict in RUNS_ON_DEVICE:
        reason = f"fits on {host.name} alone ({fit.reason}); no split, no link cost"
        split = f"none: the model fits {host.name}"
    else:
        reason = f"one host, {host.name}: {fit.reason}; add hosts to split it"
        split = "none: a single host"
    basis = {**fit.basis, "split": split, "link": "not used"}
    return job.plan(
        mode=SplitMode.SINGLE,
        hosts=(hp,),
        unused_hosts=others,
        verdict=fit.verdict,
        reason=reason,
        predicted_tg_tps=fit.predicted_tg_tps,
        link_s_per_token=0.0,
        basis=basis,
    )


def _unsplittable(job: _Job, why: str) -> ClusterPlan:
    return job.plan(
        mode=SplitMode.TENSOR if "tensor" in why else SplitMode.PIPELINE,
        hosts=(),
        unused_hosts=(),
        verdict=Verdict.NO_FIT,
        reason=f"does not fit one host and cannot be split: {why}",
        predicted_tg_tps=0.0,
        link_s_per_token=0.0,
        basis={"split": why},
    )


_SEVERITY = (Verdict.FITS, Verdict.TIGHT, Verdict.PARTIAL_OFFLOAD, Verdict.CPU_ONLY, Verdict.NO_FIT)


def _worst(verdicts: Iterable[Verdict]) -> Verdict:
    return max(verdicts, key=_SEVERITY.index, default=Verdict.NO_FIT)


def _overall_reason(mode: SplitMode, hosts: tuple[HostPlan, ...], verdict: Verdict, alone: FitPlan) -> str:
    how = f"{mode} parallel over {len(hosts)} hosts"
    if verdict is Verdict.NO_FIT:
        over = ", ".join(f"{h.name} {h.reason}" for h in hosts if h.verdict is Verdict.NO_FIT)
        return f"{how}: does not fit: {over}"
    largest = max(hosts, key=lambda h: h.device_bytes / max(h.budget_bytes, 1))
    return (
        f"{how}: every host fits (fullest: {largest.name}, {largest.reason}); "
        f"one {alone.hardware} alone: {alone.verdict}"
    )


def _split_basis(mode: SplitMode, hosts: tuple[HostPlan, ...]) -> str:
    if mode is SplitMode.PIPELINE:
        spans = ", ".join(f"rank {h.rank} layers {h.layers[0]}-{h.layers[1] - 1}" for h in hosts if h.layers)
        return f"mlx-lm PipelineMixin.pipeline even split, rank 0 last (models/pipeline.py): {spans}"
    return f"mlx-lm Model.shard: every layer split {len(hosts)} ways, embeddings and head whole on each host"
