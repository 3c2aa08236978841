"""The fit oracle's per-tensor type rules (tuilab.core.llama_quant, transcribed from llama.cpp's
llama_tensor_get_type) against llama.cpp's own quantizer: quantize the tiny model to every file type and
read back which type each tensor got. A llama.cpp upgrade that changes a rule fails here, not in a user's
"fits" that then swaps."""

from __future__ import annotations

from pathlib import Path

import pytest

from tuilab.core.errors import TuilabError
from tuilab.core.llama_quant import LLAMA_FILE_TYPES
from tuilab.models.gguf import read_gguf
from tuilab.models.model_writers import quantize_gguf
from tuilab.models.tiny import TinyModels

pytestmark = pytest.mark.llama

MADE_WITHOUT_IMATRIX = [n for n, ft in LLAMA_FILE_TYPES.items() if not ft.imatrix and n not in ("F32", "F16")]
NEED_IMATRIX = [n for n, ft in LLAMA_FILE_TYPES.items() if ft.imatrix]


@pytest.fixture(scope="module")
def f16(tiny_models: TinyModels) -> Path:
    pytest.importorskip("llama_cpp")
    return tiny_models.gguf_f16


@pytest.mark.parametrize("name", MADE_WITHOUT_IMATRIX)
def test_every_tensor_gets_the_predicted_type(f16: Path, tmp_path: Path, name: str) -> None:
    out = tmp_path / f"tiny-{name}.gguf"
    quantize_gguf(f16, out, name, n_threads=2)
    made = read_gguf(out)
    got = {t.name: t.ggml_type for t in made.arch.tensors}
    predicted = {n: t.name for n, t in LLAMA_FILE_TYPES[name].tensor_types(read_gguf(f16).arch).items()}
    assert predicted == got
    assert made.file_type_name == name
    # our block sizes account for the whole data section, up to alignment padding between tensors
    padding = made.file_bytes - made.data_offset - made.tensor_bytes
    assert 0 <= padding < made.alignment * len(got)


@pytest.mark.parametrize("name", NEED_IMATRIX)
def test_types_marked_imatrix_are_refused_without_one(f16: Path, tmp_path: Path, name: str) -> None:
    with pytest.raises(TuilabError):
        quantize_gguf(f16, tmp_path / f"tiny-{name}.gguf", name, n_threads=2)
