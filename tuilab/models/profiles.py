"""Profiles: machines and model architectures kept as TOML files, with a source for every number.

Built-in profiles ship inside the package (`tuilab/data/profiles/hardware`, `.../models`); a user's own
live under `config_dir()/profiles/` and override built-ins of the same name. Loading validates every key and
type and returns core types: a `HardwareSpec` for a machine, a `ModelProfile` (a `ModelArch`) for a model.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path

from tuilab import paths
from tuilab.core import hardware as hw
from tuilab.core.arch import ModelArch, swa_layers_from_pattern
from tuilab.core.errors import ProfileError, UnknownNameError
from tuilab.core.hardware import GIB, MIB, GPUSpec, HardwareSpec, Platform, with_gpu_count
from tuilab.models.toml_table import Table as _Table
from tuilab.models.toml_table import load_toml as _load_toml

# What a Linux host keeps for itself (HardwareSpec's default): a headless server idles well under 1 GiB
# and a desktop session at about 1-2 GiB, so 2 GiB is the cautious end.
LINUX_OS_RESERVE_BYTES = 2 * GIB
_BACKENDS = {Platform.APPLE: "metal", Platform.NVIDIA: "cuda"}
# Keys of a hardware profile that [sources] may cite.
_CITABLE = {
    "memory": ("ram_gib", "ram_bandwidth_gbps"),
    "cpu": ("cores", "performance_cores", "efficiency_cores"),
    "gpu": (
        "cores",
        "memory_mib",
        "bandwidth_gbps",
        "fp16_tflops",
        "int8_tops",
        "arch",
        "reserved_mib",
        "pcie_gbps",
    ),
}
HARDWARE_SOURCE_KEYS = tuple(f"{table}.{key}" for table, keys in _CITABLE.items() for key in keys)
# The [arch] keys of a model profile: ModelArch's own fields plus swa_pattern (see swa_layers_from_pattern),
# less those a profile cannot set (the layer kinds, MLA and MoE layout that config.json and GGUF files give).
_NOT_IN_PROFILES = {
    "name", "swa_layers", "sources", "tensors", "file_type", "chunk_tokens", "chunked_layers", "recurrent",
    "recurrent_layers", "parallel_attention", "kv_lora_rank", "q_lora_rank", "qk_rope_head_dim", "v_head_dim",
    "attn_sinks", "attn_output_gate", "n_dense_lead_layers", "moe_layer_step", "expert_bias", "known_family",
}  # fmt: skip
ARCH_KEYS = (*(f.name for f in fields(ModelArch) if f.name not in _NOT_IN_PROFILES), "swa_pattern")


@dataclass(frozen=True)
class ModelProfile:
    """A model named by a profile: its architecture and where the file came from."""

    name: str
    display_name: str
    hf_repo: str | None
    arch: ModelArch
    default_quant: str | None
    path: Path


def _open(path: Path) -> tuple[_Table, str]:
    """The file's root table and its name, which must match the file name when given."""
    root = _Table(path, _load_toml(path))
    name = root.opt_text("name") or path.stem
    if name != path.stem:
        raise root.error("name", f"{name!r} differs from the file name {path.name!r}")
    return root, name


def builtin_profiles_dir() -> Path | None:
    """The built-in profiles shipped inside the package (`tuilab/data/profiles`), so a wheel has them."""
    candidate = Path(__file__).resolve().parents[1] / "data" / "profiles"
    return candidate if candidate.is_dir() else None


def user_profiles_dir() -> Path:
    return paths.config_dir() / "profiles"


def _profile_files(kind: str) -> dict[str, Path]:
    """Profile name -> file; a user's file replaces a built-in one of the same name."""
    builtin = builtin_profiles_dir()
    dirs = [builtin / kind] if builtin is not None else []
    dirs.append(user_profiles_dir() / kind)
    files: dict[str, Path] = {}
    for directory in dirs:
        if directory.is_dir():
            files.update((p.stem, p) for p in sorted(directory.glob("*.toml")))
    return files


def _find(kind: str, label: str, name: str) -> Path:
    if name.endswith(".toml") and Path(name).is_file():
        return Path(name)
    files = _profile_files(kind)
    if name not in files:
        raise UnknownNameError(label, name, sorted(files))
    return files[name]


def hardware_profile_names() -> list[str]:
    return sorted(_profile_files("hardware"))


def model_profile_names() -> list[str]:
    return sorted(_profile_files("models"))


_GPU_COUNT_RE = re.compile(r"^\s*(\d+)\s*x\s*(\S.*)$", re.IGNORECASE)


def load_hardware_profile(name: str) -> HardwareSpec:
    """The machine of profile `name` (or of a .toml path), as an idle machine of that kind. A count prefix
    ("2x rtx-3090-24gb") puts that many of the profile's GPU in the one host."""
    m = _GPU_COUNT_RE.match(name)
    if m is None:
        return _read_hardware(_find("hardware", "hardware profile", name))[0]
    return with_gpu_count(load_hardware_profile(m.group(2).strip()), int(m.group(1)))


def _read_hardware(path: Path) -> tuple[HardwareSpec, int | None]:
    """The spec and the GPU core count (kept apart: only profile matching needs it)."""
    root, _ = _open(path)
    display_name = root.text("display_name")
    platform_text = root.text("platform")
    if platform_text not in {p.value for p in Platform}:
        raise root.error("platform", f"expected apple, nvidia or cpu, got {platform_text!r}")
    platform = Platform(platform_text)
    memory, cpu = root.table("memory"), root.table("cpu")
    ram_bytes = int(memory.number("ram_gib") * GIB)
    ram_bandwidth_gbps = memory.number("ram_bandwidth_gbps")
    cpu_cores = cpu.integer("cores", minimum=1)
    cpu.opt_integer("performance_cores"), cpu.opt_integer("efficiency_cores")  # Apple only; checked
    gpu, gpu_cores, shares_ram = _read_gpu(root, platform, ram_bytes, ram_bandwidth_gbps)
    cited = root.sources(HARDWARE_SOURCE_KEYS)
    root.finish()
    spec = HardwareSpec(
        name=display_name,
        platform=platform,
        ram_bytes=ram_bytes,
        ram_available_bytes=ram_bytes,
        ram_bandwidth_gbps=ram_bandwidth_gbps,
        cpu_cores=cpu_cores,
        gpus=(gpu,) if gpu is not None else (),
        wired_limit_bytes=hw.default_wired_limit_bytes(ram_bytes) if platform is Platform.APPLE else None,
        wired_limit_is_default=True,
        os_reserve_bytes=hw.MAC_MIN_OS_BYTES if platform is Platform.APPLE else LINUX_OS_RESERVE_BYTES,
        is_profile=True,
        sources=_hardware_sources(path, platform, cited, gpu, ram_bytes),
        gpu_shares_ram=shares_ram,
    )
    return spec, gpu_cores


def _read_gpu(
    root: _Table, platform: Platform, ram_bytes: int, ram_bandwidth_gbps: float
) -> tuple[GPUSpec | None, int | None, bool]:
    """The GPU, its core count, and whether it shares the host's RAM (`shares_ram`, NVIDIA only)."""
    table = root.opt_table("gpu")
    if table is None:
        if platform is not Platform.CPU:
            raise root.error("gpu", f"missing (an {platform.value} profile needs its GPU)")
        return None, None, False
    if platform is Platform.CPU:
        raise root.error("gpu", "a cpu profile has no GPU; remove the table or change the platform")
    shares_ram = table.flag("shares_ram")
    if shares_ram and platform is not Platform.NVIDIA:
        raise table.error("shares_ram", "only an nvidia GPU is planned as sharing the host's RAM")
    name, cores = table.text("name"), table.opt_integer("cores", minimum=1)
    memory_mib = table.opt_integer("memory_mib", minimum=1)
    bandwidth_gbps, fp16_tflops = table.opt_number("bandwidth_gbps"), table.opt_number("fp16_tflops")
    backend = table.opt_text("backend") or _BACKENDS[platform]
    reserved_mib = table.opt_integer("reserved_mib") or 0
    if backend != _BACKENDS[platform]:
        raise table.error("backend", f"an {platform.value} GPU uses {_BACKENDS[platform]!r}, got {backend!r}")
    if platform is Platform.APPLE or shares_ram:
        # Unified memory (a Mac, or an NVIDIA GPU on the host's RAM such as the GB10): the GPU's memory
        # is the RAM, so its size and (by default) speed are the RAM's.
        if memory_mib is not None and memory_mib * MIB != ram_bytes:
            problem = f"unified memory must equal memory.ram_gib x 1024, got {memory_mib}"
            raise table.error("memory_mib", problem)
        memory_bytes, bandwidth = ram_bytes, bandwidth_gbps or ram_bandwidth_gbps
    else:
        memory_bytes = table.required("memory_mib", memory_mib) * MIB
        bandwidth = table.required("bandwidth_gbps", bandwidth_gbps)
    if reserved_mib * MIB >= memory_bytes:
        raise table.error("reserved_mib", "must be less than the GPU's memory")
    free_bytes = memory_bytes - reserved_mib * MIB
    if shares_ram:  # what the OS keeps is not the GPU's either
        free_bytes = min(free_bytes, ram_bytes - LINUX_OS_RESERVE_BYTES)
    int8_tops, compute_arch = table.opt_number("int8_tops"), table.opt_text("arch") or ""
    pcie_gbps = table.opt_number("pcie_gbps")
    gpu = GPUSpec(
        name, memory_bytes, free_bytes, bandwidth, fp16_tflops, backend, int8_tops, compute_arch, pcie_gbps
    )
    return gpu, cores, shares_ram


def _hardware_sources(
    path: Path, platform: Platform, cited: Mapping[str, str], gpu: GPUSpec | None, ram_bytes: int
) -> dict[str, str]:
    def src(key: str) -> str:
        return f"profile {path.name}: {cited.get(key, f'no source given for {key}')}"

    out = {
        "profile": str(path),
        "ram_bytes": src("memory.ram_gib"),
        "ram_available_bytes": f"profile {path.name}: an idle machine, so all RAM is available",
        "ram_bandwidth_gbps": src("memory.ram_bandwidth_gbps"),
        "cpu_cores": src("cpu.cores"),
    }
    if platform is Platform.APPLE:
        out["os_reserve_bytes"] = "macOS keeps at least 4 GiB (core.hardware.MAC_MIN_OS_BYTES)"
        out["wired_limit_bytes"] = f"profile {path.name}: " + hw.wired_limit_source(ram_bytes)
        gpu_memory = src("memory.ram_gib") + " (unified memory)"
    else:
        out["os_reserve_bytes"] = "assumed: a Linux host keeps about 2 GiB (profiles.LINUX_OS_RESERVE_BYTES)"
        gpu_memory = src("gpu.memory_mib")
    if gpu is not None:
        out["gpu.memory_bytes"] = gpu_memory
        reserved = cited.get("gpu.reserved_mib", "none assumed on an idle card")
        out["gpu.free_bytes"] = f"profile {path.name}: memory less the driver's reserve ({reserved})"
        bandwidth_key = "gpu.bandwidth_gbps" if "gpu.bandwidth_gbps" in cited else "memory.ram_bandwidth_gbps"
        out["gpu.bandwidth_gbps"] = src(bandwidth_key)
        if gpu.fp16_tflops is not None:
            out["gpu.fp16_tflops"] = src("gpu.fp16_tflops")
        if gpu.int8_tops is not None:
            out["gpu.int8_tops"] = src("gpu.int8_tops")
        if gpu.pcie_gbps is not None:
            out["gpu.pcie_gbps"] = src("gpu.pcie_gbps")
    return out


_VENDOR_WORDS = frozenset({"apple", "nvidia", "geforce", "tesla"})
_MEMORY_WORD = re.compile(r"\d+gb")


def _name_words(name: str) -> frozenset[str]:
    """The words that tell chips apart: no vendor words and no memory sizes ('80GB')."""
    words = re.findall(r"[a-z0-9]+", name.lower())
    return frozenset(w for w in words if w not in _VENDOR_WORDS and not _MEMORY_WORD.fullmatch(w))


def find_hardware_profile(
    platform: str, chip_or_gpu_name: str, memory_bytes: int, gpu_cores: int | None = None
) -> str | None:
    """The profile closest to a detected machine (sysctl's `Apple M3 Max`, NVML's `NVIDIA GeForce RTX
    3060`; RAM on a Mac, GPU memory on NVIDIA), or None. Names match word for word (an M3 is not an M3
    Max, a 4060 not a 4060 Ti); then equal GPU cores, then the nearest memory win."""
    wanted = _name_words(chip_or_gpu_name)
    ranked: list[tuple[int, int, str]] = []
    for name, path in _profile_files("hardware").items():
        try:
            spec, cores = _read_hardware(path)
        except ProfileError:
            continue  # a broken user profile must not break detection; loading it by name reports it
        if spec.platform.value != platform or not spec.gpus or _name_words(spec.gpus[0].name) != wanted:
            continue
        size = spec.ram_bytes if spec.unified else spec.gpus[0].memory_bytes
        core_miss = 0 if gpu_cores is None or cores == gpu_cores else 1
        ranked.append((core_miss, abs(size - memory_bytes), name))
    return min(ranked)[2] if ranked else None


def match_hardware_profile(
    platform: str, chip_or_gpu_name: str, memory_bytes: int, gpu_cores: int | None = None
) -> tuple[str, HardwareSpec] | None:
    """`find_hardware_profile` with the spec: the lookup `tuilab.hardware.detect_hardware` takes."""
    name = find_hardware_profile(platform, chip_or_gpu_name, memory_bytes, gpu_cores)
    return (name, load_hardware_profile(name)) if name else None


def load_model_profile(name: str) -> ModelProfile:
    """The model of profile `name` (or of a .toml path), its tensors derived from the [arch] values."""
    path = _find("models", "model profile", name)
    root, profile_name = _open(path)
    display_name = root.text("display_name")
    hf_repo, default_quant = root.opt_text("hf_repo"), root.opt_text("default_quant")
    arch_table = root.table("arch")
    cited = root.sources(("config", "default_quant", *ARCH_KEYS))
    config = cited.get("config", "no source given")
    sources = {key: f"profile {path.name}: {cited.get(key, config)}" for key in ARCH_KEYS}
    sources["swa_layers"] = sources.pop("swa_pattern")
    arch = _read_arch(arch_table, display_name, sources)
    root.finish()
    return ModelProfile(profile_name, display_name, hf_repo, arch, default_quant, path)


def _read_arch(t: _Table, display_name: str, sources: Mapping[str, str]) -> ModelArch:
    """The [arch] table as a ModelArch: optional keys take ModelArch's defaults, counts are checked."""
    n_layers, n_heads = t.integer("n_layers", minimum=1), t.integer("n_heads", minimum=1)
    hidden_size = t.integer("hidden_size", minimum=1)
    n_kv_heads = t.opt_integer("n_kv_heads", minimum=1) or n_heads
    if n_heads % n_kv_heads:
        raise t.error("n_kv_heads", f"{n_kv_heads} does not divide n_heads ({n_heads})")
    n_experts, n_experts_used = t.opt_integer("n_experts") or 0, t.opt_integer("n_experts_used") or 0
    if n_experts and not 1 <= n_experts_used <= n_experts:
        raise t.error("n_experts_used", f"expected 1 to n_experts ({n_experts}), got {n_experts_used}")
    sliding_window = t.opt_integer("sliding_window", minimum=1)
    swa_pattern = t.opt_integer("swa_pattern") or 0
    return ModelArch(
        name=display_name,
        family=t.text("family"),
        n_layers=n_layers,
        hidden_size=hidden_size,
        n_heads=n_heads,
        n_kv_heads=n_kv_heads,
        head_dim=t.opt_integer("head_dim", minimum=1) or hidden_size // n_heads,
        ffn_size=t.integer("ffn_size", minimum=1),
        vocab_size=t.integer("vocab_size", minimum=1),
        tied_embeddings=t.flag("tied_embeddings"),
        n_experts=n_experts,
        n_experts_used=n_experts_used,
        expert_ffn_size=t.opt_integer("expert_ffn_size") or 0,
        shared_expert_ffn_size=t.opt_integer("shared_expert_ffn_size") or 0,
        sliding_window=sliding_window,
        swa_layers=swa_layers_from_pattern(n_layers, swa_pattern) if sliding_window else frozenset(),
        attn_bias=t.flag("attn_bias"),
        qk_norm=t.flag("qk_norm"),
        fused_qkv=t.flag("fused_qkv"),
        fused_gate_up=t.flag("fused_gate_up"),
        extra_norms_per_layer=t.opt_integer("extra_norms_per_layer") or 0,
        max_ctx_tokens=t.integer("max_ctx_tokens", minimum=1),
        sources=sources,
    )
