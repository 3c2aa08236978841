"""The lab's plain-data parts: the memory table, bars, labels and the settings file."""

from __future__ import annotations

from pathlib import Path

import pytest

from tuilab.core.quant import kv_type_or_f16
from tuilab.lab import views
from tuilab.models.profiles import load_hardware_profile
from tuilab.models.resolve import resolve_model
from tuilab.ui.render import ctx_label, stacked_bar
from tuilab.ui.settings import Selection, load_selection, save_selection


class TestContextTable:
    def test_memory_grows_with_context_and_shrinks_with_bits(self) -> None:
        rows = views.context_table(
            resolve_model("llama-3.1-8b"), load_hardware_profile("rtx-3060-12gb"), "f16"
        )
        for row in rows:
            totals = [t for t in row.total_bytes if t is not None]
            assert totals == sorted(totals)
        at_4k = [r.total_bytes[1] or 0 for r in rows]
        assert at_4k == sorted(at_4k, reverse=True)

    def test_a_kv_type_the_engine_lacks_falls_back_to_f16(self) -> None:
        assert kv_type_or_f16("llama.cpp", "mlx-kv4") == "f16"
        assert kv_type_or_f16("mlx", "mlx-kv4") == "mlx-kv4"


class TestRender:
    def test_the_budget_mark_sits_at_its_share_of_the_bar(self) -> None:
        bar = stacked_bar([(50, "red")], 100, 20, budget_bytes=75).plain
        assert bar.index("│") == 15 and bar.count("█") == 10

    @pytest.mark.parametrize(
        ("tokens", "label"), [(4096, "4k"), (131072, "128k"), (129792, "126.8k"), (512, "512")]
    )
    def test_ctx_label(self, tokens: int, label: str) -> None:
        assert ctx_label(tokens) == label


class TestSettingsFile:
    def test_round_trip_leaves_no_temp_files(self, tmp_path: Path) -> None:
        path = tmp_path / "settings.toml"
        saved = Selection(
            model="demo", quant="Q8_0", ctx_tokens=8192, kv_type="q8_0", hardware_profile="t4-16gb",
            model_dirs=("/models/a", "/models/b"), hub_repos=("Qwen/Qwen3-0.6B", "unsloth/gpt-oss-20b-GGUF"),
        )  # fmt: skip
        save_selection(path, saved)
        assert load_selection(path) == (saved, None)
        assert [p.name for p in tmp_path.iterdir()] == ["settings.toml"]

    def test_model_dirs_that_are_not_a_list_of_folders_give_the_defaults_and_a_warning(
        self, tmp_path: Path
    ) -> None:
        path = tmp_path / "settings.toml"
        path.write_text('[selection]\nmodel_dirs = "/models"\n')
        selection, warning = load_selection(path)
        assert selection == Selection() and warning is not None and "model_dirs" in warning

    def test_hub_repos_that_are_not_a_list_of_strings_give_the_defaults_and_a_warning(
        self, tmp_path: Path
    ) -> None:
        path = tmp_path / "settings.toml"
        path.write_text("[selection]\nhub_repos = [1]\n")
        selection, warning = load_selection(path)
        assert selection == Selection() and warning is not None and "hub_repos" in warning

    def test_a_broken_file_is_kept_aside_so_no_save_overwrites_it(self, tmp_path: Path) -> None:
        path = tmp_path / "settings.toml"
        for n, kept in enumerate(["settings.toml.broken", "settings.toml.broken-2"]):
            text = f'[selection]\nhub_repos = ["org/repo-{n}"]\nctx_tokens = "lots"\n'
            path.write_text(text)
            selection, warning = load_selection(path)
            assert selection == Selection() and warning is not None
            assert warning.endswith(f"using defaults; the file is kept as {kept}") and "\n" not in warning
            assert (tmp_path / kept).read_text() == text and not path.exists()
        save_selection(path, Selection())
        assert (tmp_path / "settings.toml.broken").read_text().count("org/repo-0") == 1

    def test_unknown_keys_are_ignored(self, tmp_path: Path) -> None:
        path = tmp_path / "settings.toml"
        path.write_text('[selection]\nmodel = "demo"\nfuture_option = 1\n')
        assert load_selection(path) == (Selection(model="demo"), None)
