"""The contract every engine meets: load a model, yield one text piece per generated token, cancel, unload.

An engine only yields; the worker around it owns timing, batching and memory readings (the simonw/llm
split). What an engine knows better than a stopwatch (mlx-lm's own tokens/s and peak memory, llama.cpp's
buffer sizes) it hands back through `LoadInfo` and `EngineReport`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

from tuilab.core.errors import UnknownNameError, UsageError
from tuilab.core.quant import kv_type, kv_types_for

LLAMA_CPP = "llama.cpp"
MLX = "mlx"
ENGINE_NAMES: tuple[str, ...] = (LLAMA_CPP, MLX)
# Model formats each engine loads: GGUF files for llama.cpp; MLX-converted or plain Hugging Face
# safetensors directories for mlx-lm (mlx_lm.utils.load reads both).
ENGINE_FORMATS: dict[str, tuple[str, ...]] = {LLAMA_CPP: ("gguf",), MLX: ("mlx", "hf")}
# tuilab's MLX KV types -> mlx-lm's kv_bits; the group size is mlx-lm's default kv_group_size
# (generate.py). Shared by the local MLX engine and distributed ranks.
MLX_KV_BITS: dict[str, int] = {"mlx-kv8": 8, "mlx-kv4": 4}
MLX_KV_GROUP_SIZE = 64
_ENGINE_ALIASES: dict[str, str] = {
    "llama.cpp": LLAMA_CPP,
    "llamacpp": LLAMA_CPP,
    "llama": LLAMA_CPP,
    "mlx": MLX,
}


def engine_name(name: str) -> str:
    """The canonical engine name for what a user typed (`llama`, `llama.cpp`, `mlx`)."""
    try:
        return _ENGINE_ALIASES[name.strip().lower()]
    except KeyError:
        raise UnknownNameError("engine", name, ENGINE_NAMES) from None


def check_kv_type(engine: str, kv_name: str) -> str:
    """The canonical KV cache type name, refusing a type the engine does not offer."""
    kv = kv_type(kv_name)
    if kv.engine not in ("any", engine):
        offered = kv_types_for(engine)
        raise UsageError(f"KV cache type {kv.name!r} is not offered by {engine}; choose from {offered}")
    return kv.name


@dataclass(frozen=True)
class Capabilities:
    """What an engine can do, so callers grey out options instead of failing at load time."""

    formats: tuple[str, ...]  # "gguf", "mlx"
    kv_types: tuple[str, ...]
    gpu_offload: bool  # partial layer offload (llama.cpp); MLX always runs on its default device
    flash_attn: bool


@dataclass(frozen=True)
class LoadSpec:
    """How to load one model. `gpu_layers=None` offloads every layer the build can offload."""

    path: str
    ctx_tokens: int = 4096
    gpu_layers: int | None = None
    kv_type: str = "f16"
    flash_attn: bool = True
    threads: int | None = None  # None: the engine's choice (physical cores for llama.cpp)
    batch_tokens: int = 512  # prompt tokens per decode call (llama.cpp n_batch default, llama.h)
    cpu_moe_layers: int = 0  # llama.cpp: experts of the first N blocks in host RAM (--n-cpu-moe N)
    tensor_split: tuple[float, ...] | None = (
        None  # llama.cpp: share of the layers per GPU; None: by free memory
    )
    main_gpu: int = 0  # llama.cpp: the GPU for intermediate results and the output under a layer split
    max_kv_tokens: int | None = None  # MLX: a rotating KV cache of this many tokens (mlx-lm max_kv_size)


@dataclass(frozen=True)
class SamplingParams:
    """Sampling settings; `temperature == 0` is greedy decoding."""

    temperature: float = 0.0
    top_k: int = 40  # llama.cpp common defaults (common/common.h: top_k 40, top_p 0.95)
    top_p: float = 0.95
    seed: int = 0


@dataclass(frozen=True)
class BufferSize:
    """One allocation the engine reported at load: `kind` is model, KV, compute or output."""

    device: str
    kind: str
    n_bytes: int


@dataclass(frozen=True)
class LoadInfo:
    """What the engine itself says about a loaded model. None means the engine does not report it."""

    engine: str
    backend: str  # "cpu", "cuda", "metal"
    weights_bytes: int | None
    kv_cache_bytes: int | None
    compute_bytes: int | None
    n_layers: int | None
    gpu_layers: int | None
    ctx_tokens: int | None
    buffers: tuple[BufferSize, ...] = field(default_factory=tuple)
    # The compute backends this build of the engine has ("CUDA", "CPU"), so a run shows whether a GPU
    # build is the one installed; () where the engine does not say.
    build_backends: tuple[str, ...] = ()
    overridden_tensors: tuple[str, ...] = ()  # tensors a buffer-type override placed (llama.cpp's load log)

    @property
    def device_bytes(self) -> int:
        """Bytes the engine placed off the host (GPU buffers); 0 on CPU-only and unified machines."""
        return sum(b.n_bytes for b in self.buffers if not b.device.upper().startswith("CPU"))


@dataclass(frozen=True)
class EngineReport:
    """The engine's own account of the last generation; None fields are measured by the worker."""

    prompt_tokens: int | None = None
    prompt_tps: float | None = None
    gen_tps: float | None = None
    peak_memory_bytes: int | None = None
    finish_reason: str = "length"  # "stop" (end-of-generation token), "length" or "ctx_full"


class Engine(Protocol):
    """One loaded model in one process. Not thread-safe except `cancel`, which any thread may call."""

    name: str
    capabilities: Capabilities

    def load(self, spec: LoadSpec) -> LoadInfo: ...

    def generate(self, prompt: str, max_tokens: int, sampling: SamplingParams) -> Iterator[str]:
        """Yield exactly one (possibly empty) text piece per generated token."""
        ...

    def report(self) -> EngineReport: ...

    def cancel(self) -> None: ...

    def unload(self) -> None: ...

    def log_tail(self, n_lines: int = 40) -> list[str]: ...
