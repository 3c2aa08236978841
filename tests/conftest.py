"""Session-wide test fixtures: an isolated TUILAB_HOME and one set of tiny generated models.

The tiny models are written once per session from a fixed seed (about a second); quantized GGUF files
need llama-cpp-python and the MLX 4-bit copy needs mlx-lm, so those paths are None where they are missing
and the tests that need them skip.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tuilab.models.tiny import TinyModels, write_tiny_set


@pytest.fixture(scope="session", autouse=True)
def tuilab_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """No test reads or writes the real user's config, data or models."""
    home = tmp_path_factory.mktemp("tuilab-home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TUILAB_HOME", str(home))
        yield home


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> TinyModels:
    """The tiny Llama-shaped model in every format: `gguf_f16`, `gguf_q8_0`, `gguf_q4_k_m`, `gguf_q4_0`
    (quantized ones None without llama-cpp-python), `mlx_dir`, `mlx_4bit_dir` (None without mlx-lm)."""
    return write_tiny_set(tmp_path_factory.mktemp("tiny-models"), seed=0)
