"""The cluster options of `tuilab fit` and `tuilab run`: plan a model across hosts, run it with mlx.launch.

`tuilab fit MODEL --hosts "2x m3-max-40c-64gb"` (or `--hostfile`) renders `core.cluster.plan_cluster`;
`tuilab run MODEL --hostfile FILE` streams a sharded run through `engines.distributed`. fit.py and run.py
only add these options and hand over to this module.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from tuilab.core.cluster import SPLIT_CHOICES, ClusterHost, ClusterPlan
from tuilab.core.errors import FitRefusedError, UsageError
from tuilab.core.links import DEFAULT_LINK, LINKS
from tuilab.core.plan_types import gb, tok_s
from tuilab.engines.protocol import MLX, MLX_KV_BITS
from tuilab.lab.planning import FitQuery, plan_cluster_fit

if TYPE_CHECKING:
    from tuilab.lab.session import Generation


def add_fit_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("cluster (MLX distributed)")
    g.add_argument("--hosts", help='plan across machines: "2x m3-max-40c-64gb" or "PROFILE,PROFILE"')
    g.add_argument("--hostfile", help="an mlx.launch JSON hostfile whose hosts carry a 'profile' key")
    _add_common(g)


def add_run_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("cluster (MLX distributed)")
    g.add_argument("--hostfile", help="run across the hosts of this mlx.launch JSON hostfile")
    _add_common(g)


def _add_common(g: argparse._ArgumentGroup) -> None:
    g.add_argument("--link", default=DEFAULT_LINK, choices=tuple(LINKS), help="the wire between hosts (tb4)")
    g.add_argument("--split", default="auto", choices=SPLIT_CHOICES, help="tensor or pipeline (auto)")


def wants_cluster(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "hosts", None) or getattr(args, "hostfile", None))


def cluster_hosts(args: argparse.Namespace) -> tuple[ClusterHost, ...]:
    from tuilab.models.hosts import hostfile_hosts, parse_hosts, read_hostfile

    if getattr(args, "hosts", None) and args.hostfile:
        raise UsageError("give --hosts or --hostfile, not both")
    if getattr(args, "hosts", None):
        return parse_hosts(args.hosts)
    return hostfile_hosts(read_hostfile(args.hostfile))


def run_cluster_fit(args: argparse.Namespace, query: FitQuery) -> int:
    """`tuilab fit MODEL --hosts/--hostfile`: the cluster plan as a table or one JSON object."""
    from tuilab.models.resolve import resolve_model

    if query.engine not in (None, MLX):
        raise UsageError("a cluster runs on MLX distributed; --engine must be mlx")
    model = resolve_model(args.model, args.quant, MLX)
    plan = plan_cluster_fit(
        model.arch, model.quant, cluster_hosts(args), query, mode=args.split, link=args.link
    )
    print(json.dumps(plan.to_dict(), indent=2) if args.json else render_cluster(plan))
    return 0


def render_cluster(plan: ClusterPlan) -> str:
    head = f"  {'host':<22}{'rank':>5}{'layers':>10}{'device':>12}{'budget':>12}  verdict"
    lines = [
        f"{plan.model}  {plan.quant}  mlx  {plan.mode} over {len(plan.hosts)} host(s)  "
        f"link {plan.link.label}  ctx {plan.ctx_tokens}",
        "",
        head,
    ]
    for h in plan.hosts:
        span = h.shard or (f"{h.layers[0]}-{h.layers[1] - 1}" if h.layers else "-")
        lines.append(
            f"  {h.name:<22}{h.rank:>5}{span:>10}{gb(h.device_bytes)[:-3]:>12}{gb(h.budget_bytes)[:-3]:>12}"
            f"  {h.verdict}: {h.reason}"
        )
    if plan.unused_hosts:
        lines.append(f"  unused: {', '.join(plan.unused_hosts)}")
    lines += [
        "",
        f"  verdict    {plan.verdict.upper().replace('_', ' ')}: {plan.reason}",
        f"  predicted  {plan.predicted_tg_tps:.1f} tok/s generation, "
        f"link {plan.link_s_per_token * 1e3:.2f} ms/token",
        "",
        "  basis",
    ]
    lines += [f"   {k:<10} {v}" for k, v in plan.basis.items()]
    lines.append("  device and budget in GB (1e9 bytes)")
    return "\n".join(lines)


def run_cluster_command(args: argparse.Namespace, query: FitQuery) -> int:
    """`tuilab run MODEL --hostfile FILE`: check the cluster plan if the hosts name profiles, then stream."""
    # Here, not at the top: `tuilab fit` imports this module for its options and must stay light.
    from tuilab.engines.distributed import DistributedJob, DistributedRun, check_mlx_versions
    from tuilab.lab.launch import prepare_cluster_run
    from tuilab.lab.session import Listener, consume, interrupt_cancels
    from tuilab.models.hosts import check_hostfile_addresses, read_hostfile

    try:
        launch = prepare_cluster_run(
            args.model, read_hostfile(args.hostfile), query, mode=args.split, link=args.link, force=args.force
        )
    except FitRefusedError as exc:
        raise FitRefusedError(f"{exc}; pass --force to run anyway") from None
    if launch.fit is None:
        print("tuilab: note: hosts without a 'profile' key; running without a fit check", file=sys.stderr)
    elif launch.warning:
        print(f"tuilab: warning: {launch.warning}; running anyway (--force)", file=sys.stderr)
    hostfile = launch.hostfile
    backend = hostfile.backend or LINKS[args.link].backend
    check_hostfile_addresses(hostfile, backend)
    check_mlx_versions()
    names = tuple(h.ssh for h in hostfile.hosts)
    job = DistributedJob(launch.model_path, names, args.prompt, args.max_tokens, backend, args.split,
                         args.temperature, kv_bits=MLX_KV_BITS.get(launch.kv_type))  # fmt: skip
    with DistributedRun(hostfile.path, job) as run, interrupt_cancels(run.cancel):
        result = consume(run.events(), Listener(text=_write))
    if result.finished is not None:
        print()
    summary = _result(launch.model.name, names, result, launch.fit)
    print(_stats_line(summary), file=sys.stderr)
    if args.json:
        print(json.dumps(summary))
    return 0


def _write(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def _result(
    model: str, hosts: tuple[str, ...], result: Generation, fit: ClusterPlan | None
) -> dict[str, Any]:
    from tuilab.lab.prompt_rate import prompt_rate

    loaded, stats = result.loaded, result.stats
    return {
        "engine": "mlx-distributed",
        "model": model,
        "hosts": list(hosts),
        "load_s": loaded.load_s if loaded else None,
        "ttft_s": stats.ttft_s if stats else None,
        "prompt_tokens": stats.prompt_tokens if stats else None,
        "prompt_tps": stats.prompt_tps if stats else None,
        "prompt_tps_note": (prompt_rate(stats).why or None) if stats else None,
        "gen_tokens": stats.gen_tokens if stats else 0,
        "gen_tps": stats.gen_tps if stats else None,
        "peak_memory_bytes": stats.peak_memory_bytes if stats else None,
        "kv_cache_bytes": stats.kv_cache_bytes if stats else None,
        "predicted_tg_tps": round(fit.predicted_tg_tps, 2) if fit else None,
    }


def _stats_line(r: dict[str, Any]) -> str:
    peak = "-" if r["peak_memory_bytes"] is None else gb(r["peak_memory_bytes"])
    prompt = f"- ({r['prompt_tps_note']})" if r["prompt_tps_note"] else tok_s(r["prompt_tps"])
    return (
        f"mlx distributed · {r['model']} on {len(r['hosts'])} hosts · gen {r['gen_tokens']} tok at "
        f"{tok_s(r['gen_tps'])} · prompt {prompt} · peak {peak} (largest host)"
        f" · predicted {tok_s(r['predicted_tg_tps'])}"
    )
