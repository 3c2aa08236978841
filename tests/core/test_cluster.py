"""The cluster plan: one host when one host will do, an mlx-lm split otherwise, and the link's cost."""

from __future__ import annotations

import pytest

from tuilab.core.cluster import (
    ClusterHost,
    SplitMode,
    link_seconds_per_token,
    pipeline_ranges,
    plan_cluster,
)
from tuilab.core.errors import UnknownNameError
from tuilab.core.links import LINKS
from tuilab.core.plan_types import Verdict
from tuilab.core.quant import parse_quant
from tuilab.models.profiles import load_hardware_profile, load_model_profile


def _hosts(*profiles: str) -> list[ClusterHost]:
    return [ClusterHost(f"{p}#{i}", load_hardware_profile(p)) for i, p in enumerate(profiles)]


def _arch(name: str):  # type: ignore[no-untyped-def]
    return load_model_profile(name).arch


class TestOneHostWillDo:
    def test_a_model_that_fits_one_host_is_planned_on_one_host(self) -> None:
        plan = plan_cluster(_arch("llama-3-8b"), parse_quant("mlx-4bit"), _hosts(*["m3-max-40c-64gb"] * 2),
                            ctx_tokens=4096)  # fmt: skip
        assert plan.mode is SplitMode.SINGLE
        assert len(plan.hosts) == 1 and plan.unused_hosts == ("m3-max-40c-64gb#1",)
        assert plan.link_s_per_token == 0.0
        assert plan.predicted_tg_tps == pytest.approx(plan.single_host.predicted_tg_tps)

    def test_the_first_host_that_fits_alone_is_chosen(self) -> None:
        plan = plan_cluster(_arch("llama-3-70b"), parse_quant("mlx-8bit"),
                            _hosts("m3-max-40c-64gb", "m2-ultra-76c-192gb"), ctx_tokens=4096)  # fmt: skip
        assert plan.mode is SplitMode.SINGLE
        assert plan.hosts[0].name == "m2-ultra-76c-192gb#1"
        assert plan.single_host.verdict is Verdict.NO_FIT  # the first host alone does not


class TestSplitting:
    @pytest.mark.parametrize("mode", ["auto", "tensor"])
    def test_70b_at_8_bits_splits_over_two_64gb_macs_and_fits_where_one_does_not(self, mode: str) -> None:
        plan = plan_cluster(_arch("llama-3-70b"), parse_quant("mlx-8bit"), _hosts(*["m3-max-40c-64gb"] * 2),
                            ctx_tokens=4096, mode=mode)  # fmt: skip
        assert plan.single_host.verdict is Verdict.NO_FIT
        assert plan.mode is SplitMode.TENSOR  # llama has Model.shard and no pipeline in mlx-lm 0.32
        assert plan.verdict in (Verdict.FITS, Verdict.TIGHT)
        assert [h.shard for h in plan.hosts] == ["1/2", "1/2"]
        assert all(h.device_bytes < plan.single_host.memory.device_bytes * 0.6 for h in plan.hosts)

    def test_pipeline_split_follows_mlx_lm_rank_0_runs_the_last_layers(self) -> None:
        assert pipeline_ranges(80, 2) == ((40, 80), (0, 40))
        assert pipeline_ranges(7, 3) == ((4, 7), (2, 4), (0, 2))  # extra layers on low ranks

    def test_pipeline_plan_gives_each_host_its_stage(self) -> None:
        plan = plan_cluster(_arch("qwen2.5-32b"), parse_quant("mlx-bf16"), _hosts(*["m3-max-40c-64gb"] * 2),
                            ctx_tokens=4096, mode="pipeline")  # fmt: skip
        assert plan.mode is SplitMode.PIPELINE
        assert [h.layers for h in plan.hosts] == [(32, 64), (0, 32)]
        assert plan.verdict is Verdict.FITS

    def test_too_small_hosts_give_no_fit_naming_the_host(self) -> None:
        plan = plan_cluster(_arch("llama-3-70b"), parse_quant("mlx-8bit"), _hosts(*["m4-10c-16gb"] * 2),
                            ctx_tokens=4096)  # fmt: skip
        assert plan.verdict is Verdict.NO_FIT
        assert "m4-10c-16gb#0" in plan.reason

    @pytest.mark.parametrize(
        ("model", "mode", "why"),
        [
            ("llama-3-70b", "pipeline", "no pipeline sharding for llama"),
            ("mixtral-8x7b", "auto", "no tensor or pipeline sharding"),
        ],
    )
    def test_a_split_mlx_lm_cannot_do_is_no_fit_with_the_reason(
        self, model: str, mode: str, why: str
    ) -> None:
        plan = plan_cluster(_arch(model), parse_quant("mlx-8bit"), _hosts(*["m4-10c-16gb"] * 2),
                            ctx_tokens=4096, mode=mode)  # fmt: skip
        assert plan.verdict is Verdict.NO_FIT and why in plan.reason

    def test_heads_that_do_not_divide_refuse_tensor_parallel(self) -> None:
        plan = plan_cluster(_arch("llama-3-70b"), parse_quant("mlx-8bit"), _hosts(*["m4-10c-16gb"] * 3),
                            ctx_tokens=4096, mode="tensor")  # fmt: skip
        assert plan.verdict is Verdict.NO_FIT and "heads" in plan.reason


class TestLinkCost:
    def test_rdma_is_faster_than_the_tcp_ring_for_tensor_parallel(self) -> None:
        args = (_arch("llama-3-70b"), parse_quant("mlx-8bit"), _hosts(*["m3-max-40c-64gb"] * 2))
        tcp = plan_cluster(*args, ctx_tokens=4096, link="tb4")
        rdma = plan_cluster(*args, ctx_tokens=4096, link="tb5-rdma")
        assert rdma.predicted_tg_tps > tcp.predicted_tg_tps
        assert "link" in tcp.basis and "300 us" in tcp.basis["link"]

    def test_tensor_parallel_pays_per_layer_pipeline_per_token(self) -> None:
        arch = _arch("llama-3-70b")
        pipe = link_seconds_per_token(arch, SplitMode.PIPELINE, 2, LINKS["tb4"])
        tensor = link_seconds_per_token(arch, SplitMode.TENSOR, 2, LINKS["tb4"])
        assert tensor == pytest.approx(pipe * 2 * arch.n_layers, rel=0.01)

    def test_unknown_link_suggests_a_name(self) -> None:
        with pytest.raises(UnknownNameError, match="tb5"):
            plan_cluster(_arch("llama-3-8b"), None, _hosts("m3-max-40c-64gb"), ctx_tokens=512, link="tb5x")


class TestJson:
    def test_hosts_list_has_what_each_host_needs(self) -> None:
        plan = plan_cluster(_arch("llama-3-70b"), parse_quant("mlx-8bit"), _hosts(*["m3-max-40c-64gb"] * 2),
                            ctx_tokens=4096)  # fmt: skip
        d = plan.to_dict()
        assert {"name", "shard", "layers", "device_bytes", "budget_bytes", "verdict", "reason"} <= set(
            d["hosts"][0]
        )
        assert d["verdict"] == "fits" and d["predicted_tg_tps"] > 0 and "link" in d["basis"]
