"""Plans for today's architectures: KV by layer kind in both engines, the basis naming the layer kinds,
and MoE generation speed read from the active bytes (experts used per token plus shared and dense
weights), never from the total."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import pytest

from tuilab.core.arch import LayerKind, ModelArch
from tuilab.core.fit import plan, read_bytes_per_token
from tuilab.core.memory import MLX_PREFILL_STEP_TOKENS, mlx_memory
from tuilab.core.quant import kv_type, parse_quant, weight_tensors
from tuilab.core.speed import efficiency
from tuilab.models.hf import arch_from_config
from tuilab.models.profiles import load_hardware_profile

sys.path.insert(0, str(Path(__file__).parents[1] / "models"))
import today_configs as cfg


def gpt_oss() -> ModelArch:
    return arch_from_config(cfg.GPT_OSS_20B, "gpt-oss-20b")


def deepseek() -> ModelArch:
    return arch_from_config(cfg.DEEPSEEK_V3, "DeepSeek-V3")


def active_weight_bytes(arch: ModelArch, quant: str) -> float:
    """Bytes a token reads, from the spec: every weight but the input embedding, with routed expert
    tensors at the share of experts used per token."""
    total = 0.0
    for w in weight_tensors(parse_quant(quant), arch):
        if w.name == "token_embd.weight" and not arch.tied_embeddings:
            continue
        total += w.n_bytes * (arch.n_experts_used / arch.n_experts if "_exps." in w.name else 1.0)
    return total


class TestMoeSpeedReadsActiveBytes:
    @pytest.mark.parametrize(
        ("make", "quant", "hw"),
        [
            pytest.param(gpt_oss, "Q4_K_M", "h100-sxm-80gb", id="gpt-oss-llama.cpp-cuda"),
            pytest.param(gpt_oss, "mlx-4bit", "m4-max-40c-128gb", id="gpt-oss-mlx-metal"),
            pytest.param(deepseek, "Q4_K_M", "h200-141gb", id="deepseek-shared-and-dense-layers"),
        ],
    )
    def test_bytes_read_per_token_are_the_active_ones(self, make, quant: str, hw: str) -> None:  # type: ignore[no-untyped-def]
        arch = make()
        weights = weight_tensors(parse_quant(quant), arch)
        dev, host = read_bytes_per_token(arch, weights, set(range(arch.n_layers)), True)
        read = sum(dev.values()) + sum(host.values())
        assert read == pytest.approx(active_weight_bytes(arch, quant), rel=1e-6)
        assert read < 0.25 * sum(w.n_bytes for w in weights)

    def test_predicted_speed_follows_active_not_total_bytes(self) -> None:
        """Twice the experts per token (4 to 8 of 32) reads twice the expert bytes, with the total
        unchanged: the prediction slows; with all 32 active it falls by the ratio of bytes read."""
        hw = load_hardware_profile("h100-sxm-80gb")
        q = parse_quant("Q8_0")
        base = gpt_oss()
        more = dataclasses.replace(base, n_experts_used=8)
        every = dataclasses.replace(base, n_experts_used=base.n_experts)
        tps = [plan(a, q, hw, ctx_tokens=4096).predicted_tg_tps for a in (base, more, every)]
        assert (
            plan(base, q, hw, ctx_tokens=4096).weights_bytes
            == plan(every, q, hw, ctx_tokens=4096).weights_bytes
        )
        assert tps[0] > 1.3 * tps[1] and tps[1] > 2.5 * tps[2]
        # the extra time per token is the extra expert bytes over the GPU's effective bandwidth
        extra_bytes = active_weight_bytes(every, "Q8_0") - active_weight_bytes(base, "Q8_0")
        effective_bps = hw.gpus[0].bandwidth_gbps * 1e9 * efficiency("cuda", "Q8_0")
        assert 1 / tps[2] - 1 / tps[0] == pytest.approx(extra_bytes / effective_bps, rel=0.01)


class TestKvByLayerKindInEachEngine:
    def test_mlx_sliding_layers_keep_the_window_plus_a_prefill_chunk(self) -> None:
        """mlx_lm/models/gpt_oss.py gives sliding layers a RotatingKVCache(max_size=sliding_window), which
        holds the window plus the 2048-token prefill chunk it is processing: "The largest size is
        self.max_size + S - 1" (cache.py _update_concat)."""
        arch, ctx = gpt_oss(), 32768
        weights = weight_tensors(parse_quant("mlx-4bit"), arch)
        per_token = 2 * arch.kv_dim * 2
        expected = 12 * ctx * per_token + 12 * (128 + MLX_PREFILL_STEP_TOKENS - 1) * per_token
        assert mlx_memory(arch, weights, ctx_tokens=ctx, kv=kv_type("f16")).kv_device_bytes == expected

    def test_mlx_recurrent_state_is_bf16_conv_and_f32_state(self) -> None:
        """mlx_lm/models/qwen3_next.py keeps the conv state in the activations' dtype and
        gated_delta.py the delta-net state in float32."""
        arch = arch_from_config(cfg.QWEN3_5_4B, "Qwen3.5-4B")
        weights = weight_tensors(parse_quant("mlx-4bit"), arch)
        kv = mlx_memory(arch, weights, ctx_tokens=4096, kv=kv_type("f16")).kv_device_bytes
        r = arch.recurrent
        assert r is not None
        assert kv == 8 * 4096 * 2 * 1024 * 2 + 24 * (r.conv_elems * 2 + r.state_elems * 4)

    def test_a_hybrid_plans_a_fraction_of_full_attention_everywhere(self) -> None:
        hybrid = arch_from_config(cfg.QWEN3_NEXT_80B, "Qwen3-Next")
        naive = dataclasses.replace(hybrid, recurrent_layers=frozenset(), recurrent=None)
        hw, q = load_hardware_profile("h200-141gb"), parse_quant("Q4_K_M")
        kv = [plan(a, q, hw, ctx_tokens=262144).memory.kv_device_bytes for a in (hybrid, naive)]
        assert kv[0] < kv[1] / 3.5

    def test_mla_plans_the_latent_not_128_heads(self) -> None:
        fit = plan(deepseek(), parse_quant("Q4_K_M"), load_hardware_profile("h200-141gb"), ctx_tokens=8192)
        latent = 61 * 8192 * 576 * 2
        assert fit.memory.kv_device_bytes + fit.memory.kv_host_bytes == latent


class TestBasisNamesTheLayerKinds:
    def test_hybrid(self) -> None:
        arch = arch_from_config(cfg.QWEN3_5_4B, "Qwen3.5-4B")
        fit = plan(arch, parse_quant("Q4_K_M"), load_hardware_profile("rtx-3090-24gb"), ctx_tokens=8192)
        assert "8 layers full attention, 1024 wide" in fit.basis["kv_cache"]
        assert "24 gated_delta layers with a fixed state" in fit.basis["kv_cache"]

    def test_sliding_and_mla(self) -> None:
        hw = load_hardware_profile("h200-141gb")
        oss = plan(gpt_oss(), parse_quant("Q4_K_M"), hw, ctx_tokens=8192).basis["kv_cache"]
        assert "12 layers sliding window of 128" in oss
        assert (
            "576-wide MLA latent"
            in plan(deepseek(), parse_quant("Q4_K_M"), hw, ctx_tokens=8192).basis["kv_cache"]
        )

    def test_unknown_family_says_kv_is_planned_as_full_attention(self) -> None:
        arch = arch_from_config({**cfg.GPT_OSS_20B, "model_type": "falcon_h9"}, "mystery")
        fit = plan(arch, parse_quant("Q4_K_M"), load_hardware_profile("rtx-3090-24gb"), ctx_tokens=4096)
        assert (
            "unknown architecture falcon_h9: KV planned as full attention on every layer"
            in fit.basis["kv_cache"]
        )
        assert arch.layer_kind_counts() == {LayerKind.FULL: 24}
