"""A run through the lab on MLX (mlx[cpu] here): the tiny MLX model is chosen by path, planned for the
MLX engine, and streams with a measured speed, as the llama.cpp demo does in test_engine_runs.py."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from test_engine_runs import finished
from ui_helpers import settle

from tuilab.models.tiny import TinyModels, mlx_available
from tuilab.ui.app import TuilabApp
from tuilab.ui.widgets.run_pane import OUTPUT_RULE, RunPane
from tuilab.ui.widgets.stream_view import StreamView

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.mlx,
    pytest.mark.skipif(not mlx_available(), reason="needs mlx-lm"),
]


async def test_the_tiny_mlx_model_runs_from_the_run_tab(
    make_app: Callable[..., TuilabApp], tiny_models: TinyModels
) -> None:
    app = make_app(live=True, max_tokens=16)
    async with app.run_test(size=(100, 30)) as pilot:
        app.choose_model(str(tiny_models.mlx_dir))
        await settle(pilot)
        assert app.fit is not None and app.fit.engine == "mlx"
        await pilot.press("r", *"Hello", "enter")
        assert "done" in await finished(pilot)
        assert app.main.query_one(RunPane).last_rate_tps > 0
        assert "tok/s measured" in str(app.main.query_one("#run-stats").render())
        assert app.main.query_one(StreamView).text.split(OUTPUT_RULE)[1]  # the model wrote text
        assert not [n for n in app._notifications if n.severity == "error"]
