"""A small byte-level BPE tokenizer built locally, written both as llama.cpp GGUF metadata and as a
Hugging Face tokenizer.json, so the tiny models need no download and tokenize the same in both engines.
The merges are learned from a fixed English paragraph, so the result is the same on every machine.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from dataclasses import dataclass

import gguf

BOS_TOKEN, EOS_TOKEN = "<|begin_of_text|>", "<|end_of_text|>"

# Text the BPE merges are learned from; any English prose works, it only has to be fixed.
_CORPUS = """The quick brown fox jumps over the lazy dog. A small model runs on a laptop, and a large one
needs a server with a lot of memory. When the weights are stored in four bits instead of sixteen, the
file is four times smaller and the tokens come out faster, because generation reads every weight once
per token. The prompt is processed in parallel, so the time to the first token depends on compute,
while the speed of generation depends on memory bandwidth. There is a trade between quality and size:
at eight bits the loss is hard to measure, at four bits it is small, and at two bits the model starts
to forget what it knew. This lab measures the trade on your own machine. It reads the model file, the
hardware, and the settings, then predicts whether the model will fit and how fast it will run, and
finally it runs the model and shows the measured numbers next to the predicted ones. Hello world! 1234
"""
_WORD_RE = re.compile(r" ?[A-Za-z]+| ?[0-9]+| ?[^\sA-Za-z0-9]+|\s+")
# 256 byte tokens + 254 merges + BOS + EOS = 512, the tiny vocabulary exactly.
_MAX_MERGES = 254


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte -> printable character map (openai/gpt-2 src/encoder.py)."""
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), ord("ÿ") + 1),
    ]
    mapping, extra = {b: chr(b) for b in printable}, 0
    for b in range(256):
        if b not in mapping:
            mapping[b], extra = chr(256 + extra), extra + 1
    return mapping


@dataclass(frozen=True)
class Vocab:
    """A byte-level BPE vocabulary in id order, with merges by rank."""

    tokens: tuple[str, ...]
    token_types: tuple[int, ...]
    merges: tuple[tuple[str, str], ...]
    bos_id: int
    eos_id: int

    def text_of(self, token_id: int) -> bytes:
        """The bytes a token stands for; specials and reserved tokens are empty."""
        if self.token_types[token_id] != gguf.TokenType.NORMAL:
            return b""
        unbyte = {c: b for b, c in _bytes_to_unicode().items()}
        return bytes(unbyte[c] for c in self.tokens[token_id])


def _learn_merges(n_merges: int) -> list[tuple[str, str]]:
    byte_char = _bytes_to_unicode()
    words: Counter[tuple[str, ...]] = Counter(
        tuple(byte_char[b] for b in w.encode()) for w in _WORD_RE.findall(_CORPUS)
    )
    merges: list[tuple[str, str]] = []
    while len(merges) < n_merges:
        pairs: Counter[tuple[str, str]] = Counter()
        for word, count in words.items():
            for pair in itertools.pairwise(word):
                pairs[pair] += count
        if not pairs:
            break
        best = max(pairs, key=lambda p: (pairs[p], p))  # ties broken by the pair itself: deterministic
        merges.append(best)
        words = Counter({_merge_word(w, best): c for w, c in words.items()})
    return merges


def _merge_word(word: tuple[str, ...], pair: tuple[str, str]) -> tuple[str, ...]:
    out: list[str] = []
    i = 0
    while i < len(word):
        if i + 1 < len(word) and (word[i], word[i + 1]) == pair:
            out.append(word[i] + word[i + 1])
            i += 2
        else:
            out.append(word[i])
            i += 1
    return tuple(out)


def build_vocab(vocab_size: int) -> Vocab:
    """Bytes, learned merges, BOS/EOS, then reserved tokens up to `vocab_size`."""
    tokens = list(_bytes_to_unicode()[b] for b in range(256))
    merges = _learn_merges(min(_MAX_MERGES, vocab_size - 258))
    for a, b in merges:
        if a + b not in tokens:
            tokens.append(a + b)
    types = [int(gguf.TokenType.NORMAL)] * len(tokens)
    bos_id = len(tokens)
    tokens += [BOS_TOKEN, EOS_TOKEN]
    types += [int(gguf.TokenType.CONTROL)] * 2
    n_reserved = vocab_size - len(tokens)
    tokens += [f"<|reserved_{i}|>" for i in range(n_reserved)]
    types += [int(gguf.TokenType.UNUSED)] * n_reserved
    return Vocab(tuple(tokens), tuple(types), tuple(merges), bos_id, bos_id + 1)


def hf_tokenizer_json(vocab: Vocab) -> dict[str, object]:
    """tokenizer.json for HF `tokenizers`: byte-level BPE with GPT-2's split regex, BOS prepended, which is
    what llama.cpp does for tokenizer.ggml.model=gpt2, pre=gpt-2, add_bos_token=true (src/llama-vocab.cpp)."""
    special = {"normalized": False, "single_word": False, "lstrip": False, "rstrip": False, "special": True}
    bos = {"SpecialToken": {"id": BOS_TOKEN, "type_id": 0}}
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [
            {"id": i, "content": vocab.tokens[i], **special} for i in (vocab.bos_id, vocab.eos_id)
        ],
        "normalizer": None,
        "pre_tokenizer": {
            "type": "ByteLevel",
            "add_prefix_space": False,
            "trim_offsets": True,
            "use_regex": True,
        },
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [bos, {"Sequence": {"id": "A", "type_id": 0}}],
            "pair": [bos, {"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}],
            "special_tokens": {BOS_TOKEN: {"id": BOS_TOKEN, "ids": [vocab.bos_id], "tokens": [BOS_TOKEN]}},
        },
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {
            "type": "BPE",
            "dropout": None,
            "unk_token": None,
            "continuing_subword_prefix": None,
            "end_of_word_suffix": None,
            "fuse_unk": False,
            "byte_fallback": False,
            "ignore_merges": False,
            "vocab": {tok: i for i, tok in enumerate(vocab.tokens)},
            "merges": [list(m) for m in vocab.merges],
        },
    }
