"""llama.cpp file types pick each tensor's type as llama_tensor_get_type in src/llama-quant.cpp does."""

from __future__ import annotations

import dataclasses

import pytest

from tuilab.core.arch import ModelArch, TensorInfo
from tuilab.core.llama_quant import LLAMA_FILE_TYPES, allows_quantization, ggml_n_dims, llama_file_type


def arch(**overrides: object) -> ModelArch:
    base: dict[str, object] = dict(
        name="test",
        family="llama",
        n_layers=16,
        hidden_size=2048,
        n_heads=32,
        n_kv_heads=8,
        head_dim=64,
        ffn_size=8192,
        vocab_size=128256,
    )
    base.update(overrides)
    return ModelArch(**base)  # type: ignore[arg-type]


def types(ftype: str, model: ModelArch) -> dict[str, str]:
    return {name: t.name for name, t in llama_file_type(ftype).tensor_types(model).items()}


LLAMA_3_2_1B = arch(tied_embeddings=True)  # config.json of meta-llama/Llama-3.2-1B: 16 layers, 2048 wide
MORE_BITS_LAYERS_OF_16 = {0, 1, 4, 7, 10, 13, 14, 15}  # use_more_bits(i, 16)


class TestFileTypeCatalog:
    @pytest.mark.parametrize(
        ("name", "ftype_id", "base"),
        [
            ("F32", 0, "F32"),
            ("Q4_K_M", 15, "Q4_K"),
            ("IQ3_XS", 22, "IQ3_S"),
            ("IQ2_S", 28, "IQ2_XS"),
            ("IQ2_M", 29, "IQ2_S"),
            ("BF16", 32, "BF16"),
            ("TQ1_0", 36, "TQ1_0"),
            ("MXFP4_MOE", 38, "MXFP4"),
        ],
    )
    def test_ids_and_default_types_match_llama_h(self, name: str, ftype_id: int, base: str) -> None:
        ft = llama_file_type(name)
        assert (ft.ftype_id, ft.base.name) == (ftype_id, base)

    def test_ids_match_the_installed_llama_h_when_present(self) -> None:
        llama_cpp = pytest.importorskip("llama_cpp")
        for name, ft in LLAMA_FILE_TYPES.items():
            prefix = "LLAMA_FTYPE_ALL_" if name == "F32" else "LLAMA_FTYPE_MOSTLY_"
            assert getattr(llama_cpp, prefix + name) == ft.ftype_id, name


class TestWhatStaysUnquantized:
    @pytest.mark.parametrize(
        ("tensor", "quantized"),
        [
            (TensorInfo("blk.0.attn_norm.weight", (2048,)), False),
            (TensorInfo("blk.0.attn_q.bias", (2048,)), False),
            (TensorInfo("blk.0.ffn_gate_inp.weight", (2048, 8)), False),
            (TensorInfo("blk.0.ffn_up.weight", (2048, 1)), False),  # ggml_n_dims drops trailing 1s
            (TensorInfo("blk.0.ffn_up.weight", (2048, 8192)), True),
            (TensorInfo("blk.0.ffn_up_exps.weight", (2048, 512, 8)), True),
        ],
    )
    def test_only_2d_and_3d_weights_but_norms_and_routers(self, tensor: TensorInfo, quantized: bool) -> None:
        assert allows_quantization(tensor) is quantized

    def test_kept_tensors_stay_f32_in_every_file_type(self) -> None:
        model = arch(n_experts=8, n_experts_used=2, expert_ffn_size=1024)
        for ftype in ("Q4_K_M", "F16", "IQ2_XXS"):
            chosen = types(ftype, model)
            assert chosen["blk.0.attn_norm.weight"] == "F32"
            assert chosen["blk.0.ffn_gate_inp.weight"] == "F32"

    def test_trailing_ones_do_not_count_as_dimensions(self) -> None:
        assert ggml_n_dims((4096, 1, 1)) == 1 and ggml_n_dims((4096, 32)) == 2


class TestMoreBitsLayers:
    """Golden: llama-quantize on Llama-3.2-1B gives Q6_K attn_v and ffn_down on use_more_bits layers."""

    @pytest.mark.parametrize("ftype", ["Q4_K_M", "Q5_K_M"])
    def test_attn_v_and_ffn_down_follow_use_more_bits(self, ftype: str) -> None:
        chosen = types(ftype, LLAMA_3_2_1B)
        base = llama_file_type(ftype).base.name
        for i in range(16):
            want = "Q6_K" if i in MORE_BITS_LAYERS_OF_16 else base
            assert chosen[f"blk.{i}.attn_v.weight"] == want, i
            assert chosen[f"blk.{i}.ffn_down.weight"] == want, i
            assert chosen[f"blk.{i}.attn_q.weight"] == base

    def test_tied_embeddings_get_the_output_type(self) -> None:
        assert types("Q4_K_M", LLAMA_3_2_1B)["token_embd.weight"] == "Q6_K"
        untied = types("Q4_K_M", arch())
        assert (untied["token_embd.weight"], untied["output.weight"]) == ("Q4_K", "Q6_K")

    def test_the_tensor_order_in_the_arch_does_not_matter(self) -> None:
        shuffled = ModelArch(**{**LLAMA_3_2_1B.__dict__, "tensors": tuple(reversed(LLAMA_3_2_1B.tensors))})
        assert types("Q4_K_M", shuffled) == types("Q4_K_M", LLAMA_3_2_1B)

    def test_single_tensor_lookup_agrees_with_the_whole_plan(self) -> None:
        ft = llama_file_type("Q4_K_M")
        t = next(t for t in LLAMA_3_2_1B.tensors if t.name == "blk.4.attn_v.weight")
        assert ft.tensor_type(t, LLAMA_3_2_1B).name == "Q6_K"


class TestModelShapeBumps:
    @pytest.mark.parametrize(("n_kv_heads", "want"), [(8, "Q4_K"), (32, "Q3_K")])
    def test_q2_k_attn_v_gets_q4_k_with_gqa_of_4_or_more(self, n_kv_heads: int, want: str) -> None:
        assert types("Q2_K", arch(n_kv_heads=n_kv_heads))["blk.3.attn_v.weight"] == want

    def test_70b_class_llama_bumps_q3_k_m_attn_v_to_q5_k(self) -> None:
        llama_70b = arch(n_layers=80, hidden_size=8192, n_heads=64, n_kv_heads=8, head_dim=128)
        assert types("Q3_K_M", llama_70b)["blk.40.attn_v.weight"] == "Q5_K"
        assert types("Q3_K_M", arch())["blk.10.attn_v.weight"] == "Q4_K"

    def test_eight_expert_moe_keeps_attn_k_and_v_at_q8_0(self) -> None:
        mixtral = arch(n_layers=32, hidden_size=4096, n_experts=8, n_experts_used=2, expert_ffn_size=14336)
        chosen = types("Q4_K_M", mixtral)
        assert chosen["blk.5.attn_v.weight"] == "Q8_0" and chosen["blk.5.attn_k.weight"] == "Q8_0"
        assert chosen["blk.5.ffn_down_exps.weight"] == "Q4_K"  # layer 5 of 32: not a more-bits layer
        assert chosen["blk.0.ffn_down_exps.weight"] == "Q6_K"

    def test_iq2_xxs_protects_output_embeddings_and_first_ffn_down(self) -> None:
        chosen = types("IQ2_XXS", arch())
        assert (chosen["output.weight"], chosen["token_embd.weight"]) == ("Q5_K", "Q2_K")
        assert chosen["blk.0.ffn_down.weight"] == "Q2_K" and chosen["blk.9.ffn_down.weight"] == "IQ2_XXS"
        assert chosen["blk.9.attn_v.weight"] == "Q4_K"  # GQA 4

    def test_imatrix_changes_iq4_xs_first_ffn_down_layers(self) -> None:
        without = types("IQ4_XS", arch())
        ft = dataclasses.replace(llama_file_type("IQ4_XS"), imatrix=True)
        with_imatrix = {n: t.name for n, t in ft.tensor_types(arch()).items()}
        assert (
            without["blk.0.ffn_down.weight"] == "Q5_K" and with_imatrix["blk.0.ffn_down.weight"] == "IQ4_XS"
        )

    def test_mxfp4_moe_puts_experts_in_mxfp4_and_the_rest_in_q8_0(self) -> None:
        gpt_oss = arch(
            family="gpt-oss", n_experts=32, n_experts_used=4, expert_ffn_size=2880, hidden_size=2880
        )
        chosen = types("MXFP4_MOE", gpt_oss)
        assert chosen["blk.0.ffn_up_exps.weight"] == "MXFP4"
        assert chosen["blk.0.attn_q.weight"] == "Q8_0" and chosen["output.weight"] == "Q8_0"

    def test_f16_files_have_no_mixture(self) -> None:
        chosen = types("F16", arch())
        assert {chosen["output.weight"], chosen["blk.2.attn_v.weight"], chosen["token_embd.weight"]} == {
            "F16"
        }


class TestBlockSizeFallback:
    @pytest.mark.parametrize(
        ("ftype", "hidden", "want"),
        [
            ("Q4_K_M", 2880, "Q5_0"),  # 2880 = 90 x 32, not a multiple of 256
            ("Q5_K_S", 2880, "Q5_1"),
            ("Q6_K", 2880, "Q8_0"),
            ("Q3_K_S", 2880, "Q4_0"),
            ("IQ2_XXS", 2880, "IQ4_NL"),
            ("Q4_K_M", 2000, "F16"),  # not even a multiple of 32
        ],
    )
    def test_rows_that_are_not_whole_blocks_fall_back(self, ftype: str, hidden: int, want: str) -> None:
        chosen = types(ftype, arch(hidden_size=hidden, n_heads=hidden // 64 // 8 * 8, n_kv_heads=8))
        assert chosen["blk.1.attn_q.weight"] == want

    def test_output_with_odd_rows_is_q8_0(self) -> None:
        assert types("Q4_K_M", arch(hidden_size=2880, n_heads=40))["output.weight"] == "Q8_0"
