"""Make an MLX rung with mlx-lm's own converter: bits, group size, mode, mixed recipe or a 16-bit dtype.

`mlx_lm.convert` refuses an existing output directory and writes several files, so it writes into a
temporary sibling directory that is renamed into place only when complete; a half-made rung never exists.
Runs in a spawned child (child.py) so a native failure ends the rung, not tuilab.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
from pathlib import Path

from tuilab.bench.child import StopSignal, run_in_child
from tuilab.bench.files import part_path, remove_stale_parts
from tuilab.core.mlx_quant import UNQUANTIZED_BITS, MLXQuant

# tuilab's dtype names -> mlx_lm.convert's `dtype` argument (mlx_lm/convert.py MODEL_CONVERSION_DTYPES).
_CONVERT_DTYPES = {"fp16": "float16", "bf16": "bfloat16"}


def quantize_mlx(
    src: Path, dst: Path, q: MLXQuant, timeout_s: float | None = None, stop: StopSignal | None = None
) -> None:
    remove_stale_parts(dst)  # conversions killed earlier
    tmp = part_path(dst)  # this writer's own: another ladder may be converting the same rung right now
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        run_in_child(_convert_job, str(src), str(tmp), q, timeout_s=timeout_s, stop=stop)
        os.replace(tmp, dst)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def convert_kwargs(q: MLXQuant) -> dict[str, object]:
    """mlx_lm.convert arguments for `q`."""
    if q.bits == UNQUANTIZED_BITS:
        return {"dtype": _CONVERT_DTYPES[q.dtype]}
    kwargs: dict[str, object] = {"quantize": True, "q_group_size": q.group_size, "q_mode": q.mode}
    if q.recipe is not None:
        kwargs["quant_predicate"] = q.recipe  # a QUANT_RECIPES name: it picks the bits per layer
    else:
        kwargs["q_bits"] = q.bits
    return kwargs


def _convert_job(src: str, dst: str, q: MLXQuant) -> None:
    from mlx_lm import convert

    with contextlib.redirect_stdout(io.StringIO()):  # convert prints [INFO] lines
        convert(src, dst, **convert_kwargs(q))  # type: ignore[arg-type]
