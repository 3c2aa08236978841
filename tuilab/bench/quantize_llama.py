"""Make a llama.cpp rung: quantize a 16/32-bit GGUF with llama.cpp's own `llama_model_quantize`.

The quantizer runs in a spawned child (child.py) so an abort in native code ends the rung, not tuilab.
Types that need an importance matrix (IQ1/IQ2, IQ3_XXS, Q2_K_S) are refused before anything is written:
llama.cpp has no usable default for them, and quantizing without one gives a broken model.
"""

from __future__ import annotations

import os
from pathlib import Path

from tuilab.bench.child import StopSignal, run_in_child
from tuilab.bench.files import part_path, remove_stale_parts
from tuilab.core.quant import LlamaFileType

IMATRIX_HINT = (
    "needs an importance matrix: run `llama-imatrix -m {src} -f calibration.txt -o imatrix.gguf` and "
    "`llama-quantize --imatrix imatrix.gguf {src} {dst} {quant}`; a rerun of the ladder reuses {dst}"
)


def needs_imatrix(q: LlamaFileType) -> bool:
    """True for the file types llama.cpp refuses to make without an importance matrix (core catalog)."""
    return q.imatrix


def imatrix_message(src: Path, dst: Path, q: LlamaFileType) -> str:
    return IMATRIX_HINT.format(src=src, dst=dst, quant=q.name)


def quantize_llama(
    src: Path, dst: Path, q: LlamaFileType, timeout_s: float | None = None, stop: StopSignal | None = None
) -> None:
    """Write `dst` as `q` from `src`; the file appears only when complete. The child writes a temporary
    name of this process's own (another ladder may be making the same rung), renamed into place here;
    what a killed or stopped child leaves behind is removed."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_parts(dst)
    tmp = part_path(dst)
    try:
        run_in_child(_quantize_job, str(src), str(tmp), q.name, timeout_s=timeout_s, stop=stop)
        os.replace(tmp, dst)
    finally:
        tmp.unlink(missing_ok=True)
        tmp.with_name(tmp.name + ".part").unlink(missing_ok=True)  # model_writers' own temporary name


def _quantize_job(src: str, dst: str, quant: str) -> None:
    from tuilab.models.model_writers import quantize_gguf

    quantize_gguf(Path(src), Path(dst), quant)
