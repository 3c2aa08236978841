"""The built-in catalog: what it holds, how a broken catalog is refused, and its architectures checked
against published parameter counts.

Everything here reads the real data file (tuilab/data/catalog/models.json); the broken catalogs are small
files written per test.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, ClassVar

import pytest

from tuilab.core.errors import ProfileError, UsageError
from tuilab.models.catalog import (
    CatalogEntry,
    catalog,
    find_catalog_entry,
    load_catalog,
    plannable,
    unplannable_reason,
)
from tuilab.models.resolve import resolve_model

ENTRIES = catalog()
# "A few %": the parser derives tensors from config values, the Hub counts stored tensors.
PARAMS_TOLERANCE = 0.03
# Entries whose published count (llmfit's copy of the Hub total) does not measure the config's model.
PUBLISHED_COUNT_GAPS = {
    "qwen3-0.6b": "the Hub total counts a stored lm_head copy (0.60B + 0.16B) that the tied config shares",
    "qwen3-1.7b": "the Hub total counts a stored lm_head copy (1.72B + 0.31B) that the tied config shares",
    "qwen3-0.6b-base": "the published count read (0.45B) is below even the non-embedding parameters",
    "phi-4": "the published count read is the model card's rounded 14.0B",
    "phi-4-reasoning": "the published count read is the model card's rounded 14.0B",
    "mistral-7b-instruct-v0.1": "the published count read (6.04B) is below Mistral 7B's 7.24B",
    "smollm2-360m-instruct": "the published count read (0.32B) is below the 0.36B of its own config",
    "nemotron-h-56b-base-8k": "the published count read (96.10B) is 1.7x the 56B NVIDIA names it and "
    "its config gives (56.32B parsed, layer counts checked in test_today_architectures)",
    "granite-3.0-1b-a400m-base": "the Hub total (1.385B) exceeds the tied config's 1.335B by exactly one "
    "49152 x 1024 embedding, a stored lm_head copy; tied Granite MoE matches llama.cpp "
    "(test_today_architectures)",
    "glm-4.7-flash": "the Hub total counts the MTP layer with its own embedding and head (1.3B) that "
    "llama.cpp and mlx-lm drop; the planned 29.94B matches llama.cpp's BF16 file (test_today_architectures)",
    "smollm2-1.7b-instruct": "the published count read (1.31B) is below the 1.71B of its own config; "
    "SmolLM2-1.7B, the same shape, publishes 1,711,376,384, which this config parses to exactly",
}


def _raw() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(Path("tuilab/data/catalog/models.json").read_text(encoding="utf-8"))
    return doc


class TestWhatTheCatalogHolds:
    def test_at_least_150_models_with_unique_lower_case_names(self) -> None:
        names = [e.name for e in ENTRIES]
        assert len(names) >= 150
        assert len(set(names)) == len(names)
        assert all(n == n.lower() for n in names)

    def test_every_entry_cites_its_config_json_and_where_it_was_read(self) -> None:
        sources = _raw()["sources"]
        for e in ENTRIES:
            assert e.config_url == f"https://huggingface.co/{e.repo}/blob/main/config.json"
            assert re.split("[@:]", e.config_read)[0] in sources, e.name
            if e.params is not None:
                assert e.params_read is not None and re.split("[@:]", e.params_read)[0] in sources, e.name

    @pytest.mark.parametrize(
        "model_type",
        ["llama", "llama4", "qwen2", "qwen3", "qwen3_moe", "qwen3_5_moe", "qwen3_next", "gemma2",
         "gemma3_text", "mistral", "mixtral", "phi3", "deepseek_v3", "gpt_oss", "glm4_moe", "kimi_k2",
         "olmo2", "minimax_m2", "nemotron_h", "lfm2", "gemma", "glm4_moe_lite", "glm_moe_dsa", "granite",
         "granitemoe", "lfm2_moe"],
    )  # fmt: skip
    def test_the_families_people_run_are_there(self, model_type: str) -> None:
        types = {e.config.get("model_type") for e in ENTRIES}
        types |= {e.config["text_config"].get("model_type") for e in ENTRIES if "text_config" in e.config}
        assert model_type in types

    @pytest.mark.parametrize(
        "name",
        ["deepseek-r1-distill-qwen-1.5b", "deepseek-r1-distill-qwen-7b", "deepseek-r1-distill-qwen-14b",
         "deepseek-r1-distill-qwen-32b", "phi-3-medium-4k-instruct", "ministral-8b-instruct-2410",
         "mistral-small-24b-instruct-2501", "smollm2-1.7b-instruct", "gemma-3-270m"],
    )  # fmt: skip
    def test_the_models_users_ask_about_are_planned(self, name: str) -> None:
        entry = find_catalog_entry(name) or _missing(name)
        assert unplannable_reason(entry) is None
        assert entry.note is not None and "left out" in entry.note  # each names what its page copy dropped

    def test_each_size_is_its_own_entry_with_its_own_shape(self) -> None:
        sizes = ["qwen2.5-0.5b-instruct", "qwen2.5-1.5b-instruct", "qwen2.5-3b-instruct",
                 "qwen2.5-7b-instruct", "qwen2.5-14b-instruct", "qwen2.5-32b-instruct",
                 "qwen2.5-72b-instruct"]  # fmt: skip
        shapes = {(find_catalog_entry(n) or _missing(n)).arch().hidden_size for n in sizes}
        assert len(shapes) == len(sizes) - 1  # 14B and 32B share hidden_size 5120 but not their depth


def _missing(name: str) -> CatalogEntry:
    raise AssertionError(f"{name} is not in the catalog")


class TestNamesResolve:
    def test_a_catalog_name_resolves_case_insensitively(self) -> None:
        model = resolve_model("Qwen2.5-7B-Instruct")
        assert (model.name, model.format, model.quant_name, model.path) == (
            "qwen2.5-7b-instruct", "catalog", "Q4_K_M", None
        )  # fmt: skip
        assert model.arch.n_layers == 28 and model.arch.n_kv_heads == 4

    def test_a_profile_of_the_same_name_wins(self) -> None:
        assert find_catalog_entry("qwen2.5-7b") is not None
        assert resolve_model("qwen2.5-7b").format == "profile"

    def test_a_model_type_the_parser_does_not_know_is_refused_in_one_line(self) -> None:
        with pytest.raises(UsageError, match="model_type 'step3p7' is not planned yet"):
            resolve_model("step-3.7-flash")

    def test_the_arch_cites_the_config_url(self) -> None:
        arch = resolve_model("llama-3.3-70b-instruct").arch
        assert arch.sources["config"].startswith(
            "https://huggingface.co/meta-llama/Llama-3.3-70B-Instruct/blob/main/config.json (read from"
        )


class TestBrokenCatalogs:
    GOOD: ClassVar[dict[str, Any]] = {
        "name": "m", "repo": "org/m", "params": 1000, "params_read": "llmfit@x", "config_read": "litgpt@y",
        "config": {"model_type": "llama", "num_hidden_layers": 2, "hidden_size": 64},
    }  # fmt: skip

    def write(self, tmp_path: Path, models: object, **top: object) -> Path:
        path = tmp_path / "models.json"
        path.write_text(json.dumps({"version": 1, "sources": {}, "models": models, **top}), encoding="utf-8")
        return path

    @pytest.mark.parametrize(
        ("change", "message"),
        [
            ({"extra": 1}, "model 'm': unknown key(s) extra"),
            ({"repo": None}, "model 'm': 'repo' has the wrong type (NoneType)"),
            ({"params": "7B"}, "model 'm': 'params' has the wrong type (str)"),
            ({"params": True}, "model 'm': 'params' has the wrong type (bool)"),
            ({"name": "M"}, "model 'M': 'name' must be lower case"),
            ({"repo": "no-slash"}, "model 'm': 'repo' must be org/name"),
            ({"params_scope": "all"}, "model 'm': 'params_scope' must be one of"),
            ({"config": {"model_type": "llama"}}, "model 'm': config lacks num_hidden_layers, hidden_size"),
        ],
        ids=["unknown-key", "null-repo", "string-count", "bool-count", "upper-name", "bad-repo", "bad-scope",
             "thin-config"],
    )  # fmt: skip
    def test_a_bad_entry_is_one_error_naming_it(
        self, tmp_path: Path, change: dict[str, Any], message: str
    ) -> None:
        with pytest.raises(ProfileError, match=message.replace("(", r"\(").replace(")", r"\)")):
            load_catalog(self.write(tmp_path, [{**self.GOOD, **change}]))

    def test_a_missing_field_is_named(self, tmp_path: Path) -> None:
        entry = {k: v for k, v in self.GOOD.items() if k != "config_read"}
        with pytest.raises(ProfileError, match="model 'm': missing 'config_read'"):
            load_catalog(self.write(tmp_path, [entry]))

    def test_a_name_used_twice_is_refused(self, tmp_path: Path) -> None:
        with pytest.raises(ProfileError, match="'m': the name is used twice"):
            load_catalog(self.write(tmp_path, [self.GOOD, {**self.GOOD, "repo": "other/m"}]))

    def test_not_json_and_wrong_shapes_are_one_line(self, tmp_path: Path) -> None:
        path = tmp_path / "models.json"
        path.write_text("{not json", encoding="utf-8")
        with pytest.raises(ProfileError, match="cannot read the catalog"):
            load_catalog(path)
        with pytest.raises(ProfileError, match="expected an object"):
            load_catalog(self.write(tmp_path, {"m": self.GOOD}))
        with pytest.raises(ProfileError, match="model #1: expected an object"):
            load_catalog(self.write(tmp_path, ["m"]))


def _count_cases() -> list[Any]:
    """Text-only entries the parser plans; a published count known to be wrong is a strict xfail, so the
    day it matches (a corrected count, a parser change) the test says so."""
    cases = []
    for e in ENTRIES:
        if e.params is None or e.params_scope != "text" or unplannable_reason(e) is not None:
            continue
        gap = PUBLISHED_COUNT_GAPS.get(e.name)
        marks = [pytest.mark.xfail(reason=gap, strict=True)] if gap else []
        cases.append(pytest.param(e, id=e.name, marks=marks))
    return cases


def _with_vision_cases() -> list[Any]:
    return [
        pytest.param(e, id=e.name)
        for e in ENTRIES
        if e.params is not None and e.params_scope == "with_vision" and unplannable_reason(e) is None
    ]


# A vision tower is a small part of a vision-language model: the Gemma 3 report (arXiv:2503.19786,
# table 1) gives 417M of vision encoder beside 3.2B to 27B of language model. Half the published total is
# a floor no tower in the catalog comes near; it catches a text model parsed at a fraction of its size.
TEXT_SHARE_FLOOR = 0.5


class TestParameterCounts:
    @pytest.mark.parametrize("entry", _count_cases())
    def test_the_parsed_architecture_matches_the_published_count(self, entry: CatalogEntry) -> None:
        assert entry.params is not None
        assert entry.arch().n_params == pytest.approx(entry.params, rel=PARAMS_TOLERANCE)

    @pytest.mark.parametrize("entry", _with_vision_cases())
    def test_a_vision_models_text_part_is_most_of_its_published_count(self, entry: CatalogEntry) -> None:
        assert entry.params is not None
        parsed = entry.arch().n_params
        assert TEXT_SHARE_FLOOR * entry.params <= parsed <= entry.params * (1 + PARAMS_TOLERANCE)

    def test_most_entries_are_checked_and_pass(self) -> None:
        checked = [
            e for e in ENTRIES
            if e.params is not None and unplannable_reason(e) is None and e.params_scope == "text"
            and e.name not in PUBLISHED_COUNT_GAPS
        ]  # fmt: skip
        passing = [e for e in checked if abs(e.arch().n_params / (e.params or 1) - 1) <= PARAMS_TOLERANCE]
        assert len(passing) >= 90 and len(passing) >= 0.9 * len(checked)


class TestPlannable:
    def test_unknown_layouts_are_left_out_with_a_reason_not_misplanned(self) -> None:
        pool = plannable()
        left = dict(pool.left_out)
        assert "step-3.7-flash" in left and "not planned yet" in left["step-3.7-flash"]
        assert "deepseek-v3" not in left  # MLA is planned since the config.json parser reads it
        assert {c.name for c in pool.candidates}.isdisjoint(left)
        assert len(pool.candidates) + len(left) == len(ENTRIES)
