"""The evaluation and calibration texts of the ladder, generated here from a fixed seed.

Plain English prose from a small grammar: the same text on every machine and Python version (no network,
no dataset download), with its SHA-256 recorded next to every result so numbers are only compared on
the same text. Perplexity on it is a relative measure between rungs, not a benchmark score.
"""

from __future__ import annotations

import hashlib
import random

EVAL_SEED = 20240611  # any fixed number: changing it changes the text, and so every recorded result
CALIBRATION_SEED = 7  # a different stream, so an importance matrix is never fitted to the eval text

_SUBJECTS = (
    "the old miller", "a young teacher", "the river pilot", "my grandmother", "the night nurse",
    "a tired engineer", "the village baker", "our neighbour", "the ship's cook", "a quiet student",
    "the mayor", "the librarian", "a travelling painter", "the station master", "two fishermen",
)  # fmt: skip
_VERBS = (
    "carried", "repaired", "counted", "painted", "found", "sold", "opened", "watched", "measured",
    "borrowed", "cleaned", "described", "forgot", "collected", "followed",
)  # fmt: skip
_OBJECTS = (
    "a basket of apples", "the broken clock", "three letters", "the wooden bridge", "a map of the coast",
    "the heavy door", "an empty bottle", "the winter coats", "a box of nails", "the morning paper",
    "the garden gate", "a bag of flour", "the last lantern", "the old piano", "a pair of boots",
)  # fmt: skip
_PLACES = (
    "near the harbour", "before the storm", "after supper", "in the market square", "behind the church",
    "at the edge of the forest", "on the way home", "during the long winter", "by the railway line",
    "under the bridge", "in the small kitchen", "at dawn", "across the valley", "beside the well",
)  # fmt: skip
_REASONS = (
    "because the roads were closed", "so that nobody would worry", "although it had started to rain",
    "while the children slept", "since the shop would open late", "as the bells rang for noon",
    "before anyone else could ask", "when the wind finally changed",
)  # fmt: skip
_CLOSERS = (
    "Nobody said a word about it afterwards.", "It was the kind of day people remember.",
    "Later that week the weather turned cold.", "The town was quieter than usual.",
    "Everyone agreed it had been worth the trouble.", "By evening the streets were empty again.",
)  # fmt: skip


def _sentence(rng: random.Random) -> str:
    subject = rng.choice(_SUBJECTS)
    body = f"{subject} {rng.choice(_VERBS)} {rng.choice(_OBJECTS)} {rng.choice(_PLACES)}"
    if rng.random() < 0.5:
        body += f" {rng.choice(_REASONS)}"
    return body[0].upper() + body[1:] + "."


def _paragraph(rng: random.Random) -> str:
    sentences = [_sentence(rng) for _ in range(rng.randint(3, 6))]
    if rng.random() < 0.4:
        sentences.append(rng.choice(_CLOSERS))
    return " ".join(sentences)


def generated_text(seed: int, n_chars: int) -> str:
    """Paragraphs of prose from `seed` until the text is at least `n_chars` long."""
    rng = random.Random(seed)
    paragraphs: list[str] = []
    length = 0
    while length < n_chars:
        paragraphs.append(_paragraph(rng))
        length += len(paragraphs[-1]) + 2
    return "\n\n".join(paragraphs)


def eval_text(n_chars: int = 60_000) -> str:
    """The evaluation text: 60k characters is about 13k tokens with a Llama 3 tokenizer (~4.5 characters
    a token in English), more than the windows a default ladder scores."""
    return generated_text(EVAL_SEED, n_chars)


def calibration_text(n_chars: int = 30_000) -> str:
    return generated_text(CALIBRATION_SEED, n_chars)


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
