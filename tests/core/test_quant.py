"""The quant catalog: ggml block sizes, the names users type, sizes per tensor and the ladders."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tuilab.core.arch import ModelArch, TensorInfo
from tuilab.core.errors import UnknownNameError, UsageError
from tuilab.core.quant import (
    GGML_TYPES,
    GGML_TYPES_BY_ID,
    KV_TYPES,
    LLAMA_LADDER,
    MLX_LADDER,
    LlamaFileType,
    MLXQuant,
    SizedTensor,
    all_quant_names,
    ggml_type,
    kv_type,
    nominal_bits,
    parse_quant,
    quant_engine,
    quant_name,
    sized_to_weights,
    weight_tensors,
)

CHECKED_TYPES = [
    "F32",
    "F16",
    "BF16",
    "Q8_0",
    "Q6_K",
    "Q5_K",
    "Q5_0",
    "Q5_1",
    "Q4_K",
    "Q4_0",
    "Q4_1",
    "IQ4_XS",
    "IQ4_NL",
    "Q3_K",
    "IQ3_S",
    "IQ3_XXS",
    "Q2_K",
    "IQ2_S",
    "IQ2_XS",
    "IQ2_XXS",
    "IQ1_M",
    "IQ1_S",
    "TQ1_0",
    "TQ2_0",
    "MXFP4",
    "NVFP4",
    "Q1_0",
]  # Q2_0 is newer than the gguf-py we install: tests/models/test_quantizer_agrees.py checks its size


def small_arch(**overrides: object) -> ModelArch:
    base: dict[str, object] = dict(
        name="small",
        family="llama",
        n_layers=4,
        hidden_size=512,
        n_heads=8,
        n_kv_heads=2,
        head_dim=64,
        ffn_size=1024,
        vocab_size=1000,
    )
    base.update(overrides)
    return ModelArch(**base)  # type: ignore[arg-type]


class TestGGMLCatalogMatchesGgufPy:
    """Block sizes and type ids agree with gguf-py's GGML_QUANT_SIZES, which mirrors ggml-common.h."""

    @pytest.mark.parametrize("name", CHECKED_TYPES)
    def test_block_elements_bytes_and_id(self, name: str) -> None:
        gguf_constants = pytest.importorskip("gguf.constants")
        gguf_type = gguf_constants.GGMLQuantizationType[name]
        ours = GGML_TYPES[name]
        assert (ours.block_elems, ours.block_bytes) == gguf_constants.GGML_QUANT_SIZES[gguf_type]
        assert ours.type_id == gguf_type.value
        assert GGML_TYPES_BY_ID[ours.type_id] is ours

    def test_unknown_ggml_type_suggests_a_close_name(self) -> None:
        with pytest.raises(UnknownNameError) as err:
            ggml_type("Q4_KK")
        assert "Q4_K" in err.value.suggestions


class TestKVTypesStillWork:
    def test_q8_0_kv_is_8_5_bits(self) -> None:
        assert kv_type("Q8_0").bits_per_element == pytest.approx(8.5)
        assert set(KV_TYPES) >= {"f16", "q8_0", "q4_0", "mlx-kv8", "mlx-kv4"}


class TestParseQuant:
    @pytest.mark.parametrize(
        ("typed", "canonical", "engine"),
        [
            ("Q4_K_M", "Q4_K_M", "llama.cpp"),
            ("q4_k_m", "Q4_K_M", "llama.cpp"),
            ("f16", "F16", "llama.cpp"),
            ("bf16", "BF16", "llama.cpp"),
            ("IQ4_XS-imatrix", "IQ4_XS-imatrix", "llama.cpp"),
            ("MXFP4_MOE", "MXFP4_MOE", "llama.cpp"),
            ("mlx-4bit", "mlx-4bit", "mlx"),
            ("MLX-8bit", "mlx-8bit", "mlx"),
            ("mlx-4bit-g32", "mlx-4bit-g32", "mlx"),
            ("mlx-4bit-g64", "mlx-4bit", "mlx"),
            ("mlx-6bit-g128", "mlx-6bit-g128", "mlx"),
            ("mlx-fp16", "mlx-fp16", "mlx"),
            ("mlx-bf16", "mlx-bf16", "mlx"),
            ("mlx-mxfp4", "mlx-mxfp4", "mlx"),
            ("mlx-nvfp4", "mlx-nvfp4", "mlx"),
            ("mlx-mxfp8", "mlx-mxfp8", "mlx"),
            ("mlx-mixed_3_6", "mlx-mixed_3_6", "mlx"),
        ],
    )
    def test_accepts_what_users_type(self, typed: str, canonical: str, engine: str) -> None:
        q = parse_quant(typed)
        assert quant_name(q) == canonical
        assert quant_engine(q) == engine
        assert parse_quant(quant_name(q)) == q

    @pytest.mark.parametrize("typed", ["Q4_K_MM", "mlx-7bit", "mlx-4bit-g48", "mlx-mixed_5_6", "q9", ""])
    def test_unknown_names_raise_with_did_you_mean(self, typed: str) -> None:
        with pytest.raises(UnknownNameError) as err:
            parse_quant(typed)
        assert err.value.kind == "quant"

    def test_suggestion_for_a_typo(self) -> None:
        with pytest.raises(UnknownNameError) as err:
            parse_quant("Q4_K_N")
        assert "Q4_K_M" in err.value.suggestions

    def test_imatrix_is_on_by_default_where_llama_cpp_requires_it(self) -> None:
        assert isinstance(q := parse_quant("IQ2_XS"), LlamaFileType) and q.imatrix
        assert isinstance(q := parse_quant("IQ4_XS"), LlamaFileType) and not q.imatrix
        assert quant_name(parse_quant("IQ2_XS")) == "IQ2_XS"

    def test_every_listed_name_parses(self) -> None:
        for name in all_quant_names():
            assert quant_name(parse_quant(name)) == name


class TestNominalBits:
    @pytest.mark.parametrize(
        ("name", "bits"),
        [
            ("F16", 16.0),
            ("Q8_0", 8.5),
            ("Q4_K_M", 4.5),
            ("IQ2_XXS", 2.0625),
            ("mlx-4bit", 4.5),
            ("mlx-4bit-g32", 5.0),
            ("mlx-bf16", 16.0),
            ("mlx-mxfp4", 4.25),
            ("mlx-nvfp4", 4.5),
            ("mlx-mxfp8", 8.25),
        ],
    )
    def test_bits_the_name_promises(self, name: str, bits: float) -> None:
        assert nominal_bits(parse_quant(name)) == pytest.approx(bits)


class TestWeightTensors:
    def test_one_sized_tensor_per_arch_tensor_in_order(self) -> None:
        arch = small_arch()
        sized = weight_tensors(parse_quant("Q4_K_M"), arch)
        assert [s.name for s in sized] == [t.name for t in arch.tensors]
        assert [s.layer for s in sized] == [t.layer for t in arch.tensors]

    def test_sized_tensor_is_frozen(self) -> None:
        s = SizedTensor("output.weight", None, "Q6_K", 10)
        with pytest.raises(dataclasses.FrozenInstanceError):
            s.n_bytes = 11  # type: ignore[misc]

    def test_without_a_quant_the_bytes_read_from_a_gguf_are_used(self) -> None:
        read = (
            TensorInfo("token_embd.weight", (512, 1000), ggml_type="Q4_K", n_bytes=288_000),
            TensorInfo("output_norm.weight", (512,), ggml_type="F32"),
        )
        sized = weight_tensors(None, small_arch(tensors=read))
        assert sized == (
            SizedTensor("token_embd.weight", None, "Q4_K", 288_000),
            SizedTensor("output_norm.weight", None, "F32", 2048),
        )

    def test_without_a_quant_a_tensor_without_type_is_a_usage_error(self) -> None:
        with pytest.raises(UsageError):
            weight_tensors(None, small_arch())

    def test_mlx_and_llama_sizes_are_labelled_by_their_engine(self) -> None:
        arch = small_arch()
        llama = {s.name: s.type_name for s in weight_tensors(parse_quant("Q8_0"), arch)}
        mlx = {s.name: s.type_name for s in weight_tensors(parse_quant("mlx-4bit"), arch)}
        assert llama["blk.0.attn_q.weight"] == "Q8_0" and llama["blk.0.attn_norm.weight"] == "F32"
        assert mlx["blk.0.attn_q.weight"] == "affine4/g64" and mlx["blk.0.attn_norm.weight"] == "bf16"


class TestLadders:
    def test_llama_ladder_is_the_documented_order(self) -> None:
        assert LLAMA_LADDER[:5] == ("F16", "Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M")
        assert LLAMA_LADDER[-2:] == ("TQ2_0", "TQ1_0")
        assert all(quant_engine(parse_quant(n)) == "llama.cpp" for n in LLAMA_LADDER)

    def test_mlx_ladder_runs_from_bf16_to_the_float_modes(self) -> None:
        assert MLX_LADDER[0] == "mlx-bf16" and MLX_LADDER[-1] == "mlx-mxfp4"
        assert all(isinstance(parse_quant(n), MLXQuant) for n in MLX_LADDER)


@st.composite
def llama_like(draw: st.DrawFn) -> ModelArch:
    """Llama-shaped: 1-8k wide, 8-64 layers, heads span the hidden size, the FFN 2-4x as wide (Llama,
    Mistral, Qwen2). Tiny models whose vocabulary outweighs their layers can order Q2_K and IQ3_XXS
    the other way: Q2_K keeps the output at Q6_K where IQ3_XXS uses Q5_K."""
    head_dim = draw(st.sampled_from([64, 128]))
    hidden_blocks = draw(st.integers(4, 32))
    n_heads = 256 * hidden_blocks // head_dim
    n_kv = draw(st.sampled_from([k for k in (1, 2, 4, 8, n_heads) if n_heads % k == 0]))
    return small_arch(
        n_layers=draw(st.integers(8, 64)),
        hidden_size=256 * hidden_blocks,
        n_heads=n_heads,
        n_kv_heads=n_kv,
        head_dim=head_dim,
        ffn_size=256 * hidden_blocks * draw(st.integers(8, 16)) // 4,
        vocab_size=draw(st.sampled_from([32000, 32768, 128256, 151936])),
        tied_embeddings=draw(st.booleans()),
    )


def total_bytes(name: str, arch: ModelArch) -> int:
    return sum(t.n_bytes for t in weight_tensors(parse_quant(name), arch))


class TestFewerBitsNeverNeedMoreBytes:
    @settings(max_examples=40, deadline=None)
    @given(llama_like(), st.sampled_from(["Q2_K", "IQ3_XXS"]))
    def test_along_the_llama_ladder_from_f16_to_iq1_s(self, arch: ModelArch, left_out: str) -> None:
        """Q2_K and IQ3_XXS are within a fraction of a percent of each other and trade places with the
        model's shape, so each chain leaves one of the two out; every other neighbour is ordered."""
        chain = [n for n in LLAMA_LADDER[: LLAMA_LADDER.index("IQ1_S") + 1] if n != left_out]
        sizes = [total_bytes(n, arch) for n in chain]
        assert sizes == sorted(sizes, reverse=True), dict(zip(chain, sizes, strict=True))

    def test_q2_k_and_iq3_xxs_trade_places_with_the_model(self) -> None:
        llama_3_8b = small_arch(
            n_layers=32,
            hidden_size=4096,
            n_heads=32,
            n_kv_heads=8,
            head_dim=128,
            ffn_size=14336,
            vocab_size=128256,
        )
        narrow = small_arch(
            n_layers=8, hidden_size=1024, n_heads=16, n_kv_heads=1, ffn_size=2048, vocab_size=32000
        )
        assert total_bytes("IQ3_XXS", llama_3_8b) > total_bytes("Q2_K", llama_3_8b)
        assert total_bytes("IQ3_XXS", narrow) < total_bytes("Q2_K", narrow)

    @settings(max_examples=40, deadline=None)
    @given(llama_like(), st.sampled_from([32, 64, 128]))
    def test_along_mlx_bit_widths_at_a_fixed_group_size(self, arch: ModelArch, group: int) -> None:
        chain = [f"mlx-{b}bit-g{group}" for b in (8, 6, 5, 4, 3, 2)]
        sizes = [total_bytes("mlx-bf16", arch)] + [total_bytes(n, arch) for n in chain]
        assert sizes == sorted(sizes, reverse=True)


def read_from_file(arch: ModelArch) -> ModelArch:
    """`arch` as a GGUF header gives it: every tensor with its stored type and exact bytes (Q4_K_M)."""
    sized = weight_tensors(parse_quant("Q4_K_M"), arch)
    tensors = tuple(
        dataclasses.replace(t, ggml_type=s.type_name, n_bytes=s.n_bytes)
        for t, s in zip(arch.tensors, sized, strict=True)
    )
    return dataclasses.replace(arch, tensors=tensors, file_type="Q4_K_M")


class TestSizedToWeights:
    """A file of the same model known only by its size: the read tensors scaled to its weight bytes."""

    @pytest.mark.parametrize(
        "factor", [0.7, 1.0, 1.024, 1.9], ids=["smaller", "same", "a_bit_more", "larger"]
    )
    def test_the_weights_total_exactly_the_bytes_given(self, factor: float) -> None:
        read = read_from_file(small_arch())
        target = int(sum(t.n_bytes for t in weight_tensors(None, read)) * factor)
        sized = sized_to_weights(read, target, "UD-Q4_K_XL")
        assert sum(t.n_bytes for t in weight_tensors(None, sized)) == target

    def test_each_tensor_scales_alike_and_keeps_its_type(self) -> None:
        read = read_from_file(small_arch())
        before = weight_tensors(None, read)
        after = weight_tensors(None, sized_to_weights(read, 2 * sum(t.n_bytes for t in before), "X"))
        assert [t.type_name for t in after] == [t.type_name for t in before]
        assert all(abs(a.n_bytes - 2 * b.n_bytes) <= 1 for a, b in zip(after, before, strict=True))

    def test_the_architecture_stays_and_the_file_type_is_the_label(self) -> None:
        read = read_from_file(small_arch())
        sized = sized_to_weights(read, 10**9, "UD-Q4_K_XL")
        assert sized.file_type == "UD-Q4_K_XL"
        assert dataclasses.replace(sized, tensors=read.tensors, file_type="Q4_K_M") == read

    def test_no_weights_is_a_usage_error(self) -> None:
        with pytest.raises(UsageError, match="cannot be planned from its size"):
            sized_to_weights(read_from_file(small_arch()), 0, "UD-Q4_K_XL")
