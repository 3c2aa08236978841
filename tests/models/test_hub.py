"""Spec for `tuilab fit ORG/NAME` on a repo that is not on this machine: planned from Hub metadata only.

Runs against the fake Hub of `hub_server.py` on 127.0.0.1 (HF_ENDPOINT points at it); its files are
real config.json texts and GGUF / safetensors headers written from real shapes (fixtures/hub/README.md).
"""

from __future__ import annotations

import json
import math
import os
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import hub_fixtures as fx
import pytest
from hub_server import FakeFile, FakeHub, FakeRepo

from tuilab.cli import main
from tuilab.core.errors import UsageError
from tuilab.core.quant import parse_quant, weight_tensors
from tuilab.models import hub_meta, hub_model
from tuilab.models.hf import read_hf_config
from tuilab.models.hub import DownloadError, pull
from tuilab.models.resolve import resolve_model

MOE, SMALL, GATED = fx.QWEN3_MOE_REPO, fx.QWEN3_SMALL_REPO, fx.GATED_REPO
HW = ("--hardware", "rtx-4090-24gb")


@pytest.fixture(scope="module")
def repos() -> dict[str, FakeRepo]:
    return {
        MOE: fx.qwen3_moe_repo(),
        SMALL: fx.qwen3_small_repo(),
        GATED: fx.gated_repo(),
        fx.QWEN3_MOE_HF_REPO: fx.qwen3_moe_hf_repo(),
    }


@pytest.fixture
def hf_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty HF cache and tuilab home, no token, online."""
    for key in list(os.environ):
        if key.startswith(("HF_", "HUGGINGFACE_")) or key == "TRANSFORMERS_OFFLINE":
            monkeypatch.delenv(key)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("TUILAB_HOME", str(tmp_path / "tuilab"))
    return tmp_path


@pytest.fixture
def hub(repos: dict[str, FakeRepo], hf_env: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHub]:
    with FakeHub(repos=dict(repos)) as fake:
        monkeypatch.setenv("HF_ENDPOINT", fake.endpoint)
        yield fake


def fit(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["fit", *args])
    out, err = capsys.readouterr()
    return code, out, err


def fit_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, object]:
    code, out, err = fit(capsys, *args, "--json")
    assert code == 0, err
    result: dict[str, object] = json.loads(out)
    return result


def expected_weights_bytes(quant: str) -> int:
    """What llama.cpp's rules store for Qwen3-30B-A3B at `quant`: the tensors the fixture header lists."""
    arch = read_hf_config(fx.FIXTURES / "Qwen3-30B-A3B.config.json").arch
    return sum(t.n_bytes for t in weight_tensors(parse_quant(quant), arch))


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class TestGGUFRepoQuantPicksTheFile:
    def test_the_issue_example_plans_from_the_q4_k_m_header(
        self, hub: FakeHub, capsys: pytest.CaptureFixture[str]
    ) -> None:
        plan = fit_json(capsys, MOE, "--quant", "Q4_K_M", *HW)
        assert plan["quant"] == "Q4_K_M"
        assert plan["weights_bytes"] == expected_weights_bytes("Q4_K_M")
        name = "Qwen3-30B-A3B-Q4_K_M.gguf"
        assert plan["hub"] == {
            "repo": MOE,
            "revision": "main",
            "commit": hub.repos[MOE].sha,
            "format": "gguf",
            "from_cache": False,
            "quant": "Q4_K_M",
            "files": [name],
            "size_bytes": hub.repos[MOE].files[name].size_bytes,
            "header_bytes_read": hub.bytes_served(name),
            "weights_from": "header",
        }
        basis = plan["basis"]
        assert isinstance(basis, dict)
        assert basis["hub file"].startswith(f"{name} (")

    def test_the_quant_matches_case_insensitively(
        self, hub: FakeHub, capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert fit_json(capsys, MOE, "--quant", "q8_0", *HW)["weights_bytes"] == expected_weights_bytes(
            "Q8_0"
        )

    def test_no_quant_means_q4_k_m(self, hub: FakeHub, capsys: pytest.CaptureFixture[str]) -> None:
        assert fit_json(capsys, MOE, *HW)["quant"] == "Q4_K_M"

    def test_only_the_header_is_read_never_the_weights(
        self, hub: FakeHub, capsys: pytest.CaptureFixture[str]
    ) -> None:
        fit_json(capsys, MOE, "--quant", "Q4_K_M", *HW)
        name = "Qwen3-30B-A3B-Q4_K_M.gguf"
        size = hub.repos[MOE].files[name].size_bytes
        gets = [s for s in hub.log if s.method == "GET" and s.path.endswith(name)]
        assert gets and all(s.range is not None and s.status == 206 for s in gets)
        assert hub.bytes_served(name) <= 8 << 20 < size // 1000

    def test_split_files_are_one_model_with_every_part_header_read(
        self, hub: FakeHub, capsys: pytest.CaptureFixture[str]
    ) -> None:
        plan = fit_json(capsys, MOE, "--quant", "bf16", "--hardware", "h200-141gb")
        assert plan["weights_bytes"] == expected_weights_bytes("BF16")  # tensors of both parts
        for part in ("00001-of-00002", "00002-of-00002"):
            assert hub.bytes_served(f"Qwen3-30B-A3B-BF16-{part}.gguf") > 0
        assert "2 parts" in str(plan["basis"])

    def test_a_quant_the_repo_lacks_lists_the_ones_it_has(
        self, hub: FakeHub, capsys: pytest.CaptureFixture[str]
    ) -> None:
        code, _, err = fit(capsys, MOE, "--quant", "IQ1_S")
        assert code == 2
        assert err.count("\n") == 1 and "Traceback" not in err
        assert "no IQ1_S file" in err
        for quant in ("BF16", "Q2_K", "Q4_K_M", "Q8_0", "UD-Q4_K_XL"):
            assert quant in err
        assert "MMPROJ" not in err.upper()

    @pytest.mark.parametrize("args", [("--engine", "mlx"), ("--quant", "mlx-4bit")], ids=["engine", "quant"])
    def test_mlx_on_a_gguf_repo_is_refused(
        self, hub: FakeHub, capsys: pytest.CaptureFixture[str], args: tuple[str, str]
    ) -> None:
        code, _, err = fit(capsys, MOE, *args)
        assert code == 2 and "run on llama.cpp" in err


class TestRangeReadsGrowUntilTheHeaderParses:
    def test_a_real_sized_header_is_read_in_growing_contiguous_ranges(
        self, hf_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        monkeypatch.setattr(hub_model, "_FIRST_RANGE_BYTES", 1 << 20)
        with FakeHub(repos={MOE: fx.full_vocab_repo()}) as fake:
            monkeypatch.setenv("HF_ENDPOINT", fake.endpoint)
            plan = fit_json(capsys, MOE, "--quant", "Q4_K_M", *HW)
        name = "Qwen3-30B-A3B-Q4_K_M.gguf"
        head = fake.repos[MOE].files[name].head
        ranges = [s.range for s in fake.log if s.method == "GET" and s.path.endswith(name)]
        assert len(ranges) >= 3  # 1 MiB, 2 MiB, 4 MiB, 8 MiB: the ~6.4 MB header needs several
        starts = [int(str(r).split("=")[1].split("-")[0]) for r in ranges]
        assert starts[0] == 0 and starts == sorted(starts)
        assert len(head) < fake.bytes_served(name) <= 2 * (len(head) + (1 << 20))
        assert plan["weights_bytes"] == expected_weights_bytes("Q4_K_M")


class TestLadderListsTheRepoFiles:
    def test_every_gguf_file_with_its_exact_size_and_plan(
        self, hub: FakeHub, capsys: pytest.CaptureFixture[str]
    ) -> None:
        out = fit_json(capsys, MOE, "--ladder", *HW)
        files = {row["quant"]: row for row in out["files"]}  # type: ignore[union-attr]
        repo = hub.repos[MOE].files
        assert set(files) == {"BF16", "Q2_K", "Q4_K_M", "Q8_0", "UD-Q4_K_XL"}
        for row in files.values():
            assert row["size_bytes"] == sum(repo[name].size_bytes for name in row["files"])
        assert files["Q4_K_M"]["planned_from"] == "header"
        assert files["Q8_0"]["planned_from"] == "quant rules"
        assert files["Q8_0"]["plan"]["weights_bytes"] == expected_weights_bytes("Q8_0")
        assert files["UD-Q4_K_XL"]["planned_from"] == "file size"  # an uploader's recipe
        assert len(files["BF16"]["files"]) == 2

    def test_the_table_names_each_file(self, hub: FakeHub, capsys: pytest.CaptureFixture[str]) -> None:
        code, out, err = fit(capsys, MOE, "--ladder", *HW)
        assert code == 0, err
        assert "Qwen3-30B-A3B-Q2_K.gguf" in out and "(+1 parts)" in out
        assert "* Q4_K_M" in out
        assert "tok/s  prompt  TTFT s" in out  # each planned file's prompt rate and first-token time


def header_and_padding_bytes(hub: FakeHub, quant: str) -> int:
    """What of the read file (Q4_K_M, the default) is not weights: its size less its tensors' bytes."""
    return hub.repos[MOE].files[f"Qwen3-30B-A3B-{quant}.gguf"].size_bytes - expected_weights_bytes(quant)


def recipe_weights_bytes() -> int:
    """The bytes the recipe file's own header lists (the fixture's tensors)."""
    arch = read_hf_config(fx.FIXTURES / "Qwen3-30B-A3B.config.json").arch
    return sum(t.n_bytes for t in fx.recipe_tensors(arch))


class TestARecipeFileIsPlannedFromItsSize:
    """unsloth's UD-Q4_K_XL is no llama.cpp file type and its header is not read by `--ladder`: it is
    planned with the read file's architecture, its weights its exact size less the header bytes."""

    @pytest.fixture
    def rows(self, hub: FakeHub, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
        out = fit_json(capsys, MOE, "--ladder", *HW)
        return {row["quant"]: row for row in out["files"]}  # type: ignore[union-attr]

    def test_its_weights_are_its_size_less_the_read_files_header(
        self, hub: FakeHub, rows: dict[str, Any]
    ) -> None:
        size = hub.repos[MOE].files["Qwen3-30B-A3B-UD-Q4_K_XL.gguf"].size_bytes
        plan = rows["UD-Q4_K_XL"]["plan"]
        assert plan["weights_bytes"] == size - header_and_padding_bytes(hub, "Q4_K_M")
        assert (
            plan["memory"]["weights_device_bytes"] + plan["memory"]["weights_host_bytes"]
            == (plan["weights_bytes"])
        )
        assert plan["weights_bytes"] == pytest.approx(
            recipe_weights_bytes(), rel=1e-4
        )  # what its header says
        assert "weights" in plan["basis"] and "file size" in plan["basis"]["weights"]

    def test_it_has_a_verdict_max_ctx_and_speed_like_the_other_rows(self, rows: dict[str, Any]) -> None:
        plan, known = rows["UD-Q4_K_XL"]["plan"], rows["Q4_K_M"]["plan"]
        assert plan["quant"] == "UD-Q4_K_XL"
        assert plan["verdict"] in ("fits", "tight", "partial", "no")
        assert plan["max_ctx"] > 0 and plan["predicted_tg_tps"] > 0
        assert plan["kv_cache_bytes"] == known["kv_cache_bytes"]  # one architecture, one KV cache

    def test_its_speed_lies_between_the_known_quants_beside_it_by_size(self, rows: dict[str, Any]) -> None:
        by_size = sorted(rows.values(), key=lambda r: r["size_bytes"])
        i = [r["quant"] for r in by_size].index("UD-Q4_K_XL")
        smaller, recipe, larger = by_size[i - 1], by_size[i], by_size[i + 1]
        assert (smaller["quant"], larger["quant"]) == ("Q4_K_M", "Q8_0")
        tps = [r["plan"]["predicted_tg_tps"] for r in (smaller, recipe, larger)]
        assert tps[0] > tps[1] > tps[2]

    def test_the_table_marks_it_planned_from_its_size(
        self, hub: FakeHub, capsys: pytest.CaptureFixture[str]
    ) -> None:
        code, out, err = fit(capsys, MOE, "--ladder", *HW)
        assert code == 0, err
        row = next(line for line in out.splitlines() if "UD-Q4_K_XL.gguf" in line)
        assert row.startswith("~ UD-Q4_K_XL") and "unknown quant" not in row
        assert "~ from its file size" in out


RECIPE = ("--quant", "UD-Q4_K_XL")
RECIPE_FILE = "Qwen3-30B-A3B-UD-Q4_K_XL.gguf"


class TestARecipeFileAskedForByName:
    """`--quant UD-Q4_K_XL` plans exactly from its own header; from its size only when that header cannot
    be read (broken, the Hub gone, or out of time), with a sibling file's header."""

    def test_its_own_header_gives_the_exact_weights(
        self, hub: FakeHub, capsys: pytest.CaptureFixture[str]
    ) -> None:
        plan = fit_json(capsys, MOE, *RECIPE, *HW)
        assert plan["weights_bytes"] == recipe_weights_bytes()
        assert plan["hub"]["weights_from"] == "header"  # type: ignore[index]
        assert hub.bytes_served(RECIPE_FILE) > 0

    def test_a_header_that_does_not_parse_is_planned_from_its_size(
        self, repos: dict[str, FakeRepo], hf_env: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:  # fmt: skip
        broken = dict(repos[MOE].files)
        size = broken[RECIPE_FILE].size_bytes
        broken[RECIPE_FILE] = FakeFile(b"GGUF\x03\x00\x00\x00" + b"\xff" * 64, size)
        with FakeHub(repos={MOE: FakeRepo(broken, sha=repos[MOE].sha)}) as fake:
            monkeypatch.setenv("HF_ENDPOINT", fake.endpoint)
            plan = fit_json(capsys, MOE, *RECIPE, *HW)
            q4 = fake.repos[MOE].files["Qwen3-30B-A3B-Q4_K_M.gguf"].size_bytes - expected_weights_bytes(
                "Q4_K_M"
            )
        assert plan["weights_bytes"] == size - q4
        assert plan["quant"] == "UD-Q4_K_XL"
        hub_facts: Any = plan["hub"]
        assert hub_facts["weights_from"] == "file size"
        assert hub_facts["header_file"] == "Qwen3-30B-A3B-Q4_K_M.gguf"  # the nearest by size
        assert "from the file size (its own header unread:" in plan["basis"]["hub weights"]  # type: ignore[index]

    def test_with_the_hub_gone_a_cached_sibling_header_plans_it(
        self, repos: dict[str, FakeRepo], hf_env: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:  # fmt: skip
        with FakeHub(repos=dict(repos)) as fake:
            monkeypatch.setenv("HF_ENDPOINT", fake.endpoint)
            fit_json(capsys, MOE, "--quant", "Q4_K_M", *HW)  # caches the listing and the Q4_K_M header
        plan = fit_json(capsys, MOE, *RECIPE, *HW)
        assert plan["hub"]["weights_from"] == "file size"  # type: ignore[index]
        assert plan["weights_bytes"] == pytest.approx(recipe_weights_bytes(), rel=1e-4)

    def test_out_of_time_for_its_own_header_a_cached_sibling_plans_it(
        self, hub: FakeHub, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        fit_json(capsys, MOE, "--quant", "Q4_K_M", *HW)
        monkeypatch.setattr(hub_model, "_SIBLING_RESERVE_S", 1e6)  # no time left for its own header
        plan = fit_json(capsys, MOE, *RECIPE, *HW)
        assert plan["hub"]["weights_from"] == "file size"  # type: ignore[index]
        assert "did not answer" in plan["basis"]["hub weights"]  # type: ignore[index]

    def test_no_header_to_plan_from_keeps_the_error(
        self, hub: FakeHub, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        monkeypatch.setattr(hub_model, "_SIBLING_RESERVE_S", 1e6)  # out of time, and nothing cached
        code, _, err = fit(capsys, MOE, *RECIPE, *HW)
        assert code == 1 and err.count("\n") == 1 and "did not answer" in err


class TestSafetensorsRepo:
    def test_parameters_and_dtypes_come_from_the_safetensors_headers(
        self, hub: FakeHub, capsys: pytest.CaptureFixture[str]
    ) -> None:
        plan = fit_json(capsys, SMALL, *HW)
        n_params = sum(math.prod(s) for s in fx.qwen3_small_tensors().values())
        basis = str(plan["basis"])
        assert f"{n_params:,} in 1 safetensors file(s): BF16 {n_params:,}" in basis
        assert plan["quant"] == "mlx-bf16"  # planned as stored, like a local model folder

    def test_every_shard_header_is_read_for_a_sharded_moe(
        self, hub: FakeHub, capsys: pytest.CaptureFixture[str]
    ) -> None:
        plan = fit_json(capsys, fx.QWEN3_MOE_HF_REPO, "--quant", "Q4_K_M", *HW)
        n_params = sum(math.prod(s) for s in fx.qwen3_moe_hf_tensors().values())
        assert f"{n_params:,} in 16 safetensors file(s)" in str(plan["basis"])
        shards = {s.path for s in hub.log if s.range and s.path.endswith(".safetensors")}
        assert len(shards) == 16
        assert plan["weights_bytes"] == expected_weights_bytes("Q4_K_M")  # planned from the config

    def test_only_config_json_lands_in_the_hub_cache(
        self, hub: FakeHub, hf_env: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """An index without its shards there would read as a broken download on the next call."""
        fit_json(capsys, fx.QWEN3_MOE_HF_REPO, *HW)
        snapshot = (
            hf_env
            / "hf"
            / "hub"
            / "models--Qwen--Qwen3-30B-A3B"
            / "snapshots"
            / hub.repos[fx.QWEN3_MOE_HF_REPO].sha
        )
        assert sorted(p.name for p in snapshot.iterdir()) == ["config.json"]
        assert fit_json(capsys, fx.QWEN3_MOE_HF_REPO, *HW)["model"] == fx.QWEN3_MOE_HF_REPO

    def test_a_config_alone_in_the_hub_cache_is_not_listed_as_a_model(
        self, hub: FakeHub, capsys: pytest.CaptureFixture[str]
    ) -> None:
        from tuilab.models.discovery import discover

        fit_json(capsys, SMALL, *HW)
        assert [m for m in discover([]) if "Qwen3-0.6B" in m.name] == []

    def test_a_what_if_quant_plans_the_config(self, hub: FakeHub, capsys: pytest.CaptureFixture[str]) -> None:
        plan = fit_json(capsys, SMALL, "--quant", "Q4_K_M", *HW)
        assert (plan["quant"], plan["engine"]) == ("Q4_K_M", "llama.cpp")

    def test_a_config_read_wrongly_is_said_beside_the_verdict(
        self, repos: dict[str, FakeRepo], hf_env: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:  # fmt: skip
        """Audit of issue 13: an unknown family whose config names its experts under other keys read as a
        3 B dense model while its headers held 30.5 B, and the plan said FITS without a word."""
        config = json.loads((fx.FIXTURES / "Qwen3-30B-A3B.config.json").read_text())
        config["model_type"], config["zorb_experts"] = "zorblax", config.pop("num_experts")
        files = {**repos[fx.QWEN3_MOE_HF_REPO].files, "config.json": FakeFile(json.dumps(config).encode())}
        with FakeHub(repos={"org/zorblax": FakeRepo(files)}) as fake:
            monkeypatch.setenv("HF_ENDPOINT", fake.endpoint)
            plan = fit_json(capsys, "org/zorblax", *HW)
        assert str(plan["advice"][0]).startswith("the weights may be off: config.json reads as ")  # type: ignore[index]
        assert "the safetensors headers hold 30.53 B" in str(plan["basis"])

    def test_a_config_read_rightly_has_no_warning(
        self, hub: FakeHub, capsys: pytest.CaptureFixture[str]
    ) -> None:
        plan = fit_json(capsys, fx.QWEN3_MOE_HF_REPO, *HW)
        assert "hub check" not in plan["basis"]  # type: ignore[operator]

    def test_llama_cpp_plans_it_as_stored(self, hub: FakeHub, capsys: pytest.CaptureFixture[str]) -> None:
        """Was refused: "mlx-bf16 is a mlx format; the llama.cpp engine cannot load it"."""
        plan = fit_json(capsys, SMALL, "--engine", "llama.cpp", *HW)
        assert (plan["quant"], plan["engine"], plan["verdict"]) == ("BF16", "llama.cpp", "fits")

    def test_config_json_goes_through_the_hub_cache(
        self, hub: FakeHub, hf_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        monkeypatch.setenv("HF_HUB_CACHE", str(hf_env / "elsewhere"))
        fit_json(capsys, SMALL, *HW)
        sha = hub.repos[SMALL].sha
        config = hf_env / "elsewhere" / "models--Qwen--Qwen3-0.6B" / "snapshots" / sha / "config.json"
        assert json.loads(config.read_text())["model_type"] == "qwen3"


class TestTheSecondAnswerIsLocal:
    @pytest.mark.parametrize("repo", [MOE, SMALL], ids=["gguf", "safetensors"])
    def test_with_the_hub_gone(
        self, repos: dict[str, FakeRepo], hf_env: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str], repo: str,
    ) -> None:  # fmt: skip
        with FakeHub(repos=dict(repos)) as fake:
            monkeypatch.setenv("HF_ENDPOINT", fake.endpoint)
            first = fit_json(capsys, repo, *HW)
        second = fit_json(capsys, repo, *HW)
        assert second["weights_bytes"] == first["weights_bytes"]
        assert "cached metadata" in str(second["basis"])

    def test_with_hf_hub_offline(
        self, hub: FakeHub, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        first = fit_json(capsys, MOE, "--quant", "Q8_0", *HW)
        n_requests = len(hub.log)
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
        assert fit_json(capsys, MOE, "--quant", "Q8_0", *HW)["weights_bytes"] == first["weights_bytes"]
        assert len(hub.log) == n_requests  # not one request

    def test_the_hub_gone_and_config_not_cached_names_the_hub_not_hf_hub_offline(
        self, repos: dict[str, FakeRepo], hf_env: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:  # fmt: skip
        """Audit of issue 13: the file list cached, HF_HOME moved since, the Hub unreachable: the error
        blamed HF_HUB_OFFLINE, which the user never set."""
        with FakeHub(repos=dict(repos)) as fake:
            monkeypatch.setenv("HF_ENDPOINT", fake.endpoint)
            fit_json(capsys, SMALL, *HW)
        monkeypatch.setenv("HF_HOME", str(hf_env / "another-hf-home"))
        monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{closed_port()}")
        code, _, err = fit(capsys, SMALL)
        assert code == 1 and err.count("\n") == 1
        assert "the Hub is out of reach" in err and "HF_HUB_OFFLINE" not in err

    def test_offline_and_never_read_is_one_line_exit_1(
        self, hf_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
        code, _, err = fit(capsys, MOE)
        assert code == 1
        assert err.strip() == (
            f"tuilab: error: cannot read {MOE}: offline (HF_HUB_OFFLINE) and its metadata was never read"
        )


class TestErrorsAreOneLine:
    @pytest.mark.parametrize(
        ("repo", "code", "words"),
        [("nobody/nothing", 2, "no such repo"), (GATED, 2, "is gated")],
        ids=["unknown-repo", "gated-without-token"],
    )
    def test_repo_answers(
        self, hub: FakeHub, capsys: pytest.CaptureFixture[str], repo: str, code: int, words: str
    ) -> None:
        got, _, err = fit(capsys, repo)
        assert got == code
        assert words in err and err.count("\n") == 1 and "Traceback" not in err

    def test_a_gated_repo_opens_with_hf_token(
        self, hub: FakeHub, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        monkeypatch.setenv("HF_TOKEN", hub.token)
        assert fit_json(capsys, GATED, *HW)["model"] == GATED

    def test_a_failing_hub_is_exit_1_at_once(self, hub: FakeHub, capsys: pytest.CaptureFixture[str]) -> None:
        hub.fail_status = 503
        started = time.monotonic()
        code, _, err = fit(capsys, MOE)
        assert time.monotonic() - started < 5
        assert code == 1 and "HTTP 503" in err and err.count("\n") == 1

    def test_an_unreachable_hub_is_exit_1_at_once(
        self, hf_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{closed_port()}")
        started = time.monotonic()
        code, _, err = fit(capsys, MOE)
        assert time.monotonic() - started < 5
        assert code == 1 and "unreachable" in err and err.count("\n") == 1

    def test_a_stalled_hub_is_cut_off_at_the_deadline(
        self, hub: FakeHub, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        monkeypatch.setattr(hub_meta, "REQUEST_TIMEOUT_S", 5.0)
        monkeypatch.setattr(hub_meta, "DEADLINE_S", 1.0)
        hub.hang_s = 3.0
        started = time.monotonic()
        code, _, err = fit(capsys, MOE)
        assert time.monotonic() - started < 2.5
        assert code == 1 and "did not answer within 1 s" in err

    def test_the_deadline_counts_from_the_command_start(
        self, hub: FakeHub, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Audit of issue 13: with config.json stalled, `tuilab fit Qwen/Qwen3-0.6B` answered after 10.2 s:
        the 8.5 s read began after the interpreter start and the huggingface_hub import. A command whose
        clock says it started 9 s ago has half a second left for the Hub, not 8.5 s."""
        import tuilab.cli as cli

        real = time.monotonic
        monkeypatch.setattr(cli, "time", SimpleNamespace(monotonic=lambda: real() - 9.0), raising=False)
        monkeypatch.setattr(hub_meta, "REQUEST_TIMEOUT_S", 5.0)
        hub.hang_s = 3.0
        started = real()
        code, _, err = fit(capsys, MOE)
        assert real() - started < 2.5
        assert code == 1 and "the Hub did not answer within" in err


class TestTheReadDeadline:
    @pytest.mark.parametrize(
        ("spent_s", "left_s"), [(None, 8.5), (0.0, 8.5), (3.0, 6.5), (9.0, 0.5), (20.0, 0.0)],
        ids=["the-lab", "at-once", "after-3-s", "after-9-s", "past-the-ceiling"],
    )  # fmt: skip
    def test_a_command_keeps_to_10_s_with_half_a_second_outside_main(
        self, spent_s: float | None, left_s: float
    ) -> None:
        now = 1000.0
        started = None if spent_s is None else now - spent_s
        assert hub_meta.read_deadline_s(started, now) == pytest.approx(left_s)


class TestPullFailsFast:
    """Issue 12 item 17: offline, `tuilab pull REPO` took 24 s of retries before its clear message.
    The clock starts after huggingface_hub is imported: its import (~1-2 s here) is not the retry loop."""

    @pytest.fixture(autouse=True)
    def _imported(self) -> None:
        import huggingface_hub.hf_api  # noqa: F401

    @pytest.mark.parametrize("file", [None, "Qwen3-0.6B-Q8_0.gguf", "*Q8_0*"], ids=["repo", "file", "glob"])
    def test_an_unreachable_hub_fails_within_two_seconds(
        self, hf_env: Path, monkeypatch: pytest.MonkeyPatch, file: str | None
    ) -> None:
        monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{closed_port()}")
        started = time.monotonic()
        with pytest.raises(DownloadError, match=r"^cannot download Qwen/Qwen3-0.6B-GGUF.*: offline"):
            pull("Qwen/Qwen3-0.6B-GGUF", file)
        assert time.monotonic() - started < 2

    def test_a_failing_hub_fails_within_two_seconds(self, hub: FakeHub) -> None:
        hub.fail_status = 503
        started = time.monotonic()
        with pytest.raises(DownloadError, match="HTTP 503"):
            pull(MOE)
        assert time.monotonic() - started < 2


class TestQuantLabels:
    @pytest.mark.parametrize(
        ("filename", "label"),
        [
            ("Qwen3-30B-A3B-Q4_K_M.gguf", "Q4_K_M"),
            ("Qwen3-30B-A3B-UD-Q4_K_XL.gguf", "UD-Q4_K_XL"),
            ("BF16/Qwen3-30B-A3B-BF16-00001-of-00002.gguf", "BF16"),
            ("qwen2.5-7b-instruct-q4_k_m-00001-of-00002.gguf", "Q4_K_M"),
            ("gpt-oss-20b-MXFP4.gguf", "MXFP4"),
            ("Llama-3.2-1B-Instruct-IQ2_XXS.gguf", "IQ2_XXS"),
            ("ggml-model-f16.gguf", "F16"),
            ("model.gguf", None),
        ],
        ids=[
            "plain",
            "unsloth-dynamic",
            "split-in-folder",
            "lowercase-split",
            "mxfp4",
            "iquant",
            "f16",
            "none",
        ],
    )
    def test_the_quant_is_read_from_the_file_name(self, filename: str, label: str | None) -> None:
        assert hub_model.quant_label(filename) == label


class TestNoQuantOnAManyFileRepo:
    def test_without_q4_k_m_the_user_picks_one(
        self, repos: dict[str, FakeRepo], hf_env: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:  # fmt: skip
        files = {k: v for k, v in repos[MOE].files.items() if "Q4_K" not in k}
        with FakeHub(repos={MOE: FakeRepo(files)}) as fake:
            monkeypatch.setenv("HF_ENDPOINT", fake.endpoint)
            code, _, err = fit(capsys, MOE)
        assert code == 2
        assert "holds 3 GGUF models; pick one with --quant: " in err


class TestAPulledFile:
    """After `tuilab pull ORG/NAME FILE`, the header is read from the file on disk, and offline too."""

    def test_is_read_locally_even_offline(
        self, make_gguf: Callable[..., Path], hf_env: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:  # fmt: skip
        data = make_gguf().read_bytes()
        repo = FakeRepo({"tiny-Q4_K_M.gguf": FakeFile(data), "tiny-Q8_0.gguf": FakeFile(data)})
        with FakeHub(repos={"org/tiny-GGUF": repo}) as fake:
            monkeypatch.setenv("HF_ENDPOINT", fake.endpoint)
            pulled = pull("org/tiny-GGUF", "tiny-Q4_K_M.gguf")
            assert pulled.path.read_bytes() == data
            online = fit_json(capsys, "org/tiny-GGUF", "--quant", "Q4_K_M", *HW)
            assert not [s for s in fake.log if s.range]  # no range read: the file is here
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
        offline = fit_json(capsys, "org/tiny-GGUF", "--quant", "Q4_K_M", *HW)
        assert offline["weights_bytes"] == online["weights_bytes"]
        assert "tuilab pull" in str(offline["basis"])
        assert resolve_model("org/tiny-GGUF").path == pulled.path  # what `tuilab run` loads
        assert pull("org/tiny-GGUF", "tiny-Q4_K_M.gguf").path == pulled.path  # pull offline: the cache


class TestOnlyFitAsksTheHub:
    def test_run_and_bench_resolve_refuses_a_repo_not_downloaded_without_a_request(
        self, hub: FakeHub
    ) -> None:
        with pytest.raises(UsageError, match=f"fetch it with `tuilab pull {MOE}`"):
            resolve_model(MOE, "Q4_K_M")
        assert hub.log == []


class TestTheCommandLine:
    @pytest.mark.parametrize(
        ("args", "says"),
        [((MOE, "--quant", "Q4_K_M"), "Qwen3-30B-A3B  Q4_K_M  llama.cpp"),
         ((fx.QWEN3_MOE_HF_REPO, "--quant", "Q4_K_M"), "16 safetensors file(s)")],
        ids=["gguf", "sharded-safetensors"],
    )  # fmt: skip
    def test_end_to_end_in_a_real_process(
        self, hub: FakeHub, hf_env: Path, args: tuple[str, ...], says: str
    ) -> None:
        """huggingface_hub reads HF_ENDPOINT and the cache folders once, at import: a real process sees
        them as a user's would, and a second run must agree with the first."""
        import subprocess
        import sys

        cmd = [sys.executable, "-m", "tuilab", "fit", *args, *HW]
        for _ in range(2):
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=dict(os.environ))
            assert proc.returncode == 0, proc.stderr
            assert says in proc.stdout
            assert proc.stderr == ""  # no progress bars, no warnings
