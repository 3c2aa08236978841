"""Today's architectures from their config.json: layer kinds, KV cache and recurrent state against real
llama.cpp log lines, and parameter counts against the published totals (within 2%)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import pytest
import today_configs as cfg

from tuilab.core.arch import LayerKind, ModelArch, RecurrentShape
from tuilab.core.errors import ModelFileError
from tuilab.core.hardware import MIB
from tuilab.core.memory import LLAMA_N_UBATCH, kv_layer_bytes, pad_tokens, recurrent_state_bytes
from tuilab.core.quant import kv_type, parse_quant, weight_tensors
from tuilab.models.catalog import find_catalog_entry
from tuilab.models.gguf import read_gguf
from tuilab.models.hf import arch_from_config, known_model_type


def arch(config: dict[str, Any], name: str = "model") -> ModelArch:
    return arch_from_config(config, name)


def llama_kv_bytes(a: ModelArch, ctx: int, kv: str = "f16", kinds: set[LayerKind] | None = None) -> int:
    """What llama.cpp allocates for the KV cache and recurrent state of these layers at this context."""
    padded = pad_tokens(ctx, 256)
    layers = [i for i in range(a.n_layers) if kinds is None or a.layer_kind(i) in kinds]
    return sum(kv_layer_bytes(a, i, padded, kv_type(kv), LLAMA_N_UBATCH) for i in layers)


class TestKvMatchesLlamaCppLogs:
    def test_gpt_oss_20b_keeps_a_window_on_half_its_layers(self) -> None:
        """gpt-oss-20b at -c 131072, f16, as llama.cpp logs it (CUDA0 and MTL0 runs of the MXFP4 GGUF):
            llama_kv_cache: size = 3072.00 MiB (131072 cells,  12 layers,  1/1 seqs), ...
            llama_kv_cache_iswa: creating     SWA KV cache, size = 768 cells
            llama_kv_cache: size =   18.00 MiB (   768 cells,  12 layers,  1/1 seqs), ...
        Planned as full attention on all 24 layers it would be 6144 MiB, what ik_llama.cpp allocates for
        the same model and context (https://github.com/ikawrakow/ik_llama.cpp/issues/822:
        "KV self size  = 6144.00 MiB, K (f16): 3072.00 MiB, V (f16): 3072.00 MiB")."""
        a = arch(cfg.GPT_OSS_20B)
        assert llama_kv_bytes(a, 131072, kinds={LayerKind.FULL}) == 3072 * MIB
        assert llama_kv_bytes(a, 131072, kinds={LayerKind.SLIDING}) == 18 * MIB
        assert a.layer_kind_counts() == {LayerKind.SLIDING: 12, LayerKind.FULL: 12}

    def test_gemma_3_keeps_a_window_on_five_layers_of_six(self) -> None:
        """Gemma 3 270M at -c 8192, f16, one slot, as llama-server allocates it: "total_kv = 24 + parallel *
        15 (MiB) at ctx=8192", measured and pinned in unsloth's test_matches_empirical_gemma3_270m_formula
        (https://github.com/unslothai/unsloth/pull/7530): 3 global layers keep 8192 cells, the 15 sliding
        ones GGML_PAD(512 + n_ubatch 512, 256) = 1024. As full attention on all 18 it would be 144 MiB."""
        a = arch(cfg.GEMMA3_270M)
        assert llama_kv_bytes(a, 8192, kinds={LayerKind.FULL}) == 24 * MIB
        assert llama_kv_bytes(a, 8192, kinds={LayerKind.SLIDING}) == 15 * MIB
        assert a.layer_kind_counts() == {LayerKind.SLIDING: 15, LayerKind.FULL: 3}

    def test_deepseek_caches_one_latent_per_token(self) -> None:
        """DeepSeek-R1 (DeepSeek-V3's shape) at 32768 tokens with a q8_0 cache, as ik_llama.cpp logs it
        (https://github.com/ikawrakow/ik_llama.cpp/pull/259): "KV self size  = 1166.62 MiB, c^KV (q8_0):
        1166.62 MiB, kv^T: not used" - 61 layers x (kv_lora_rank 512 + rope 64) per token, no V, which is
        also what llama.cpp allocates (src/llama-kv-cache.cpp: has_v = !is_mla)."""
        a = arch(cfg.DEEPSEEK_V3)
        assert round(llama_kv_bytes(a, 32768, "q8_0") / MIB, 2) == 1166.62
        assert (a.k_elems_per_token, a.v_elems_per_token) == (576, 0)

    def test_qwen3_5_keeps_kv_on_a_quarter_and_a_fixed_state_elsewhere(self) -> None:
        """A Qwen3.5 model of this linear-attention shape (32 layers, every 4th full attention), as
        llama.cpp logs it (https://github.com/JamePeng/llama-cpp-python/issues/78):
            llama_memory_recurrent: size =   50.25 MiB (     1 cells,  32 layers,  1 seqs),
                R (f32):    2.25 MiB, S (f32):   48.00 MiB"""
        a = arch(cfg.QWEN3_5_4B)
        state = sum(kv_layer_bytes(a, i, 4096, kv_type("f16"), 512) for i in sorted(a.recurrent_layers))
        assert state == int(50.25 * MIB)
        assert a.recurrent is not None
        r_bytes = len(a.recurrent_layers) * a.recurrent.conv_elems * 4
        assert r_bytes == int(2.25 * MIB)
        assert a.layer_kind_counts() == {LayerKind.RECURRENT: 24, LayerKind.FULL: 8}

    def test_recurrent_state_does_not_grow_with_context(self) -> None:
        a = arch(cfg.QWEN3_NEXT_80B)
        short, long = (llama_kv_bytes(a, n, kinds={LayerKind.RECURRENT}) for n in (4096, 262144))
        assert short == long == 36 * recurrent_state_bytes(a)


class TestLayerKinds:
    @pytest.mark.parametrize(
        ("config", "counts"),
        [
            pytest.param(cfg.QWEN3_NEXT_80B, {LayerKind.RECURRENT: 36, LayerKind.FULL: 12}, id="qwen3-next"),
            pytest.param(cfg.LFM2_1_2B, {LayerKind.RECURRENT: 10, LayerKind.FULL: 6}, id="lfm2-conv"),
            pytest.param(cfg.JAMBA_V01, {LayerKind.RECURRENT: 28, LayerKind.FULL: 4}, id="jamba-1-in-8"),
            pytest.param(
                cfg.GRANITE_4_H_TINY, {LayerKind.RECURRENT: 36, LayerKind.FULL: 4}, id="granite-4-mamba2"
            ),
            pytest.param(cfg.LLAMA4_SCOUT, {LayerKind.CHUNKED: 36, LayerKind.FULL: 12}, id="llama4-chunked"),
            pytest.param(cfg.DEEPSEEK_V3, {LayerKind.FULL: 61}, id="deepseek-mla-on-every-layer"),
        ],
    )
    def test_counts(self, config: dict[str, Any], counts: dict[LayerKind, int]) -> None:
        assert arch(config).layer_kind_counts() == counts

    def test_llama4_chunks_are_8192_tokens_on_rope_layers(self) -> None:
        a = arch(cfg.LLAMA4_SCOUT)
        assert a.chunk_tokens == 8192
        assert a.layer_kind(3) is LayerKind.FULL and a.layer_kind(0) is LayerKind.CHUNKED

    def test_chunked_layers_keep_a_chunk_plus_a_micro_batch(self) -> None:
        a = arch(cfg.LLAMA4_SCOUT)
        per_token = 2 * a.kv_dim * 2  # K and V, f16
        assert kv_layer_bytes(a, 0, 131072, kv_type("f16"), 512) == (8192 + 512) * per_token
        assert kv_layer_bytes(a, 3, 131072, kv_type("f16"), 512) == 131072 * per_token

    def test_granite_mamba2_state(self) -> None:
        """n_embd_r() = (d_conv - 1) * (d_inner + 2 * n_group * d_state), n_embd_s() = d_state * d_inner
        (llama-hparams.cpp), with d_inner = mamba_n_heads * mamba_d_head."""
        a = arch(cfg.GRANITE_4_H_TINY)
        assert a.recurrent is not None
        assert (a.recurrent.conv_elems, a.recurrent.state_elems) == (3 * (3072 + 256), 128 * 3072)
        assert a.shared_expert_ffn_size == 1024 and a.expert_ffn_size == 512

    def test_lfm2_state_is_two_conv_inputs_per_channel(self) -> None:
        """llama-hparams.cpp n_embd_r() for LFM2: n_embd * (shortconv_l_cache - 1); no SSM state."""
        a = arch(cfg.LFM2_1_2B)
        assert a.recurrent is not None
        assert (a.recurrent.conv_elems, a.recurrent.state_elems) == (2048 * 2, 0)

    def test_gpt_oss_has_sinks_and_biased_experts(self) -> None:
        names = {t.name for t in arch(cfg.GPT_OSS_20B).tensors}
        assert {"blk.0.attn_sinks.weight", "blk.0.ffn_down_exps.bias", "blk.0.attn_q.bias"} <= names


class TestMoELayout:
    def test_deepseek_leads_with_dense_layers_and_a_shared_expert(self) -> None:
        a = arch(cfg.DEEPSEEK_V3)
        names = {t.name for t in a.tensors}
        assert "blk.2.ffn_gate.weight" in names and "blk.2.ffn_gate_exps.weight" not in names
        assert {"blk.3.ffn_gate_exps.weight", "blk.3.ffn_gate_shexp.weight"} <= names
        assert a.shared_expert_ffn_size == 2048

    def test_mla_tensors(self) -> None:
        shapes = {t.name: t.shape for t in arch(cfg.DEEPSEEK_V3).tensors}
        assert shapes["blk.0.attn_kv_a_mqa.weight"] == (7168, 576)
        assert shapes["blk.0.attn_q_b.weight"] == (1536, 128 * 192)
        assert shapes["blk.0.attn_k_b.weight"] == (128, 512, 128)
        assert shapes["blk.0.attn_v_b.weight"] == (512, 128, 128)

    def test_llama4_maverick_interleaves_dense_and_moe_layers(self) -> None:
        a = arch(cfg.LLAMA4_MAVERICK)
        shapes = {t.name: t.shape for t in a.tensors}
        assert shapes["blk.0.ffn_up.weight"] == (5120, 16384)  # dense: intermediate_size_mlp
        assert shapes["blk.1.ffn_up_exps.weight"] == (5120, 8192, 128)
        assert shapes["blk.1.ffn_up_shexp.weight"] == (5120, 8192)

    def test_qwen3_next_has_a_gated_shared_expert(self) -> None:
        names = {t.name for t in arch(cfg.QWEN3_NEXT_80B).tensors}
        assert {"blk.0.ffn_gate_inp_shexp.weight", "blk.0.ffn_up_shexp.weight"} <= names


# Published totals: DeepSeek-V3 671B main model (its README, MTP module excluded); gpt-oss 20.91B / 116.83B
# and 3.61B / 5.13B active (OpenAI's gpt-oss model card, table 1); Qwen3-Next-80B-A3B 80B; Qwen3.5-4B
# 4.21B ("model params = 4.21 B" in llama.cpp's load log); LFM2-1.2B 1.17B (its model card); Jamba-v0.1
# 52B total, 12B active (its model card, 51.6B in AI21's paper); Llama-4-Scout 109B (model card, with the
# vision encoder); GLM-4.5 355B total, 32B active (its model card, with the MTP layer); Kimi K2 32B active;
# Granite-4.0-H-Tiny 7B total (its model card); Llama-4-Maverick 400B total (its model card).
PUBLISHED_TOTALS = [
    pytest.param(cfg.DEEPSEEK_V3, 671e9, id="deepseek-v3"),
    pytest.param(cfg.GPT_OSS_20B, 20.91e9, id="gpt-oss-20b"),
    pytest.param(cfg.GPT_OSS_120B, 116.83e9, id="gpt-oss-120b"),
    pytest.param(cfg.QWEN3_NEXT_80B, 80e9, id="qwen3-next-80b"),
    pytest.param(cfg.QWEN3_5_4B, 4.21e9, id="qwen3.5-4b"),
    pytest.param(cfg.LFM2_1_2B, 1.17e9, id="lfm2-1.2b"),
    pytest.param(cfg.JAMBA_V01, 51.6e9, id="jamba-v0.1"),
    pytest.param(cfg.LLAMA4_SCOUT, 109e9, id="llama4-scout"),
    pytest.param(cfg.LLAMA4_MAVERICK, 400e9, id="llama4-maverick"),
    pytest.param(cfg.GLM_4_5, 355e9, id="glm-4.5"),
    pytest.param(cfg.GRANITE_4_H_TINY, 7e9, id="granite-4.0-h-tiny"),
]
PUBLISHED_ACTIVE = [
    pytest.param(cfg.DEEPSEEK_V3, 37e9, id="deepseek-v3"),
    pytest.param(cfg.GPT_OSS_20B, 3.61e9, id="gpt-oss-20b"),
    pytest.param(cfg.GPT_OSS_120B, 5.13e9, id="gpt-oss-120b"),
    pytest.param(cfg.JAMBA_V01, 12e9, id="jamba-v0.1"),
    pytest.param(cfg.KIMI_K2, 32e9, id="kimi-k2"),
]


class TestParameterCountsMatchPublishedTotals:
    @pytest.mark.parametrize(("config", "published"), PUBLISHED_TOTALS)
    def test_total_within_two_percent(self, config: dict[str, Any], published: float) -> None:
        assert arch(config).n_params == pytest.approx(published, rel=0.02)

    @pytest.mark.parametrize(("config", "published"), PUBLISHED_ACTIVE)
    def test_active_within_three_percent(self, config: dict[str, Any], published: float) -> None:
        """Active counts include the output head, as the published ones do; the embedding is one row."""
        assert arch(config).n_active_params == pytest.approx(published, rel=0.03)


class TestPublishedFileSizes:
    @pytest.mark.parametrize(
        ("config", "published_bytes"),
        [
            # https://huggingface.co/ggml-org/gpt-oss-20b-GGUF: gpt-oss-20b-mxfp4.gguf, 12.1 GB
            pytest.param(cfg.GPT_OSS_20B, 12.1e9, id="gpt-oss-20b"),
            # https://huggingface.co/ggml-org/gpt-oss-120b-GGUF: three parts, 63.4 GB together
            pytest.param(cfg.GPT_OSS_120B, 63.4e9, id="gpt-oss-120b"),
        ],
    )
    def test_mxfp4_experts_and_q8_0_elsewhere(self, config: dict[str, Any], published_bytes: float) -> None:
        """MXFP4_MOE: the expert tensors in MXFP4 (17 bytes per 32 weights), every other matrix in Q8_0
        (llama-quant.cpp); the size Hugging Face lists is rounded to 3 significant figures."""
        weights = weight_tensors(parse_quant("MXFP4_MOE"), arch(config))
        assert {w.type_name for w in weights if "_exps.weight" in w.name} == {"MXFP4"}
        assert sum(w.n_bytes for w in weights) == pytest.approx(published_bytes, rel=0.005)


class TestParallelHybrid:
    def test_falcon_h1_keeps_kv_and_a_mamba2_state_on_every_layer(self) -> None:
        """llama.cpp runs Falcon-H1 with a hybrid memory whose attention and recurrent filters both take
        every layer; mlx_lm/models/falcon_h1.py gives each layer CacheList(ArraysCache, KVCache)."""
        a = arch(cfg.FALCON_H1_7B)
        kv_only = 2 * 4096 * a.kv_dim * 2
        assert kv_layer_bytes(a, 0, 4096, kv_type("f16"), 512) == kv_only + recurrent_state_bytes(a)
        names = {t.name for t in a.tensors}
        assert {"blk.0.attn_q.weight", "blk.0.ssm_in.weight"} <= names

    def test_mlx_4bit_weights_match_the_published_safetensors(self) -> None:
        """https://huggingface.co/mlx-community/Falcon-H1-7B-Instruct-4bit: 4,268,832,515 bytes of
        safetensors tensor data (as a public model-sizing test suite records it); ours is 180 KB (0.004%)
        less, a few small per-layer vectors Falcon-H1's mixer adds to Mamba 2's."""
        weights = weight_tensors(parse_quant("mlx-4bit"), arch(cfg.FALCON_H1_7B))
        assert sum(w.n_bytes for w in weights) == pytest.approx(4_268_832_515, rel=1e-4)


class TestUnknownArchitectures:
    def test_unknown_model_type_is_full_attention_and_says_so(self) -> None:
        config = {**cfg.GPT_OSS_20B, "model_type": "falcon_h9"}
        a = arch(config)
        assert not a.known_family
        assert a.layer_kind_counts() == {LayerKind.FULL: 24}

    def test_a_hybrid_without_its_shape_keys_is_one_clear_error(self) -> None:
        config = {k: v for k, v in cfg.QWEN3_NEXT_80B.items() if k != "linear_num_value_heads"}
        with pytest.raises(ModelFileError, match="linear_num_value_heads"):
            arch(config)


def catalog_arch(name: str) -> ModelArch:
    """The architecture of a built-in catalog entry, from its config.json as the catalog stores it."""
    entry = find_catalog_entry(name)
    assert entry is not None, f"{name} is not in the catalog"
    return entry.arch()


class TestQwen3_5MoeWithoutADenseWidth:
    """Qwen3.5/3.6 MoE configs name no intermediate_size: every layer is MoE. Checked against a llama.cpp
    run of unsloth's Qwen3.6-35B-A3B-UD-Q4_K_M.gguf on Metal at -c 32768 (a public benchmark write-up, as the
    search tool's code corpus stores it):
        | qwen35moe 35B.A3B Q4_K - Medium |  20.60 GiB |    34.66 B | ...
        llama_kv_cache: size =  640.00 MiB ( 32768 cells,  10 layers,  1/1 seqs), K (f16):  320.00 MiB, ...
        llama_memory_recurrent: size =   62.81 MiB (     1 cells,  40 layers,  1 seqs  0 rs_seq),
            R (f32):    2.81 MiB, S (f32):   60.00 MiB"""

    def test_parameters_match_llama_cpp(self) -> None:
        assert round(catalog_arch("qwen3.6-35b-a3b").n_params / 1e9, 2) == 34.66

    def test_kv_on_ten_layers_and_a_fixed_state_on_thirty(self) -> None:
        a = catalog_arch("qwen3.6-35b-a3b")
        assert llama_kv_bytes(a, 32768, kinds={LayerKind.FULL}) == 640 * MIB
        assert round(llama_kv_bytes(a, 32768, kinds={LayerKind.RECURRENT}) / MIB, 2) == 62.81
        assert a.layer_kind_counts() == {LayerKind.RECURRENT: 30, LayerKind.FULL: 10}

    @pytest.mark.parametrize("name", ["qwen3.5-35b-a3b", "qwen3.5-122b-a10b", "qwen3.5-397b-a17b"])
    def test_every_layer_is_moe_with_a_gated_shared_expert(self, name: str) -> None:
        a = catalog_arch(name)
        names = {t.name for t in a.tensors}
        assert all(a.is_moe_layer(i) for i in range(a.n_layers))
        assert {"blk.0.ffn_gate_exps.weight", "blk.0.ffn_gate_inp_shexp.weight"} <= names
        assert "blk.0.ffn_gate.weight" not in names

    def test_a_moe_config_with_dense_layers_but_no_dense_width_is_refused(self) -> None:
        entry = find_catalog_entry("qwen3.5-35b-a3b")
        assert entry is not None
        config = {**entry.config, "text_config": {**entry.config["text_config"], "mlp_only_layers": [0]}}
        with pytest.raises(ModelFileError, match="intermediate_size"):
            arch(config)


class TestGemma:
    """Gemma 1: head_dim 256 (so 7B's attention is 4096 wide over a 3072 residual), MQA in 2B, tied
    embeddings. The Gemma report (arXiv:2403.08295, table 2) gives the non-embedding parameters exactly:
    2B 1,981,884,416 and 7B 7,751,248,896."""

    @pytest.mark.parametrize(
        ("name", "non_embedding"), [("gemma-2b-it", 1_981_884_416), ("gemma-7b-it", 7_751_248_896)]
    )
    def test_non_embedding_parameters_are_exact(self, name: str, non_embedding: int) -> None:
        a = catalog_arch(name)
        assert a.n_params - a.hidden_size * a.vocab_size == non_embedding

    def test_2b_caches_one_kv_head_of_256(self) -> None:
        a = catalog_arch("gemma-2b-it")
        assert (a.kv_dim, a.tied_embeddings) == (256, True)


class TestGlm47FlashIsMla:
    """GLM-4.7-Flash runs as deepseek2 in llama.cpp (https://github.com/ikawrakow/ik_llama.cpp/issues/1167,
    mainline's log of ubergarm's BF16 GGUF): "arch = deepseek2", "n_layer = 47", "n_embd_k_gqa = 576",
    "file size = 55.79 GiB (16.00 BPW)"; the MTP layer is not in the file."""

    def test_caches_a_576_wide_latent_and_no_v(self) -> None:
        a = catalog_arch("glm-4.7-flash")
        assert (a.family, a.n_layers, a.k_elems_per_token, a.v_elems_per_token) == ("deepseek2", 47, 576, 0)

    def test_bf16_file_size(self) -> None:
        weights = weight_tensors(parse_quant("BF16"), catalog_arch("glm-4.7-flash"))
        assert round(sum(w.n_bytes for w in weights) / 2**30, 2) == 55.79


class TestMiniMaxM2:
    def test_kv_cache_matches_llama_cpp(self) -> None:
        """unsloth/MiniMax-M2.7-GGUF under llama-server, as a public launch script records its log:
        size = 8432.00 MiB ( 65536 cells,  62 layers,  1/1 seqs),
            K (q8_0): 4216.00 MiB, V (q8_0): 4216.00 MiB"""
        a = catalog_arch("minimax-m2.7")
        assert llama_kv_bytes(a, 65536, "q8_0") == 8432 * MIB

    def test_256_experts_without_a_shared_one(self) -> None:
        a = catalog_arch("minimax-m2.5")
        names = {t.name for t in a.tensors}
        assert (a.n_experts, a.n_experts_used, a.shared_expert_ffn_size) == (256, 8, 0)
        assert "blk.0.ffn_up_exps.weight" in names and "blk.0.ffn_up_shexp.weight" not in names


class TestGlm5:
    def test_totals_match_the_technical_report(self) -> None:
        """GLM-5 technical report (arXiv:2602.15763, its architecture table): 744B total, 40B activated."""
        a = catalog_arch("glm-5")
        assert a.n_params == pytest.approx(744e9, rel=0.02)
        assert a.n_active_params == pytest.approx(40e9, rel=0.03)

    def test_mla_latent_and_the_plan_says_what_it_leaves_out(self) -> None:
        entry = find_catalog_entry("glm-5.1")
        assert entry is not None
        a = entry.arch()
        assert (a.k_elems_per_token, a.v_elems_per_token, a.n_dense_lead_layers) == (576, 0, 3)
        assert known_model_type("glm_moe_dsa")


class TestMiMo:
    def test_a_qwen2_decoder_without_its_mtp_layer(self) -> None:
        """MiMo-7B: mlx_lm/models/mimo.py is Qwen2's decoder and drops the MTP weights; the Hub total
        (7.83B) counts the MTP layer, which we leave out, hence the 3% tolerance of the catalog test."""
        a = catalog_arch("mimo-7b-base")
        assert (a.family, a.attn_bias, a.layer_kind_counts()) == ("qwen2", True, {LayerKind.FULL: 36})
        assert a.n_params == pytest.approx(7_833_409_536, rel=0.03)


class TestNemotronH:
    """Nemotron-H layers are single blocks (hybrid_override_pattern: M Mamba 2, * attention, - MLP, E MoE),
    as llama.cpp builds them (src/models/nemotron-h.cpp); only attention layers keep a KV cache."""

    def test_nano_parameters_equal_the_hub_total(self) -> None:
        """NVIDIA-Nemotron-3-Nano-30B-A3B-BF16: 31,577,937,344 parameters on the Hub (the catalog's
        published count): ungated squared-ReLU experts and shared expert, one norm per layer."""
        assert catalog_arch("nvidia-nemotron-3-nano-30b-a3b-bf16").n_params == 31_577_937_344

    def test_nano_layers_and_state_match_llama_cpps_metadata(self) -> None:
        """The GGUF metadata llama.cpp prints for it (llama.cpp#20570, lmstudio-bug-tracker#1365): layer 5
        is the first with KV heads (2), layers 1, 3, 6 the first with a feed-forward (1856 wide, experts
        128, shared 3712), ssm inner_size 4096, state_size 128, group_count 8, conv_kernel 4."""
        a = catalog_arch("nvidia-nemotron-3-nano-30b-a3b-bf16")
        assert [a.layer_kind(i) for i in range(7)] == [LayerKind.RECURRENT, LayerKind.NONE] * 2 + [
            LayerKind.RECURRENT, LayerKind.FULL, LayerKind.NONE,
        ]  # fmt: skip
        assert a.layer_kind_counts() == {LayerKind.RECURRENT: 23, LayerKind.NONE: 23, LayerKind.FULL: 6}
        assert a.recurrent == RecurrentShape(
            "mamba2", d_conv=4, d_inner=4096, d_state=128, n_group=8, n_heads=64
        )
        assert (a.family, a.n_kv_heads, a.expert_ffn_size, a.shared_expert_ffn_size) == (
            "nemotron_h_moe", 2, 1856, 3712
        )  # fmt: skip

    def test_feed_forward_layers_keep_nothing_and_attention_layers_keep_kv(self) -> None:
        a = catalog_arch("nvidia-nemotron-3-nano-30b-a3b-bf16")
        assert kv_layer_bytes(a, 1, 65536, kv_type("f16"), 512) == 0
        assert kv_layer_bytes(a, 5, 65536, kv_type("f16"), 512) == 65536 * 2 * 2 * 128 * 2
        assert kv_layer_bytes(a, 0, 65536, kv_type("f16"), 512) == recurrent_state_bytes(a)

    def test_no_gates_and_one_norm_per_layer(self) -> None:
        names = {t.name for t in catalog_arch("nvidia-nemotron-3-nano-30b-a3b-bf16").tensors}
        assert {"blk.1.ffn_up_exps.weight", "blk.1.ffn_up_shexp.weight", "blk.0.ssm_in.weight"} <= names
        assert not {n for n in names if "gate_exps" in n or "gate_shexp" in n or "ffn_norm" in n}
        assert "blk.5.attn_q.weight" in names and "blk.1.attn_q.weight" not in names

    def test_56b_dense_layout(self) -> None:
        """Nemotron-H-56B-Base "consists of 54 Mamba-2, 54 MLP, and 10 Self-Attention layers" (NVIDIA ADLR,
        https://research.nvidia.com/labs/adlr/nemotronh/); its MLP is up and down projections only."""
        a = catalog_arch("nemotron-h-56b-base-8k")
        assert a.layer_kind_counts() == {LayerKind.RECURRENT: 54, LayerKind.FULL: 10, LayerKind.NONE: 54}
        shapes = {t.name: t.shape for t in a.tensors}
        assert shapes["blk.1.ffn_up.weight"] == (8192, 32768) and "blk.1.ffn_gate.weight" not in shapes

    def test_the_newer_layers_block_type_list_reads_the_same(self) -> None:
        entry = find_catalog_entry("nvidia-nemotron-3-nano-30b-a3b-bf16")
        assert entry is not None
        blocks = {"M": "mamba", "*": "attention", "-": "mlp", "E": "moe"}
        types = [blocks[b] for b in entry.config["hybrid_override_pattern"]]
        config = {k: v for k, v in entry.config.items() if k != "hybrid_override_pattern"}
        assert arch({**config, "layers_block_type": types}).n_params == 31_577_937_344

    def test_a_pattern_of_the_wrong_length_is_one_clear_error(self) -> None:
        entry = find_catalog_entry("nvidia-nemotron-3-nano-30b-a3b-bf16")
        assert entry is not None
        with pytest.raises(ModelFileError, match="hybrid_override_pattern"):
            arch({**entry.config, "hybrid_override_pattern": "MEM"})


class TestAddedCatalogFamilies:
    def test_lfm2_700m_parameters_are_exact(self) -> None:
        """LFM2-700M: 742,489,344 parameters (its model card's table); block_ff_dim 10240 auto-adjusted to
        6912, 10 short-convolution and 6 attention layers."""
        a = catalog_arch("lfm2-700m")
        assert a.n_params == 742_489_344 and a.ffn_size == 6912
        assert a.layer_kind_counts() == {LayerKind.RECURRENT: 10, LayerKind.FULL: 6}

    def test_glm_4_5_air_total(self) -> None:
        """GLM-4.5 model card: "GLM-4.5-Air ... 106 billion total parameters"; 46 layers, one dense."""
        a = catalog_arch("glm-4.5-air")
        assert a.n_params == pytest.approx(106e9, rel=0.01)
        assert a.n_dense_lead_layers == 1 and a.is_moe_layer(1) and not a.is_moe_layer(0)


class TestLlamaNemotronNas:
    """Llama-3.3-Nemotron-Super-49B (DeciLM): per-layer block_configs, FFN widths from ffn_mult
    (int(2 * ffn_mult * hidden / 3) rounded up to 256, modeling_decilm.py), no-op attention on some layers."""

    def test_parameters_equal_the_hub_total(self) -> None:
        """49,867,145,216 parameters on the Hub (the catalog's published count)."""
        assert catalog_arch("llama-3_3-nemotron-super-49b-v1").n_params == 49_867_145_216

    def test_no_op_attention_layers_keep_nothing(self) -> None:
        """llama.cpp gives these layers 0 heads (the per-layer n_head array in its log of the deci
        architecture, https://github.com/ikawrakow/ik_llama.cpp/pull/377) and so no KV cache."""
        a = catalog_arch("llama-3_3-nemotron-super-49b-v1")
        assert a.layer_kind_counts() == {LayerKind.FULL: 49, LayerKind.NONE: 31}
        assert (a.layer_kind(6), kv_layer_bytes(a, 6, 4096, kv_type("f16"), 512)) == (LayerKind.NONE, 0)
        assert kv_layer_bytes(a, 0, 4096, kv_type("f16"), 512) == 4096 * 2 * 8 * 128 * 2

    def test_each_layer_has_its_own_ffn_width(self) -> None:
        shapes = {t.name: t.shape for t in catalog_arch("llama-3_3-nemotron-super-49b-v1").tensors}
        assert shapes["blk.0.ffn_up.weight"] == (8192, 14336)  # ffn_mult 2.625
        assert shapes["blk.1.ffn_up.weight"] == (8192, 28672)  # ffn_mult 5.25
        assert "blk.6.attn_q.weight" not in shapes and "blk.6.ffn_norm.weight" not in shapes

    def test_linear_replacements_are_refused_in_one_line(self) -> None:
        entry = find_catalog_entry("llama-3_3-nemotron-super-49b-v1")
        assert entry is not None
        blocks = [dict(b) for b in entry.config["block_configs"]]
        blocks[0] = {**blocks[0], "attention": {**blocks[0]["attention"], "replace_with_linear": True}}
        with pytest.raises(ModelFileError, match="replace_with_linear are not planned"):
            arch({**entry.config, "block_configs": blocks})


class TestGranite3:
    """Granite 3.x dense (model_type granite: a Llama decoder with tied embeddings) and MoE (granitemoe:
    every layer num_local_experts experts of intermediate_size, no shared expert), checked against
    llama.cpp's own reports and Ollama's published files of the same shapes."""

    def test_8b_f16_matches_llama_cpps_load_log(self) -> None:
        """llama.cpp loading Granite 3.0 8B Instruct's F16 GGUF (https://github.com/instructlab/instructlab/
        issues/2516): "model params = 8.17 B", "model size = 15.22 GiB (16.00 BPW)". The 3.1 8B config
        gives the same figures to the precision printed."""
        a = catalog_arch("granite-3.1-8b-instruct")
        weights = weight_tensors(parse_quant("F16"), a)
        assert round(a.n_params / 1e9, 2) == 8.17
        assert round(sum(w.n_bytes for w in weights) / 2**30, 2) == 15.22
        assert a.tied_embeddings and "output.weight" not in {w.name for w in weights}

    def test_3b_a800m_f16_matches_llama_cpps_file_size(self) -> None:
        """llama.cpp's print_info for an F16 GGUF of granitemoe with n_embd 1536, 32 layers, 40 experts
        (8 used), freq_base 1e7 - granite-3.1-3b-a800m's shape (https://github.com/ollama/ollama/pull/10362):
        "file size   = 6.15 GiB (16.01 BPW)". Untied embeddings would add 0.14 GiB."""
        a = catalog_arch("granite-3.1-3b-a800m-instruct")
        n_bytes = sum(w.n_bytes for w in weight_tensors(parse_quant("F16"), a))
        assert round(n_bytes / 2**30, 2) == 6.15
        assert round(8 * n_bytes / a.n_params, 2) == 16.01

    @pytest.mark.parametrize(
        ("name", "quant", "published_gb"),
        [
            # https://ollama.com/library/granite3-dense:2b-instruct-q5_K_S/blobs/b5121edd1663: 1.8GB; its
            # header: granite, 40 blocks, 2048 wide, FFN 8192, 32 heads, 8 KV heads, context 4096
            pytest.param("granite-3.0-2b-instruct", "Q5_K_S", 1.8, id="granite3-dense-2b-q5_k_s"),
            # https://ollama.com/library/granite3-moe:3b-instruct-q4_0/blobs/700b0032a2d9: 1.9GB; its
            # header: granitemoe, 32 blocks, 1536 wide, 40 experts of 512, 8 used, context 4096
            pytest.param("granite-3.0-3b-a800m-instruct", "Q4_0", 1.9, id="granite3-moe-3b-q4_0"),
        ],
    )
    def test_ollama_file_sizes(self, name: str, quant: str, published_gb: float) -> None:
        """Ollama prints sizes to two significant figures; the file also holds the tokenizer (~1 MB)."""
        n_bytes = sum(w.n_bytes for w in weight_tensors(parse_quant(quant), catalog_arch(name)))
        assert round(n_bytes / 1e9, 1) == published_gb

    def test_moe_reads_only_the_used_experts(self) -> None:
        """8 of 40 experts per token: active = total - 32/40 of the expert weights; no shared expert."""
        a = catalog_arch("granite-3.1-3b-a800m-instruct")
        expert_params = sum(t.n_elements for t in a.tensors if "_exps." in t.name)
        assert (a.n_experts, a.n_experts_used, a.shared_expert_ffn_size) == (40, 8, 0)
        assert a.n_active_params == a.n_params - expert_params * 32 // 40 - (a.vocab_size - 1) * 1536
        assert not {t.name for t in a.tensors if "shexp" in t.name}

    def test_the_moe_gguf_header_plans_what_the_config_plans(self, make_gguf: Callable[..., Path]) -> None:
        """The granitemoe header of Ollama's granite3-moe:3b-instruct-q4_0 (blob 700b0032a2d9 above):
        head_count 24, head_count_kv 8, block_count 32, embedding_length 1536, expert_count 40,
        expert_used_count 8, feed_forward_length 512 (each expert's width)."""
        header = {
            "granitemoe.attention.head_count": 24, "granitemoe.attention.head_count_kv": 8,
            "granitemoe.block_count": 32, "granitemoe.embedding_length": 1536, "granitemoe.expert_count": 40,
            "granitemoe.expert_used_count": 8, "granitemoe.feed_forward_length": 512,
        }  # fmt: skip
        gguf_arch = read_gguf(make_gguf(arch="granitemoe", kv=header)).arch
        config_arch = catalog_arch("granite-3.0-3b-a800m-instruct")
        assert gguf_arch.known_family and gguf_arch.family == config_arch.family == "granitemoe"
        moe = ("n_experts", "n_experts_used", "expert_ffn_size", "shared_expert_ffn_size", "kv_dim")
        assert [getattr(gguf_arch, f) for f in moe] == [getattr(config_arch, f) for f in moe]

    def test_kv_is_plain_gqa_on_every_layer(self) -> None:
        a = catalog_arch("granite-3.1-8b-instruct")
        assert a.layer_kind_counts() == {LayerKind.FULL: 40}
        assert llama_kv_bytes(a, 4096) == 40 * 4096 * 2 * 8 * 128 * 2


class TestLfm2Sizes:
    """LFM2 350M / 1.2B / 2.6B: short-convolution layers but the attention ones, whose parameter counts
    equal the Hub totals exactly (the catalog's published counts)."""

    @pytest.mark.parametrize(
        ("name", "counts", "ffn"),
        [
            ("lfm2-350m", {LayerKind.RECURRENT: 10, LayerKind.FULL: 6}, 4608),
            ("lfm2-1.2b", {LayerKind.RECURRENT: 10, LayerKind.FULL: 6}, 8192),
            ("lfm2-2.6b", {LayerKind.RECURRENT: 22, LayerKind.FULL: 8}, 10752),
        ],
    )
    def test_layers_and_exact_counts(self, name: str, counts: dict[LayerKind, int], ffn: int) -> None:
        """FFN widths as llama.cpp's converter writes them (feed_forward_length in the GGUF headers shown
        at ollama.com/sam860/LFM2: 8192 for 1.2b, 10752 for 2.6b; 4608 for the 350M vlm_config of
        huggingface.co/florianvoss/LFM2-350M_reducecache)."""
        entry = find_catalog_entry(name)
        assert entry is not None
        a = entry.arch()
        assert (a.layer_kind_counts(), a.ffn_size, a.n_params) == (counts, ffn, entry.params)

    def test_2_6b_q8_0_matches_ollamas_file_size(self) -> None:
        """https://ollama.com/sam860/LFM2:2.6b-Q8_0/blobs/36bddde1745f: 2.7GB (two significant figures);
        its header: 30 blocks, 2048 wide, feed_forward_length 10752, shortconv.l_cache 3."""
        n_bytes = sum(w.n_bytes for w in weight_tensors(parse_quant("Q8_0"), catalog_arch("lfm2-2.6b")))
        assert round(n_bytes / 1e9, 1) == 2.7


class TestLfm2Moe:
    """LFM2-8B-A1B (lfm2_moe; llama.cpp's lfm2moe): LFM2's layers with the first num_dense_layers dense and
    32 experts of 1792 (4 used, no shared expert) on the rest. Its model card (as onnx-community/
    LFM2-8B-A1B-ONNX copies it): "Layers | 24 (18 conv + 6 attn)", 8.3B total parameters."""

    def test_layers_and_exact_count(self) -> None:
        entry = find_catalog_entry("lfm2-8b-a1b")
        assert entry is not None
        a = entry.arch()
        assert a.layer_kind_counts() == {LayerKind.RECURRENT: 18, LayerKind.FULL: 6}
        assert (a.n_params, a.family, a.n_dense_lead_layers) == (entry.params, "lfm2moe", 2)
        assert not a.is_moe_layer(1) and a.is_moe_layer(2)

    def test_reads_four_of_32_experts_and_no_shared_one(self) -> None:
        a = catalog_arch("lfm2-8b-a1b")
        expert_params = sum(t.n_elements for t in a.tensors if "_exps." in t.name)
        assert not {t.name for t in a.tensors if "shexp" in t.name}
        assert a.n_active_params == a.n_params - expert_params * 28 // 32 - (a.vocab_size - 1) * 2048

    def test_a_config_without_layer_types_is_one_clear_error(self) -> None:
        entry = find_catalog_entry("lfm2-8b-a1b")
        assert entry is not None
        with pytest.raises(ModelFileError, match="layer_types"):
            arch({k: v for k, v in entry.config.items() if k != "layer_types"})

    def test_the_gguf_header_plans_what_the_config_plans(self, make_gguf: Callable[..., Path]) -> None:
        """llama.cpp's converter (Lfm2MoeModel in convert_hf_to_gguf.py, llama.cpp#16464) writes
        head_count_kv per layer (0 on conv layers), expert_count, expert_feed_forward_length,
        leading_dense_block_count and shortconv.l_cache from these config keys."""
        config_arch = catalog_arch("lfm2-8b-a1b")
        kv_heads = [0 if i in config_arch.recurrent_layers else 8 for i in range(24)]
        header = {
            "lfm2moe.block_count": 24, "lfm2moe.embedding_length": 2048, "lfm2moe.attention.head_count": 32,
            "lfm2moe.attention.head_count_kv": kv_heads,
            "lfm2moe.feed_forward_length": 7168, "lfm2moe.expert_count": 32, "lfm2moe.expert_used_count": 4,
            "lfm2moe.expert_feed_forward_length": 1792, "lfm2moe.leading_dense_block_count": 2,
            "lfm2moe.shortconv.l_cache": 3,
        }  # fmt: skip
        gguf_arch = read_gguf(make_gguf(arch="lfm2moe", kv=header)).arch
        fields = ("recurrent_layers", "recurrent", "n_experts", "n_experts_used", "expert_ffn_size",
                  "n_dense_lead_layers", "kv_dim")  # fmt: skip
        assert [getattr(gguf_arch, f) for f in fields] == [getattr(config_arch, f) for f in fields]


class TestGranite4Hybrid:
    """Granite 4.0-H-Tiny (granitemoehybrid; llama.cpp's granitehybrid): Mamba 2 on 36 layers, attention on
    4, 64 experts of 512 with 6 used and a shared MLP of 1024 on every layer. IBM's Q4_K_M GGUF header
    (https://ollama.com/library/granite4:7b-a1b-h/blobs/491ba81786c4) gives expert_count 64,
    expert_used_count 6, feed_forward_length 512, expert_shared_feed_forward_length 1024, ssm.conv_kernel
    4, ssm.inner_size 3072, ssm.state_size 128, ssm.time_step_rank 48, ssm.group_count 1, vocab_size
    100352; llama.cpp prints "model params = 6.94 B" for the official GGUF (llama.cpp#20795)."""

    HEADER: ClassVar[dict[str, Any]] = {
        "granitehybrid.block_count": 40,
        "granitehybrid.embedding_length": 1536,
        "granitehybrid.attention.head_count": 12,
        "granitehybrid.feed_forward_length": 512,
        "granitehybrid.expert_count": 64,
        "granitehybrid.expert_used_count": 6,
        "granitehybrid.expert_shared_feed_forward_length": 1024,
        "granitehybrid.ssm.conv_kernel": 4,
        "granitehybrid.ssm.inner_size": 3072,
        "granitehybrid.ssm.state_size": 128,
        "granitehybrid.ssm.time_step_rank": 48,
        "granitehybrid.ssm.group_count": 1,
    }

    def test_config_matches_the_published_header_and_count(self) -> None:
        a = arch(cfg.GRANITE_4_H_TINY)
        mamba2 = RecurrentShape("mamba2", d_conv=4, d_inner=3072, d_state=128, n_group=1, n_heads=48)
        assert a.recurrent == mamba2
        experts = (a.n_experts, a.n_experts_used, a.expert_ffn_size, a.shared_expert_ffn_size)
        assert experts == (64, 6, 512, 1024)
        assert (a.vocab_size, round(a.n_params / 1e9, 2)) == (100352, 6.94)

    def test_active_weights_are_six_experts_plus_the_shared_mlp(self) -> None:
        a = arch(cfg.GRANITE_4_H_TINY)
        names = {t.name for t in a.tensors}
        expert_params = sum(t.n_elements for t in a.tensors if "_exps." in t.name)
        assert {"blk.0.ffn_up_shexp.weight", "blk.0.ffn_up_exps.weight", "blk.0.ssm_in.weight"} <= names
        assert a.n_active_params == a.n_params - expert_params * 58 // 64 - (a.vocab_size - 1) * 1536

    def test_the_gguf_header_plans_what_the_config_plans(self, make_gguf: Callable[..., Path]) -> None:
        """The header's per-layer head_count_kv is cut off on the page after its first five zeros; the test
        header puts the config's 4 KV heads on the layer_types attention layers (5, 15, 25, 35)."""
        config_arch = arch(cfg.GRANITE_4_H_TINY)
        kv_heads = [0 if i in config_arch.recurrent_layers else 4 for i in range(40)]
        header = {**self.HEADER, "granitehybrid.attention.head_count_kv": kv_heads}
        gguf_arch = read_gguf(make_gguf(arch="granitehybrid", kv=header)).arch
        assert gguf_arch.recurrent_layers == config_arch.recurrent_layers
        assert gguf_arch.recurrent is not None and config_arch.recurrent is not None
        assert (gguf_arch.recurrent.conv_elems, gguf_arch.recurrent.state_elems) == (
            config_arch.recurrent.conv_elems, config_arch.recurrent.state_elems
        )  # fmt: skip
        for layer in (0, 5):
            assert kv_layer_bytes(gguf_arch, layer, 8192, kv_type("f16"), 512) == kv_layer_bytes(
                config_arch, layer, 8192, kv_type("f16"), 512
            )
        assert (gguf_arch.n_experts_used, gguf_arch.shared_expert_ffn_size) == (6, 1024)

    def test_h_small_shape_gives_llama_cpps_parameter_count(self) -> None:
        """IBM's Granite 4.0-H-Small GGUF as llama.cpp loads it (https://github.com/ollama/ollama/issues/12982):
        block_count 40, embedding_length 4096, feed_forward_length 768, head_count 32, head_count_kv
        [0, 0, 0, 0, 0, 8, ...], expert_count 72, expert_used_count 10, vocab_size 100352, ssm_d_inner 8192,
        ssm_d_state 128, ssm_dt_rank 128, ssm_n_group 1, ssm_d_conv 4, n_ff_shexp 1536, and "model params =
        32.21 B". Written as config.json keys with H-Tiny's attention positions (the log cuts the per-layer
        array off; where the 4 attention layers sit does not change the count): tied embeddings give
        32.21 B, untied would give 32.62 B."""
        config = {
            **cfg.GRANITE_4_H_TINY, "hidden_size": 4096, "intermediate_size": 768,
            "shared_intermediate_size": 1536, "num_attention_heads": 32, "num_key_value_heads": 8,
            "num_local_experts": 72, "num_experts_per_tok": 10, "mamba_n_heads": 128, "mamba_d_head": 64,
        }  # fmt: skip
        a = arch(config)
        assert round(a.n_params / 1e9, 2) == 32.21
        assert a.recurrent is not None and (a.recurrent.d_inner, a.recurrent.n_heads) == (8192, 128)

    def test_state_per_sequence_is_llama_cpps_r_and_s(self) -> None:
        """llama-hparams.cpp: n_embd_r() = (d_conv - 1) * (d_inner + 2 * n_group * d_state) and n_embd_s() =
        d_state * d_inner, f32 (llama-memory-recurrent.cpp): 36 layers x (9,984 + 393,216) x 4 bytes."""
        a = arch(cfg.GRANITE_4_H_TINY)
        state = llama_kv_bytes(a, 131072, kinds={LayerKind.RECURRENT})
        assert state == 36 * (3 * (3072 + 2 * 128) + 128 * 3072) * 4
        assert llama_kv_bytes(a, 131072, kinds={LayerKind.FULL}) == 4 * 131072 * 2 * 4 * 128 * 2


class TestGemma2:
    """Gemma 2 (gemma2): a 4096-token sliding window on every other layer, starting with layer 0
    (llama.cpp set_swa_pattern(2)), tied embeddings, head_dim 256, post-attention and post-FFN norms."""

    def test_9b_q8_0_matches_the_published_file_size(self) -> None:
        """https://huggingface.co/bartowski/gemma-2-9b-it-GGUF (README at revision 4a1fd289, made with
        llama.cpp b3278): "gemma-2-9b-it-Q8_0.gguf | Q8_0 | 9.82GB". The listing rounds to 10 MB and the
        file also holds the 256,000-token vocabulary (a few MB), so the weights must round to the same
        figure; an untied output matrix would add 0.97 GB."""
        a = catalog_arch("gemma-2-9b-it")
        n_bytes = sum(w.n_bytes for w in weight_tensors(parse_quant("Q8_0"), a))
        assert round(n_bytes / 1e9, 2) == 9.82

    def test_windowed_and_global_layers_alternate(self) -> None:
        a = catalog_arch("gemma-2-9b-it")
        assert a.layer_kind_counts() == {LayerKind.SLIDING: 21, LayerKind.FULL: 21}
        assert (a.layer_kind(0), a.layer_kind(1)) == (LayerKind.SLIDING, LayerKind.FULL)
        assert a.sliding_window == 4096

    def test_sliding_layers_keep_a_window_plus_a_micro_batch(self) -> None:
        """No llama.cpp log line of a Gemma 2 SWA cache was found; this pins the cell counts of
        llama-kv-cache-iswa.cpp (quoted in https://github.com/ikawrakow/ik_llama.cpp/issues/1607):
        GGML_PAD(min(n_ctx, n_swa + n_ubatch), 256) = 4608 cells on the 21 sliding layers, n_ctx on the
        21 global ones; K and V of 8 heads x 256, f16."""
        a = catalog_arch("gemma-2-9b-it")
        per_cell_bytes = 2 * 8 * 256 * 2
        assert llama_kv_bytes(a, 32768, kinds={LayerKind.SLIDING}) == 21 * 4608 * per_cell_bytes
        assert llama_kv_bytes(a, 32768, kinds={LayerKind.FULL}) == 21 * 32768 * per_cell_bytes


class TestLlama4Published:
    """Llama 4's text model as llama.cpp loads it: chunked attention (8192-token chunks) on 3 layers of 4,
    MoE on every interleave_moe_layer_step-th layer with one shared expert."""

    def test_scout_q3_k_m_matches_llama_bench(self) -> None:
        """llama-bench on the Scout Q3_K_M GGUF (https://github.com/mixa3607/ML-gfx906/blob/
        2aacd9cf48118436aed3a2a6390a138acc36a04a/llama.cpp/readme.md):
            | llama4 17Bx16E (Scout) Q3_K - Medium |  48.19 GiB |   107.77 B | ROCm | ...
        llama-bench prints tensor bytes and parameters to 2 decimals, so both must round to the same
        figures. Q3_K_M's mixture makes the size (llama-quant.cpp: ffn_down in Q5_K on the first 48/16
        layers and Q4_K after, attn_v and attn_output in Q4_K or better, output in Q6_K); every matrix
        in Q3_K would be 43.1 GiB."""
        a = arch(cfg.LLAMA4_SCOUT)
        n_bytes = sum(w.n_bytes for w in weight_tensors(parse_quant("Q3_K_M"), a))
        assert round(a.n_params / 1e9, 2) == 107.77
        assert round(n_bytes / 2**30, 2) == 48.19

    def test_maverick_parameter_count(self) -> None:
        """llama-bench on unsloth's Llama-4-Maverick-17B-128E-Instruct-UD-Q4_K_XL GGUF
        (https://github.com/lhl/strix-halo-testing, README, "Llama 4 Maverick"):
            | llama4 17Bx128E (Maverick) Q4_K - Medium | 216.18 GiB |   400.71 B | Vulkan,RPC | ...
        The count must round to the same figure. The size is not checked: UD-Q4_K_XL is unsloth's own
        per-tensor recipe, not llama-quant.cpp's Q4_K_M mixture (which plans 226.1 GiB here)."""
        assert round(arch(cfg.LLAMA4_MAVERICK).n_params / 1e9, 2) == 400.71


class TestCohere2:
    """Cohere2 (Command R7B, Command A; model_type and GGUF arch cohere2): a 4096-token window on 3 layers
    of 4, the 4th global (llama.cpp set_swa_pattern(4)), tied embeddings. The shape below is Command R7B as
    llama.cpp prints it loading c4ai-command-r7b-12-2024 (https://github.com/ggml-org/llama.cpp/issues/
    10816 and pull/10900): n_embd 4096, n_layer 32, n_head 32, n_head_kv 8, n_swa 4096, n_ff 14336,
    n_vocab 256000, written here as config.json keys."""

    CONFIG: ClassVar[dict[str, Any]] = {
        "model_type": "cohere2", "hidden_size": 4096, "num_hidden_layers": 32, "num_attention_heads": 32,
        "num_key_value_heads": 8, "intermediate_size": 14336, "vocab_size": 256000, "sliding_window": 4096,
        "sliding_window_pattern": 4, "max_position_embeddings": 8192,
    }  # fmt: skip
    HEADER: ClassVar[dict[str, Any]] = {
        "cohere2.block_count": 32, "cohere2.embedding_length": 4096, "cohere2.attention.head_count": 32,
        "cohere2.attention.head_count_kv": 8, "cohere2.feed_forward_length": 14336,
        "cohere2.attention.sliding_window": 4096, "cohere2.vocab_size": 256000,
    }  # fmt: skip

    def test_r7b_q8_0_matches_llama_cpps_load_log(self) -> None:
        """https://github.com/ggml-org/llama.cpp/issues/10816, the Q8_0 GGUF: "model params = 8.03 B",
        "model size = 7.94 GiB (8.50 BPW)" - printed to 2 decimals, so ours must round to the same."""
        a = arch(self.CONFIG)
        n_bytes = sum(w.n_bytes for w in weight_tensors(parse_quant("Q8_0"), a))
        assert a.known_family and a.tied_embeddings
        assert round(a.n_params / 1e9, 2) == 8.03
        assert round(n_bytes / 2**30, 2) == 7.94
        assert round(8 * n_bytes / a.n_params, 2) == 8.50

    def test_three_windowed_layers_to_one_global(self) -> None:
        a = arch(self.CONFIG)
        assert a.layer_kind_counts() == {LayerKind.SLIDING: 24, LayerKind.FULL: 8}
        assert [a.layer_kind(i) for i in range(4)] == [LayerKind.SLIDING] * 3 + [LayerKind.FULL]

    def test_windowing_saves_what_a_measured_run_saved(self) -> None:
        """Command R7B Q6_K_L at -c 31000 -fa on one GPU (https://github.com/ggml-org/llama.cpp/pull/13194,
        ExtReMLapin, 2025-05-20): 11459 MiB with --swa-full, 9115 MiB without, 2344 MiB saved. Planned:
        24 sliding layers drop from 31232 cells to 4608, 2496 MiB. These are whole-process GPU readings
        (compute buffers and allocator rounding ride along), so the check is to 10%: enough to tell 24
        windowed layers from 16 (1664 MiB) or 32 (3328 MiB)."""
        a = arch(self.CONFIG)
        windowed = llama_kv_bytes(a, 31000)
        full = llama_kv_bytes(a, 31000, kinds={LayerKind.FULL}) * a.n_layers // 8
        assert (full - windowed) / MIB == pytest.approx(2344, rel=0.10)

    def test_the_gguf_header_plans_what_the_config_plans(self, make_gguf: Callable[..., Path]) -> None:
        """No sliding_window_pattern key in the file: llama.cpp's default pattern 4 for cohere2 applies."""
        gguf_arch = read_gguf(make_gguf(arch="cohere2", kv=self.HEADER)).arch
        config_arch = arch(self.CONFIG)
        assert gguf_arch.known_family and gguf_arch.family == config_arch.family == "cohere2"
        assert gguf_arch.swa_layers == config_arch.swa_layers
        assert llama_kv_bytes(gguf_arch, 131072) == llama_kv_bytes(config_arch, 131072)


class TestJambaAgainstLlamaCpp:
    """Jamba (llama.cpp's jamba): Mamba 1 on 28 layers, attention on every 8th from layer 4, 16 experts
    (2 used) on every other layer. llama.cpp's print_info for AI21-Jamba-Mini-1.7, the v0.1 shape
    (https://github.com/ggml-org/llama.cpp/pull/7531, gabe-l-hart's load log of the Q4_K_M GGUF):
        n_embd_k_gqa = [0, 0, 0, 0, 1024, 0, 0, 0, 0, 0, 0, 0, 1024, 0, 0, 0, 0, 0, 0, 0, 1024,
                        0, 0, 0, 0, 0, 0, 0, 1024, 0, 0, 0]
        n_ff = 14336, n_expert = 16, n_expert_used = 2, ssm_d_conv = 4, ssm_d_inner = 8192,
        ssm_d_state = 16, ssm_dt_rank = 256, ssm_n_group = 0"""

    LOGGED_K_ELEMS: ClassVar[list[int]] = [1024 if i in (4, 12, 20, 28) else 0 for i in range(32)]

    def test_kv_sits_where_llama_cpp_puts_it(self) -> None:
        a = arch(cfg.JAMBA_V01)
        k_elems = [a.kv_dim if a.layer_kind(i) is LayerKind.FULL else 0 for i in range(a.n_layers)]
        assert k_elems == self.LOGGED_K_ELEMS
        assert llama_kv_bytes(a, 4096, kinds={LayerKind.FULL}) == 4 * 4096 * 2 * 1024 * 2

    def test_state_is_llama_cpps_mamba_r_and_s(self) -> None:
        """llama-hparams.cpp with ssm_n_group 0: n_embd_r() = (d_conv - 1) * d_inner, n_embd_s() =
        d_state * d_inner, both f32 (llama-memory-recurrent.cpp), once per sequence on the 28 Mamba layers."""
        a = arch(cfg.JAMBA_V01)
        state = llama_kv_bytes(a, 262144, kinds={LayerKind.RECURRENT})
        assert state == 28 * (3 * 8192 + 16 * 8192) * 4

    def test_the_gguf_header_plans_what_the_config_plans(self, make_gguf: Callable[..., Path]) -> None:
        """The header keys behind that print_info: head_count_kv per layer (n_gqa 4 of 32 heads = 8 on the
        attention layers, 0 on the Mamba ones) and the ssm.* sizes."""
        kv_heads = [k_elems // 128 for k_elems in self.LOGGED_K_ELEMS]  # n_embd_head_k = 128
        header = {
            "jamba.block_count": 32, "jamba.embedding_length": 4096, "jamba.feed_forward_length": 14336,
            "jamba.attention.head_count": 32, "jamba.attention.head_count_kv": kv_heads,
            "jamba.expert_count": 16, "jamba.expert_used_count": 2,
            "jamba.ssm.conv_kernel": 4, "jamba.ssm.inner_size": 8192, "jamba.ssm.state_size": 16,
            "jamba.ssm.time_step_rank": 256,
        }  # fmt: skip
        gguf_arch = read_gguf(make_gguf(arch="jamba", kv=header)).arch
        config_arch = arch(cfg.JAMBA_V01)
        for layer in (0, 4):
            assert kv_layer_bytes(gguf_arch, layer, 8192, kv_type("f16"), 512) == kv_layer_bytes(
                config_arch, layer, 8192, kv_type("f16"), 512
            )
        assert gguf_arch.recurrent_layers == config_arch.recurrent_layers

    def test_q3_k_s_matches_the_published_file_size(self) -> None:
        """https://huggingface.co/leafspark/Jamba-1.5-Mini-GGUF/tree/main: ai21labs_AI21-Jamba-1.5-Mini-
        Q3_K_S.gguf, 22.3 GB. Jamba 1.5 Mini keeps v0.1's shape (the print_info above is of its 1.7
        update). Hugging Face rounds to three significant figures (+-0.05 GB, 0.2%); the tokenizer of
        65536 tokens the file also holds is about 1 MB, well inside that."""
        weights = weight_tensors(parse_quant("Q3_K_S"), arch(cfg.JAMBA_V01))
        assert round(sum(w.n_bytes for w in weights) / 1e9, 1) == 22.3


class TestKimiK2AgainstAPublishedFile:
    """Kimi K2 runs as deepseek2 in llama.cpp: DeepSeek V3's MLA with 64 heads, 384 routed experts (8 used)
    and one shared, one leading dense layer, a 163840-token vocabulary."""

    def test_q4_x_size_and_bits_per_weight(self) -> None:
        """https://huggingface.co/ubergarm/Kimi-K2-Thinking-GGUF: "Q4_X 543.617 GiB (4.549 BPW)" - the
        routed experts in Q4_0 (the checkpoint's own INT4, llama.cpp#17064), every other tensor as a Q8_0
        file has it. Kimi K2 Thinking has K2 Instruct's shape. llama.cpp reports the tensor data, so the
        plan must agree to the printed precision: 0.001 GiB and 0.001 bits per weight."""
        a = catalog_arch("kimi-k2-instruct")
        q4_0 = {w.name: w for w in weight_tensors(parse_quant("Q4_0"), a)}
        weights = [q4_0[w.name] if "_exps." in w.name else w for w in weight_tensors(parse_quant("Q8_0"), a)]
        n_bytes = sum(w.n_bytes for w in weights)
        assert round(n_bytes / 2**30, 3) == 543.617
        assert round(8 * n_bytes / a.n_params, 3) == 4.549

    def test_caches_one_latent_per_token_on_all_61_layers(self) -> None:
        """The same cache as DeepSeek V3's (checked against ik_llama.cpp's log above): 64 heads instead of
        128 change the weights, not the 576-wide latent."""
        a = catalog_arch("kimi-k2-instruct")
        assert (a.k_elems_per_token, a.v_elems_per_token) == (576, 0)
        assert a.layer_kind_counts() == {LayerKind.FULL: 61}
        assert llama_kv_bytes(a, 32768, "q8_0") == llama_kv_bytes(arch(cfg.DEEPSEEK_V3), 32768, "q8_0")

    def test_one_dense_layer_then_384_experts(self) -> None:
        a = catalog_arch("kimi-k2-instruct")
        assert (a.n_dense_lead_layers, a.n_experts, a.n_experts_used, a.n_heads) == (1, 384, 8, 64)
        assert not a.is_moe_layer(0) and a.is_moe_layer(1)


class TestQwen3NextAgainstLlamaCpp:
    """Qwen3-Next (llama.cpp's qwen3next): gated DeltaNet on 36 layers, full attention with 2 KV heads of 256
    on every 4th, 512 experts (10 used) and a gated shared expert on every layer."""

    def test_kv_on_twelve_layers(self) -> None:
        """Qwen3-Coder-Next, the same qwen3next shape, under llama-server at -c 65536 with a unified cache
        (https://github.com/ggml-org/llama.cpp/issues/23321):
            llama_kv_cache: size = 1536.00 MiB ( 65536 cells,  12 layers,  2/1 seqs),
                K (f16):  768.00 MiB, V (f16):  768.00 MiB
        As full attention on all 48 layers it would be 6144 MiB."""
        a = arch(cfg.QWEN3_NEXT_80B)
        assert llama_kv_bytes(a, 65536, kinds={LayerKind.FULL}) == 1536 * MIB
        assert llama_kv_bytes(a, 65536, kinds={LayerKind.RECURRENT}) == 36 * recurrent_state_bytes(a)

    def test_each_delta_net_layer_keeps_qwen3_5s_state(self) -> None:
        """Its linear-attention layers have Qwen3.5-4B's shape (16 key heads, 32 value heads of 128, conv 4),
        whose state llama.cpp logs as 50.25 MiB on 24 layers (test above): 36 layers keep 75.375 MiB."""
        per_layer = recurrent_state_bytes(arch(cfg.QWEN3_NEXT_80B))
        assert per_layer == recurrent_state_bytes(arch(cfg.QWEN3_5_4B)) == int(50.25 * MIB) // 24
        assert 36 * per_layer == int(75.375 * MIB)

    def test_q8_0_size_and_parameters_match_llama_bench(self) -> None:
        """llama-bench on a Q8_0 GGUF (https://github.com/ggml-org/llama.cpp/pull/18683):
            | qwen3next 80B.A3B Q8_0 |  78.98 GiB |    79.67 B | Vulkan | ...
        llama-bench prints the tensor data and the parameter count, so both must agree to 0.01."""
        a = arch(cfg.QWEN3_NEXT_80B)
        n_bytes = sum(w.n_bytes for w in weight_tensors(parse_quant("Q8_0"), a))
        assert (round(n_bytes / 2**30, 2), round(a.n_params / 1e9, 2)) == (78.98, 79.67)
