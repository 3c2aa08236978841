"""Spec for tuilab.lab.model_sources: the one folder rule of `tuilab models --dir` and the lab's `a`, and
a pull that reports its bytes and stops when asked.

Pulls run against the fake Hub of tests/models/hub_server.py on 127.0.0.1 (its docstring says what is
real); the file served here is a few MB of zeros behind a GGUF magic, enough to move bytes.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tuilab.core.errors import UsageError
from tuilab.lab.model_sources import PullCancelled, PullTarget, models_folder, pull_with_progress

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "models"))  # the fake Hub lives there
from hub_server import FakeFile, FakeHub, FakeRepo

REPO, FILE, SIZE_BYTES = "tuilab-test/bytes-GGUF", "bytes-Q4_K_M.gguf", 3_000_000


class TestAModelsFolder:
    def test_a_readable_folder_is_taken_with_home_expanded(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("HOME", str(tmp_path))
        (tmp_path / "models").mkdir()
        assert models_folder(" ~/models ") == tmp_path / "models"

    @pytest.mark.parametrize(
        ("name", "says"), [("absent", "no such folder"), ("a-file", "not a folder")], ids=["missing", "file"]
    )
    def test_anything_else_is_one_line(self, tmp_path: Path, name: str, says: str) -> None:
        (tmp_path / "a-file").write_text("")
        with pytest.raises(UsageError) as caught:
            models_folder(tmp_path / name)
        assert str(caught.value) == f"{tmp_path / name}: {says}"

    def test_nothing_typed_is_refused(self) -> None:
        with pytest.raises(UsageError, match="give a folder"):
            models_folder("  ")


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHub]:
    for key in list(os.environ):
        if key.startswith(("HF_", "HUGGINGFACE_")):
            monkeypatch.delenv(key)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with FakeHub(repos={REPO: FakeRepo({FILE: FakeFile(b"GGUF", SIZE_BYTES)})}) as fake:
        monkeypatch.setenv("HF_ENDPOINT", fake.endpoint)
        yield fake


class TestAPull:
    def test_reports_every_byte_and_lands_in_the_hub_cache(self, hub: FakeHub) -> None:
        seen: list[int] = []
        path = pull_with_progress(PullTarget(REPO, (FILE,), SIZE_BYTES), seen.append, lambda: False)
        assert path.name == FILE and path.stat().st_size == SIZE_BYTES
        assert seen[-1] == SIZE_BYTES and seen == sorted(seen)

    def test_stops_when_asked_and_leaves_no_finished_file(self, hub: FakeHub, tmp_path: Path) -> None:
        with pytest.raises(PullCancelled, match="partial file is kept"):
            pull_with_progress(PullTarget(REPO, (FILE,), SIZE_BYTES), lambda n: None, lambda: True)
        assert not list((tmp_path / "hf").rglob(FILE))

    def test_the_shell_command_names_the_file(self) -> None:
        assert PullTarget(REPO, (FILE,), SIZE_BYTES).command == f"tuilab pull {REPO} {FILE}"
