#!/usr/bin/env python3
"""Measure what a llama.cpp load really takes on an NVIDIA GPU, for checking the fit oracle.

For each model file and context: NVML device memory used before and after loading through
llama-cpp-python (flash attention on, the given GPU layers), one JSON line per load on stdout.
Used by scripts/gpu_check.sh on a lent GPU machine; needs llama_cpp and pynvml.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time


def nvml_used_bytes() -> int:
    import pynvml

    handle = pynvml.nvmlDeviceGetHandleByIndex(0)
    return int(pynvml.nvmlDeviceGetMemoryInfo(handle).used)


def measure(path: str, ctx: int, gpu_layers: int, idle: int) -> dict[str, object]:
    import llama_cpp

    before = nvml_used_bytes()
    t0 = time.perf_counter()
    llm = llama_cpp.Llama(
        model_path=path, n_gpu_layers=gpu_layers, n_ctx=ctx, flash_attn=True, verbose=False, use_mmap=True
    )
    load_s = time.perf_counter() - t0
    after = nvml_used_bytes()
    llm.close()
    del llm
    gc.collect()
    return {
        "file": path, "ctx": ctx, "gpu_layers": gpu_layers, "load_s": round(load_s, 2),
        "nvml_idle_bytes": idle, "nvml_used_before_bytes": before, "nvml_used_after_bytes": after,
        # Against the idle reading taken before this process made a CUDA context: the context stays after
        # the first load, so `after - before` would miss it from the second load on.
        "nvml_delta_bytes": after - idle,
    }  # fmt: skip


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("loads", nargs="+", help="FILE:CTX[:GPU_LAYERS] (GPU layers default -1 = all)")
    args = p.parse_args()
    import pynvml

    pynvml.nvmlInit()
    idle = nvml_used_bytes()
    for spec in args.loads:
        parts = spec.split(":")
        layers = int(parts[2]) if len(parts) > 2 else -1
        try:
            row = measure(parts[0], int(parts[1]), layers, idle)
        except Exception as exc:  # report and go on: one failed load must not lose the other rows
            row = {"file": parts[0], "ctx": int(parts[1]), "gpu_layers": layers, "error": repr(exc)}
        print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
