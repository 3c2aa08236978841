"""Run one model across several machines through `mlx.launch` and mlx-lm's sharded loading.

The parent side starts `mlx.launch` with an mlx.launch JSON hostfile and turns rank 0's event lines
into the same events a local run gives (Loaded, Tokens, Stats, Finished); a failure on any rank becomes a
`DistributedError` naming the host. Run as `python -m tuilab.engines.distributed JOB`, it is one rank.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

from tuilab.core.errors import EngineError
from tuilab.engines.events import Event, Finished, Loaded, Stats, Tokens
from tuilab.engines.protocol import MLX, MLX_KV_GROUP_SIZE, LoadInfo
from tuilab.hardware.mlx_compat import MLX_DISTRIBUTED_UTILS, MLX_LM_SHARDED_LOAD, require

EVENT_PREFIX = "@@tuilab "
# mlx.launch's own words when a rank ends badly (mlx/_distributed_utils/launch.py, _launch_with_io).
_RANK_EXIT = re.compile(r"Node with rank (\d+) (?:exited with code (-?\d+)|was killed)")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
STDERR_TAIL_LINES = 20


class DistributedError(EngineError):
    """A distributed run failed; `host` and `rank` say where (None when no rank could be blamed)."""

    def __init__(self, message: str, host: str | None = None, rank: int | None = None) -> None:
        self.host = host
        self.rank = rank
        super().__init__(message)


@dataclass(frozen=True)
class DistributedJob:
    """Everything each rank needs; it travels as one JSON argument through mlx.launch."""

    model_path: str
    hosts: tuple[str, ...]  # names by rank, for error messages
    prompt: str
    max_tokens: int
    backend: str = "ring"
    mode: str = "auto"  # "tensor", "pipeline" or "auto" (mlx-lm's sharded_load choice)
    temperature: float = 0.0
    seed: int = 0
    kv_bits: int | None = None  # a quantized KV cache (protocol.MLX_KV_BITS), None: mlx-lm's f16

    def to_json(self) -> str:
        return json.dumps(asdict(self))


def check_mlx_versions(mlx_version: str | None = None, mlx_lm_version: str | None = None) -> None:
    """Refuse, in one line naming the version needed, an MLX too old for mlx.launch or sharded loading."""
    require("mlx", MLX_DISTRIBUTED_UTILS, "a distributed run (mlx._distributed_utils)", mlx_version)
    require("mlx-lm", MLX_LM_SHARDED_LOAD, "a distributed run (mlx_lm.utils.sharded_load)", mlx_lm_version)


def launch_argv(hostfile: Path, job: DistributedJob, python: str = sys.executable) -> list[str]:
    """The mlx.launch command line: the launcher in this interpreter, each rank `python -m` this module.

    Every host needs tuilab installed at the same interpreter path; mlx.launch runs the command over ssh
    on remote hosts and directly on 127.0.0.1."""
    launcher = "from mlx._distributed_utils.launch import main; main()"
    rank_cmd = [python, "-m", "tuilab.engines.distributed", job.to_json()]
    return [python, "-c", launcher, "--hostfile", str(hostfile), "--backend", job.backend, "--", *rank_cmd]


class DistributedRun:
    """One `mlx.launch` process: iterate `events()`; `cancel()` ends every rank; use it as a context."""

    def __init__(self, hostfile: Path, job: DistributedJob) -> None:
        self.job = job
        self._proc = subprocess.Popen(
            launch_argv(hostfile, job),
            stdin=subprocess.DEVNULL,  # mlx.launch forwards its stdin to every rank
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,  # its own process group, so cancel() reaches the ranks too
        )
        self._stderr: list[str] = []
        self._reader = threading.Thread(target=_drain, args=(self._proc.stderr, self._stderr), daemon=True)
        self._reader.start()

    def __enter__(self) -> DistributedRun:
        return self

    def __exit__(self, *exc: object) -> None:
        self.cancel()

    def events(self) -> Iterator[Event]:
        """Rank 0's events as they arrive; raises DistributedError naming the host if any rank fails."""
        assert self._proc.stdout is not None
        finished = False
        failure: dict[str, Any] | None = None
        for line in self._proc.stdout:
            raw = _parse_line(line)
            if raw is None:
                continue
            if raw["event"] == "failed":
                failure = failure or raw
                continue
            event = _to_event(raw, self.job)
            finished = finished or isinstance(event, Finished)
            yield event
        code = self._proc.wait()
        self._reader.join(timeout=5)
        if failure is not None or code != 0 or not finished:
            raise failure_error(failure, "".join(self._stderr), code, self.job.hosts)

    def cancel(self) -> None:
        if self._proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._proc.pid, signal.SIGTERM)  # the group this run started, by its id
            self._proc.wait(timeout=10)


def _drain(stream: IO[str] | None, into: list[str]) -> None:
    if stream is not None:
        for line in stream:
            into.append(line)


def _parse_line(line: str) -> dict[str, Any] | None:
    at = line.find(EVENT_PREFIX)
    if at < 0:
        return None
    try:
        raw = json.loads(line[at + len(EVENT_PREFIX) :])
    except json.JSONDecodeError:
        return None  # a line cut by another rank's output: mlx.launch interleaves by chunk, not by line
    return raw if isinstance(raw, dict) and "event" in raw else None


def _to_event(raw: dict[str, Any], job: DistributedJob) -> Event:
    kind = raw["event"]
    if kind == "loaded":
        info = LoadInfo(MLX, raw["backend"], raw["weights_bytes"], None, None, raw["n_layers"], None, None)
        return Loaded(raw["load_s"], info, None)
    if kind == "tokens":
        return Tokens(raw["text"], raw["n_tokens"], raw["total_tokens"], raw["elapsed_s"])
    if kind == "stats":
        peaks = raw["host_peak_bytes"]
        return Stats(
            raw["ttft_s"], raw["prompt_tokens"], raw["prompt_tps"], raw["gen_tokens"], raw["gen_tps"],
            max(peaks), peaks[0], None, None, None, raw["wall_s"], sum(raw.get("host_kv_bytes", [])) or None,
        )  # fmt: skip
    return Finished(raw["reason"])


def failure_error(
    failure: dict[str, Any] | None, stderr: str, code: int, hosts: Sequence[str]
) -> DistributedError:
    """Name the host that failed: a rank's own report first, else mlx.launch's 'Node with rank N' line."""
    tail = "\n".join(_ANSI.sub("", stderr).strip().splitlines()[-STDERR_TAIL_LINES:])
    if failure is not None:
        rank = int(failure.get("rank", 0))
        return DistributedError(
            f"host {_host(hosts, rank)} (rank {rank}) failed: {failure.get('reason', '?')}",
            _host(hosts, rank),
            rank,
        )
    m = _RANK_EXIT.search(_ANSI.sub("", stderr))
    if m is not None:
        rank = int(m.group(1))
        how = f"exited with code {m.group(2)}" if m.group(2) else "was killed"
        return DistributedError(
            f"host {_host(hosts, rank)} (rank {rank}) {how}\n{tail}", _host(hosts, rank), rank
        )
    return DistributedError(f"mlx.launch exited with code {code} before the run finished\n{tail}")


def _host(hosts: Sequence[str], rank: int) -> str:
    return hosts[rank] if 0 <= rank < len(hosts) else f"rank {rank}"


# ---------------------------------------------------------------- one rank (runs under mlx.launch)


def _emit(payload: dict[str, Any]) -> None:
    # One write per event, so a line reaches mlx.launch in one piece.
    sys.stdout.write(EVENT_PREFIX + json.dumps(payload) + "\n")
    sys.stdout.flush()


def rank_main(argv: Sequence[str]) -> int:
    job = DistributedJob(**{**json.loads(argv[0]), "hosts": ()})
    hosts = tuple(json.loads(argv[0])["hosts"])
    rank = int(os.environ.get("MLX_RANK", "0"))
    try:
        _serve(job, rank)
    except Exception as exc:  # any failure on this host goes back named, then the launcher stops the rest
        _emit(
            {
                "event": "failed",
                "rank": rank,
                "host": _host(hosts, rank),
                "reason": f"{type(exc).__name__}: {exc}",
            }
        )
        return 1
    return 0


def _serve(job: DistributedJob, rank: int) -> None:
    import mlx.core as mx
    from mlx_lm import stream_generate
    from mlx_lm.generate import generation_stream
    from mlx_lm.models.cache import make_prompt_cache
    from mlx_lm.sample_utils import make_sampler
    from mlx_lm.utils import sharded_load

    group = mx.distributed.init(strict=True, backend=job.backend)
    path = Path(job.model_path)
    if not (path / "config.json").is_file():
        raise EngineError(f"{path} is not an MLX model directory on this host (no config.json)")
    start = time.perf_counter()
    pipeline = group if job.mode == "pipeline" else None
    tensor = group if job.mode == "tensor" else None
    model, tokenizer = sharded_load(str(path), pipeline, tensor)[:2]
    lead = rank == 0
    if lead:
        backend = "metal" if mx.metal.is_available() else "cpu"
        n_layers = len(getattr(model, "layers", ())) or None
        weights = sum(v.nbytes for _, v in _leaves(model.parameters()))
        _emit({"event": "loaded", "load_s": time.perf_counter() - start, "backend": backend,
               "weights_bytes": weights, "n_layers": n_layers})  # fmt: skip
    mx.random.seed(job.seed)  # every rank samples the same token
    mx.reset_peak_memory()
    sampler = make_sampler(temp=job.temperature)
    t0 = time.perf_counter()
    last: Any = None
    n = 0
    ttft_s: float | None = None
    kv: dict[str, Any] = {}
    if job.kv_bits is not None:  # from the first token, as the local MLX engine does
        kv = {"kv_bits": job.kv_bits, "kv_group_size": MLX_KV_GROUP_SIZE, "quantized_kv_start": 0}
    cache = make_prompt_cache(model)
    stream = stream_generate(
        model, tokenizer, job.prompt, max_tokens=job.max_tokens, sampler=sampler, prompt_cache=cache, **kv
    )
    for n, last in enumerate(stream, start=1):
        ttft_s = ttft_s if ttft_s is not None else time.perf_counter() - t0
        if lead:
            _emit({"event": "tokens", "text": last.text, "n_tokens": 1, "total_tokens": n,
                   "elapsed_s": time.perf_counter() - t0})  # fmt: skip
    # mlx-lm evaluates the next step ahead of the loop (async_eval on its own generation_stream),
    # collectives included: wait for that stream on every rank, or our gathers meet its all_sums on the
    # ring and read other bytes (seen: zeros, 1e43). mx.synchronize() alone waits for the default stream.
    mx.synchronize(generation_stream)
    peaks = _gather(mx.get_peak_memory(), group)
    kv_bytes = _gather(_kv_used_bytes(cache), group)  # each host's shard of the KV cache
    if lead and last is not None:
        _emit({"event": "stats", "ttft_s": ttft_s, "prompt_tokens": last.prompt_tokens,
               "prompt_tps": last.prompt_tps, "gen_tokens": last.generation_tokens,
               "gen_tps": last.generation_tps, "host_peak_bytes": [round(p) for p in peaks],
               "host_kv_bytes": [round(k) for k in kv_bytes],
               "wall_s": time.perf_counter() - t0})  # fmt: skip
        _emit({"event": "finished", "reason": last.finish_reason or "length"})


def _gather(value: float, group: Any) -> list[float]:
    """Every rank's `value`, by rank, on every rank (MB in float32 on the wire: exact to ~1 KB)."""
    import mlx.core as mx

    mb: list[float] = mx.distributed.all_gather(mx.array([value / 1e6]), group=group).tolist()  # type: ignore[assignment]
    return [x * 1e6 for x in mb]


def _kv_used_bytes(cache: list[Any]) -> int:
    """Bytes of the cached tokens. mlx-lm allocates in 256-token steps (KVCache.step), so `nbytes`
    would count room not yet used; each array's bytes per token times the tokens held is exact.
    A quantized cache holds (packed, scales, biases) tuples, all with tokens on axis -2."""
    total = 0
    for c in cache:
        for part in (getattr(c, "keys", None), getattr(c, "values", None)):
            for a in part if isinstance(part, tuple | list) else (part,):
                if a is not None and a.shape[-2]:
                    total += a.nbytes * c.offset // a.shape[-2]
    return total


def _leaves(tree: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(tree, dict):
        for k, v in tree.items():
            yield from _leaves(v, f"{prefix}{k}.")
    elif isinstance(tree, list):
        for i, v in enumerate(tree):
            yield from _leaves(v, f"{prefix}{i}.")
    else:
        yield prefix, tree


if __name__ == "__main__":
    raise SystemExit(rank_main(sys.argv[1:]))
