"""The machines of a cluster: `--hosts "2x m3-max-40c-64gb"` profile lists and mlx.launch JSON hostfiles.

A hostfile is mlx.launch's own format (mlx/_distributed_utils/common.py, `Hostfile.from_file`): a list
of hosts, or an object with `backend`, `envs` and `hosts`, each host `{"ssh", "ips", "rdma"}`. tuilab
reads one optional extra key per host, `"profile"`, naming the hardware profile to plan that host with;
mlx.launch ignores keys it does not know.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from tuilab.core.cluster import ClusterHost
from tuilab.core.errors import UsageError
from tuilab.models.profiles import load_hardware_profile

_REPEAT = re.compile(r"^(\d+)\s*[x×]\s*(\S+)$")
MAX_HOSTS = 64  # a sanity cap on "Nx profile": no MLX cluster reported comes near it


@dataclass(frozen=True)
class HostEntry:
    """One host of a hostfile: where to ssh, the addresses the ring backend listens on, its profile."""

    ssh: str
    ips: tuple[str, ...]
    profile: str | None


@dataclass(frozen=True)
class Hostfile:
    path: Path
    backend: str
    hosts: tuple[HostEntry, ...]


def parse_hosts(text: str) -> tuple[ClusterHost, ...]:
    """'2x m3-max-40c-64gb' or 'm3-max-40c-64gb,m2-ultra-76c-192gb' (or both mixed) into cluster hosts.

    Hosts are named by profile, numbered when a profile repeats (`m3-max-40c-64gb#2`)."""
    names: list[str] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            raise UsageError(f"--hosts {text!r}: an empty host between commas")
        m = _REPEAT.match(part)
        count, name = (int(m.group(1)), m.group(2)) if m else (1, part)
        if not 1 <= count <= MAX_HOSTS:
            raise UsageError(f"--hosts {text!r}: {count} hosts of {name}; give 1 to {MAX_HOSTS}")
        names += [name] * count
    return _number([(n, n) for n in names])


def _number(pairs: list[tuple[str, str]]) -> tuple[ClusterHost, ...]:
    """(label, profile) pairs into hosts; repeated labels get #1, #2, ... so each host has its own name."""
    labels = [label for label, _ in pairs]
    seen: dict[str, int] = {}
    hosts = []
    for label, profile in pairs:
        hw = load_hardware_profile(profile)
        if labels.count(label) > 1:
            seen[label] = seen.get(label, 0) + 1
            label = f"{label}#{seen[label]}"
        hosts.append(ClusterHost(label, hw))
    return tuple(hosts)


def read_hostfile(path: str | Path) -> Hostfile:
    """Parse an mlx.launch JSON hostfile; a broken one is a UsageError naming the file and the problem."""
    p = Path(path)
    try:
        data = json.loads(p.read_text())
    except OSError as exc:
        raise UsageError(f"hostfile {p}: {exc.strerror or exc}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"hostfile {p}: not JSON ({exc})") from None
    backend = ""
    if isinstance(data, dict):
        backend = str(data.get("backend", ""))
        data = data.get("hosts")
    if not isinstance(data, list) or not data:
        raise UsageError(f"hostfile {p}: expected a list of hosts (or an object with a 'hosts' list)")
    return Hostfile(p, backend, tuple(_entry(p, i, h) for i, h in enumerate(data)))


def _entry(path: Path, i: int, raw: object) -> HostEntry:
    if not isinstance(raw, dict) or not isinstance(raw.get("ssh"), str) or not raw["ssh"]:
        raise UsageError(f"hostfile {path}: host {i} needs an 'ssh' name, as mlx.launch requires")
    ips = raw.get("ips", [])
    if not isinstance(ips, list) or not all(isinstance(a, str) for a in ips):
        raise UsageError(f"hostfile {path}: host {raw['ssh']!r}: 'ips' must be a list of addresses")
    profile = raw.get("profile")
    if profile is not None and not isinstance(profile, str):
        raise UsageError(f"hostfile {path}: host {raw['ssh']!r}: 'profile' must be a profile name")
    return HostEntry(raw["ssh"], tuple(ips), profile)


# Backends whose ranks connect by address, and which hosts need one (mlx/_distributed_utils/launch.py:
# launch_ring refuses any host without "ips"; nccl and jaccl need rank 0's address).
_IPS_FOR_EVERY_HOST = ("ring",)
_IPS_FOR_RANK_0 = ("nccl", "jaccl", "jaccl-ring")


def check_hostfile_addresses(hostfile: Hostfile, backend: str) -> None:
    """Refuse up front a hostfile mlx.launch would refuse for `backend`, naming the hosts without an IP."""
    if backend in _IPS_FOR_EVERY_HOST:
        missing = [h.ssh for h in hostfile.hosts if not h.ips]
    elif backend in _IPS_FOR_RANK_0:
        missing = [h.ssh for h in hostfile.hosts[:1] if not h.ips]
    else:
        return
    if missing:
        who = "every host" if backend in _IPS_FOR_EVERY_HOST else "rank 0"
        raise UsageError(
            f"hostfile {hostfile.path}: the {backend} backend needs an IP address for {who}; add "
            f'"ips": ["<address>"] to {", ".join(missing)} (mlx.launch connects by address, not ssh name)'
        )


def hostfile_hosts(hostfile: Hostfile) -> tuple[ClusterHost, ...]:
    """The hostfile's hosts planned by their `profile` keys; every host needs one to be planned."""
    missing = [h.ssh for h in hostfile.hosts if h.profile is None]
    if missing:
        raise UsageError(
            f"hostfile {hostfile.path}: no 'profile' for {', '.join(missing)}; add "
            '"profile": "<hardware profile>" to each host (see `tuilab hw --profile`) or plan with --hosts'
        )
    return _number([(h.ssh, h.profile or "") for h in hostfile.hosts])
