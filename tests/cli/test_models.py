"""Spec for `tuilab models` (listing) and `tuilab pull` (argument handling and offline errors only:
tests never touch the network)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tuilab.cli import main
from tuilab.models.hub import check_repo_id
from tuilab.models.tiny import TinyModels


def _isolated_env(tmp_path: Path) -> dict[str, str]:
    """A home with no model stores, an empty HF cache, and the Hub switched off."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "OLLAMA_", "TUILAB_"))}
    env |= {"HOME": str(tmp_path / "home"), "TUILAB_HOME": str(tmp_path / "tuilab")}
    env |= {"HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1", "XDG_CACHE_HOME": str(tmp_path / "cache")}
    return env


def _tuilab(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "tuilab", *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=_isolated_env(tmp_path), check=False)


class TestModelsJson:
    def test_lists_each_model_with_its_facts(self, tiny_models: TinyModels, tmp_path: Path) -> None:
        result = _tuilab(tmp_path, "models", "--json", "--dir", str(tiny_models.root))
        assert result.returncode == 0, result.stderr
        listed = {m["name"]: m for m in json.loads(result.stdout)}
        assert listed["tiny-q4_k_m" if tiny_models.gguf_q4_k_m else "tiny-f16"]["engine"] == "llama.cpp"
        f16 = listed["tiny-f16"]
        assert f16 == {
            "name": "tiny-f16",
            "path": str(tiny_models.gguf_f16),
            "format": "gguf",
            "file_bytes": tiny_models.gguf_f16.stat().st_size,
            "quant": "F16",
            "arch_summary": "llama 1.4M, 2 layers, GQA 4/2",
            "engine": "llama.cpp",
            "source": "dir",
            "error": None,
        }
        assert listed["tiny-mlx"]["format"] == "mlx"

    def test_nothing_found_is_an_empty_list(self, tmp_path: Path) -> None:
        result = _tuilab(tmp_path, "models", "--json")
        assert (result.returncode, json.loads(result.stdout)) == (0, [])


class TestModelsTable:
    def test_columns_align(self, tiny_models: TinyModels, capsys: pytest.CaptureFixture[str]) -> None:
        assert main(["models", "--only-dirs", "--dir", str(tiny_models.root)]) == 0
        lines = capsys.readouterr().out.splitlines()
        assert lines[0].split() == ["name", "format", "quant", "size", "engine", "source", "architecture"]
        starts = {line.index("llama.cpp") for line in lines if "llama.cpp" in line}
        assert len(starts) == 1 and lines[0].index("engine") in starts

    def test_broken_file_shows_its_error(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        (tmp_path / "junk.gguf").write_bytes(b"not a gguf file at all")
        assert main(["models", "--only-dirs", "--dir", str(tmp_path)]) == 0
        assert "error:" in capsys.readouterr().out.splitlines()[1]


class TestPull:
    @pytest.mark.parametrize(
        "args",
        [
            ["pull", "Qwen/Qwen3-0.6B-GGUF", "Qwen3-0.6B-Q8_0.gguf"],
            ["pull", "Qwen/Qwen3-0.6B-GGUF", "*Q8_0*"],
            ["pull", "Qwen/Qwen3-0.6B-GGUF"],
        ],
        ids=["one-file", "pattern", "whole-repo"],
    )
    def test_offline_is_one_clean_error(self, tmp_path: Path, args: list[str]) -> None:
        result = _tuilab(tmp_path, *args)
        assert result.returncode == 1
        assert result.stderr.strip().splitlines()[-1].startswith("tuilab: error: cannot download Qwen/")
        assert "offline" in result.stderr
        assert "Traceback" not in result.stderr

    @pytest.mark.parametrize("repo", ["no spaces/allowed", "a/b/c", "double--dash/x", "../etc", ""])
    def test_impossible_repo_ids_are_refused_before_the_network(self, repo: str) -> None:
        assert main(["pull", repo]) == 2

    @pytest.mark.parametrize(
        "repo", ["Qwen/Qwen3-0.6B-GGUF", "gpt2", "mlx-community/Llama-3.2-1B-Instruct-4bit"]
    )
    def test_real_repo_ids_pass(self, repo: str) -> None:
        assert check_repo_id(repo) == repo

    def test_repo_is_required(self, capsys: pytest.CaptureFixture[str]) -> None:
        with pytest.raises(SystemExit) as exc:
            main(["pull"])
        assert exc.value.code == 2
        assert "repo" in capsys.readouterr().err


class TestAFolderThatCannotBeRead:
    """Issue 12 item 18: `--dir` and the lab's models folder share one rule (tuilab.lab.model_sources)."""

    @pytest.mark.parametrize(
        ("name", "says"), [("absent", "no such folder"), ("a-file", "not a folder")], ids=["missing", "file"]
    )
    def test_is_refused_in_one_line(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, says: str
    ) -> None:
        (tmp_path / "a-file").write_text("")
        assert main(["models", "--only-dirs", "--dir", str(tmp_path / name)]) == 2
        assert capsys.readouterr().err.strip().splitlines() == [f"tuilab: error: {tmp_path / name}: {says}"]
