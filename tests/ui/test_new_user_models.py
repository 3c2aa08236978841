"""What a new user hit in the Models tab (issue 12 items 25, 22, 11 and 18; issue 13's Hub entry and
ranking), reproduced with the Textual pilot at 80x24. Each class is one report; each test failed before
its fix.

The Hub tests run against the fake Hub of tests/models/hub_server.py on 127.0.0.1 (HF_ENDPOINT points at
it; what is real there is in its docstring). Its repo here serves the real tiny demo GGUF that
`tuilab.models.tiny` writes, so a pull is a few MB.
"""

from __future__ import annotations

import os
import shutil
import socket
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import pytest
from textual.widgets import DataTable, Input, TabbedContent
from ui_helpers import settle, wait_until

from tuilab.lab.planning import FitQuery
from tuilab.lab.ranking import rank_catalog
from tuilab.models import hub_meta
from tuilab.models.discovery import FoundModel, Source, discover
from tuilab.models.tiny import SHAPES, build_vocab, gguf_file_name, tiny_weights, write_gguf_set
from tuilab.ui import messages
from tuilab.ui.app import TuilabApp
from tuilab.ui.settings import SETTINGS_FILE, load_selection
from tuilab.ui.widgets.models_pane import ModelsPane

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "models"))  # the fake Hub lives there
from hub_server import FakeFile, FakeHub, FakeRepo

pytestmark = pytest.mark.anyio
SIZE = (80, 24)
TINY_REPO = "tuilab-test/tiny-GGUF"
BIG_REPO = "tuilab-test/big-GGUF"
GATED_REPO = "tuilab-test/gated"
LONG_NAME = "lmstudio-community/Meta-Llama-3.1-8B-Instruct-GGUF/Meta-Llama-3.1-8B-Instruct-Q4_K_M"


def found(name: str, source: Source = "lmstudio") -> FoundModel:
    """A listed model whose file is gone: its row shows (with an error badge), which is all these need."""
    return FoundModel(name, Path("/nowhere") / f"{name}.gguf", "gguf", 1, "Q4_K_M", "", "llama.cpp", source)


def table_keys(app: TuilabApp) -> list[str]:
    table = app.main.query_one("#model-table", DataTable)
    return [str(row.key.value) for row in table.ordered_rows]


def notes(app: TuilabApp, severity: str | None = None) -> list[str]:
    return [str(n.message) for n in app._notifications if severity is None or n.severity == severity]


async def type_in_box(pilot: object, text: str) -> None:
    app = pilot.app  # type: ignore[attr-defined]
    box = app.main.query_one("#models-ask", Input)
    assert box.has_focus
    box.value = text
    await pilot.press("enter")  # type: ignore[attr-defined]


class TestDigitsSwitchTabsFromTheModelsTab:
    """Item 25: the filter took every key, so `4` filtered the list by "4" instead of opening Context."""

    async def test_a_digit_switches_tabs_and_leaves_the_filter_empty(
        self, make_app: Callable[..., TuilabApp]
    ) -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await pilot.press("2")
            await pilot.press("4")
            assert app.main.query_one(TabbedContent).active == "context"
            assert app.main.query_one("#model-filter", Input).value == ""

    async def test_slash_filters_esc_leaves_and_digits_work_again(
        self, make_app: Callable[..., TuilabApp]
    ) -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await pilot.press("2", "slash", "l", "l", "a", "m", "a")
            await settle(pilot)
            assert table_keys(app) and all("llama" in k for k in table_keys(app))
            await pilot.press("escape")
            assert isinstance(app.focused, DataTable)
            await pilot.press("3")
            assert app.main.query_one(TabbedContent).active == "fit"
            assert app.main.query_one("#model-filter", Input).value == "llama"

    async def test_enter_in_the_filter_chooses_the_highlighted_row(
        self, make_app: Callable[..., TuilabApp]
    ) -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await pilot.press("2", "slash", *"mixtral", "enter")
            await settle(pilot)
            assert app.selection.model == "mixtral-8x7b"


class TestTheTableFollowsAResize:
    """Item 22: after resizing from 120 to 80 columns the name column stayed wide, pushing the others off."""

    async def test_every_column_fits_after_shrinking_to_80(self, make_app: Callable[..., TuilabApp]) -> None:
        app = make_app(find_models=lambda dirs: [found(LONG_NAME)])
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            await pilot.press("2")
            table = app.main.query_one("#model-table", DataTable)
            await pilot.resize_terminal(*SIZE)
            await settle(pilot)
            await pilot.pause()
            widths = [c.get_render_width(table) for c in table.columns.values()]
            assert sum(widths) <= table.content_size.width, widths


class TestRefreshingTheList:
    """Item 11: rungs made with `b` appeared only after a restart, and there was no refresh key."""

    async def test_r_finds_a_model_that_appeared_since(self, make_app: Callable[..., TuilabApp]) -> None:
        on_disk: list[FoundModel] = []
        app = make_app(find_models=lambda dirs: list(on_disk))
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await pilot.press("2")
            on_disk.append(found("late-arrival", "dir"))
            await pilot.press("R")
            await settle(pilot)
            assert str(on_disk[0].path) in table_keys(app)

    async def test_the_end_of_a_ladder_lists_its_rungs(self, make_app: Callable[..., TuilabApp]) -> None:
        on_disk: list[FoundModel] = []
        app = make_app(find_models=lambda dirs: list(on_disk))
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            on_disk.append(found("ladder/tiny-q4_k_m", "ladder"))
            app.post_message(messages.LadderEnded("tiny", "done"))
            await settle(pilot)
            assert str(on_disk[0].path) in table_keys(app)


@pytest.fixture(scope="module")
def tuilab_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One TUILAB_HOME for this file's tests: the demo model is written once, not once a test."""
    return tmp_path_factory.mktemp("tuilab-home")


@pytest.fixture
def quiet_home(tmp_path: Path, tuilab_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A home with no model stores, so discovery finds only what a test puts in its folders."""
    home = tmp_path / "user"
    home.mkdir()
    for key in list(os.environ):
        if key.startswith(("HF_", "HUGGINGFACE_")):
            monkeypatch.delenv(key)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("HF_HOME", str(home / "hf"))
    monkeypatch.setenv("OLLAMA_MODELS", str(home / "ollama"))
    monkeypatch.setenv("TUILAB_HOME", str(tuilab_home))
    return home


@pytest.fixture(scope="module")
def tiny_gguf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo's tiny model as a real F16 GGUF (tuilab.models.tiny), written once for this file."""
    shape = SHAPES["tiny"]
    out = tmp_path_factory.mktemp("tiny")
    write_gguf_set(out, shape, tiny_weights(shape, build_vocab(shape.vocab_size), 0), ())
    return out / gguf_file_name("tiny", "F16")


class TestAddingAModelsFolder:
    """Item 18: only the CLI had `--dir`; the lab had no way to add a models folder."""

    async def test_a_folder_is_checked_saved_and_searched(
        self, make_app: Callable[..., TuilabApp], quiet_home: Path, tiny_gguf: Path, tmp_path: Path
    ) -> None:
        folder = tmp_path / "my models"
        folder.mkdir()
        shutil.copy(tiny_gguf, folder / "mine.gguf")
        app = make_app(find_models=lambda dirs: discover([Path(d) for d in dirs], home=quiet_home))
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await pilot.press("2", "a")
            await type_in_box(pilot, str(folder))
            await settle(pilot)
            assert str(folder / "mine.gguf") in table_keys(app)
        assert load_selection(tmp_path / SETTINGS_FILE)[0].model_dirs == (str(folder),)

    @pytest.mark.parametrize(
        ("make", "says"),
        [(lambda p: p / "absent", "no such folder"), (lambda p: p / "file.gguf", "not a folder")],
        ids=["missing", "a-file"],
    )
    async def test_a_bad_folder_is_one_line_and_not_saved(
        self,
        make_app: Callable[..., TuilabApp],
        tmp_path: Path,
        make: Callable[[Path], Path],
        says: str,
    ) -> None:
        (tmp_path / "file.gguf").write_text("")
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await pilot.press("2", "a")
            await type_in_box(pilot, str(make(tmp_path)))
            await settle(pilot)
            assert [n for n in notes(app, "error") if says in n] == [f"{make(tmp_path)}: {says}"]
        assert load_selection(tmp_path / SETTINGS_FILE)[0].model_dirs == ()


class TestTheRankedView:
    """Issue 13: the Models pane shows the ranking `fit --rank` prints, for the hardware in use."""

    async def test_v_lists_the_catalog_best_first_and_follows_the_context(
        self, make_app: Callable[..., TuilabApp]
    ) -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await pilot.press("2", "v")
            await settle(pilot)
            hw = app.hardware()
            expected = rank_catalog(hw, FitQuery(ctx_tokens=app.selection.ctx_tokens))
            assert table_keys(app) == [r.name for r in expected.ranked]
            await pilot.press("left_square_bracket")
            await settle(pilot)
            pane = app.main.query_one(ModelsPane)
            assert pane.ranking is not None
            assert pane.ranking.query.ctx_tokens == app.selection.ctx_tokens < expected.query.ctx_tokens

    async def test_enter_plans_the_ranked_model_at_its_best_quant(
        self, make_app: Callable[..., TuilabApp]
    ) -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await pilot.press("2", "v")
            await settle(pilot)
            pane = app.main.query_one(ModelsPane)
            assert pane.ranking is not None
            best = pane.ranking.ranked[0]
            await pilot.press("home", "enter")
            await settle(pilot)
            assert (app.selection.model, app.selection.quant) == (best.name, best.quant)
            assert app.fit is not None and app.fit.quant == best.quant


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def hub(tiny_gguf: Path, quiet_home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHub]:
    data = tiny_gguf.read_bytes()
    repos = {
        TINY_REPO: FakeRepo({"README.md": FakeFile(b"# tiny\n"), "tiny-F16.gguf": FakeFile(data)}),
        # the same header with 4 GB behind it: a pull long enough to stop half-way
        BIG_REPO: FakeRepo({"tiny-F16.gguf": FakeFile(data, 4_000_000_000)}),
        GATED_REPO: FakeRepo({"config.json": FakeFile(b"{}")}, gated=True),  # files need a token
    }
    # These tests check what the lab does with the Hub's answer; the read's deadline has its own tests
    # (tests/models/test_hub.py). A loaded 2-core box importing huggingface_hub can pass 8.5 s.
    monkeypatch.setattr(hub_meta, "DEADLINE_S", 60.0)
    with FakeHub(repos=repos) as fake:
        monkeypatch.setenv("HF_ENDPOINT", fake.endpoint)
        yield fake


class TestAHubRepoInTheLab:
    """Issue 13: the TUI gets a "Hub" entry in the Models pane that plans a repo without downloading,
    with `tuilab pull` one key away."""

    async def test_h_plans_a_repo_from_its_header_without_the_weights(
        self, make_app: Callable[..., TuilabApp], hub: FakeHub
    ) -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await pilot.press("2", "H")
            await type_in_box(pilot, TINY_REPO)
            await settle(pilot)
            assert app.main.query_one(TabbedContent).active == "fit"
            assert app.selection.model == TINY_REPO
            assert app.model is not None and app.model.hub is not None and app.fit is not None
            assert app.fit.quant == "F16"
            assert TINY_REPO in table_keys(app)
            assert not notes(app, "error")
        assert not list((Path(os.environ["HF_HOME"]) / "hub").rglob("*.gguf"))  # nothing downloaded

    @pytest.mark.parametrize(
        ("repo", "says"),
        [
            ("nobody/no-such-model", "no-such-model"),
            ("not a/repo id", "is not a Hugging Face repo id"),
            ("qwen3-8b", "is not a Hub repo id"),
            (GATED_REPO, "is gated"),
        ],
        ids=["unknown", "malformed", "a-catalog-name", "gated"],
    )
    async def test_a_bad_repo_is_one_error_line(
        self, make_app: Callable[..., TuilabApp], hub: FakeHub, repo: str, says: str
    ) -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await pilot.press("2", "H")
            await type_in_box(pilot, repo)
            await settle(pilot)
            errors = notes(app, "error")
            assert len(errors) == 1 and says in errors[0] and "\n" not in errors[0]
            assert app.selection.model != repo

    async def test_offline_is_one_error_line(
        self, make_app: Callable[..., TuilabApp], quiet_home: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{closed_port()}")
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await pilot.press("2", "H")
            await type_in_box(pilot, "tuilab-test/never-read")  # no cached metadata to answer offline
            await settle(pilot)
            errors = notes(app, "error")
            assert len(errors) == 1 and "never-read" in errors[0] and "\n" not in errors[0]

    async def test_p_pulls_it_and_the_list_shows_it_on_disk(
        self, make_app: Callable[..., TuilabApp], hub: FakeHub, quiet_home: Path
    ) -> None:
        app = make_app(find_models=partial(_discover_in, quiet_home))
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await pilot.press("2", "H")
            await type_in_box(pilot, TINY_REPO)
            await settle(pilot)
            await pilot.press("2", "p")
            await settle(pilot)
            assert any(n.startswith(f"pulled {TINY_REPO}") for n in notes(app))
            pulled = list((quiet_home / "hf" / "hub").rglob("tiny-F16.gguf"))
            assert (
                len(pulled) == 1
                and pulled[0].stat().st_size == hub.repos[TINY_REPO].files["tiny-F16.gguf"].size_bytes
            )
            assert any(e.source == "hf-cache" for e in app.entries)

    @pytest.mark.parametrize("tab", ["2", "3"], ids=["from-models", "from-fit"])
    async def test_esc_stops_a_pull_and_keeps_the_lab_up(
        self, make_app: Callable[..., TuilabApp], hub: FakeHub, quiet_home: Path, tab: str
    ) -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await pilot.press("2", "H")
            await type_in_box(pilot, BIG_REPO)
            await settle(pilot)
            await pilot.press("2", "p")
            note = app.main.query_one("#models-note")
            await wait_until(pilot, lambda: "pulling" in str(note.render()), 10)
            await pilot.press(tab, "escape")
            await settle(pilot)
            assert any("pull cancelled" in n for n in notes(app, "warning"))
            assert not list((quiet_home / "hf" / "hub").rglob("tiny-F16.gguf"))  # only the partial file
            await pilot.press("3")
            assert app.main.query_one(TabbedContent).active == "fit"


@dataclass(frozen=True)
class AtStart:
    """What the Models tab showed after a start: its rows, the Hub rows' badges, the notifications."""

    keys: list[str]
    badges: dict[str, str]
    errors: list[str]
    warnings: list[str]


class TestHubReposAreListedAfterARestart:
    """Issue 13: a repo planned with `H` was gone from the list after a restart. It is kept in the
    settings and listed again at start-up from the metadata its first read cached: no request, so the
    Hub gone (or HF_HUB_OFFLINE) does not break the start."""

    async def _add_with_h(self, make_app: Callable[..., TuilabApp], repo: str, then_choose: str = "") -> None:
        async with make_app().run_test(size=SIZE) as pilot:
            app: TuilabApp = pilot.app  # type: ignore[assignment]
            await settle(pilot)
            await pilot.press("2", "H")
            await type_in_box(pilot, repo)
            await settle(pilot)
            assert repo in table_keys(app)
            if then_choose:
                app.choose_model(then_choose)
                await settle(pilot)

    async def _at_start(self, make_app: Callable[..., TuilabApp]) -> AtStart:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            errors, warnings = notes(app, "error"), notes(app, "warning")  # before they time out
            await pilot.press("2")
            await settle(pilot)
            return AtStart(
                table_keys(app), dict(app.main.query_one(ModelsPane)._hub_badges), errors, warnings
            )

    async def test_a_repo_added_with_h_is_listed_after_a_restart_without_a_request(
        self, make_app: Callable[..., TuilabApp], hub: FakeHub, tmp_path: Path
    ) -> None:
        await self._add_with_h(make_app, TINY_REPO, then_choose="demo")  # the plan at start asks nothing
        assert load_selection(tmp_path / SETTINGS_FILE)[0].hub_repos == (TINY_REPO,)
        requests = len(hub.log)
        start = await self._at_start(make_app)
        assert TINY_REPO in start.keys
        assert start.badges[TINY_REPO] in ("fits", "tight")  # planned from the cached header
        assert start.errors == start.warnings == []
        assert len(hub.log) == requests  # the Hub is up, and not asked

    async def test_offline_it_is_listed_and_planned(
        self, make_app: Callable[..., TuilabApp], hub: FakeHub, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        await self._add_with_h(make_app, TINY_REPO)
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
        start = await self._at_start(make_app)
        assert TINY_REPO in start.keys and start.badges[TINY_REPO] in ("fits", "tight")
        assert start.errors == start.warnings == []

    async def test_with_its_metadata_gone_it_is_one_warning_and_stays_saved(
        self,
        make_app: Callable[..., TuilabApp],
        hub: FakeHub,
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        await self._add_with_h(make_app, TINY_REPO, then_choose="demo")
        monkeypatch.setenv("TUILAB_HOME", str(tmp_path / "another-home"))  # no metadata cache there
        monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{closed_port()}")  # and the Hub gone
        start = await self._at_start(make_app)
        assert TINY_REPO not in start.keys and "demo" in start.keys
        warnings = [n for n in start.warnings if "saved Hub repos" in n]
        assert len(warnings) == 1 and TINY_REPO in warnings[0] and "\n" not in warnings[0]
        assert load_selection(tmp_path / SETTINGS_FILE)[0].hub_repos == (TINY_REPO,)


def _discover_in(home: Path, dirs: object) -> list[FoundModel]:
    return discover(home=home, hf_cache=home / "hf" / "hub")
