"""The links between hosts of a cluster: signalling rate and per-message latency over MLX's backends.

Kept apart from the cluster planner so each constant's source sits next to it and the planner stays short.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from tuilab.core.errors import UnknownNameError


@dataclass(frozen=True)
class LinkSpec:
    """The wire between two hosts: its rate, and the latency of one message over MLX's backend on it."""

    name: str
    label: str
    gbps: float  # gigabits per second, the link's signalling rate (an upper bound on throughput)
    hop_latency_s: float  # one message, one hop, through the MLX backend named below
    backend: str  # mlx.launch --backend
    source: str


# Rates: Thunderbolt 4 40 Gb/s and Thunderbolt 5 80 Gb/s (120 Gb/s one way with Bandwidth Boost), from
# https://www.intel.com/content/www/us/en/products/docs/io/thunderbolt/thunderbolt-5-brief.html; 10 GbE is
# IEEE 802.3ae. Latencies: MLX's ring backend is TCP (over the Thunderbolt bridge or Ethernet), about
# 300 us per message: Thunderbolt-bridge round trips of 0.38-0.95 ms measured in
# https://github.com/exo-explore/exo/issues/2295, and "~300us over TCP" in Apple's TN3205 as summarised
# in docs/cluster.md. JACCL (RDMA over Thunderbolt 5, macOS 26.2+) is single-digit microseconds: 5-9 us
# reported with https://github.com/ml-explore/mlx/pull/2808; we take the top of that range.
TCP_RING_HOP_S = 300e-6
RDMA_HOP_S = 9e-6
LINKS: Mapping[str, LinkSpec] = {
    "tb4": LinkSpec("tb4", "Thunderbolt 4, ring (TCP)", 40.0, TCP_RING_HOP_S, "ring", "Intel TB4/TB5 brief"),
    "tb5": LinkSpec("tb5", "Thunderbolt 5, ring (TCP)", 80.0, TCP_RING_HOP_S, "ring", "Intel TB5 brief"),
    "tb5-boost": LinkSpec(
        "tb5-boost", "Thunderbolt 5 Bandwidth Boost, ring", 120.0, TCP_RING_HOP_S, "ring", "Intel TB5 brief"
    ),
    "tb5-rdma": LinkSpec(
        "tb5-rdma", "Thunderbolt 5, JACCL (RDMA)", 80.0, RDMA_HOP_S, "jaccl", "ml-explore/mlx PR #2808"
    ),
    "10gbe": LinkSpec(
        "10gbe", "10 Gigabit Ethernet, ring (TCP)", 10.0, TCP_RING_HOP_S, "ring", "IEEE 802.3ae"
    ),
}
DEFAULT_LINK = "tb4"  # every Apple Silicon Mac has a 40 Gb/s Thunderbolt/USB4 port


def link_spec(name: str) -> LinkSpec:
    key = name.strip().lower()
    if key not in LINKS:
        raise UnknownNameError("link", name, LINKS)
    return LINKS[key]
