"""How much to generate and how: the max-tokens and temperature rules both faces share (`tuilab run
--max-tokens/--temperature` and the Run pane's controls), checked before anything loads."""

from __future__ import annotations

from tuilab.core.errors import UsageError
from tuilab.engines.protocol import SamplingParams

# The highest temperature accepted: the range OpenAI's API takes ("between 0 and 2",
# https://platform.openai.com/docs/api-reference/chat/create#chat-create-temperature); above it a small
# model's text is noise. 0 is greedy decoding (tuilab.engines.protocol.SamplingParams).
MAX_TEMPERATURE = 2.0


def check_max_tokens(max_tokens: object, name: str = "--max-tokens") -> int:
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
        raise UsageError(f"{name} must be a whole number of at least 1, got {max_tokens!r}")
    return max_tokens


def check_temperature(temperature: object, name: str = "--temperature") -> float:
    if isinstance(temperature, bool) or not isinstance(temperature, int | float):
        raise UsageError(f"{name} must be a number from 0 to {MAX_TEMPERATURE:g}, got {temperature!r}")
    if not 0.0 <= temperature <= MAX_TEMPERATURE:  # also refuses NaN
        raise UsageError(f"{name} must be from 0 (greedy) to {MAX_TEMPERATURE:g}, got {temperature:g}")
    return float(temperature)


def sampling_for(temperature: object) -> SamplingParams:
    """The engine's sampling for a checked temperature: 0 is greedy, above it top-k/top-p as llama.cpp."""
    return SamplingParams(temperature=check_temperature(temperature))
