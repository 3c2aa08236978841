"""Issue 12, item 21: a prompt speed is shown only when it was measurable. The stats below are the kind a
short or cached prompt gives: "prompt 3764814 tok/s" is what a new user saw for a 4-token prompt."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tuilab.engines.events import Stats
from tuilab.lab.prompt_rate import MIN_PROMPT_TOKENS, min_prompt_time_s, prompt_rate

STATS = Stats(
    ttft_s=0.01, prompt_tokens=256, prompt_tps=812.5, gen_tokens=16, gen_tps=40.0, peak_memory_bytes=None,
    engine_peak_memory_bytes=None, rss_bytes=None, rss_peak_bytes=None, device_memory_bytes=None, wall_s=0.5,
)  # fmt: skip


class TestAMeasurablePromptRate:
    def test_enough_tokens_over_a_resolvable_time_show_the_engines_rate(self) -> None:
        rate = prompt_rate(STATS)
        assert (rate.tokens_per_s, rate.why, rate.label()) == (812.5, "", "812.5 tok/s")

    def test_the_floor_is_exactly_the_minimum_token_count(self) -> None:
        assert prompt_rate(replace(STATS, prompt_tokens=MIN_PROMPT_TOKENS)).tokens_per_s == 812.5


class TestAnUnmeasurablePromptRate:
    @pytest.mark.parametrize(
        ("prompt_tokens", "prompt_tps", "why"),
        [
            pytest.param(4, 3764814.0, f"under {MIN_PROMPT_TOKENS} tok", id="the-issue's-4-token-prompt"),
            pytest.param(MIN_PROMPT_TOKENS - 1, 900.0, f"under {MIN_PROMPT_TOKENS} tok", id="one-too-few"),
            pytest.param(None, 900.0, "not reported", id="no-token-count"),
            pytest.param(256, None, "not reported", id="no-rate"),
            pytest.param(256, 0.0, "not reported", id="a-zero-rate"),
        ],
    )
    def test_shows_a_dash_and_why(
        self, prompt_tokens: int | None, prompt_tps: float | None, why: str
    ) -> None:
        rate = prompt_rate(replace(STATS, prompt_tokens=prompt_tokens, prompt_tps=prompt_tps))
        assert (rate.tokens_per_s, rate.label()) == (None, f"- ({why})")

    def test_a_time_under_the_clock_floor_is_too_fast_to_time(self) -> None:
        tokens = 256
        too_fast = tokens / (min_prompt_time_s() / 2)
        assert prompt_rate(replace(STATS, prompt_tokens=tokens, prompt_tps=too_fast)).label() == (
            "- (too fast to time)"
        )
