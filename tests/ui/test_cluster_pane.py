"""The Cluster tab: a model planned across Macs with MLX distributed, one memory bar per host.

Pilot tests drive the real app on recorded hardware (an RTX 3060 box, so the default hosts are the
issue's "2x m3-max-40c-64gb") and plan with the real planner; the plain parts are checked as text.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from rich.console import Console
from textual.pilot import Pilot
from textual.widgets import Input, TabbedContent
from ui_helpers import settle

from tuilab.core.cluster import ClusterPlan, SplitMode
from tuilab.core.links import LINKS
from tuilab.core.plan_types import Verdict
from tuilab.models.profiles import load_hardware_profile
from tuilab.ui.app import TuilabApp
from tuilab.ui.cluster_view import (
    DEFAULT_HOSTS,
    ClusterRequest,
    cluster_model,
    default_hosts,
    host_lines,
    mlx_equivalent,
    next_link,
    plan_request,
    render_cluster,
)  # fmt: skip
from tuilab.ui.commands import app_commands
from tuilab.ui.render import BUDGET_MARK
from tuilab.ui.widgets.cluster_pane import ClusterPane

MODEL = "llama-3-70b"  # 77 GB at 8 bits: more than one 64 GB Mac's GPU budget, less than two


def text_of(renderable: Any, width: int = 78) -> str:
    console = Console(width=width, record=True, color_system=None, file=io.StringIO())
    console.print(renderable)
    return console.export_text()


def request(hosts: str = DEFAULT_HOSTS, link: str = "tb4") -> ClusterRequest:
    return ClusterRequest(MODEL, "mlx-8bit", 4096, "f16", hosts, link)


async def cluster_tab(pilot: Pilot[Any], quant: str = "mlx-8bit") -> ClusterPane:
    app: TuilabApp = pilot.app  # type: ignore[assignment]
    await settle(pilot)
    app.apply_selection(replace(app.selection, model=MODEL, quant=quant))
    await pilot.press("escape", "7")  # out of the models filter, then the tab's key
    await settle(pilot)
    return app.main.query_one(ClusterPane)


def shown(pane: ClusterPane, width: int = 78) -> str:
    return text_of(pane.query_one("#cluster-body").content, width)


def current_plan(pane: ClusterPane) -> ClusterPlan:
    assert pane.plan is not None, shown(pane)
    return pane.plan


@pytest.mark.anyio
class TestTheClusterTab:
    async def test_two_macs_fit_where_one_does_not(self, make_app: Callable[..., TuilabApp]) -> None:
        app = make_app()
        async with app.run_test(size=(80, 24)) as pilot:
            pane = await cluster_tab(pilot)
            assert app.main.query_one(TabbedContent).active == "cluster"
            assert pane.query_one("#cluster-hosts", Input).value == DEFAULT_HOSTS
            plan = current_plan(pane)
            assert [h.verdict for h in plan.hosts] == [Verdict.FITS, Verdict.FITS]
            assert plan.single_host.verdict is Verdict.NO_FIT
            text = shown(pane)
            bars = [line for line in text.splitlines() if line.startswith(("r0", "r1"))]
            assert len(bars) == 2 and all(line.rstrip().endswith("FITS") for line in bars)
            assert "alone:  DOES NOT FIT" in text
            assert " ms a token (" in text  # the link's share of each token

    async def test_one_host_does_not_fit(self, make_app: Callable[..., TuilabApp]) -> None:
        app = make_app()
        async with app.run_test(size=(80, 24)) as pilot:
            pane = await cluster_tab(pilot)
            await pilot.press("c")
            assert app.focused is pane.query_one("#cluster-hosts", Input)
            await pilot.press(*"m3-max-40c-64gb", "enter")  # typing replaces the selected spec
            await settle(pilot)
            plan = current_plan(pane)
            assert len(plan.hosts) == 1 and plan.verdict is Verdict.NO_FIT
            bars = [line for line in shown(pane).splitlines() if line.startswith("r0")]
            assert bars[0].rstrip().endswith("NO FIT") and BUDGET_MARK in bars[0]

    async def test_an_invalid_spec_is_an_error_and_the_app_stays_up(
        self, make_app: Callable[..., TuilabApp]
    ) -> None:
        app = make_app()
        async with app.run_test(size=(80, 24)) as pilot:
            pane = await cluster_tab(pilot)
            before = current_plan(pane)
            await pilot.press("c", *"2x m9-ultra", "enter")
            await settle(pilot)
            errors = [n for n in app._notifications if n.severity == "error"]
            assert errors and "unknown hardware profile 'm9-ultra'" in errors[-1].message
            assert app.is_running and pane.plan is before and pane.hosts_spec == DEFAULT_HOSTS
            await pilot.press("escape", "7")  # the box is left, the tab still answers
            assert app.main.query_one(TabbedContent).active == "cluster"

    async def test_L_cycles_the_link_and_the_speed_follows(self, make_app: Callable[..., TuilabApp]) -> None:
        app = make_app()
        async with app.run_test(size=(80, 24)) as pilot:
            pane = await cluster_tab(pilot)
            tb4 = current_plan(pane)
            await pilot.press("L")
            await settle(pilot)
            tb5 = current_plan(pane)
            assert (tb4.link.name, tb5.link.name) == ("tb4", next_link("tb4"))
            assert tb5.link_s_per_token < tb4.link_s_per_token  # a faster wire, less time on it
            assert f"link {tb5.link.name} (L)" in str(pane.query_one("#cluster-link").content)

    async def test_c_on_another_tab_opens_the_hosts(self, make_app: Callable[..., TuilabApp]) -> None:
        app = make_app()
        async with app.run_test(size=(80, 24)) as pilot:
            await cluster_tab(pilot)
            await pilot.press("3", "c")
            assert app.main.query_one(TabbedContent).active == "cluster"
            assert isinstance(app.focused, Input) and app.focused.id == "cluster-hosts"

    async def test_the_default_hosts_follow_a_mac_profile_until_the_user_names_some(
        self, make_app: Callable[..., TuilabApp]
    ) -> None:
        app = make_app()
        async with app.run_test(size=(80, 24)) as pilot:
            pane = await cluster_tab(pilot)
            app.choose_hardware("m4-max-40c-128gb")
            await settle(pilot)
            assert pane.hosts_spec == "2x m4-max-40c-128gb"
            assert current_plan(pane).mode is SplitMode.SINGLE  # 77 GB fits one 128 GB Mac: no split
            await pilot.press("c", *"3x m3-max-40c-48gb", "enter")
            app.choose_hardware("m2-ultra-76c-192gb")
            await settle(pilot)
            assert pane.hosts_spec == "3x m3-max-40c-48gb"

    async def test_a_llama_cpp_quant_is_planned_as_its_mlx_rung(
        self, make_app: Callable[..., TuilabApp]
    ) -> None:
        app = make_app()
        async with app.run_test(size=(80, 24)) as pilot:
            pane = await cluster_tab(pilot, quant="Q8_0")
            assert current_plan(pane).quant == "mlx-8bit"
            assert "Q8_0 planned as mlx-8bit" in shown(pane)

    async def test_the_palette_offers_tab_and_controls(self, make_app: Callable[..., TuilabApp]) -> None:
        app = make_app()
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            titles = {c.title for c in app_commands(app)}
            assert {"Show Cluster", "Cluster hosts", "Next cluster link"} <= titles
            assert {f"Cluster link: {name}" for name in LINKS} <= titles


class TestTheQuantAClusterRuns:
    @pytest.mark.parametrize(
        ("llama_quant", "mlx_quant"),
        [("Q8_0", "mlx-8bit"), ("Q6_K", "mlx-6bit"), ("Q4_K_M", "mlx-4bit"), ("IQ2_XS", "mlx-2bit"),
         ("F16", "mlx-bf16")],
        ids=["8-bit", "6-bit", "4-bit", "2-bit", "16-bit"],
    )  # fmt: skip
    def test_a_gguf_type_maps_to_the_mlx_rung_of_its_bits(self, llama_quant: str, mlx_quant: str) -> None:
        assert mlx_equivalent(llama_quant) == mlx_quant

    def test_an_mlx_quant_is_kept_without_a_note(self) -> None:
        model = cluster_model(MODEL, "mlx-6bit")
        assert (model.quant_name, model.note) == ("mlx-6bit", "")

    def test_a_profile_without_a_quant_plans_its_default_as_mlx(self) -> None:
        model = cluster_model(MODEL, None)
        assert model.quant_name == "mlx-4bit" and "Q4_K_M planned as mlx-4bit" in model.note


class TestDefaultsAndLinks:
    def test_a_mac_profile_gives_two_of_it(self) -> None:
        hw = load_hardware_profile("m3-max-40c-64gb")
        assert default_hosts(hw, "m3-max-40c-64gb") == "2x m3-max-40c-64gb"

    @pytest.mark.parametrize("profile", [None, "rtx-4090-24gb"], ids=["this-machine", "an-nvidia-profile"])
    def test_anything_else_gives_the_issue_example(self, profile: str | None) -> None:
        hw = load_hardware_profile("rtx-4090-24gb")
        assert default_hosts(hw, profile) == DEFAULT_HOSTS

    def test_L_visits_every_link_and_wraps(self) -> None:
        seen, name = [], "tb4"
        for _ in LINKS:
            seen.append(name)
            name = next_link(name)
        assert sorted(seen) == sorted(LINKS) and name == "tb4"


class TestTheDrawing:
    @pytest.mark.parametrize("width", [76, 156], ids=["80-columns", "160-columns"])
    def test_host_rows_are_never_cut(self, width: int) -> None:
        _, plan = plan_request(request("m3-max-40c-64gb,2x m4-pro-20c-48gb,m3-max-40c-48gb"))
        rows = [text_of(line, width).rstrip("\n") for line in host_lines(plan, width)[1:]]
        assert rows and all("…" not in row and len(row) <= width for row in rows)

    def test_an_unsplittable_plan_says_why_instead_of_bars(self) -> None:
        _, plan = plan_request(request("3x m3-max-40c-64gb"))  # 64 heads, 8 KV heads: not 3 ways
        model = cluster_model(MODEL, "mlx-8bit")
        text = text_of(render_cluster(model, plan, 78))
        assert "DOES NOT FIT" in text and "cannot be split" in text and "no host can take a share" in text

    def test_a_plan_that_fits_one_host_names_the_unused_ones(self) -> None:
        _, plan = plan_request(request("m3-max-40c-64gb,m2-ultra-76c-192gb"))
        text = text_of(render_cluster(cluster_model(MODEL, "mlx-8bit"), plan, 78))
        assert "unused: m3-max-40c-64gb" in text and "not used on one host" in text
