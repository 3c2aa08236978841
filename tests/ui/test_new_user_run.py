"""What a new user hit in the lab's Run tab (issue 12, item 13), as a pilot test at 80x24 on the real demo
model in llama.cpp: a prompt longer than the context says why, in the state line and the text."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from textual.widgets import Input
from ui_helpers import wait_until

from tuilab.models.tiny import llama_cpp_available
from tuilab.ui.app import TuilabApp
from tuilab.ui.widgets.stream_view import StreamView

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.llama,
    pytest.mark.skipif(not llama_cpp_available(), reason="needs llama-cpp-python"),
]
LONG_PROMPT = "the quick brown fox jumps over the lazy dog " * 400  # ~3300 tokens: past the demo's 2048


class TestItem13PromptLongerThanTheContextInTheLab:
    async def test_the_state_line_and_the_text_give_the_reason(
        self, make_app: Callable[..., TuilabApp]
    ) -> None:
        app = make_app(live=True)
        async with app.run_test(size=(80, 24)) as pilot:
            app.choose_model("demo")
            await wait_until(pilot, lambda: app.fit is not None, timeout_s=60)
            await pilot.press("r")
            app.main.query_one("#prompt", Input).value = LONG_PROMPT
            await pilot.press("enter")
            await wait_until(pilot, lambda: not app.runner.running, timeout_s=60)
            await pilot.pause()
            state = str(app.main.query_one("#run-state").render())
            assert state.startswith("failed: the prompt has")
            text = app.main.query_one(StreamView).text
            assert "the context holds" in text and "  | " not in text  # no engine log lines under it
