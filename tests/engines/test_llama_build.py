"""The llama.cpp engine says what it was built with, so a user can tell a CUDA build from a CPU-only
one (README, "Install"): the backend names in llama.cpp's system info, and a real load on this box."""

from __future__ import annotations

import pytest

from tuilab.engines.client import EngineWorker
from tuilab.engines.events import Loaded
from tuilab.engines.protocol import LLAMA_CPP, LoadSpec
from tuilab.models.tiny import TinyModels

pytest.importorskip("llama_cpp")

from tuilab.engines.llama import build_backends  # after the skip: it imports llama_cpp

# llama_print_system_info() of llama-cpp-python 0.3.36 (CPU build) on this 2-core AMD EPYC box.
RECORDED_CPU_BUILD = (
    "CPU : SSE3 = 1 | SSSE3 = 1 | AVX = 1 | AVX2 = 1 | F16C = 1 | FMA = 1 | BMI2 = 1 | LLAMAFILE = 1 | "
    "OPENMP = 1 | REPACK = 1 | "
)
# The same call in a CUDA build (llama.cpp b5331, four GPUs), from the `system_info:` line of a
# llama-server log quoted in ikawrakow/ik_llama.cpp's discussion of 2025-05-10; that line is
# "system_info: n_threads = 8 (n_threads_batch = 8) / 16 | " followed by this text.
RECORDED_CUDA_BUILD = (
    "CUDA : ARCHS = 860,890,1200 | USE_GRAPHS = 1 | PEER_MAX_BATCH_SIZE = 128 | FA_ALL_QUANTS = 1 | "
    "CPU : SSE3 = 1 | SSSE3 = 1 | AVX = 1 | AVX2 = 1 | F16C = 1 | FMA = 1 | BMI2 = 1 | AVX512 = 1 | "
    "AVX512_VBMI = 1 | AVX512_VNNI = 1 | AVX512_BF16 = 1 | LLAMAFILE = 1 | OPENMP = 1 | AARCH64_REPACK = 1 | "
)


class TestBuildBackends:
    @pytest.mark.parametrize(
        ("system_info", "backends"),
        [
            pytest.param(RECORDED_CPU_BUILD, ("CPU",), id="cpu-only-build"),
            pytest.param(RECORDED_CUDA_BUILD, ("CUDA", "CPU"), id="cuda-build-lists-cuda-first"),
            pytest.param("", (), id="nothing-reported"),
        ],
    )
    def test_names_the_registries_not_their_features(
        self, system_info: str, backends: tuple[str, ...]
    ) -> None:
        assert build_backends(system_info) == backends


class TestLoadReportsTheBuild:
    def test_this_cpu_box_loads_on_the_cpu_with_a_cpu_build(self, tiny_models: TinyModels) -> None:
        with EngineWorker(LLAMA_CPP) as worker:
            loaded = worker.load(LoadSpec(str(tiny_models.gguf_f16), ctx_tokens=256))
        assert isinstance(loaded, Loaded), loaded
        assert loaded.info.backend == "cpu"
        assert loaded.info.build_backends == ("CPU",)
