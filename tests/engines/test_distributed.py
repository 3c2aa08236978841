"""Two ranks on this machine over loopback with MLX's ring backend, through mlx.launch, on the tiny model.

mlx.launch runs ranks on 127.0.0.1 without ssh, so this is the real launcher, backend and mlx-lm
sharded loading; only the hosts are one machine.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tuilab.engines.distributed import DistributedError, DistributedJob, DistributedRun, failure_error
from tuilab.engines.events import Finished, Loaded, Stats, Tokens
from tuilab.models.tiny import TinyModels

mlx_lm = pytest.importorskip("mlx_lm")
PROMPT = "Once upon a time"


def loopback_hostfile(tmp_path: Path, n: int = 2) -> Path:
    path = tmp_path / "hosts.json"
    hosts = [{"ssh": "127.0.0.1", "ips": ["127.0.0.1"]} for _ in range(n)]
    path.write_text(json.dumps({"backend": "ring", "hosts": hosts}))
    return path


def one_process_tokens(model_dir: Path, max_tokens: int) -> list[str]:
    from mlx_lm import load, stream_generate
    from mlx_lm.sample_utils import make_sampler

    model, tokenizer = load(str(model_dir))[:2]
    stream = stream_generate(model, tokenizer, PROMPT, max_tokens=max_tokens, sampler=make_sampler(temp=0.0))
    return [r.text for r in stream]


class TestTwoRanksOverLoopback:
    def test_tensor_parallel_gives_the_same_greedy_tokens_as_one_process(
        self, tiny_models: TinyModels, tmp_path: Path
    ) -> None:
        job = DistributedJob(str(tiny_models.mlx_dir), ("mac-a", "mac-b"), PROMPT, 16, mode="tensor")
        with DistributedRun(loopback_hostfile(tmp_path), job) as run:
            events = list(run.events())
        texts = [e.text for e in events if isinstance(e, Tokens)]
        assert texts == one_process_tokens(tiny_models.mlx_dir, 16)
        assert isinstance(events[0], Loaded) and isinstance(events[-1], Finished)
        stats = next(e for e in events if isinstance(e, Stats))
        assert stats.gen_tokens == 16 and stats.gen_tps
        # every host's peak, gathered after the ranks' last collectives (once read as 1e43 or 0)
        assert stats.peak_memory_bytes and 10**6 < stats.peak_memory_bytes < 10**10

    def test_a_quantized_kv_cache_reaches_the_ranks(self, tiny_models: TinyModels, tmp_path: Path) -> None:
        """`tuilab run --hostfile --kv-type mlx-kv4`: the ranks hold a 4-bit cache, measured: 4 bits plus
        an f16 scale and bias per 64 values is 0.28 of f16's bytes for the same tokens."""
        kv_bytes = {}
        for bits in (None, 4):
            job = DistributedJob(str(tiny_models.mlx_dir), ("mac-a", "mac-b"), PROMPT, 24, kv_bits=bits)
            with DistributedRun(loopback_hostfile(tmp_path), job) as run:
                events = list(run.events())  # to the end: the next run must not meet these ranks
            kv_bytes[bits] = next(e for e in events if isinstance(e, Stats)).kv_cache_bytes
        assert kv_bytes[None] and kv_bytes[4]
        assert abs(kv_bytes[4] / kv_bytes[None] - 4.5 / 16) < 0.01, kv_bytes

    def test_a_failing_rank_is_an_error_naming_its_host(
        self, tiny_models: TinyModels, tmp_path: Path
    ) -> None:
        # mlx-lm 0.32 has no pipeline for llama models: every rank fails while loading.
        job = DistributedJob(str(tiny_models.mlx_dir), ("mac-a", "mac-b"), PROMPT, 4, mode="pipeline")
        with (
            pytest.raises(
                DistributedError, match=r"host mac-[ab] \(rank [01]\) failed: .*pipelining"
            ) as info,
            DistributedRun(loopback_hostfile(tmp_path), job) as run,
        ):
            list(run.events())
        assert info.value.host in ("mac-a", "mac-b")


class TestBlamingAHost:
    # Recorded from a real `mlx.launch --backend ring -n 2` run whose rank 1 exited with code 3.
    LAUNCH_STDERR = "\x1b[33m[WARN] Node with rank 1 exited with code 3 \x1b[0m\n"

    def test_launcher_exit_line_names_the_host(self) -> None:
        err = failure_error(None, self.LAUNCH_STDERR, 1, ("studio-1", "studio-2"))
        assert err.host == "studio-2" and err.rank == 1 and "exited with code 3" in str(err)

    def test_a_rank_report_wins_over_the_launcher_line(self) -> None:
        report = {"event": "failed", "rank": 0, "reason": "OSError: no such file"}
        err = failure_error(report, self.LAUNCH_STDERR, 1, ("studio-1", "studio-2"))
        assert err.host == "studio-1" and "no such file" in str(err)

    def test_no_blame_without_evidence(self) -> None:
        err = failure_error(None, "Traceback: boom\n", 1, ("a", "b"))
        assert err.host is None and "boom" in str(err)
