"""Spec for the generated tiny models: one set of weights, two formats, both engines load and agree.

The engine checks run the real llama-cpp-python and mlx-lm on the session's tiny models.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import gguf
import numpy as np
import pytest
from safetensors.numpy import load_file

from tuilab.core.arch import ModelArch
from tuilab.core.errors import UnknownNameError
from tuilab.models import tiny
from tuilab.models.model_writers import ModelShape, permute_qk, tensor_specs, write_gguf_f16
from tuilab.models.tiny import TinyModels
from tuilab.models.tiny_vocab import build_vocab

REPO = Path(__file__).resolve().parents[2]
PROMPTS = [
    "The quick brown fox",
    "Hello world! 1234 numbers, punctuation...  double  spaces\n\nand lines",
    "héllo ünïcode 日本語 ✓",
    "",
]


def _gguf_tensors(path: Path) -> dict[str, np.ndarray]:
    return {t.name: np.asarray(t.data) for t in gguf.GGUFReader(path).tensors}


def _gguf_field(path: Path, key: str) -> object:
    field = gguf.GGUFReader(path).fields[key]
    return field.contents()


class TestFiles:
    def test_gguf_names_carry_the_quant(self, tiny_models: TinyModels) -> None:
        for quant, path in tiny_models.gguf.items():
            assert path.name == f"tiny-{quant.lower()}.gguf"
            assert path.is_file()

    def test_f16_gguf_has_llama_metadata_and_a_gpt2_tokenizer(self, tiny_models: TinyModels) -> None:
        path = tiny_models.gguf_f16
        assert _gguf_field(path, "general.architecture") == "llama"
        assert _gguf_field(path, "general.file_type") == gguf.LlamaFileType.MOSTLY_F16
        assert _gguf_field(path, "llama.block_count") == 2
        assert _gguf_field(path, "tokenizer.ggml.model") == "gpt2"
        assert len(_gguf_field(path, "tokenizer.ggml.tokens")) == 512  # type: ignore[arg-type]

    def test_mlx_dir_is_hugging_face_format(self, tiny_models: TinyModels) -> None:
        names = {p.name for p in tiny_models.mlx_dir.iterdir()}
        assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"} <= names


class TestSameWeightsInBothFormats:
    def test_every_tensor_matches_after_llama_cpp_qk_permutation(self, tiny_models: TinyModels) -> None:
        shape = tiny.SHAPES["tiny"]
        hf = load_file(tiny_models.mlx_dir / "model.safetensors")
        gg = _gguf_tensors(tiny_models.gguf_f16)
        for spec in tensor_specs(shape):
            expected = hf[spec.hf_name]
            if spec.gguf_name.endswith("attn_q.weight"):
                expected = permute_qk(expected, shape.n_heads)
            elif spec.gguf_name.endswith("attn_k.weight"):
                expected = permute_qk(expected, shape.n_kv_heads)
            np.testing.assert_array_equal(gg[spec.gguf_name].astype(np.float32), expected.astype(np.float32))

    def test_permutation_is_a_reordering_of_rows(self) -> None:
        w = np.arange(8 * 3, dtype=np.float16).reshape(8, 3)
        p = permute_qk(w, n_heads=2)
        assert sorted(p[:, 0].tolist()) == sorted(w[:, 0].tolist())
        # within each head of 4 rows, HF's halves [0,1 | 2,3] become interleaved pairs [0,2,1,3]
        assert p[:4, 0].tolist() == [0.0, 6.0, 3.0, 9.0]


class TestDeterminism:
    @pytest.mark.parametrize(
        ("seed", "same"), [(0, True), (1, False)], ids=["same-seed-same-bytes", "new-seed"]
    )
    def test_seed_decides_the_bytes(
        self, tiny_models: TinyModels, tmp_path: Path, seed: int, same: bool
    ) -> None:
        out = tiny.write_tiny_set(tmp_path, seed=seed, quants=(), mlx_4bit=False)
        assert (out.gguf_f16.read_bytes() == tiny_models.gguf_f16.read_bytes()) is same


class TestShapes:
    @pytest.mark.parametrize(
        ("name", "params_billions"),
        [("llama-3-8b", 8.03), ("llama-3.2-1b", 1.24)],
        ids=["8b-matches-meta-card", "1b-matches-meta-card"],
    )
    def test_shape_true_parameter_count(self, name: str, params_billions: float) -> None:
        n_params = sum(int(np.prod(s.shape)) for s in tensor_specs(tiny.SHAPES[name]))
        assert n_params / 1e9 == pytest.approx(params_billions, abs=0.01)

    @pytest.mark.parametrize("name", list(tiny.SHAPES))
    def test_tensor_list_matches_core_arch(self, name: str) -> None:
        s = tiny.SHAPES[name]
        moe = {"n_experts": s.n_experts, "n_experts_used": s.n_experts_used, "expert_ffn_size": s.ffn_size}
        arch = ModelArch(name, "llama", s.n_layers, s.hidden_size, s.n_heads, s.n_kv_heads, s.head_dim,
                         s.ffn_size, s.vocab_size, tied_embeddings=s.tied_embeddings,
                         **(moe if s.is_moe else {}))  # fmt: skip
        ours = {(t.gguf_name, tuple(reversed(t.shape))) for t in tensor_specs(s)}
        assert ours == {(t.name, t.shape) for t in arch.tensors}

    def test_unknown_shape_suggests_close_names(self, tmp_path: Path) -> None:
        with pytest.raises(UnknownNameError, match="llama-3-8b"):
            tiny.write_shape_true(tmp_path, "llama-3-7b")

    @pytest.mark.llama
    def test_pool_weights_stream_into_a_loadable_gguf(self, tmp_path: Path) -> None:
        llama_cpp = pytest.importorskip("llama_cpp")
        shape = ModelShape("pool", 256, 1, 2, 1, 256, 1024, 512, 10000.0, tied_embeddings=True)
        path = tmp_path / "pool-f16.gguf"
        write_gguf_f16(path, shape, build_vocab(shape.vocab_size), tiny.pool_weights(seed=3))
        llm = llama_cpp.Llama(model_path=str(path), n_ctx=64, verbose=False)
        assert llm.n_vocab() == 1024


@pytest.mark.llama
class TestLlamaCpp:
    @pytest.mark.parametrize("quant", ["F16", "Q8_0", "Q4_K_M", "Q4_0"])
    def test_loads_and_generates_printable_text(self, tiny_models: TinyModels, quant: str) -> None:
        llama_cpp = pytest.importorskip("llama_cpp")
        path = tiny_models.gguf.get(quant)
        if path is None:
            pytest.skip("quantized GGUF needs llama-cpp-python")
        llm = llama_cpp.Llama(model_path=str(path), n_ctx=128, n_threads=2, verbose=False)
        out = llm.create_completion("The quick brown fox", max_tokens=12, temperature=0.0)
        assert out["usage"]["completion_tokens"] == 12  # EOS can never win: greedy runs the full length
        assert out["choices"][0]["text"].isprintable()


@pytest.mark.mlx
class TestMlx:
    @pytest.mark.parametrize("which", ["mlx_dir", "mlx_4bit_dir"])
    def test_loads_and_generates(self, tiny_models: TinyModels, which: str) -> None:
        mlx_lm = pytest.importorskip("mlx_lm")
        path = getattr(tiny_models, which)
        if path is None:
            pytest.skip("MLX 4-bit needs mlx-lm")
        model, tokenizer = mlx_lm.load(str(path))
        text = mlx_lm.generate(model, tokenizer, "The quick brown fox", max_tokens=12)
        assert len(tokenizer.encode(text, add_special_tokens=False)) >= 8
        assert text.isprintable()

    def test_4bit_config_records_the_quantization(self, tiny_models: TinyModels) -> None:
        if tiny_models.mlx_4bit_dir is None:
            pytest.skip("MLX 4-bit needs mlx-lm")
        config = (tiny_models.mlx_4bit_dir / "config.json").read_text()
        assert '"bits": 4' in config


@pytest.mark.llama
@pytest.mark.mlx
class TestEnginesAgree:
    @pytest.mark.parametrize("prompt", PROMPTS, ids=["plain", "digits-punct-spaces", "unicode", "empty"])
    def test_same_token_ids(self, tiny_models: TinyModels, prompt: str) -> None:
        llama_cpp = pytest.importorskip("llama_cpp")
        from transformers import PreTrainedTokenizerFast

        hf = PreTrainedTokenizerFast.from_pretrained(str(tiny_models.mlx_dir))
        llm = llama_cpp.Llama(model_path=str(tiny_models.gguf_f16), vocab_only=True, verbose=False)
        assert llm.tokenize(prompt.encode(), add_bos=True) == hf.encode(prompt)

    def test_same_greedy_tokens_at_f16(self, tiny_models: TinyModels) -> None:
        llama_cpp = pytest.importorskip("llama_cpp")
        mx = pytest.importorskip("mlx.core")
        mlx_lm = pytest.importorskip("mlx_lm")
        from mlx_lm.models.cache import make_prompt_cache

        llm = llama_cpp.Llama(model_path=str(tiny_models.gguf_f16), n_ctx=128, n_threads=2, verbose=False)
        ids = llm.tokenize(b"The quick brown fox")
        ours = [t for t, _ in zip(llm.generate(ids, temp=0.0, top_k=1), range(12), strict=False)]
        model, _ = mlx_lm.load(str(tiny_models.mlx_dir))
        cache = make_prompt_cache(model)
        logits = model(mx.array([ids]), cache=cache)
        theirs: list[int] = []
        for _ in range(12):
            theirs.append(int(mx.argmax(logits[0, -1]).item()))
            logits = model(mx.array([[theirs[-1]]]), cache=cache)
        assert ours == theirs


class TestDemoModel:
    def test_written_once_under_tuilab_home(self, tuilab_home: Path) -> None:
        root = tiny.ensure_demo_model()
        assert root.is_relative_to(tuilab_home)
        f16 = root / "tiny-f16.gguf"
        first_mtime = f16.stat().st_mtime_ns
        assert tiny.ensure_demo_model() == root
        assert f16.stat().st_mtime_ns == first_mtime
        assert (root / "tiny-mlx" / "config.json").is_file()
        assert (root / "tiny-q4_k_m.gguf").is_file() == tiny.llama_cpp_available()
        assert not [p for p in root.parent.iterdir() if p.name.startswith(".demo-")]  # no temp dirs left

    def test_writing_it_loads_no_engine_into_the_caller(self, tmp_path: Path) -> None:
        code = "import sys; from tuilab.models.tiny import ensure_demo_model as e; e(); "
        code += "print(sorted(m for m in ('llama_cpp', 'mlx', 'mlx_lm') if m in sys.modules))"
        env = {**os.environ, "TUILAB_HOME": str(tmp_path)}
        result = subprocess.run(
            [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, check=True
        )
        assert result.stdout.strip() == "[]"
        assert (tmp_path / "data" / "models" / "demo" / "tiny-f16.gguf").is_file()


class TestScript:
    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        script = REPO / "scripts" / "make_tiny_models.py"
        return subprocess.run(
            [sys.executable, str(script), *args], capture_output=True, text=True, check=False
        )

    def test_help(self) -> None:
        result = self._run("--help")
        assert result.returncode == 0
        assert "--shape" in result.stdout

    def test_writes_a_progress_line_per_file(self, tmp_path: Path) -> None:
        result = self._run(str(tmp_path), "--quants", "", "--no-mlx-4bit")
        assert result.returncode == 0, result.stderr
        assert [line.split()[1] for line in result.stdout.splitlines()] == [
            str(tmp_path / "tiny-f16.gguf"),
            str(tmp_path / "tiny-mlx"),
            str(tmp_path / "tiny-moe-f16.gguf"),
        ]

    @pytest.mark.parametrize(
        ("args", "message"),
        [(["--shape", "llama-3-7b"], "did you mean"), (["--quants", "Q9_Z"], "unknown llama.cpp quant")],
        ids=["unknown-shape", "unknown-quant"],
    )
    def test_bad_input_is_one_clean_error(self, tmp_path: Path, args: list[str], message: str) -> None:
        if "--quants" in args and not tiny.llama_cpp_available():
            pytest.skip("quant names come from llama-cpp-python")
        result = self._run(str(tmp_path), "--no-mlx-4bit", *args)
        assert result.returncode == 2
        assert message in result.stderr
        assert "Traceback" not in result.stderr


class TestTinyMoe:
    """The tiny MoE GGUF reads back as the MoE it was written as (issue 15's engine checks load it)."""

    def test_its_header_gives_four_experts_two_used(self, tiny_models: TinyModels) -> None:
        from tuilab.models.gguf import read_gguf

        arch = read_gguf(tiny_models.moe["F16"]).arch
        assert (arch.n_experts, arch.n_experts_used, arch.n_layers) == (4, 2, 2)
        assert {t.name for t in arch.tensors} >= {"blk.0.ffn_up_exps.weight", "blk.1.ffn_gate_inp.weight"}

    def test_no_mlx_directory_is_written_for_it(self, tmp_path: Path) -> None:
        from tuilab.models.model_writers import ModelWriteError, write_mlx_dir
        from tuilab.models.tiny import SHAPES
        from tuilab.models.tiny_vocab import build_vocab

        shape = SHAPES["tiny-moe"]
        with pytest.raises(ModelWriteError, match="GGUF only"):
            write_mlx_dir(tmp_path, shape, build_vocab(shape.vocab_size), lambda spec: None)  # type: ignore[arg-type,return-value]
