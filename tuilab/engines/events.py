"""Messages between tuilab and an engine worker process: requests down the pipe, events back up.

All are small frozen dataclasses that pickle cheaply. Events are named as things that happened
(`Loaded`, `Failed`); every generation ends in exactly one `Finished` or `Failed`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tuilab.core.errors import EngineError, TuilabError, UsageError
from tuilab.engines.protocol import LoadInfo, LoadSpec, SamplingParams

# Log lines shown under a failure: enough for the native error and its context (the bench child shows as
# many), few enough that the reason above them stays on a 24-line screen.
DESCRIBE_TAIL_LINES = 8

# --- requests (caller -> worker) ---


@dataclass(frozen=True)
class LoadRequest:
    spec: LoadSpec


@dataclass(frozen=True)
class GuardSpec:
    """What a generation may use: `limit_bytes` of `measure` ("process": phys_footprint on macOS, the
    resident set elsewhere; "nvml": this process's NVIDIA memory), the KV cache growing by
    `kv_bytes_per_token` per token (tuilab.engines.guard)."""

    limit_bytes: int
    kv_bytes_per_token: float
    measure: str = "process"
    source: str = ""  # where the limit came from, for messages


@dataclass(frozen=True)
class GenerateRequest:
    prompt: str
    max_tokens: int
    sampling: SamplingParams = field(default_factory=SamplingParams)
    guard: GuardSpec | None = None


@dataclass(frozen=True)
class CancelRequest:
    pass


@dataclass(frozen=True)
class ShutdownRequest:
    pass


Request = LoadRequest | GenerateRequest | CancelRequest | ShutdownRequest

# --- events (worker -> caller) ---


@dataclass(frozen=True)
class Loaded:
    """The model is ready. `info` is the engine's own report; the rest the worker measured."""

    load_s: float
    info: LoadInfo
    rss_bytes: int | None


@dataclass(frozen=True)
class Tokens:
    """A batch of generated text; `total_tokens` and `elapsed_s` let a UI show a live rate."""

    text: str
    n_tokens: int
    total_tokens: int
    elapsed_s: float  # since the generate request reached the worker


@dataclass(frozen=True)
class Stats:
    """The numbers of one finished (or cancelled) generation."""

    ttft_s: float | None
    prompt_tokens: int | None
    prompt_tps: float | None
    gen_tokens: int
    gen_tps: float | None
    peak_memory_bytes: int | None  # the headline: what the OS charged the worker, or device + private RSS
    engine_peak_memory_bytes: int | None  # MLX's mx.get_peak_memory(): its active buffers only
    rss_bytes: int | None
    rss_peak_bytes: int | None  # the worker's own peak: macOS phys_footprint, Linux VmHWM
    device_memory_bytes: int | None  # NVML: this worker's memory on NVIDIA GPUs
    wall_s: float
    kv_cache_bytes: int | None = None  # the KV cache as the engine held it at the end (MLX distributed)
    peak_memory_source: str | None = None  # "phys_footprint", "VmHWM", "ru_maxrss" or "NVML device + ..."


@dataclass(frozen=True)
class MemoryWarning:
    """Sent once: at this rate the KV cache crosses the budget at `at_tokens` generated tokens."""

    at_tokens: int
    used_bytes: int
    limit_bytes: int

    def describe(self) -> str:
        return (
            f"memory guard: {self.used_bytes / 1e9:.2f} of {self.limit_bytes / 1e9:.2f} GB used; the KV "
            f"cache crosses the budget at about {self.at_tokens} generated tokens, where generation stops"
        )


@dataclass(frozen=True)
class Finished:
    reason: str  # "stop", "length", "ctx_full", "cancelled" or "memory" (the memory guard stopped it)


@dataclass(frozen=True)
class Failed:
    """The load or generation failed, or the worker died; `log_tail` holds the engine's last lines."""

    reason: str
    log_tail: tuple[str, ...] = ()
    exit_code: int | None = None  # the worker's exit status when it died; negative: killed by a signal
    user_error: bool = False  # the request was at fault (a prompt longer than the context), not the engine

    def describe(self, max_lines: int = DESCRIBE_TAIL_LINES) -> str:
        """The reason on its first line, then the engine's last log lines; a user error is its reason alone,
        since the load's log lines say nothing about it and would push the reason off the screen."""
        lines = () if self.user_error else self.log_tail[-max_lines:] if max_lines > 0 else ()
        tail = "\n".join(f"  | {line}" for line in lines)
        return f"{self.reason}\n{tail}" if tail else self.reason

    def message(self, context: str) -> str:
        """What a face shows: `context: describe()`; a user error is its bare reason, which reads alone."""
        return self.reason if self.user_error else f"{context}: {self.describe()}"

    def error(self, context: str) -> TuilabError:
        """The error to raise for it: a UsageError (exit 2) for a user error, else an EngineError (exit 4)."""
        return UsageError(self.reason) if self.user_error else EngineError(self.message(context))


Event = Loaded | Tokens | MemoryWarning | Stats | Finished | Failed
