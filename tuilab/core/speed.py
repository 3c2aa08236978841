"""Speed prediction: the memory wall for generation, compute for prompt processing.

Generating a token reads every active weight once, so time per token is a fixed per-layer cost plus the
bytes read on each device over that device's bandwidth, scaled by how close its kernels get to peak for
that weight type. Constants are fitted to measurements in docs/benchmarks/calibration.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

# Fraction of peak memory bandwidth llama.cpp's CUDA kernels reach per weight type, fitted on an H100
# (docs/benchmarks/calibration.md: F16 0.876, Q8_0 0.71, Q4_K_M 0.50).
CUDA_EFFICIENCY: Mapping[str, float] = {"F16": 0.876, "BF16": 0.876, "F32": 0.876, "Q8_0": 0.71}
CUDA_DEFAULT_EFFICIENCY = 0.50
CUDA_PER_LAYER_S = 31e-6  # 1.0 ms for 32 layers, same fit
# Metal: one efficiency fits F16 and Q4_0 on M1 Max and M2 Ultra (calibration.md, discussion #4167).
METAL_EFFICIENCY = 0.88
METAL_PER_LAYER_S = 165e-6
# MLX (mlx-lm) on Apple Silicon, fitted on its own: least squares over four public MLX decode measurements
# on M2 Ultra, M3 Ultra, M3 Max and M3 Pro (docs/benchmarks/calibration.md, "MLX generation"); residuals
# within 11%, against -25% to +1% with the Metal constants above, which MLX's kernels outrun.
MLX_EFFICIENCY = 0.865
MLX_PER_LAYER_S = 85e-6
# CPU: share of the host's memory bandwidth a multi-threaded llama.cpp decode loop reaches, against the
# copy bandwidth `tuilab hw --measure` reads (STREAM convention). On the 2-core dev VM (41 GB/s measured)
# a shape-true Llama-3.2-1B read 40.8 GB/s at F16, 37.9 at Q8_0, 36.2 at Q4_K_M and 36.7 at Q4_0; on
# an H100 host (80.8 GB/s measured, 16 threads) the 12 CPU layers of a partial F16 offload read 81
# (docs/benchmarks/calibration.md). Decode is memory-bound on both: no compute term is needed.
CPU_EFFICIENCY: Mapping[str, float] = {"F16": 1.0, "BF16": 1.0, "F32": 1.0, "Q8_0": 0.92}
CPU_DEFAULT_EFFICIENCY = 0.88
# A datasheet peak (a profile's or the DDR4-3200 default) is not what a copy reaches: the dev VM's
# measured 41 GB/s is 0.80 of the 51.2 GB/s default it would otherwise be planned with.
CPU_DATASHEET_FACTOR = 0.80
CPU_PER_LAYER_S = 20e-6  # thread sync per layer; unmeasured default
# Prompt processing: fraction of dense FP16 peak reached on large batches. Metal: M2 Ultra F16 pp512
# 1401 tok/s for a 6.7B model is 18.9 of 27.2 TFLOPS (discussion #4167). CUDA and CPU: unmeasured defaults.
# MLX takes Metal's figure: no public MLX prompt measurement was fitted yet.
PP_EFFICIENCY: Mapping[str, float] = {"cuda": 0.20, "metal": 0.69, "mlx": 0.69, "cpu": 0.30}
# A CPU core with AVX2 FMA does 32 fp32 FLOP per cycle at ~3 GHz: ~0.1 TFLOPS per core.
CPU_TFLOPS_PER_CORE = 0.1


@dataclass(frozen=True)
class DeviceTraffic:
    """Bytes one device reads per generated token, by weight type, with its bandwidth and class."""

    device_class: str  # "cuda", "metal" (llama.cpp on a Mac), "mlx" or "cpu"
    bandwidth_gbps: float
    weight_bytes_by_type: Mapping[str, int]
    kv_bytes_full_ctx: int
    n_layers: int
    tflops: float | None = None
    flops_per_token: float = 0.0
    bandwidth_measured: bool = False  # CPU: measured by `tuilab hw --measure`, not a datasheet figure


@dataclass(frozen=True)
class SpeedPrediction:
    tg_tps: float  # generation at an almost empty context (what llama-bench tg128 measures)
    tg_tps_full_ctx: float  # generation with the whole context filled
    pp_tps: float
    basis: tuple[str, ...]


def efficiency(device_class: str, type_name: str, bandwidth_measured: bool = False) -> float:
    if device_class == "cuda":
        return CUDA_EFFICIENCY.get(type_name.upper(), CUDA_DEFAULT_EFFICIENCY)
    if device_class == "metal":
        return METAL_EFFICIENCY
    if device_class == "mlx":
        return MLX_EFFICIENCY
    measured = CPU_EFFICIENCY.get(type_name.upper(), CPU_DEFAULT_EFFICIENCY)
    return measured if bandwidth_measured else measured * CPU_DATASHEET_FACTOR


def _per_layer_s(device_class: str) -> float:
    per_layer = {"cuda": CUDA_PER_LAYER_S, "metal": METAL_PER_LAYER_S, "mlx": MLX_PER_LAYER_S}
    return per_layer.get(device_class, CPU_PER_LAYER_S)


def _device_seconds(d: DeviceTraffic, kv_share: float) -> float:
    if d.bandwidth_gbps <= 0:
        return float("inf")
    bw = d.bandwidth_gbps * 1e9
    t = d.n_layers * _per_layer_s(d.device_class)
    for type_name, n_bytes in d.weight_bytes_by_type.items():
        t += n_bytes / (bw * efficiency(d.device_class, type_name, d.bandwidth_measured))
    return t + kv_share * d.kv_bytes_full_ctx / (bw * efficiency(d.device_class, "F16", d.bandwidth_measured))


def predict(devices: tuple[DeviceTraffic, ...]) -> SpeedPrediction:
    """Tokens per second when each device in turn processes its share of every token."""
    active = tuple(d for d in devices if d.n_layers or sum(d.weight_bytes_by_type.values()))
    if not active:
        return SpeedPrediction(0.0, 0.0, 0.0, ("nothing to run",))
    t_empty = sum(_device_seconds(d, 0.0) for d in active)
    t_full = sum(_device_seconds(d, 1.0) for d in active)
    # Prompt speed is unknown (0.0) when a device has no FLOPS figure; better no number than a guess.
    t_pp = sum(_pp_seconds(d) for d in active)
    basis = tuple(_describe(d) for d in active)
    return SpeedPrediction(_rate(t_empty), _rate(t_full), _rate(t_pp), basis)


def _pp_seconds(d: DeviceTraffic) -> float:
    if not d.tflops:
        return float("inf")
    return d.flops_per_token / (d.tflops * 1e12 * PP_EFFICIENCY.get(d.device_class, 0.3))


def _rate(seconds: float) -> float:
    return 0.0 if seconds <= 0 or seconds == float("inf") else 1.0 / seconds


def _describe(d: DeviceTraffic) -> str:
    gb = sum(d.weight_bytes_by_type.values()) / 1e9
    effs = sorted(
        {f"{t} {efficiency(d.device_class, t, d.bandwidth_measured):.2f}" for t in d.weight_bytes_by_type}
    )
    how = ""
    if d.device_class == "cpu":
        how = (
            " (measured)"
            if d.bandwidth_measured
            else f" (a datasheet figure: x{CPU_DATASHEET_FACTOR} included)"
        )
    return (
        f"{d.device_class}: {gb:.2f} GB of weights read per token over {d.bandwidth_gbps:g} GB/s{how}, "
        f"efficiency {', '.join(effs) or '-'}, {d.n_layers} layers x "
        f"{_per_layer_s(d.device_class) * 1e6:.0f} us fixed (docs/benchmarks/calibration.md)"
    )
