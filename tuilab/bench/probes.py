"""Logic-trap probe prompts with one checkable answer each: pass or fail per rung.

Each is a short completion-style question whose intuitive answer is wrong; the first number the model
writes after "Answer:" is compared with the right one. Greedy decoding, so a rung's result is repeatable.
A base model or a tiny random one fails them all; the point is where a real model starts failing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_NUMBER_RE = re.compile(r"-?\d+")
_WORDS = {"zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "nine": 9, "ten": 10}
_WORD_RE = re.compile(r"\b(" + "|".join(_WORDS) + r")\b", re.IGNORECASE)


@dataclass(frozen=True)
class Probe:
    name: str
    prompt: str
    answer: int
    max_tokens: int = 24


def _ask(question: str) -> str:
    return f"Question: {question}\nThink carefully, then give the number.\nAnswer:"


PROBES: tuple[Probe, ...] = (
    Probe("sisters", _ask("Sally is a girl. She has 3 brothers. Each of her brothers has 2 sisters. "
                          "How many sisters does Sally have?"), 1),
    Probe("bat-and-ball", _ask("A bat and a ball cost 110 cents in total. The bat costs 100 cents more "
                               "than the ball. How many cents does the ball cost?"), 5),
    Probe("widgets", _ask("5 machines take 5 minutes to make 5 widgets. How many minutes do 100 "
                          "machines take to make 100 widgets?"), 5),
    Probe("sheep", _ask("A farmer has 17 sheep. All but 9 run away. How many sheep does he have left?"), 9),
)  # fmt: skip


def first_number(text: str) -> int | None:
    """The first number in `text`, digits or a small number word, whichever comes first."""
    digit = _NUMBER_RE.search(text)
    word = _WORD_RE.search(text)
    if word and (digit is None or word.start() < digit.start()):
        return _WORDS[word.group(1).lower()]
    return int(digit.group()) if digit else None


def passed(probe: Probe, answer_text: str) -> bool:
    return first_number(answer_text) == probe.answer
