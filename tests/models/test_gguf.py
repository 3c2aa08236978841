"""The GGUF header reader: exact tensor bytes and architecture from real GGUFWriter files, and a fast
ModelFileError (never a hang, an OOM or a traceback) for every corrupt or hostile header."""

from __future__ import annotations

import contextlib
import struct
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import gguf
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

if TYPE_CHECKING:
    from conftest import TinyLlama

    from tuilab.models.tiny import TinyModels

from tuilab.core.arch import LayerKind
from tuilab.core.errors import ModelFileError
from tuilab.models.gguf import ArrayInfo, GGUFModel, read_gguf

FAST_SECONDS = 2.0  # hostile files must fail in well under 0.5 s; generous for a loaded CI box


# --- raw GGUF bytes, written by hand so each can be broken in exactly one place (layout: gguf.md) ---


def s(text: str | bytes) -> bytes:
    raw = text.encode() if isinstance(text, str) else text
    return struct.pack("<Q", len(raw)) + raw


def kv_u32(key: str, value: int) -> bytes:
    return s(key) + struct.pack("<II", 4, value)


def kv_str(key: str, value: str) -> bytes:
    return s(key) + struct.pack("<I", 8) + s(value)


def kv_str_array(key: str, items: list[str]) -> bytes:
    return s(key) + struct.pack("<IIQ", 9, 8, len(items)) + b"".join(s(i) for i in items)


def kv_u32_array(key: str, items: list[int]) -> bytes:
    return s(key) + struct.pack("<IIQ", 9, 4, len(items)) + struct.pack(f"<{len(items)}I", *items)


def tensor_info(name: str, dims: tuple[int, ...], type_id: int = 0, offset: int = 0) -> bytes:
    n = len(dims)
    return s(name) + struct.pack(f"<I{n}QIQ", n, *dims, type_id, offset)


BASE_KVS = [
    kv_str("general.architecture", "llama"),
    kv_u32("llama.block_count", 1),
    kv_u32("llama.embedding_length", 4),
    kv_u32("llama.attention.head_count", 2),
    kv_u32_array("llama.attention.head_count_kv", [1]),
    kv_str_array("tokenizer.ggml.tokens", ["a", "b", "c", "d", "e"]),
]
# token_embd F32 (4, 5) = 80 bytes at 0, output_norm F32 (4,) = 16 bytes at 96
BASE_TENSORS = [
    tensor_info("token_embd.weight", (4, 5), 0, 0),
    tensor_info("output_norm.weight", (4,), 0, 96),
]


def raw_gguf(
    kvs: list[bytes] | None = None,
    tensors: list[bytes] | None = None,
    data_bytes: int = 112,
    version: int = 3,
    magic: bytes = b"GGUF",
    n_kv: int | None = None,
    n_tensors: int | None = None,
    pad: bool = True,
) -> bytes:
    kvs = BASE_KVS if kvs is None else kvs
    tensors = BASE_TENSORS if tensors is None else tensors
    head = magic + struct.pack(
        "<IQQ", version, len(tensors) if n_tensors is None else n_tensors, len(kvs) if n_kv is None else n_kv
    )
    body = head + b"".join(kvs) + b"".join(tensors)
    return body + bytes(-len(body) % 32 if pad else 0) + bytes(data_bytes)


VALID = raw_gguf()


def read_bytes(tmp_path: Path, data: bytes, name: str = "x.gguf") -> GGUFModel:
    path = tmp_path / name
    path.write_bytes(data)
    return read_gguf(path)


def refused(tmp_path: Path, data: bytes) -> ModelFileError:
    start = time.perf_counter()
    with pytest.raises(ModelFileError) as info:
        read_bytes(tmp_path, data)
    assert time.perf_counter() - start < FAST_SECONDS
    return info.value


class TestReadsWriterFiles:
    def test_tensor_bytes_equal_the_files_tensor_data(self, make_gguf: Callable[..., Path]) -> None:
        path = make_gguf()
        model = read_gguf(path)
        padded = sum(-(-(t.n_bytes or 0) // model.alignment) * model.alignment for t in model.arch.tensors)
        assert model.data_offset + padded == path.stat().st_size == model.file_bytes
        assert model.tensor_bytes == sum(t.n_bytes or 0 for t in model.arch.tensors)

    def test_every_tensor_matches_gguf_py(self, make_gguf: Callable[..., Path]) -> None:
        path = make_gguf()
        oracle = {t.name: t for t in gguf.GGUFReader(path).tensors}
        for t in read_gguf(path).arch.tensors:
            ref = oracle[t.name]
            assert (t.shape, t.ggml_type, t.n_bytes) == (
                tuple(int(d) for d in ref.shape),
                ref.tensor_type.name,
                int(ref.n_bytes),
            )

    def test_arch_values_round_trip(self, make_gguf: Callable[..., Path], tiny_llama: TinyLlama) -> None:
        model = read_gguf(make_gguf())
        a, t = model.arch, tiny_llama
        assert (a.family, a.n_layers, a.hidden_size, a.n_heads, a.n_kv_heads) == (
            "llama",
            t.layers,
            t.hidden,
            t.heads,
            t.kv_heads,
        )
        assert (a.head_dim, a.ffn_size, a.vocab_size, a.max_ctx_tokens) == (64, t.ffn, t.vocab, 2048)
        assert not a.tied_embeddings and not a.is_moe and a.sliding_window is None
        assert (model.name, model.version, model.file_type_name) == ("tiny-llama", 3, "Q4_K_M")

    def test_tensor_names_and_types_are_exact(
        self, make_gguf: Callable[..., Path], tiny_llama: TinyLlama
    ) -> None:
        got = [(t.name, t.ggml_type, t.shape) for t in read_gguf(make_gguf()).arch.tensors]
        assert got == tiny_llama.tensors()

    def test_no_output_tensor_means_tied_embeddings(
        self, make_gguf: Callable[..., Path], tiny_llama: TinyLlama
    ) -> None:
        model = read_gguf(make_gguf(tensors=tiny_llama.tensors(output=False)))
        assert model.arch.tied_embeddings

    def test_version_2_reads_like_version_3(self, make_gguf: Callable[..., Path]) -> None:
        path = make_gguf()
        data = bytearray(path.read_bytes())
        data[4:8] = struct.pack("<I", 2)
        path.write_bytes(bytes(data))
        assert read_gguf(path).version == 2

    def test_name_falls_back_to_the_file_stem(self, make_gguf: Callable[..., Path]) -> None:
        assert read_gguf(make_gguf("My-Model-Q4.gguf", kv={"general.name": None})).name == "My-Model-Q4"


class TestReadsLlamaCppFiles:
    """The session's tiny model as llama.cpp itself quantized it (llama-cpp-python's quantize)."""

    @pytest.mark.parametrize("quant", ["F16", "Q8_0", "Q4_K_M", "Q4_0"])
    def test_matches_gguf_py_and_names_the_file_type(self, tiny_models: TinyModels, quant: str) -> None:
        path = tiny_models.gguf.get(quant)
        if path is None:
            pytest.skip("needs llama-cpp-python to quantize")
        model = read_gguf(path)
        oracle = gguf.GGUFReader(path).tensors
        assert [(t.name, t.n_bytes) for t in model.arch.tensors] == [(t.name, int(t.n_bytes)) for t in oracle]
        assert model.file_type_name == quant


class TestArchitectureKeys:
    def test_per_layer_kv_heads_take_the_max_and_say_so(self, make_gguf: Callable[..., Path]) -> None:
        model = read_gguf(make_gguf(kv={"llama.attention.head_count_kv": [2, 4]}))
        assert model.arch.n_kv_heads == 4
        assert any("per layer" in n for n in model.notes)

    def test_key_length_sets_head_dim(self, make_gguf: Callable[..., Path]) -> None:
        assert read_gguf(make_gguf(kv={"llama.attention.key_length": 128})).arch.head_dim == 128

    def test_moe_keys(self, make_gguf: Callable[..., Path]) -> None:
        kv = {
            "qwen3moe.expert_count": 128,
            "qwen3moe.expert_used_count": 8,
            "qwen3moe.expert_feed_forward_length": 768,
        }
        a = read_gguf(make_gguf(arch="qwen3moe", kv=kv)).arch
        assert (a.family, a.n_experts, a.n_experts_used, a.expert_ffn_size) == ("qwen3moe", 128, 8, 768)

    def test_shared_expert_width(self, make_gguf: Callable[..., Path]) -> None:
        kv = {"qwen2moe.expert_count": 60, "qwen2moe.expert_used_count": 4}
        kv["qwen2moe.expert_shared_feed_forward_length"] = 5632
        assert read_gguf(make_gguf(arch="qwen2moe", kv=kv)).arch.shared_expert_ffn_size == 5632

    def test_vocab_from_token_embd_without_a_tokenizer(
        self, make_gguf: Callable[..., Path], tiny_llama: TinyLlama
    ) -> None:
        assert read_gguf(make_gguf(n_tokens=0)).arch.vocab_size == tiny_llama.vocab

    @pytest.mark.parametrize(
        ("arch", "n_layers", "pattern", "sliding"),
        [
            pytest.param("gemma2", 4, None, {0, 2}, id="gemma2-every-other-layer-by-default"),
            pytest.param(
                "gemma3", 12, None, {0, 1, 2, 3, 4, 6, 7, 8, 9, 10}, id="gemma3-five-of-six-by-default"
            ),
            pytest.param("gemma3", 8, 4, {0, 1, 2, 4, 5, 6}, id="explicit-pattern-key-wins"),
            pytest.param("gemma3", 4, [True, False, True, True], {0, 2, 3}, id="per-layer-bool-flags"),
            pytest.param("phi3", 4, None, set(), id="phi3-window-applies-to-no-layer"),
        ],
    )
    def test_sliding_window_layers(
        self,
        make_gguf: Callable[..., Path],
        arch: str,
        n_layers: int,
        pattern: int | list[bool] | None,
        sliding: set[int],
    ) -> None:
        kv = {
            f"{arch}.block_count": n_layers,
            f"{arch}.attention.sliding_window": 512,
            f"{arch}.attention.sliding_window_pattern": pattern,
        }
        a = read_gguf(make_gguf(arch=arch, kv=kv)).arch
        assert a.sliding_window == 512
        assert a.swa_layers == frozenset(sliding)

    @pytest.mark.parametrize(
        ("file_type", "name"),
        [(0, "F32"), (1, "F16"), (7, "Q8_0"), (15, "Q4_K_M"), (18, "Q6_K"), (32, "BF16"), (38, "MXFP4_MOE"),
         (1024 + 15, "Q4_K_M"), (99, None), (None, None)],
        ids=lambda v: str(v),
    )  # fmt: skip
    def test_file_type_names_follow_llama_h(
        self, make_gguf: Callable[..., Path], file_type: int | None, name: str | None
    ) -> None:
        assert read_gguf(make_gguf(kv={"general.file_type": file_type})).file_type_name == name


class TestTodaysArchitectureKeys:
    """The `{arch}.*` keys llama.cpp reads for layer kinds (src/llama-model.cpp load_hparams), with the
    tiny Llama's tensors standing in for the real ones: only the keys matter here."""

    def test_mla_latent_from_kv_lora_rank_and_the_rope_width(self, make_gguf: Callable[..., Path]) -> None:
        """DeepSeek-R1 GGUFs since the K/V split: key_length 576, value_length 512, head_count_kv 1,
        key_length_mla 192, value_length_mla 128 (ik_llama.cpp#455 dumps these keys)."""
        kv = {
            "deepseek2.attention.kv_lora_rank": 512,
            "deepseek2.attention.q_lora_rank": 1536,
            "deepseek2.rope.dimension_count": 64,
            "deepseek2.attention.key_length": 576,
            "deepseek2.attention.value_length": 512,
            "deepseek2.attention.key_length_mla": 192,
            "deepseek2.attention.value_length_mla": 128,
            "deepseek2.attention.head_count_kv": 1,
            "deepseek2.leading_dense_block_count": 3,
            "deepseek2.expert_count": 256,
            "deepseek2.expert_used_count": 8,
            "deepseek2.expert_feed_forward_length": 2048,
            "deepseek2.expert_shared_count": 1,
        }
        a = read_gguf(make_gguf(arch="deepseek2", kv=kv)).arch
        assert (a.k_elems_per_token, a.v_elems_per_token, a.head_dim, a.v_head_dim) == (576, 0, 192, 128)
        assert (a.n_dense_lead_layers, a.shared_expert_ffn_size) == (3, 2048)

    def test_hybrids_mark_recurrent_layers_with_zero_kv_heads(self, make_gguf: Callable[..., Path]) -> None:
        kv = {
            "lfm2.block_count": 4,
            "lfm2.attention.head_count_kv": [0, 0, 2, 0],
            "lfm2.shortconv.l_cache": 3,
        }
        a = read_gguf(make_gguf(arch="lfm2", kv=kv)).arch
        assert a.recurrent_layers == frozenset({0, 1, 3}) and a.n_kv_heads == 2
        assert a.recurrent is not None and a.recurrent.conv_elems == 2 * a.hidden_size

    def test_nemotron_h_feed_forward_layers_keep_nothing(self, make_gguf: Callable[..., Path]) -> None:
        """Nemotron 3 Nano's per-layer arrays as llama.cpp prints them (llama.cpp#20570): head_count_kv
        [0, 0, 0, 0, 0, 2, 0, ...] and feed_forward_length [0, 1856, 0, 1856, 0, 0, 1856, ...]: a layer with
        neither is Mamba 2, one with a feed-forward only keeps no state (lmstudio-bug-tracker#1365: ssm
        conv_kernel 4, state_size 128, group_count 8, inner_size 4096, time_step_rank 64)."""
        kv = {
            "nemotron_h_moe.block_count": 7,
            "nemotron_h_moe.attention.head_count_kv": [0, 0, 0, 0, 0, 2, 0],
            "nemotron_h_moe.feed_forward_length": [0, 1856, 0, 1856, 0, 0, 1856],
            "nemotron_h_moe.ssm.conv_kernel": 4,
            "nemotron_h_moe.ssm.state_size": 128,
            "nemotron_h_moe.ssm.group_count": 8,
            "nemotron_h_moe.ssm.inner_size": 4096,
            "nemotron_h_moe.ssm.time_step_rank": 64,
        }
        a = read_gguf(make_gguf(arch="nemotron_h_moe", kv=kv)).arch
        assert a.layer_kind_counts() == {LayerKind.RECURRENT: 3, LayerKind.NONE: 3, LayerKind.FULL: 1}
        assert (a.recurrent_layers, a.ffn_only_layers) == (frozenset({0, 2, 4}), frozenset({1, 3, 6}))

    def test_deci_no_op_attention_layers_keep_no_cache(self, make_gguf: Callable[..., Path]) -> None:
        """Llama-Nemotron (deci) files give a no-op attention block 0 heads (ik_llama.cpp#377's log:
        n_head = [128, ..., 128, 0, 0, 0, 0, 128, ...])."""
        kv = {"deci.block_count": 4, "deci.attention.head_count_kv": [8, 0, 0, 8]}
        a = read_gguf(make_gguf(arch="deci", kv=kv)).arch
        assert a.layer_kind_counts() == {LayerKind.FULL: 2, LayerKind.NONE: 2}

    def test_delta_net_layers_from_the_full_attention_interval(self, make_gguf: Callable[..., Path]) -> None:
        """Qwen3-Next's hparams as llama.cpp prints them (lmstudio-bug-tracker#1266): ssm_d_conv 4,
        ssm_d_inner 4096, ssm_d_state 128, ssm_dt_rank 32, ssm_n_group 16."""
        kv = {
            "qwen3next.block_count": 8,
            "qwen3next.full_attention_interval": 4,
            "qwen3next.ssm.conv_kernel": 4,
            "qwen3next.ssm.inner_size": 4096,
            "qwen3next.ssm.state_size": 128,
            "qwen3next.ssm.time_step_rank": 32,
            "qwen3next.ssm.group_count": 16,
        }
        a = read_gguf(make_gguf(arch="qwen3next", kv=kv)).arch
        assert a.recurrent_layers == frozenset({0, 1, 2, 4, 5, 6})
        assert a.recurrent is not None
        assert (a.recurrent.conv_elems, a.recurrent.state_elems) == (3 * (4096 + 2 * 16 * 128), 128 * 4096)

    def test_a_hybrid_without_its_state_sizes_is_refused_in_one_line(
        self, make_gguf: Callable[..., Path]
    ) -> None:
        kv = {"jamba.block_count": 2, "jamba.attention.head_count_kv": [0, 2], "jamba.ssm.conv_kernel": 4}
        with pytest.raises(ModelFileError, match=r"missing or zero jamba\.ssm\.inner_size"):
            read_gguf(make_gguf(arch="jamba", kv=kv))

    def test_gpt_oss_slides_on_even_layers_and_llama4_chunks(self, make_gguf: Callable[..., Path]) -> None:
        oss = read_gguf(make_gguf(arch="gpt-oss", kv={"gpt-oss.attention.sliding_window": 128})).arch
        assert oss.swa_layers == frozenset({0}) and oss.layer_kind(1).value == "full"
        llama4 = read_gguf(make_gguf(name="l4.gguf", arch="llama4", kv={"llama4.block_count": 4})).arch
        assert (llama4.chunk_tokens, llama4.chunked_layers) == (8192, frozenset({0, 1, 2}))

    def test_an_unknown_architecture_plans_full_attention_and_says_so(
        self, make_gguf: Callable[..., Path]
    ) -> None:
        from tuilab.core.fit import plan
        from tuilab.models.profiles import load_hardware_profile

        model = read_gguf(make_gguf(arch="brandnew"))
        assert any("unknown architecture brandnew" in n for n in model.notes)
        fit = plan(model.arch, None, load_hardware_profile("rtx-3090-24gb"), ctx_tokens=1024)
        assert fit.weights_bytes == sum(t.n_bytes or 0 for t in model.arch.tensors)
        assert "unknown architecture brandnew: KV planned as full attention" in fit.basis["kv_cache"]
        assert "GGUF header of" in fit.basis["model"]

    @pytest.mark.parametrize(
        ("type_name", "block"), [("MXFP4", 32), ("NVFP4", 64), ("Q1_0", 128)], ids=["39", "40", "41"]
    )
    def test_new_ggml_types_read_from_the_header(
        self, make_gguf: Callable[..., Path], type_name: str, block: int
    ) -> None:
        tensors = [("token_embd.weight", "F32", (256, 4)), ("blk.0.ffn_up.weight", type_name, (256, 8))]
        model = read_gguf(make_gguf(tensors=tensors, n_tokens=0, kv={"llama.block_count": 1}))
        t = next(t for t in model.arch.tensors if t.ggml_type == type_name)
        assert t.n_bytes == 256 * 8 // block * gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType[type_name]][1]


class TestLargeFilesReadOnlyTheHeader:
    def test_tokenizer_arrays_are_counted_not_stored(self, tmp_path: Path) -> None:
        # Llama 3 sizes: 128,256 tokens and ~280k merges (Meta-Llama-3-8B tokenizer.json)
        kvs = [
            *BASE_KVS[:5],
            kv_str_array("tokenizer.ggml.tokens", [f"t{i}" for i in range(128_256)]),
            kv_str_array("tokenizer.ggml.merges", [f"a{i} b{i}" for i in range(280_000)]),
            kv_u32_array("tokenizer.ggml.token_type", [1] * 128_256),
        ]
        start = time.perf_counter()
        model = read_bytes(tmp_path, raw_gguf(kvs=kvs))
        assert time.perf_counter() - start < 1.0
        assert model.metadata["tokenizer.ggml.tokens"] == ArrayInfo("string", 128_256)
        assert model.metadata["tokenizer.ggml.merges"] == ArrayInfo("string", 280_000)
        assert model.metadata["tokenizer.ggml.token_type"] == ArrayInfo("uint32", 128_256)
        assert model.arch.vocab_size == 128_256

    def test_a_5_gb_file_parses_in_well_under_a_second(self, tmp_path: Path) -> None:
        # one F16 tensor of 65536 x 40960 = 5.4 GB, the file made sparse so the test writes no data
        tensors = [tensor_info("token_embd.weight", (40960, 65536), 1, 0)]
        header = raw_gguf(tensors=tensors, data_bytes=0)
        path = tmp_path / "big.gguf"
        with open(path, "wb") as f:
            f.write(header)
            f.truncate(len(header) + 65536 * 40960 * 2)
        start = time.perf_counter()
        model = read_gguf(path)
        assert time.perf_counter() - start < 1.0
        assert model.tensor_bytes == 65536 * 40960 * 2 == model.file_bytes - model.data_offset


def bad_kv(fmt: str, *values: int) -> bytes:
    """A file whose one metadata entry, key "k", is followed by these packed fields."""
    return raw_gguf(kvs=[s("k") + struct.pack(fmt, *values)])


def bad_tensor(dims: tuple[int, ...], type_id: int = 0, offset: int = 0, name: str = "t") -> bytes:
    return raw_gguf(tensors=[tensor_info(name, dims, type_id, offset)])


BIG_BLOCKS = [*BASE_KVS[:1], kv_u32("llama.block_count", 2**31), *BASE_KVS[2:]]
HOSTILE = [
    pytest.param(b"", "not a GGUF file", id="empty-file"),
    pytest.param(raw_gguf(magic=b"GGML"), "not a GGUF file", id="wrong-magic"),
    pytest.param(raw_gguf(version=1), "unsupported GGUF version 1", id="version-1"),
    pytest.param(raw_gguf(version=99), "unsupported GGUF version 99", id="version-99"),
    pytest.param(b"GGUF" + struct.pack(">IQQ", 3, 2, 6) + VALID[24:], "big-endian", id="big-endian"),
    pytest.param(raw_gguf(n_kv=2**40), "absurd count of metadata", id="absurd-kv-count"),
    pytest.param(raw_gguf(n_tensors=10**7), "absurd count of tensors", id="absurd-tensor-count"),
    pytest.param(raw_gguf(n_kv=900), "truncated: 900 metadata", id="kv-count-past-eof"),
    pytest.param(raw_gguf(kvs=[struct.pack("<Q", 2**62)]), "(limit 65535)", id="huge-key-length"),
    pytest.param(bad_kv("<IQ", 8, 2**40), "(limit 16777216)", id="huge-string"),
    pytest.param(bad_kv("<IQ", 8, 5000), "truncated", id="string-past-eof"),
    pytest.param(bad_kv("<IIQ", 9, 8, 2**60), "truncated: array", id="huge-string-array"),
    pytest.param(bad_kv("<IIQ", 9, 4, 2**61), "truncated: array", id="huge-u32-array"),
    pytest.param(bad_kv("<IIQ", 9, 9, 1), "nested arrays", id="nested-array"),
    pytest.param(bad_kv("<IIQ", 9, 42, 1), "unknown element type 42", id="bad-element-type"),
    pytest.param(bad_kv("<IQ", 13, 0), "unknown value type 13", id="bad-value-type"),
    pytest.param(bad_kv("<IB", 7, 2), "not 0 or 1", id="bool-2"),
    pytest.param(
        raw_gguf(kvs=[s(b"\xff\xfe") + struct.pack("<II", 4, 1)]), "not valid UTF-8", id="non-utf8-key"
    ),
    pytest.param(raw_gguf(kvs=[*BASE_KVS, BASE_KVS[1]]), "duplicate metadata key", id="duplicate-key"),
    pytest.param(
        raw_gguf(kvs=[*BASE_KVS, kv_u32("general.alignment", 24)]), "power of two", id="alignment-24"
    ),
    pytest.param(raw_gguf(kvs=BASE_KVS[1:]), "missing general.architecture", id="no-architecture"),
    pytest.param(raw_gguf(kvs=BIG_BLOCKS), "llama.block_count", id="absurd-block-count"),
    pytest.param(raw_gguf(tensors=[], data_bytes=0), "no tensors", id="no-tensors"),
    pytest.param(bad_tensor((4,) * 99), "99 dimensions", id="n-dims-99"),
    pytest.param(bad_tensor((4, 0)), "dimension <= 0", id="zero-dim"),
    pytest.param(bad_tensor((4, 2**64 - 1)), "(4, -1)", id="negative-dim"),
    pytest.param(bad_tensor((2**32, 2**32)), "overflows", id="overflowing-dims"),
    pytest.param(bad_tensor((256,), 15), "unknown ggml type id 15", id="type-q8_k"),
    pytest.param(bad_tensor((4,), 1000), "unknown ggml type id 1000", id="type-1000"),
    pytest.param(bad_tensor((33,), 8), "not whole Q8_0 blocks", id="partial-block"),
    pytest.param(bad_tensor((), 8), "not whole Q8_0 blocks", id="scalar-quantized"),
    pytest.param(bad_tensor((4,), 0, 3), "not aligned", id="unaligned-offset"),
    pytest.param(bad_tensor((4,), 0, 2**40), "truncated: tensor 't'", id="offset-past-eof"),
    pytest.param(raw_gguf(data_bytes=100), "truncated: tensor 'output_norm.weight'", id="data-cut-short"),
    pytest.param(raw_gguf(data_bytes=0, pad=False), "truncated: header ends", id="header-larger-than-file"),
    pytest.param(bad_tensor((4,), name="x" * 64), "(limit 63)", id="tensor-name-64-bytes"),
    pytest.param(raw_gguf(tensors=[BASE_TENSORS[0]] * 2), "duplicate tensor", id="duplicate-tensor"),
]


BYTE_EDIT = st.tuples(st.integers(0, len(VALID) - 1), st.integers(0, 255))


class TestRefusesHostileFiles:
    @pytest.mark.parametrize(("data", "problem"), HOSTILE)
    def test_fails_fast_with_a_one_line_problem(self, tmp_path: Path, data: bytes, problem: str) -> None:
        error = refused(tmp_path, data)
        assert problem in error.problem
        assert "\n" not in str(error) and str(tmp_path) in str(error)

    def test_the_valid_base_file_reads(self, tmp_path: Path) -> None:
        model = read_bytes(tmp_path, VALID)
        assert model.tensor_bytes == 96

    @pytest.mark.parametrize("cut", range(0, len(VALID), 7))
    def test_truncation_anywhere_says_truncated(self, tmp_path: Path, cut: int) -> None:
        problem = refused(tmp_path, VALID[:cut]).problem
        assert problem.startswith("truncated") or (cut < 4 and problem.startswith("not a GGUF file"))

    def test_a_directory_or_missing_file_is_a_model_file_error(self, tmp_path: Path) -> None:
        with pytest.raises(ModelFileError, match="cannot read"):
            read_gguf(tmp_path / "missing.gguf")

    @settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(
        mutations=st.lists(
            st.tuples(st.integers(0, len(VALID) - 1), st.integers(0, 255)), min_size=1, max_size=8
        ),
        cut=st.one_of(st.none(), st.integers(0, len(VALID))),
    )
    def test_random_mutations_only_ever_raise_model_file_error(
        self, tmp_path: Path, mutations: list[tuple[int, int]], cut: int | None
    ) -> None:
        data = bytearray(VALID)
        for index, value in mutations:
            data[index] = value
        start = time.perf_counter()
        with contextlib.suppress(ModelFileError):
            read_bytes(tmp_path, bytes(data[:cut]), "fuzz.gguf")
        assert time.perf_counter() - start < FAST_SECONDS


def test_the_reader_does_not_import_gguf_py_or_numpy() -> None:
    code = "import sys, tuilab.models.gguf; print(sorted({'gguf', 'numpy'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
