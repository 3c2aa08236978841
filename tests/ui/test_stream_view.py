"""StreamView: it shows exactly what one wrapped `Static` holding the whole text shows (the widget before
issue 11, kept here as the reference), follows the end while text arrives, and a write wraps only the
last visual line and the new text, however much is already shown."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st
from rich.style import Style as RichStyle
from rich.text import Text
from textual.app import App, ComposeResult
from textual.containers import VerticalScroll
from textual.geometry import Offset
from textual.selection import Selection
from textual.widget import Widget
from textual.widgets import Static

from tuilab.ui.widgets.stream_view import StreamView

pytestmark = pytest.mark.anyio


class StaticStream(VerticalScroll, can_focus=True):
    """The reference: the whole text in one `Static` inside a scrolling container, re-wrapped at every
    write (tuilab's StreamView until issue 11)."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.text = ""

    def compose(self) -> ComposeResult:
        yield Static("", markup=False)

    def on_mount(self) -> None:
        self.anchor()

    def write(self, text: str) -> None:
        self.text += text
        self.query_one(Static).update(Text(self.text))


Cells = list[list[tuple[str, RichStyle | None]]]


def screen_cells(app: App[None]) -> Cells:
    """Every cell on the screen, its character and the style that shows (a space shows only its
    background), so two renders compare by what shows, not by how the text was cut into segments (a
    Static cuts a line at a tab) or which foreground a padding space carries."""
    rows = app.screen._compositor.render_full_update().strips  # each row: the strips of its chops
    return [[_shown(char, seg.style) for strip in row for seg in strip for char in seg.text] for row in rows]


def _shown(char: str, style: RichStyle | None) -> tuple[str, RichStyle | None]:
    if style is None:
        return char, None
    return char, RichStyle(bgcolor=style.bgcolor) if char.isspace() else style.clear_meta_and_links()


class OneView(App[None]):
    CSS = "#out { height: 1fr; border: round $primary-darken-2; }"  # as the run pane styles it

    def __init__(self, view: type[Widget]) -> None:
        super().__init__()
        self.view = view

    def compose(self) -> ComposeResult:
        yield self.view(id="out")


async def screen_after(
    view: type[Widget],
    writes: list[str],
    size: tuple[int, int],
    resize_to: tuple[int, int] | None = None,
    theme: str | None = None,
) -> Cells:
    """The screen after the writes, each followed by a repaint."""
    app = OneView(view)
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        out: Any = app.query_one("#out")
        for text in writes:
            out.write(text)
            await pilot.pause()
        if resize_to is not None:
            await pilot.resize_terminal(*resize_to)
            await pilot.pause()
        if theme is not None:
            app.theme = theme
            await pilot.pause()
        await pilot.pause()
        return screen_cells(app)


async def assert_same_screen(
    writes: list[str],
    size: tuple[int, int] = (40, 10),
    resize_to: tuple[int, int] | None = None,
    theme: str | None = None,
) -> None:
    expected = await screen_after(StaticStream, writes, size, resize_to, theme)
    assert await screen_after(StreamView, writes, size, resize_to, theme) == expected


def tokens(text: str) -> list[str]:
    """`text` in token-sized writes: each word with the space before it."""
    words = text.split(" ")
    return [words[0]] + [" " + w for w in words[1:]]


PARAGRAPH = (
    "Quantization trades memory for quality: at 4 bits a model of eight billion parameters takes about "
    "five gigabytes, and the perplexity rises by a few percent; at 2 bits it fits almost anywhere but "
    "forgets how to count."
)


class TestShowsWhatAStaticShows:
    @pytest.mark.parametrize(
        "writes",
        [
            pytest.param([], id="nothing"),
            pytest.param(["Hello"], id="one-word"),
            pytest.param(tokens(PARAGRAPH), id="one-paragraph-token-by-token-until-a-scrollbar"),
            pytest.param([PARAGRAPH], id="one-paragraph-in-one-write"),
            pytest.param(tokens(PARAGRAPH.replace("; ", ";\n\n")), id="paragraphs-and-blank-lines"),
            pytest.param(["x" * 95, "y" * 10, " z"], id="a-word-longer-than-the-line-folds"),
            pytest.param(["trailing" + " " * 70, "next"], id="spaces-past-the-edge"),
            pytest.param(tokens("some words before\ta tab and then " * 3), id="a-tab-after-the-line-wrapped"),
            pytest.param(tokens("量子化は メモリを 節約します " * 6), id="wide-characters"),
            pytest.param(["line\n", "\n", "\n", "end\n"], id="newlines-only-writes"),
        ],
    )
    async def test_written_text(self, writes: list[str]) -> None:
        await assert_same_screen(writes)

    async def test_after_the_terminal_narrows(self) -> None:
        await assert_same_screen(tokens(PARAGRAPH * 2), size=(60, 12), resize_to=(33, 12))

    async def test_after_the_terminal_widens_and_the_scrollbar_goes(self) -> None:
        await assert_same_screen(tokens(PARAGRAPH), size=(40, 12), resize_to=(120, 20))

    async def test_after_the_theme_changes(self) -> None:
        await assert_same_screen(tokens(PARAGRAPH), theme="textual-light")

    # No shrinking: each example runs two apps, and shrinking a failure took over five minutes here.
    @settings(
        max_examples=10,
        deadline=None,
        phases=[Phase.explicit, Phase.reuse, Phase.generate],
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    @given(
        writes=st.lists(st.text(alphabet="ab cd-\n\t界", max_size=30), max_size=12),
        width=st.integers(min_value=8, max_value=30),
    )
    @example(writes=["ad\na-", " 界\n", "", "b-c-bcda\t界界 \n"], width=8)  # found by this test
    async def test_any_writes(self, writes: list[str], width: int) -> None:
        await assert_same_screen(writes, size=(width, 8))


async def selected(view: type[Widget], writes: list[str], selection: Selection) -> tuple[Cells, str | None]:
    """The screen and the selected text after `selection` is made over the written text (on the Static
    inside the reference, where Textual keeps it; on the StreamView itself)."""
    app = OneView(view)
    async with app.run_test(size=(30, 12)) as pilot:
        out: Any = app.query_one("#out")
        for text in writes:
            out.write(text)
        await pilot.pause()
        target = out.query_one(Static) if isinstance(out, StaticStream) else out
        app.screen.selections = {target: selection}
        await pilot.pause()
        return screen_cells(app), app.screen.get_selected_text()


class TestMouseSelection:
    @pytest.mark.parametrize(
        "selection",
        [
            pytest.param(Selection(Offset(3, 0), Offset(9, 0)), id="within-a-visual-line"),
            pytest.param(Selection(Offset(20, 0), Offset(60, 0)), id="across-wrapped-visual-lines"),
            pytest.param(Selection(Offset(40, 0), Offset(4, 2)), id="across-text-lines"),
            pytest.param(Selection(None, None), id="everything"),
        ],
    )
    async def test_shows_and_copies_what_a_static_does(self, selection: Selection) -> None:
        writes = [*tokens(PARAGRAPH[:90]), "\n", "\n", *tokens("code\there and a tail")]
        assert await selected(StreamView, writes, selection) == await selected(
            StaticStream, writes, selection
        )


class TestFollowsTheEnd:
    async def test_new_text_scrolls_to_the_end_until_the_reader_scrolls_up(self) -> None:
        app = OneView(StreamView)
        async with app.run_test(size=(40, 10)) as pilot:
            view = app.query_one(StreamView)
            for token in tokens(PARAGRAPH * 3):
                view.write(token)
            await pilot.pause()
            assert view.max_scroll_y > 0
            assert view.scroll_y == view.max_scroll_y
            view.focus()
            await pilot.press("home")
            view.write(" more")
            await pilot.pause()
            assert view.scroll_y == 0
            await pilot.press("end")
            view.write(PARAGRAPH)
            await pilot.pause()
            assert view.scroll_y == view.max_scroll_y


class TestText:
    async def test_text_is_everything_written_and_clear_empties_it(self) -> None:
        app = OneView(StreamView)
        async with app.run_test(size=(20, 6)) as pilot:
            view = app.query_one(StreamView)
            writes = [*tokens(PARAGRAPH), "\n\tcode\n", "end"]
            for text in writes:
                view.write(text)
            await pilot.resize_terminal(50, 6)
            assert view.text == "".join(writes)
            view.clear()
            await pilot.pause()
            assert view.text == ""
            assert view.virtual_size.height == 1  # one empty line, as an empty Static


def record_draws(monkeypatch: Any) -> list[str]:
    """From now on, every piece of text the StreamView wraps and draws, in order."""
    wrapped: list[str] = []
    draw = StreamView._draw

    def spy(self: StreamView, piece: str, x: int, y: int) -> Any:
        wrapped.append(piece)
        return draw(self, piece, x, y)

    monkeypatch.setattr(StreamView, "_draw", spy)
    return wrapped


class TestWriteCostIsLocal:
    async def test_a_write_wraps_only_the_last_visual_line_and_the_new_text(self, monkeypatch: Any) -> None:
        app = OneView(StreamView)
        async with app.run_test(size=(40, 10)) as pilot:
            view = app.query_one(StreamView)
            await pilot.pause()
            wrapped = record_draws(monkeypatch)
            writes = tokens(PARAGRAPH * 20)  # one paragraph of ~100 lines at this width
            for token in writes:
                view.write(token)
            # the last visual line (its width, and the one space a line may end in) and the write
            assert max(len(piece) for piece in wrapped) <= view._width + 1 + max(len(t) for t in writes)
            assert view.virtual_size.height > 100


class TestAFocusChangeKeepsTheLines:
    async def test_focus_in_and_out_wraps_nothing_again_but_a_theme_change_does(
        self, monkeypatch: Any
    ) -> None:
        """A focus change restyles the view without changing its colours: the kept lines stay (wrapping
        them all again delayed the next key while a model streamed, docs/benchmarks.md key latency)."""
        app = OneView(StreamView)
        async with app.run_test(size=(40, 10)) as pilot:
            view = app.query_one(StreamView)
            for token in tokens(PARAGRAPH * 3):
                view.write(token)
            await pilot.pause()
            wrapped = record_draws(monkeypatch)
            view.focus()
            await pilot.pause()
            view.blur()
            await pilot.pause()
            assert wrapped == []
            app.theme = "textual-light"
            await pilot.pause()
            assert "".join(wrapped) == view.text
