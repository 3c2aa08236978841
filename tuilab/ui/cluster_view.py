"""The Cluster tab's data and drawing, without Textual: which MLX quant and hosts to plan, the plan itself
(`core.cluster.plan_cluster`), and its rendering as one memory bar per host, the verdict, the speed with
the link's share of each token, and a line comparing with one host alone.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.console import Group, RenderableType
from rich.text import Text

from tuilab.core.arch import ModelArch
from tuilab.core.cluster import ClusterPlan, HostPlan, SplitMode
from tuilab.core.hardware import HardwareSpec
from tuilab.core.links import DEFAULT_LINK, LINKS
from tuilab.core.plan_types import Verdict
from tuilab.core.quant import QuantSpec, nominal_bits, parse_quant
from tuilab.engines.protocol import MLX
from tuilab.lab.planning import FitQuery, for_engine, plan_cluster_fit
from tuilab.models.hosts import parse_hosts
from tuilab.models.resolve import DEFAULT_MLX_QUANT, resolve_model
from tuilab.ui.render import VERDICT_STYLES, ctx_label, gb, stacked_bar

# The issue's own example of a cluster (issue 8: "a 70B at 8 bits on two 64 GB Macs").
DEFAULT_HOSTS = "2x m3-max-40c-64gb"
# The plain MLX rungs a llama.cpp quant maps onto by nominal bits (tuilab.core.quant.MLX_LADDER, less the
# mixed and float modes, which no GGUF type resembles).
MLX_EQUIVALENTS = ("mlx-bf16", "mlx-8bit", "mlx-6bit", "mlx-5bit", "mlx-4bit", "mlx-3bit", "mlx-2bit")
MAX_BAR_CELLS = 70  # as the Fit tab's bar: wider reads no better
MAX_NAME_CELLS = 24
LABEL_CELLS = 11  # "generation" and a space: the speed lines' labels line up


@dataclass(frozen=True)
class ClusterRequest:
    """Everything one cluster plan depends on; the pane replans when this changes."""

    model_key: str
    quant: str | None
    ctx_tokens: int
    kv_type: str
    hosts_spec: str
    link: str = DEFAULT_LINK


@dataclass(frozen=True)
class ClusterModel:
    name: str
    arch: ModelArch
    quant: QuantSpec
    quant_name: str
    note: str  # "" unless the selection's quant was mapped onto MLX


def default_hosts(hw: HardwareSpec, profile: str | None) -> str:
    """Two of the chosen Mac profile; otherwise the issue's example (this machine has no profile name)."""
    return f"2x {profile}" if profile and hw.unified else DEFAULT_HOSTS


def next_link(name: str) -> str:
    names = list(LINKS)
    return names[(names.index(name) + 1) % len(names)] if name in names else DEFAULT_LINK


def mlx_equivalent(quant_name: str) -> str:
    """The MLX rung nearest in nominal bits: Q8_0 -> mlx-8bit, Q4_K_M -> mlx-4bit, F16 -> mlx-bf16."""
    bits = nominal_bits(parse_quant(quant_name))
    return min(MLX_EQUIVALENTS, key=lambda q: abs(nominal_bits(parse_quant(q)) - bits))


def cluster_model(key: str, quant: str | None) -> ClusterModel:
    """The model as MLX distributed would run it: a cluster is MLX only, so a llama.cpp quant (or a GGUF
    file's own) is planned as its nearest MLX rung, and the note says so."""
    model = resolve_model(key)
    wanted = quant or model.quant_name
    if model.engine == "mlx" and quant is None and model.quant is not None:
        return ClusterModel(model.name, model.arch, model.quant, model.quant_name or "", "")
    if wanted is not None and wanted.lower().startswith("mlx-"):
        return ClusterModel(model.name, model.arch, parse_quant(wanted), wanted, "")
    mlx = mlx_equivalent(wanted) if wanted else DEFAULT_MLX_QUANT
    note = f"{wanted or 'its tensors'} planned as {mlx}: a cluster runs MLX distributed"
    return ClusterModel(model.name, model.arch, parse_quant(mlx), mlx, note)


def plan_request(request: ClusterRequest) -> tuple[ClusterModel, ClusterPlan]:
    """Resolve, parse the hosts and plan; every bad input is a TuilabError with its reason."""
    model = cluster_model(request.model_key, request.quant)
    hosts = parse_hosts(request.hosts_spec)
    query = for_engine(FitQuery(ctx_tokens=request.ctx_tokens, kv_type=request.kv_type), MLX)
    return model, plan_cluster_fit(model.arch, model.quant, hosts, query, link=request.link)


# --- drawing ---------------------------------------------------------------------------------------------


def verdict_word(verdict: Verdict) -> str:
    return "DOES NOT FIT" if verdict is Verdict.NO_FIT else verdict.upper().replace("_", " ")


def short_word(verdict: Verdict) -> str:
    """The host rows' verdict, six cells at most: FITS, TIGHT, NO FIT."""
    return "NO FIT" if verdict is Verdict.NO_FIT else verdict.upper().replace("_", " ")[:6]


def badge(verdict: Verdict) -> Text:
    return Text(f" {verdict_word(verdict)} ", style=VERDICT_STYLES[verdict] + " reverse")


def span_label(host: HostPlan) -> str:
    """Tensor shards as '1/2 each' (of every layer), pipeline stages as their layers 'L40-79'."""
    if host.shard:
        return f"{host.shard} each"
    return f"L{host.layers[0]}-{host.layers[1] - 1}" if host.layers else "-"


def host_line(host: HostPlan, name_cells: int, bar_cells: int) -> Text:
    """'r0  m3-max-40c-64gb#1 1/2 each  ██████░░│  40.2 of  51.5 GB FITS'."""
    name = host.name if len(host.name) <= name_cells else host.name[: name_cells - 1] + "…"
    used = [(host.device_bytes, VERDICT_STYLES[host.verdict])]
    bar = stacked_bar(used, max(host.budget_bytes, host.device_bytes), bar_cells, host.budget_bytes)
    device, budget = gb(host.device_bytes).removesuffix(" GB"), gb(host.budget_bytes).removesuffix(" GB")
    return Text.assemble(
        f"r{host.rank:<3}{name:<{name_cells}} {span_label(host):<10}", bar,
        f" {device:>5} of {budget:>5} GB ", (short_word(host.verdict), VERDICT_STYLES[host.verdict]),
        no_wrap=True, overflow="ellipsis",
    )  # fmt: skip


def host_lines(plan: ClusterPlan, width: int) -> list[Text]:
    if not plan.hosts:
        return [Text("no host can take a share: nothing to draw", style="dim")]
    name_cells = min(MAX_NAME_CELLS, max(4, *(len(h.name) for h in plan.hosts)))
    # rank 4, name and a space, share 10, gigabytes 19, verdict 6: the rest is bar
    bar_cells = max(10, min(MAX_BAR_CELLS, width - name_cells - 40))
    head = f"{'rk':<4}{'host':<{name_cells + 1}}{'share':<10}device memory against its budget (│)"
    lines = [Text(head, style="dim", no_wrap=True, overflow="ellipsis")]
    lines += [host_line(h, name_cells, bar_cells) for h in plan.hosts]
    if plan.unused_hosts:
        lines.append(Text(f"unused: {', '.join(plan.unused_hosts)}", style="dim"))
    return lines


def title_line(model: ClusterModel, plan: ClusterPlan) -> Text:
    if plan.mode is SplitMode.SINGLE:
        how = "one host"
    else:
        how = f"{plan.mode} parallel over {len(plan.hosts)} hosts" if plan.hosts else "no split possible"
    return Text.assemble(
        badge(plan.verdict),
        f" {plan.model} {model.quant_name} · {ctx_label(plan.ctx_tokens)} ctx · KV {plan.kv_type} · "
        f"MLX, {how}",
    )


def speed_lines(plan: ClusterPlan) -> list[Text]:
    """Predicted tok/s and how much of each token the link takes; the no-link speed for scale."""
    if plan.predicted_tg_tps <= 0:
        return [Text("no prediction: the plan has no host to run on", style="dim")]
    token_ms = 1e3 / plan.predicted_tg_tps
    link_ms = plan.link_s_per_token * 1e3
    rate = f"{plan.predicted_tg_tps:.1f} tok/s, {token_ms:.1f} ms a token"
    speed = Text.assemble((f"{'generation':<{LABEL_CELLS}}", "bold"), rate)
    if plan.mode is SplitMode.SINGLE or len(plan.hosts) < 2:
        return [speed, Text(f"{'link':<{LABEL_CELLS}}{plan.link.label}: not used on one host", style="dim")]
    no_link = 1e3 / (token_ms - link_ms) if token_ms > link_ms else 0.0
    share = link_ms / token_ms if token_ms else 0.0
    wire = f"{plan.link.label}, {plan.link.gbps:g} Gb/s: {link_ms:.{1 if link_ms >= 10 else 2}f} ms a token "
    cost = Text.assemble(
        (f"{'link':<{LABEL_CELLS}}", "bold"), wire,
        (f"({share:.0%})", "bold yellow" if share >= 0.25 else ""), f"; {no_link:.1f} tok/s without it",
    )  # fmt: skip
    return [speed, cost]


def alone_line(plan: ClusterPlan) -> Text:
    """How the first host does alone: why the split is needed (or that it is not)."""
    alone = plan.single_host
    text = Text.assemble(
        (f"{'one host':<{LABEL_CELLS}}", "bold"), f"{alone.hardware} alone: ", badge(alone.verdict), " "
    )
    if alone.verdict is Verdict.NO_FIT:
        return text.append(alone.reason)
    return text.append(f"{alone.predicted_tg_tps:.1f} tok/s ({gb(alone.memory.total_bytes)})")


def render_cluster(model: ClusterModel, plan: ClusterPlan, width: int) -> RenderableType:
    items: list[RenderableType] = [title_line(model, plan), Text(plan.reason)]
    if model.note:
        items.append(Text(model.note, style="dim"))
    items += [Text(""), *host_lines(plan, width), Text(""), *speed_lines(plan), alone_line(plan)]
    items += [Text("\nBasis", style="bold"), *(Text(f"{k}: {v}", style="dim") for k, v in plan.basis.items())]
    return Group(*items)
