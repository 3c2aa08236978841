"""MLX quantization sizes as mlx-lm's convert writes them, checked against real mlx and mlx-lm."""

from __future__ import annotations

from typing import Any

import pytest

from tuilab.core.arch import ModelArch, TensorInfo
from tuilab.core.errors import UsageError
from tuilab.core.mlx_quant import MLXQuant
from tuilab.core.quant import parse_quant, weight_tensors


def arch(**overrides: object) -> ModelArch:
    base: dict[str, object] = dict(
        name="tiny",
        family="llama",
        n_layers=8,
        hidden_size=256,
        n_heads=4,
        n_kv_heads=2,
        head_dim=64,
        ffn_size=512,
        vocab_size=1024,
    )
    base.update(overrides)
    return ModelArch(**base)  # type: ignore[arg-type]


def total_bytes(name: str, model: ModelArch) -> int:
    return sum(t.n_bytes for t in weight_tensors(parse_quant(name), model))


class TestBytesPerTensor:
    @pytest.mark.parametrize(
        ("q", "want_bytes"),
        [
            # 64 rows of 512: uint32-packed weights + per-group scale (+ bias), as mx.quantize returns
            (MLXQuant(4, 64), 64 * (256 + 8 * 2 + 8 * 2)),
            (MLXQuant(3, 32), 64 * (192 + 16 * 2 + 16 * 2)),
            (MLXQuant(5, 128), 64 * (320 + 4 * 2 + 4 * 2)),
            (MLXQuant(4, 32, "mxfp4"), 64 * (256 + 16)),
            (MLXQuant(4, 16, "nvfp4"), 64 * (256 + 32)),
            (MLXQuant(8, 32, "mxfp8"), 64 * (512 + 16)),
            (MLXQuant(16), 64 * 512 * 2),
        ],
    )
    def test_matrix_bytes(self, q: MLXQuant, want_bytes: int) -> None:
        t = TensorInfo("blk.0.attn_q.weight", (512, 64))
        assert q.tensor_bytes(t, arch()) == want_bytes

    @pytest.mark.parametrize(
        ("q", "mode", "bits", "group"),
        [
            (MLXQuant(4, 64), "affine", 4, 64),
            (MLXQuant(3, 32), "affine", 3, 32),
            (MLXQuant(6, 128), "affine", 6, 128),
            (MLXQuant(4, 32, "mxfp4"), "mxfp4", 4, 32),
            (MLXQuant(4, 16, "nvfp4"), "nvfp4", 4, 16),
            (MLXQuant(8, 32, "mxfp8"), "mxfp8", 8, 32),
        ],
    )
    def test_matches_real_mx_quantize(self, q: MLXQuant, mode: str, bits: int, group: int) -> None:
        mx = pytest.importorskip("mlx.core")
        w = mx.zeros((64, 512), dtype=mx.bfloat16)
        real_bytes = sum(a.nbytes for a in mx.quantize(w, group, bits, mode=mode))
        assert q.tensor_bytes(TensorInfo("blk.0.attn_q.weight", (512, 64)), arch()) == real_bytes

    def test_norms_and_biases_stay_16_bit(self) -> None:
        q = MLXQuant(4, 64)
        assert q.tensor_bytes(TensorInfo("blk.0.attn_norm.weight", (256,)), arch()) == 512
        assert q.tensor_bytes(TensorInfo("blk.0.attn_q.bias", (256,)), arch()) == 512

    def test_rows_not_a_whole_number_of_groups_stay_unquantized(self) -> None:
        t = TensorInfo("blk.0.ffn_down.weight", (2880 + 32, 256))
        assert MLXQuant(4, 64).layer_quant(t, arch()) is None
        assert MLXQuant(4, 32).layer_quant(t, arch()) == (4, 32, "affine")

    def test_embeddings_and_lm_head_are_quantized(self) -> None:
        q, model = MLXQuant(4, 64), arch()
        for t in model.tensors:
            if t.name in ("token_embd.weight", "output.weight"):
                assert q.layer_quant(t, model) == (4, 64, "affine")


class TestMoERouter:
    def moe(self, family: str) -> ModelArch:
        return arch(family=family, n_experts=8, n_experts_used=2, expert_ffn_size=256)

    def test_qwen3_moe_keeps_its_router_at_8_bits(self) -> None:
        router = TensorInfo("blk.0.ffn_gate_inp.weight", (256, 8))
        assert MLXQuant(4, 64).layer_quant(router, self.moe("qwen3moe")) == (8, 64, "affine")

    def test_mixtral_router_takes_the_model_bits(self) -> None:
        router = TensorInfo("blk.0.ffn_gate_inp.weight", (256, 8))
        assert MLXQuant(4, 64).layer_quant(router, self.moe("mixtral")) == (4, 64, "affine")

    def test_mixed_recipes_replace_the_router_rule(self) -> None:
        router = TensorInfo("blk.0.ffn_gate_inp.weight", (256, 8))
        assert parse_quant("mlx-mixed_3_6").layer_quant(router, self.moe("qwen3moe")) == (3, 64, "affine")  # type: ignore[union-attr]


class TestMixedRecipes:
    @pytest.mark.parametrize(
        ("name", "want_bits"),
        [
            ("output.weight", 6),
            ("token_embd.weight", 3),
            ("blk.0.attn_v.weight", 6),
            ("blk.0.ffn_down.weight", 6),
            ("blk.2.attn_v.weight", 3),
            ("blk.3.ffn_down.weight", 6),  # use_more_bits(3, 8): (3 - 1) % 3 == 2
            ("blk.7.attn_v.weight", 6),
            ("blk.4.attn_q.weight", 3),
        ],
    )
    def test_mixed_3_6_gives_high_bits_like_q4_k_m(self, name: str, want_bits: int) -> None:
        q, model = parse_quant("mlx-mixed_3_6"), arch()
        t = next(t for t in model.tensors if t.name == name)
        assert isinstance(q, MLXQuant)
        assert q.layer_quant(t, model) == (want_bits, 64, "affine")


class TestValidation:
    @pytest.mark.parametrize(
        "kwargs",
        [
            {"bits": 7},
            {"bits": 4, "group_size": 48},
            {"bits": 4, "group_size": 64, "mode": "mxfp4"},
            {"bits": 4, "mode": "int4"},
            {"bits": 4, "recipe": "mixed_3_6"},
            {"bits": 16, "dtype": "fp32"},
        ],
    )
    def test_combinations_mlx_does_not_offer_are_usage_errors(self, kwargs: dict[str, Any]) -> None:
        with pytest.raises(UsageError):
            MLXQuant(**kwargs)


@pytest.mark.mlx
class TestAgainstRealMlxLm:
    """Sum of every saved array after mlx_lm.utils.quantize_model on a tiny Llama, against ours."""

    @pytest.mark.parametrize("name", ["mlx-4bit", "mlx-3bit-g32", "mlx-mxfp4", "mlx-mixed_3_6", "mlx-bf16"])
    def test_total_bytes_equal_mlx_lm(self, name: str) -> None:
        mx = pytest.importorskip("mlx.core")
        llama = pytest.importorskip("mlx_lm.models.llama")
        convert = pytest.importorskip("mlx_lm.convert")
        utils = pytest.importorskip("mlx_lm.utils")
        from mlx.utils import tree_flatten

        args = llama.ModelArgs(
            model_type="llama",
            hidden_size=256,
            num_hidden_layers=8,
            intermediate_size=512,
            num_attention_heads=4,
            num_key_value_heads=2,
            rms_norm_eps=1e-5,
            vocab_size=1024,
            tie_word_embeddings=False,
            head_dim=64,
        )
        model = llama.Model(args)
        model.set_dtype(mx.bfloat16)
        q = parse_quant(name)
        assert isinstance(q, MLXQuant)
        if q.bits != 16:
            predicate = (
                convert.mixed_quant_predicate_builder(q.recipe, model, q.group_size) if q.recipe else None
            )
            utils.quantize_model(model, {}, q.group_size, q.bits, mode=q.mode, quant_predicate=predicate)
        flat: Any = tree_flatten(model.parameters())
        real_bytes = sum(v.nbytes for _, v in flat)
        assert total_bytes(name, arch()) == real_bytes
