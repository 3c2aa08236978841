"""Hugging Face model directories: config.json of each supported family to ModelArch, MLX quantization,
safetensors weight bytes, refusal of broken files, and the hub cache lookup without huggingface_hub."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tuilab.core.errors import ModelFileError, UsageError
from tuilab.models.hf import find_in_hf_cache, hf_hub_cache_dir, read_hf_config
from tuilab.models.safetensors import read_header, read_safetensors
from tuilab.models.tiny import TinyModels

# Real config.json files, abridged to the keys that shape memory (values unchanged). Sources:
# https://huggingface.co/<repo>/blob/main/config.json for each repo named in the comment.
CONFIGS: dict[str, dict[str, Any]] = {
    # meta-llama/Llama-3.1-8B-Instruct
    "llama": {"model_type": "llama", "hidden_size": 4096, "intermediate_size": 14336,
              "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 8,
              "max_position_embeddings": 131072, "vocab_size": 128256, "tie_word_embeddings": False,
              "attention_bias": False, "torch_dtype": "bfloat16"},
    # mistralai/Mistral-7B-v0.1
    "mistral": {"model_type": "mistral", "hidden_size": 4096, "intermediate_size": 14336,
                "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 8,
                "max_position_embeddings": 32768, "sliding_window": 4096, "vocab_size": 32000,
                "tie_word_embeddings": False},
    # Qwen/Qwen2.5-7B-Instruct
    "qwen2": {"model_type": "qwen2", "hidden_size": 3584, "intermediate_size": 18944,
              "num_attention_heads": 28, "num_hidden_layers": 28, "num_key_value_heads": 4,
              "max_position_embeddings": 32768, "max_window_layers": 28, "sliding_window": 131072,
              "use_sliding_window": False, "vocab_size": 152064, "tie_word_embeddings": False},
    # Qwen/Qwen3-8B
    "qwen3": {"model_type": "qwen3", "hidden_size": 4096, "intermediate_size": 12288, "head_dim": 128,
              "num_attention_heads": 32, "num_hidden_layers": 36, "num_key_value_heads": 8,
              "max_position_embeddings": 40960, "sliding_window": None, "use_sliding_window": False,
              "vocab_size": 151936, "tie_word_embeddings": False, "attention_bias": False},
    # Qwen/Qwen1.5-MoE-A2.7B
    "qwen2_moe": {"model_type": "qwen2_moe", "hidden_size": 2048, "intermediate_size": 5632,
                  "moe_intermediate_size": 1408, "shared_expert_intermediate_size": 5632,
                  "num_experts": 60, "num_experts_per_tok": 4, "num_attention_heads": 16,
                  "num_hidden_layers": 24, "num_key_value_heads": 16, "max_position_embeddings": 8192,
                  "sliding_window": 32768, "use_sliding_window": False, "vocab_size": 151936,
                  "tie_word_embeddings": False},
    # Qwen/Qwen3-30B-A3B
    "qwen3_moe": {"model_type": "qwen3_moe", "hidden_size": 2048, "intermediate_size": 6144,
                  "moe_intermediate_size": 768, "num_experts": 128, "num_experts_per_tok": 8, "head_dim": 128,
                  "num_attention_heads": 32, "num_hidden_layers": 48, "num_key_value_heads": 4,
                  "max_position_embeddings": 40960, "sliding_window": None, "use_sliding_window": False,
                  "vocab_size": 151936, "tie_word_embeddings": False},
    # google/gemma-2-9b-it (no tie_word_embeddings key: Gemma2Config defaults it to true)
    "gemma2": {"model_type": "gemma2", "hidden_size": 3584, "intermediate_size": 14336, "head_dim": 256,
               "num_attention_heads": 16, "num_hidden_layers": 42, "num_key_value_heads": 8,
               "max_position_embeddings": 8192, "sliding_window": 4096, "vocab_size": 256000},
    # google/gemma-3-4b-it (vision_config left out): the text config names only what differs
    "gemma3": {"model_type": "gemma3", "architectures": ["Gemma3ForConditionalGeneration"],
               "text_config": {"hidden_size": 2560, "intermediate_size": 10240, "model_type": "gemma3_text",
                               "num_hidden_layers": 34, "sliding_window": 1024,
                               "rope_scaling": {"factor": 8.0, "rope_type": "linear"}}},
    # microsoft/Phi-3-mini-4k-instruct
    "phi3": {"model_type": "phi3", "hidden_size": 3072, "intermediate_size": 8192, "num_attention_heads": 32,
             "num_hidden_layers": 32, "num_key_value_heads": 32, "max_position_embeddings": 4096,
             "sliding_window": 2047, "vocab_size": 32064, "tie_word_embeddings": False},
    # mistralai/Mixtral-8x7B-Instruct-v0.1
    "mixtral": {"model_type": "mixtral", "hidden_size": 4096, "intermediate_size": 14336,
                "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 8,
                "num_local_experts": 8, "num_experts_per_tok": 2, "max_position_embeddings": 32768,
                "sliding_window": None, "vocab_size": 32000, "tie_word_embeddings": False},
    # microsoft/bitnet-b1.58-2B-4T
    "bitnet": {"model_type": "bitnet", "hidden_size": 2560, "intermediate_size": 6912,
               "num_attention_heads": 20, "num_hidden_layers": 30, "num_key_value_heads": 5,
               "max_position_embeddings": 4096, "vocab_size": 128256, "tie_word_embeddings": True,
               "quantization_config": {"quant_method": "bitnet", "linear_class": "autobitlinear",
                                       "quantization_mode": "offline"}},
}  # fmt: skip

# family -> (n_layers, hidden, heads, kv_heads, head_dim, ffn, vocab, tied, experts, used, expert_ffn, ctx)
EXPECTED: dict[str, tuple[Any, ...]] = {
    "llama": (32, 4096, 32, 8, 128, 14336, 128256, False, 0, 0, 0, 131072),
    "mistral": (32, 4096, 32, 8, 128, 14336, 32000, False, 0, 0, 0, 32768),
    "qwen2": (28, 3584, 28, 4, 128, 18944, 152064, False, 0, 0, 0, 32768),
    "qwen3": (36, 4096, 32, 8, 128, 12288, 151936, False, 0, 0, 0, 40960),
    "qwen2_moe": (24, 2048, 16, 16, 128, 5632, 151936, False, 60, 4, 1408, 8192),
    "qwen3_moe": (48, 2048, 32, 4, 128, 6144, 151936, False, 128, 8, 768, 40960),
    "gemma2": (42, 3584, 16, 8, 256, 14336, 256000, True, 0, 0, 0, 8192),
    "gemma3": (34, 2560, 8, 4, 256, 10240, 262208, True, 0, 0, 0, 131072),
    "phi3": (32, 3072, 32, 32, 96, 8192, 32064, False, 0, 0, 0, 4096),
    "mixtral": (32, 4096, 32, 8, 128, 14336, 32000, False, 8, 2, 14336, 32768),
    "bitnet": (30, 2560, 20, 5, 128, 6912, 128256, True, 0, 0, 0, 4096),
}

MakeDir = Callable[..., Path]


def arch_tuple(family: str, make_hf_dir: MakeDir) -> tuple[Any, ...]:
    a = read_hf_config(make_hf_dir(CONFIGS[family], name=family)).arch
    shape = (a.n_layers, a.hidden_size, a.n_heads, a.n_kv_heads, a.head_dim, a.ffn_size, a.vocab_size)
    return (*shape, a.tied_embeddings, a.n_experts, a.n_experts_used, a.expert_ffn_size, a.max_ctx_tokens)


class TestFamilies:
    @pytest.mark.parametrize("family", list(CONFIGS))
    def test_config_values_map_onto_the_arch(self, make_hf_dir: MakeDir, family: str) -> None:
        assert arch_tuple(family, make_hf_dir) == EXPECTED[family]

    @pytest.mark.parametrize(
        ("family", "window", "n_sliding"),
        [
            pytest.param("mistral", 4096, 32, id="mistral-every-layer"),
            pytest.param("qwen2", None, 0, id="qwen2-window-off-without-use_sliding_window"),
            pytest.param("qwen3", None, 0, id="qwen3-null-window"),
            pytest.param("mixtral", None, 0, id="mixtral-null-window"),
            pytest.param("gemma2", 4096, 21, id="gemma2-every-other-layer"),
            pytest.param("gemma3", 1024, 29, id="gemma3-5-of-6-layers-by-default"),
            pytest.param("phi3", 2047, 0, id="phi3-window-unused-by-engines"),
        ],
    )
    def test_sliding_window(
        self, make_hf_dir: MakeDir, family: str, window: int | None, n_sliding: int
    ) -> None:
        a = read_hf_config(make_hf_dir(CONFIGS[family], name=family)).arch
        assert (a.sliding_window, len(a.swa_layers)) == (window, n_sliding)

    def test_qwen2_with_use_sliding_window_slides_from_max_window_layers(self, make_hf_dir: MakeDir) -> None:
        config = {**CONFIGS["qwen2"], "use_sliding_window": True, "max_window_layers": 20}
        a = read_hf_config(make_hf_dir(config)).arch
        assert a.swa_layers == frozenset(range(20, 28))

    def test_layer_types_list_wins(self, make_hf_dir: MakeDir) -> None:
        kinds = ["sliding_attention", "full_attention"] * 21
        a = read_hf_config(make_hf_dir({**CONFIGS["gemma2"], "layer_types": kinds})).arch
        assert a.swa_layers == frozenset(range(0, 42, 2))

    @pytest.mark.parametrize(
        ("family", "bias", "qk_norm", "fused_qkv", "extra_norms"),
        [("llama", False, False, False, 0), ("qwen2", True, False, False, 0),
         ("qwen3", False, True, False, 0), ("gemma3", False, True, False, 2),
         ("phi3", False, False, True, 0), ("bitnet", False, False, False, 2)],
    )  # fmt: skip
    def test_structure_fixed_by_the_modeling_code(
        self, make_hf_dir: MakeDir, family: str, bias: bool, qk_norm: bool, fused_qkv: bool, extra_norms: int
    ) -> None:
        a = read_hf_config(make_hf_dir(CONFIGS[family], name=family)).arch
        got = (a.attn_bias, a.qk_norm, a.fused_qkv, a.extra_norms_per_layer)
        assert got == (bias, qk_norm, fused_qkv, extra_norms)

    @pytest.mark.parametrize(
        ("model_type", "gguf_arch"),
        [("mistral", "llama"), ("mixtral", "llama"), ("qwen2_moe", "qwen2moe"), ("qwen3_moe", "qwen3moe"),
         ("gemma3", "gemma3"), ("phi3", "phi3")],
    )  # fmt: skip
    def test_family_is_the_name_llama_cpp_converts_it_to(
        self, make_hf_dir: MakeDir, model_type: str, gguf_arch: str
    ) -> None:
        model = read_hf_config(make_hf_dir(CONFIGS[model_type], name=model_type))
        assert model.arch.family == gguf_arch

    def test_qwen2_moe_counts_its_shared_expert(self, make_hf_dir: MakeDir) -> None:
        """Qwen1.5-MoE-A2.7B's model card: 14.3B parameters, 2.7B activated (with the embedding table);
        without the shared expert the count would be 13.5B."""
        arch = read_hf_config(make_hf_dir(CONFIGS["qwen2_moe"])).arch
        assert arch.shared_expert_ffn_size == 5632
        assert round(arch.n_params / 1e9, 1) == 14.3
        embedding = arch.vocab_size * arch.hidden_size
        assert round((arch.n_active_params + embedding) / 1e9, 1) == 2.7
        gate = next(t for t in arch.tensors if t.name == "blk.0.ffn_gate_inp_shexp.weight")
        assert gate.shape == (2048,)

    def test_unknown_model_type_reads_llama_keys(self, make_hf_dir: MakeDir) -> None:
        model = read_hf_config(make_hf_dir({**CONFIGS["llama"], "model_type": "brand_new"}))
        assert (model.model_type, model.arch.family, model.arch.hidden_size) == (
            "brand_new",
            "brand_new",
            4096,
        )
        assert model.notes and not model.arch.known_family

    def test_bitnet_reports_its_quant_method_not_mlx(self, make_hf_dir: MakeDir) -> None:
        model = read_hf_config(make_hf_dir(CONFIGS["bitnet"]))
        assert (model.quant_method, model.mlx_bits) == ("bitnet", None)

    def test_a_config_json_path_works_like_its_directory(self, make_hf_dir: MakeDir) -> None:
        directory = make_hf_dir(CONFIGS["llama"], name="Llama-3.1-8B")
        model = read_hf_config(directory / "config.json")
        assert (model.path, model.name, model.dtype) == (directory, "Llama-3.1-8B", "bfloat16")


# mlx-community/Llama-3.2-1B-Instruct-4bit: Llama 3.2 1B as converted by mlx_lm.convert -q
MLX_LLAMA = {"model_type": "llama", "hidden_size": 2048, "intermediate_size": 8192, "num_attention_heads": 32,
             "num_hidden_layers": 16, "num_key_value_heads": 8, "head_dim": 64, "vocab_size": 128256,
             "max_position_embeddings": 131072, "tie_word_embeddings": True,
             "quantization": {"group_size": 64, "bits": 4},
             "quantization_config": {"group_size": 64, "bits": 4}}  # fmt: skip
# one 4-bit layer as mlx-lm stores it: 8 weights per uint32, a bf16 scale and bias per group of 64
MLX_WEIGHTS = {
    "model.layers.0.self_attn.q_proj.weight": ("U32", (2048, 256)),
    "model.layers.0.self_attn.q_proj.scales": ("BF16", (2048, 32)),
    "model.layers.0.self_attn.q_proj.biases": ("BF16", (2048, 32)),
}
MLX_WEIGHT_BYTES = 2048 * 256 * 4 + 2 * 2048 * 32 * 2


class TestMLXQuantization:
    @pytest.mark.parametrize(
        ("quantization", "expected"),
        [
            pytest.param({"group_size": 64, "bits": 4}, (4, 64, "affine"), id="no-mode-means-affine"),
            pytest.param({"group_size": 32, "bits": 8, "mode": "affine"}, (8, 32, "affine"), id="8bit-g32"),
            pytest.param({"group_size": 32, "bits": 4, "mode": "mxfp4"}, (4, 32, "mxfp4"), id="mxfp4"),
        ],
    )
    def test_quantization_block(
        self, make_hf_dir: MakeDir, quantization: dict[str, Any], expected: tuple[int, int, str]
    ) -> None:
        config = {**MLX_LLAMA, "quantization": quantization, "quantization_config": quantization}
        model = read_hf_config(make_hf_dir(config))
        assert (model.mlx_bits, model.mlx_group_size, model.mlx_mode) == expected
        assert model.is_mlx_quantized

    def test_quantization_config_alone_counts_when_it_has_no_quant_method(self, make_hf_dir: MakeDir) -> None:
        config = {k: v for k, v in MLX_LLAMA.items() if k != "quantization"}
        assert read_hf_config(make_hf_dir(config)).mlx_bits == 4

    def test_awq_config_is_not_mlx(self, make_hf_dir: MakeDir) -> None:
        awq = {"bits": 4, "group_size": 128, "quant_method": "awq", "version": "gemm"}
        model = read_hf_config(make_hf_dir({**CONFIGS["llama"], "quantization_config": awq}))
        assert (model.mlx_bits, model.quant_method) == (None, "awq")

    def test_weights_bytes_sum_the_safetensors_data(self, make_hf_dir: MakeDir) -> None:
        model = read_hf_config(make_hf_dir(MLX_LLAMA, weights={"model.safetensors": MLX_WEIGHTS}))
        assert model.weights_bytes == MLX_WEIGHT_BYTES

    def test_a_real_mlx_lm_4bit_conversion(self, tiny_models: TinyModels) -> None:
        if tiny_models.mlx_4bit_dir is None:
            pytest.skip("needs mlx-lm to quantize")
        model = read_hf_config(tiny_models.mlx_4bit_dir)
        assert (model.mlx_bits, model.mlx_group_size, model.mlx_mode) == (4, 64, "affine")
        weights = read_safetensors(tiny_models.mlx_4bit_dir)
        assert model.weights_bytes == weights.tensor_bytes and "U32" in weights.dtypes

    def test_no_weights_means_no_weights_bytes(self, make_hf_dir: MakeDir) -> None:
        assert read_hf_config(make_hf_dir(MLX_LLAMA)).weights_bytes is None

    def test_sharded_weights_follow_the_index(self, make_hf_dir: MakeDir) -> None:
        names = list(MLX_WEIGHTS)
        shards = {
            "model-00001-of-00002.safetensors": {names[0]: MLX_WEIGHTS[names[0]]},
            "model-00002-of-00002.safetensors": {n: MLX_WEIGHTS[n] for n in names[1:]},
            "stray-copy.safetensors": {"x": ("F32", (1000,))},  # not in the index: not counted
        }
        directory = make_hf_dir(MLX_LLAMA, weights=shards)
        weight_map = {n: f for f, tensors in shards.items() if "stray" not in f for n in tensors}
        (directory / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))
        assert read_hf_config(directory).weights_bytes == MLX_WEIGHT_BYTES


def llama_with(**changes: object) -> str:
    return json.dumps({**CONFIGS["llama"], **changes})


class TestPlanBasisNamesTheConfig:
    """Issue 12 item 20: a plan from a Hugging Face or MLX folder says its architecture came from the
    config.json, not from a "GGUF header"."""

    @pytest.mark.parametrize("config", [CONFIGS["llama"], MLX_LLAMA], ids=["hf-folder", "mlx-folder"])
    def test_model_line(self, make_hf_dir: MakeDir, config: dict[str, Any]) -> None:
        from tuilab.core.fit import plan
        from tuilab.core.quant import parse_quant
        from tuilab.models.profiles import load_hardware_profile

        directory = make_hf_dir(config, name="m")
        arch = read_hf_config(directory).arch
        fit = plan(arch, parse_quant("mlx-4bit"), load_hardware_profile("m4-max-40c-128gb"), ctx_tokens=1024)
        assert fit.basis["model"] == f"m: config.json at {directory / 'config.json'}"


class TestArchFromConfig:
    def test_reads_a_config_held_in_memory_like_a_folder(self, make_hf_dir: MakeDir) -> None:
        from tuilab.models.hf import arch_from_config

        from_dir = read_hf_config(make_hf_dir(CONFIGS["gemma3"], name="g")).arch
        held = arch_from_config(CONFIGS["gemma3"], "g")
        assert (held.tensors, held.swa_layers, held.family) == (
            from_dir.tensors,
            from_dir.swa_layers,
            "gemma3",
        )

    def test_a_bad_value_is_one_model_file_error_naming_the_source(self) -> None:
        from tuilab.models.hf import arch_from_config

        with pytest.raises(ModelFileError, match="catalog entry x"):
            arch_from_config({**CONFIGS["llama"], "hidden_size": "big"}, "x", source="catalog entry x")


class TestBrokenConfigs:
    @pytest.mark.parametrize(
        ("config_text", "problem"),
        [
            pytest.param("{not json", "not valid JSON", id="not-json"),
            pytest.param("[1, 2]", "not a JSON object", id="a-list"),
            pytest.param(json.dumps({"model_type": "llama"}), "no positive 'hidden_size'", id="no-keys"),
            pytest.param(llama_with(hidden_size="4096"), "'hidden_size'", id="string-size"),
            pytest.param(llama_with(num_hidden_layers=10**9), "num_hidden_layers", id="absurd-layers"),
            pytest.param(llama_with(num_attention_heads=True), "num_attention_heads", id="bool-heads"),
            pytest.param(llama_with(vocab_size=-1), "vocab_size", id="negative-vocab"),
            pytest.param(json.dumps({k: v for k, v in CONFIGS["llama"].items() if k != "model_type"}
                                    | {"hidden_size": None}), "no model_type", id="nameless"),
        ],
    )  # fmt: skip
    def test_model_file_error_names_the_problem(self, tmp_path: Path, config_text: str, problem: str) -> None:
        (tmp_path / "config.json").write_text(config_text)
        with pytest.raises(ModelFileError) as info:
            read_hf_config(tmp_path)
        assert problem in info.value.problem

    def test_missing_config_json(self, tmp_path: Path) -> None:
        with pytest.raises(ModelFileError, match="cannot read"):
            read_hf_config(tmp_path)


def safetensors_bytes(header: object, data_bytes: int = 0, length: int | None = None) -> bytes:
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw) if length is None else length) + raw + bytes(data_bytes)


def one_tensor(dtype: object, shape: list[int], offsets: list[int]) -> bytes:
    """A file of one tensor entry and 8 data bytes."""
    return safetensors_bytes({"a": {"dtype": dtype, "shape": shape, "data_offsets": offsets}}, 8)


class TestSafetensorsHeaders:
    def test_reads_names_dtypes_shapes_and_bytes(self, tmp_path: Path) -> None:
        header = {"__metadata__": {"format": "pt"},
                  "a": {"dtype": "BF16", "shape": [4, 8], "data_offsets": [0, 64]},
                  "b": {"dtype": "F32", "shape": [3], "data_offsets": [64, 76]}}  # fmt: skip
        (tmp_path / "w.safetensors").write_bytes(safetensors_bytes(header, 76))
        info = read_safetensors(tmp_path / "w.safetensors")
        assert [(t.name, t.dtype, t.shape, t.n_bytes) for t in info.tensors] == [
            ("a", "BF16", (4, 8), 64),
            ("b", "F32", (3,), 12),
        ]
        assert (info.tensor_bytes, info.dtypes) == (76, frozenset({"BF16", "F32"}))

    @pytest.mark.parametrize(
        ("data", "problem"),
        [
            pytest.param(b"\x01\x02", "not a safetensors file", id="tiny-file"),
            pytest.param(safetensors_bytes({}, length=2**40), "more than the", id="huge-header"),
            pytest.param(safetensors_bytes({}, length=5000), "truncated", id="header-past-eof"),
            pytest.param(struct.pack("<Q", 4) + b"{{{{", "not valid JSON", id="not-json"),
            pytest.param(safetensors_bytes([1]), "not a JSON object", id="json-list"),
            pytest.param(safetensors_bytes({"a": 1}), "not an object", id="entry-not-object"),
            pytest.param(one_tensor(1, [], [0, 0]), "dtype", id="dtype-not-string"),
            pytest.param(one_tensor("F32", [-1], [0, 0]), "shape", id="negative-shape"),
            pytest.param(one_tensor("F32", [2], [8, 0]), "backwards", id="offsets-backwards"),
            pytest.param(one_tensor("F32", [4], [0, 16]), "truncated", id="data-past-eof"),
            pytest.param(one_tensor("F32", [3], [0, 8]), "do not hold", id="shape-size-mismatch"),
        ],
    )  # fmt: skip
    def test_broken_files_raise_model_file_error(self, tmp_path: Path, data: bytes, problem: str) -> None:
        (tmp_path / "w.safetensors").write_bytes(data)
        with pytest.raises(ModelFileError) as info:
            read_header(tmp_path / "w.safetensors")
        assert problem in info.value.problem

    @pytest.mark.parametrize("shard", ["../outside.safetensors", "missing.safetensors"])
    def test_index_naming_a_bad_shard_is_refused(self, tmp_path: Path, shard: str) -> None:
        (tmp_path / "model.safetensors.index.json").write_text(json.dumps({"weight_map": {"a": shard}}))
        (tmp_path.parent / "outside.safetensors").write_bytes(safetensors_bytes({}))
        with pytest.raises(ModelFileError, match="shard"):
            read_safetensors(tmp_path)


COMMIT = "0123456789abcdef0123456789abcdef01234567"


def fake_cache(hub: Path, repo_id: str, ref: str | None = COMMIT, snapshot: str = COMMIT) -> Path:
    """A hub cache entry laid out as huggingface_hub writes it: refs/main -> snapshots/<commit>/."""
    repo_dir = hub / f"models--{repo_id.replace('/', '--')}"
    snap = repo_dir / "snapshots" / snapshot
    snap.mkdir(parents=True)
    (snap / "config.json").write_text(json.dumps(CONFIGS["qwen3"]))
    if ref is not None:
        (repo_dir / "refs").mkdir()
        (repo_dir / "refs" / "main").write_text(ref)
    return snap


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_HOME", "XDG_CACHE_HOME"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    return tmp_path / "hub"


class TestHubCache:
    def test_refs_main_resolves_to_its_snapshot(self, hub: Path) -> None:
        snap = fake_cache(hub, "Qwen/Qwen3-8B")
        assert find_in_hf_cache("Qwen/Qwen3-8B") == snap
        assert read_hf_config(snap).name == "Qwen/Qwen3-8B"

    def test_a_commit_revision_needs_no_ref(self, hub: Path) -> None:
        snap = fake_cache(hub, "Qwen/Qwen3-8B", ref=None)
        assert find_in_hf_cache("Qwen/Qwen3-8B", revision=COMMIT) == snap

    @pytest.mark.parametrize(
        ("ref", "snapshot"),
        [
            pytest.param(None, COMMIT, id="no-ref"),
            pytest.param("f" * 40, COMMIT, id="ref-to-missing-snapshot"),
            pytest.param("../../../../etc", COMMIT, id="ref-not-a-commit"),
        ],
    )
    def test_unresolvable_entries_are_not_found(self, hub: Path, ref: str | None, snapshot: str) -> None:
        fake_cache(hub, "Qwen/Qwen3-8B", ref=ref, snapshot=snapshot)
        assert find_in_hf_cache("Qwen/Qwen3-8B") is None

    def test_a_repo_not_downloaded_is_none(self, hub: Path) -> None:
        assert find_in_hf_cache("org/never-downloaded") is None

    @pytest.mark.parametrize("repo_id", ["../etc", "a/b/c", "org/..", "org--x/name", ""])
    def test_malformed_repo_ids_are_usage_errors(self, hub: Path, repo_id: str) -> None:
        with pytest.raises(UsageError):
            find_in_hf_cache(repo_id)

    @pytest.mark.parametrize(
        ("env", "expected"),
        [
            pytest.param({"HF_HUB_CACHE": "/c/hub", "HF_HOME": "/h"}, "/c/hub", id="HF_HUB_CACHE-first"),
            pytest.param({"HUGGINGFACE_HUB_CACHE": "/legacy"}, "/legacy", id="legacy-variable"),
            pytest.param({"HF_HOME": "/h", "XDG_CACHE_HOME": "/x"}, "/h/hub", id="HF_HOME-then-hub"),
            pytest.param({"XDG_CACHE_HOME": "/x"}, "/x/huggingface/hub", id="XDG_CACHE_HOME"),
            pytest.param({}, "~/.cache/huggingface/hub", id="home-default"),
        ],
    )
    def test_cache_folder_resolution(
        self, monkeypatch: pytest.MonkeyPatch, env: dict[str, str], expected: str
    ) -> None:
        for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_HOME", "XDG_CACHE_HOME"):
            monkeypatch.delenv(var, raising=False)
        for var, value in env.items():
            monkeypatch.setenv(var, value)
        assert hf_hub_cache_dir() == Path(expected).expanduser()


def test_reading_configs_does_not_import_huggingface_hub() -> None:
    heavy = "{'huggingface_hub', 'gguf', 'numpy'}"
    code = f"import sys, tuilab.models.hf; print(sorted({heavy} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


class TestAnUnquantizedFolderOnLlamaCpp:
    """Audit of issue 13: `tuilab fit ORG/NAME --engine llama.cpp` (or a local folder) on an unquantized
    model was refused with "mlx-bf16 is a mlx format; the llama.cpp engine cannot load it", a quant the
    user never typed. Asked for llama.cpp, it is planned as stored there: the F16/BF16 GGUF that
    convert_hf_to_gguf.py writes."""

    @pytest.mark.parametrize(
        ("dtype", "quant"),
        [("bfloat16", "BF16"), ("float16", "F16"), (None, "F16")],
        ids=["bf16", "f16", "none"],
    )
    def test_it_is_planned_at_its_stored_precision(
        self, make_hf_dir: MakeDir, dtype: str | None, quant: str
    ) -> None:
        from tuilab.models.resolve import resolve_model

        config = {k: v for k, v in CONFIGS["llama"].items() if k != "torch_dtype"}
        directory = make_hf_dir({**config, **({"torch_dtype": dtype} if dtype else {})})
        model = resolve_model(str(directory), None, "llama.cpp")
        assert (model.quant_name, model.engine) == (quant, "llama.cpp")

    def test_without_an_engine_it_stays_mlx_as_before(self, make_hf_dir: MakeDir) -> None:
        from tuilab.models.resolve import resolve_model

        model = resolve_model(str(make_hf_dir(CONFIGS["llama"])), None, None)
        assert (model.quant_name, model.engine) == ("mlx-bf16", "mlx")
