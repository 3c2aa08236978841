"""Properties of the fit oracle that must hold for any model and machine."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tuilab.core.arch import ModelArch
from tuilab.core.fit import plan
from tuilab.core.plan_types import RUNS_ON_DEVICE, Verdict
from tuilab.core.quant import parse_quant
from tuilab.models.profiles import hardware_profile_names, load_hardware_profile

LADDER_CHAIN = ["F16", "Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "Q3_K_M", "Q2_K", "IQ2_XS", "IQ1_S"]
MLX_CHAIN = ["mlx-8bit", "mlx-6bit", "mlx-5bit", "mlx-4bit", "mlx-3bit", "mlx-2bit"]


@st.composite
def archs(draw: st.DrawFn) -> ModelArch:
    head_dim = draw(st.sampled_from([64, 128]))
    n_kv = draw(st.sampled_from([1, 2, 4, 8]))
    n_heads = n_kv * draw(st.sampled_from([1, 2, 4, 8]))
    hidden = 256 * draw(st.integers(4, 32))
    return ModelArch(
        name="random",
        family="llama",
        n_layers=draw(st.integers(2, 48)),
        hidden_size=hidden,
        n_heads=n_heads,
        n_kv_heads=n_kv,
        head_dim=head_dim,
        ffn_size=256 * draw(st.integers(4, 96)),
        vocab_size=draw(st.sampled_from([32000, 32768, 128256, 151936])),
        tied_embeddings=draw(st.booleans()),
        max_ctx_tokens=32768,
    )


hardware = st.sampled_from(["rtx-3060-12gb", "m3-max-40c-48gb", "h100-sxm-80gb", "m1-7c-8gb", "rtx-3070-8gb"])
settings_ = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


class TestMoreContextNeverNeedsLessMemory:
    @settings_
    @given(arch=archs(), hw=hardware, ctx=st.integers(256, 16384), more=st.integers(1, 16384))
    def test_total_and_device_grow_with_context(self, arch: ModelArch, hw: str, ctx: int, more: int) -> None:
        spec = load_hardware_profile(hw)
        q = parse_quant("Q4_K_M")
        a = plan(arch, q, spec, ctx_tokens=ctx, gpu_layers=arch.n_layers + 1, advise=False)
        b = plan(arch, q, spec, ctx_tokens=ctx + more, gpu_layers=arch.n_layers + 1, advise=False)
        assert b.memory.total_bytes >= a.memory.total_bytes
        assert b.memory.device_bytes >= a.memory.device_bytes


class TestFewerBitsNeverNeedMore:
    @settings_
    @given(arch=archs(), hw=hardware, ctx=st.integers(256, 16384))
    def test_llama_ladder(self, arch: ModelArch, hw: str, ctx: int) -> None:
        # At one placement (everything offloaded): with auto placement a tied embedding is duplicated onto the
        # GPU only when the output fits there, as llama.cpp does, so totals of different placements differ.
        spec, layers = load_hardware_profile(hw), arch.n_layers + 1
        totals = [
            plan(
                arch, parse_quant(q), spec, ctx_tokens=ctx, gpu_layers=layers, advise=False
            ).memory.total_bytes
            for q in LADDER_CHAIN
        ]
        assert totals == sorted(totals, reverse=True)

    @settings_
    @given(arch=archs(), ctx=st.integers(256, 16384))
    def test_mlx_bit_widths(self, arch: ModelArch, ctx: int) -> None:
        spec = load_hardware_profile("m3-max-40c-48gb")
        totals = [
            plan(arch, parse_quant(q), spec, ctx_tokens=ctx, advise=False).memory.total_bytes
            for q in MLX_CHAIN
        ]
        assert totals == sorted(totals, reverse=True)


class TestMaxCtxIsTheLargestContextWhoseVerdictHolds:
    @settings_
    @given(arch=archs(), hw=hardware, quant=st.sampled_from(["F16", "Q4_K_M", "IQ2_XS"]))
    def test_max_ctx_holds_and_one_step_more_does_not(self, arch: ModelArch, hw: str, quant: str) -> None:
        spec, q = load_hardware_profile(hw), parse_quant(quant)
        fit = plan(arch, q, spec, ctx_tokens=2048, advise=False)
        holds = (
            RUNS_ON_DEVICE
            if fit.verdict in RUNS_ON_DEVICE
            else tuple(v for v in Verdict if v is not Verdict.NO_FIT)
        )
        if fit.max_ctx == 0:
            assert plan(arch, q, spec, ctx_tokens=256, advise=False).verdict not in holds
            return
        assert plan(arch, q, spec, ctx_tokens=fit.max_ctx, advise=False).verdict in holds
        if fit.max_ctx < arch.max_ctx_tokens:
            assert plan(arch, q, spec, ctx_tokens=fit.max_ctx + 256, advise=False).verdict not in holds


class TestEveryProfilePlans:
    def test_every_hardware_profile_gives_a_verdict_with_a_reason(self) -> None:
        from tuilab.models.profiles import load_model_profile

        arch = load_model_profile("llama-3-8b").arch
        for name in hardware_profile_names():
            fit = plan(arch, parse_quant("Q4_K_M"), load_hardware_profile(name), ctx_tokens=4096)
            assert fit.reason and fit.verdict in Verdict
