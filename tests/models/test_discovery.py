"""Spec for model discovery over real small files laid out as each store lays them out."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest

from tuilab import paths
from tuilab.core.quant import parse_quant, quant_name
from tuilab.models.discovery import FoundModel, _mlx_quant, arch_summary, discover, scan_hf_cache
from tuilab.models.gguf import read_gguf
from tuilab.models.tiny import TinyModels

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def _by_name(models: list[FoundModel]) -> dict[str, FoundModel]:
    return {m.name: m for m in models}


def _hf_repo(cache: Path, repo_id: str, files: dict[str, Path]) -> Path:
    """A hub cache repo as huggingface_hub writes it: blobs by hash, snapshot symlinks, refs/main."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    snapshot = repo / "snapshots" / COMMIT
    (repo / "blobs").mkdir(parents=True)
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(COMMIT)
    for name, src in files.items():
        blob = repo / "blobs" / hashlib.sha256(src.read_bytes()).hexdigest()
        shutil.copyfile(src, blob)
        (snapshot / name).symlink_to(os.path.relpath(blob, snapshot))
    return snapshot


def _ollama(root: Path, manifest: str, gguf: Path) -> None:
    digest = hashlib.sha256(gguf.read_bytes()).hexdigest()
    (root / "blobs").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(gguf, root / "blobs" / f"sha256-{digest}")
    layers = [
        {"mediaType": "application/vnd.ollama.image.template", "digest": "sha256:" + "0" * 64},
        {"mediaType": "application/vnd.ollama.image.model", "digest": f"sha256:{digest}"},
    ]
    path = root / "manifests" / manifest
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"schemaVersion": 2, "layers": layers}))


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty home and tuilab home; the default stores hold only what a test puts there."""
    monkeypatch.setenv("TUILAB_HOME", str(tmp_path / "tuilab"))
    monkeypatch.delenv("OLLAMA_MODELS", raising=False)
    (tmp_path / "user").mkdir()
    return tmp_path / "user"


class TestHuggingFaceCache:
    def test_model_folders_and_gguf_repos(self, tiny_models: TinyModels, tmp_path: Path) -> None:
        cache = tmp_path / "hub"
        mlx = tiny_models.mlx_4bit_dir or tiny_models.mlx_dir
        _hf_repo(cache, "mlx-community/tiny-4bit", {p.name: p for p in mlx.iterdir()})
        _hf_repo(cache, "someone/tiny-GGUF", {"tiny-f16.gguf": tiny_models.gguf_f16})
        found = _by_name(scan_hf_cache(cache))
        assert set(found) == {"mlx-community/tiny-4bit", "someone/tiny-GGUF/tiny-f16"}
        folder = found["mlx-community/tiny-4bit"]
        assert (folder.format, folder.engine, folder.source) == ("mlx", "mlx", "hf-cache")
        assert folder.file_bytes == sum(p.stat().st_size for p in mlx.iterdir())  # symlinks followed
        assert found["someone/tiny-GGUF/tiny-f16"].quant == "F16"

    def test_missing_cache_is_empty_not_an_error(self, tmp_path: Path) -> None:
        assert scan_hf_cache(tmp_path / "nope") == []


class TestLmStudio:
    @pytest.mark.parametrize(
        "store", [".lmstudio/models", ".cache/lm-studio/models"], ids=["current", "legacy"]
    )
    def test_publisher_repo_file_layout(self, tiny_models: TinyModels, home: Path, store: str) -> None:
        repo = home / store / "lmstudio-community" / "tiny-GGUF"
        repo.mkdir(parents=True)
        shutil.copyfile(tiny_models.gguf_f16, repo / "tiny-f16.gguf")
        shutil.copyfile(tiny_models.gguf_f16, repo / "mmproj-tiny-f16.gguf")  # a vision projector
        found = discover(home=home, hf_cache=home / "hub")
        assert [(m.name, m.source) for m in found] == [("lmstudio-community/tiny-GGUF/tiny-f16", "lmstudio")]


class TestOllama:
    def test_manifest_names_the_model_blob(self, tiny_models: TinyModels, home: Path) -> None:
        root = home / ".ollama" / "models"
        _ollama(root, "registry.ollama.ai/library/tiny/latest", tiny_models.gguf_f16)
        _ollama(root, "registry.ollama.ai/someone/tiny/f16", tiny_models.gguf_f16)
        found = _by_name(discover(home=home, hf_cache=home / "hub"))
        assert set(found) == {"tiny:latest", "someone/tiny:f16"}
        model = found["tiny:latest"]
        assert (model.format, model.quant, model.engine, model.error) == ("gguf", "F16", "llama.cpp", None)
        assert model.path.parent.name == "blobs"

    def test_ollama_models_env_moves_the_store(
        self, tiny_models: TinyModels, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        _ollama(tmp_path / "elsewhere", "registry.ollama.ai/library/tiny/latest", tiny_models.gguf_f16)
        monkeypatch.setenv("OLLAMA_MODELS", str(tmp_path / "elsewhere"))
        assert [m.name for m in discover(home=home, hf_cache=home / "hub")] == ["tiny:latest"]

    def test_manifest_without_a_model_layer_is_listed_as_broken(self, home: Path) -> None:
        manifest = home / ".ollama/models/manifests/registry.ollama.ai/library/bad/latest"
        manifest.parent.mkdir(parents=True)
        manifest.write_text("{not json")
        (model,) = discover(home=home, hf_cache=home / "hub")
        assert model.name == "bad:latest"
        assert model.error is not None


class TestDirectories:
    def test_tuilab_models_dir_is_a_default_store(self, tiny_models: TinyModels, home: Path) -> None:
        shutil.copytree(tiny_models.mlx_dir, paths.models_dir() / "demo" / "tiny-mlx")
        (model,) = discover(home=home, hf_cache=home / "hub")
        assert (model.name, model.source, model.format, model.quant) == (
            "demo/tiny-mlx",
            "tuilab",
            "mlx",
            "mlx-fp16",
        )

    def test_ladder_rungs_are_labelled_as_such(self, tiny_models: TinyModels, home: Path) -> None:
        """`tuilab bench` writes its rungs under the models folder; they list as rungs, not as models the
        user fetched."""
        rung = paths.models_dir() / "ladder" / "tiny" / "tiny-f16.gguf"
        rung.parent.mkdir(parents=True)
        shutil.copy(tiny_models.gguf_f16, rung)
        (model,) = discover(home=home, hf_cache=home / "hub")
        assert (model.name, model.source) == ("ladder/tiny/tiny-f16", "ladder")

    def test_every_format_in_a_given_dir(self, tiny_models: TinyModels, home: Path) -> None:
        found = _by_name(discover([tiny_models.root], default_stores=False))
        expected = {f"tiny-{q.lower()}" for q in tiny_models.gguf} | {"tiny-mlx"}
        expected |= {f"tiny-moe-{q.lower()}" for q in tiny_models.moe}
        expected |= {"tiny-mlx-4bit"} if tiny_models.mlx_4bit_dir else set()
        assert set(found) == expected
        assert found["tiny-f16"].file_bytes == tiny_models.gguf_f16.stat().st_size
        assert all(m.source == "dir" and m.error is None for m in found.values())

    def test_only_the_first_shard_of_a_split_gguf(self, tiny_models: TinyModels, tmp_path: Path) -> None:
        for part in (1, 2, 3):
            shutil.copyfile(tiny_models.gguf_f16, tmp_path / f"big-0000{part}-of-00003.gguf")
        assert [m.name for m in discover([tmp_path], default_stores=False)] == ["big-00001-of-00003"]

    def test_same_file_twice_is_listed_once(self, tiny_models: TinyModels, home: Path) -> None:
        paths.models_dir().mkdir(parents=True)
        shutil.copyfile(tiny_models.gguf_f16, paths.models_dir() / "tiny-f16.gguf")
        found = discover([paths.models_dir()], home=home, hf_cache=home / "hub")
        assert len(found) == 1

    @pytest.mark.parametrize(
        ("files", "fmt"),
        [
            ({"junk.gguf": b"GGUF\x03\x00\x00\x00garbage"}, "gguf"),
            ({"broken/config.json": b"{", "broken/model.safetensors": b"\x00" * 16}, "hf"),
        ],
        ids=["truncated-gguf", "bad-config-json"],
    )
    def test_broken_files_are_listed_with_their_error(
        self, tmp_path: Path, files: dict[str, bytes], fmt: str
    ) -> None:
        for rel, data in files.items():
            (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / rel).write_bytes(data)
        (model,) = discover([tmp_path], default_stores=False)
        assert model.format == fmt
        assert model.error and model.arch_summary == "" and model.quant is None


class TestLabels:
    @pytest.mark.parametrize(
        ("args", "quant"),
        [
            ((4, 64, "affine", "float16", "mlx"), "mlx-4bit"),
            ((4, 32, None, None, "mlx"), "mlx-4bit-g32"),
            ((4, 32, "mxfp4", None, "mlx"), "mlx-mxfp4"),
            ((None, None, None, "bfloat16", "mlx"), "mlx-bf16"),
            ((None, None, None, "bfloat16", "hf"), "BF16"),
            ((None, None, None, None, "hf"), None),
        ],
        ids=["mlx-default-group", "mlx-group-32", "mlx-float-mode", "mlx-unquantized", "hf-dtype", "unknown"],
    )
    def test_quant_names_parse_as_core_quant_names(self, args: tuple, quant: str | None) -> None:  # type: ignore[type-arg]
        assert _mlx_quant(*args) == quant
        if quant is not None:
            assert quant_name(parse_quant(quant)) == quant

    def test_arch_summary_reads_like_a_model_card(self, tiny_models: TinyModels) -> None:
        assert arch_summary(read_gguf(tiny_models.gguf_f16).arch) == "llama 1.4M, 2 layers, GQA 4/2"
