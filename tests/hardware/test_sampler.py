"""The memory sampler: a real background thread reading real host memory; GPUs from a recorded NVML."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable

import psutil
from recorded import RecordedNVML

from tuilab.hardware.sampler import MemorySampler, Sample, _NvmlSession

ALLOCATION_BYTES = 500 * 1024 * 1024
PAGE_BYTES = 4096


def wait_for(sampler: MemorySampler, done: Callable[[Sample], bool], timeout_s: float = 5.0) -> Sample | None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        sample = sampler.latest()
        if sample is not None and done(sample):
            return sample
        time.sleep(0.05)
    return None


class TestSamplingOffTheCallersThread:
    def test_samples_arrive_at_about_two_hertz(self) -> None:
        with MemorySampler() as sampler:
            time.sleep(1.3)
            history = sampler.history()
        assert 2 <= len(history) <= 4
        gaps = [b.time_s - a.time_s for a, b in itertools.pairwise(history)]
        assert all(0.3 < gap < 1.2 for gap in gaps)  # 0.5 s, with room for a loaded 2-core box

    def test_stop_ends_the_thread(self) -> None:
        sampler = MemorySampler(interval_s=0.05).start()
        sampler.stop()
        assert not any(t.name == "tuilab-memory-sampler" for t in threading.enumerate())

    def test_history_is_bounded(self) -> None:
        with MemorySampler(interval_s=0.01, history=5) as sampler:
            time.sleep(0.3)
            assert len(sampler.history()) == 5


class TestSeesAnAllocation:
    def test_half_a_gigabyte_shows_in_the_readings(self) -> None:
        with MemorySampler(interval_s=0.1) as sampler:
            before = wait_for(sampler, lambda s: True)
            assert before is not None
            block = bytearray(ALLOCATION_BYTES)
            block[::PAGE_BYTES] = b"\x01" * len(range(0, ALLOCATION_BYTES, PAGE_BYTES))  # make pages resident
            grown = ALLOCATION_BYTES * 0.8
            after = wait_for(sampler, lambda s: s.process_rss_bytes - before.process_rss_bytes > grown)
            del block
        assert after is not None, "the sampler never saw the process grow by 400 MB"
        assert after.ram_used_bytes > before.ram_used_bytes  # the host saw it too (other tests add noise)


class TestGpuReadings:
    def test_reads_gpu_memory_and_power(self) -> None:
        with MemorySampler(interval_s=0.05, nvml=RecordedNVML("rtx-3060", "h100-sxm")) as sampler:
            sample = wait_for(sampler, lambda s: bool(s.gpus))
        assert sample is not None
        assert [(g.index, g.power_w) for g in sample.gpus] == [(0, 4.37), (1, 145.22)]
        assert sample.gpus[1].used_bytes > 70 * 1024**3

    def test_unreadable_power_is_none(self) -> None:
        nvml = RecordedNVML("rtx-3060", broken=["nvmlDeviceGetPowerUsage"])
        with MemorySampler(interval_s=0.05, nvml=nvml) as sampler:
            sample = wait_for(sampler, lambda s: bool(s.gpus))
        assert sample is not None and sample.gpus[0].power_w is None

    def test_nvml_that_cannot_start_samples_no_gpus(self) -> None:
        with MemorySampler(interval_s=0.05, nvml=RecordedNVML("rtx-3060", broken=["nvmlInit"])) as sampler:
            sample = wait_for(sampler, lambda s: True)
        assert sample is not None and sample.gpus == ()


class _PsutilThatFailsAtFirst:
    """Real psutil, except that `virtual_memory()` raises RuntimeError for its first `failures` calls, as
    psutil did on a macOS beta (issue 14: "psutil.virtual_memory() raises RuntimeError")."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.Process = psutil.Process
        self.swap_memory = psutil.swap_memory

    def virtual_memory(self) -> object:
        if self.failures > 0:
            self.failures -= 1
            raise RuntimeError("host_statistics64(HOST_VM_INFO64) syscall failed")
        return psutil.virtual_memory()


class TestSurvivesAFailingPsutil:
    def test_the_thread_keeps_sampling_after_psutil_raises(self) -> None:
        ps = _PsutilThatFailsAtFirst(failures=2)
        with MemorySampler(interval_s=0.02, ps=ps) as sampler:
            sample = wait_for(sampler, lambda s: s.ram_total_bytes > 0)
            assert sampler._thread is not None and sampler._thread.is_alive()
        assert sample is not None and ps.failures == 0

    def test_the_failure_is_kept_as_the_reason(self) -> None:
        sampler = MemorySampler(ps=_PsutilThatFailsAtFirst(failures=1))
        sampler._sample_into_history(_NvmlSession(None))
        assert sampler.latest() is None
        assert sampler.last_error is not None and "RuntimeError" in sampler.last_error
