"""The prompt a user gives an engine: read it (text, a file or stdin) and refuse what no engine can take.

Undecodable text is refused here, before any model loads, with one line naming the bad byte. A prompt
longer than the context is found only once the model's tokenizer has counted it; both engines raise the
same `prompt_too_long` error for it, a user error (exit 2), not an engine failure.
"""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

from tuilab.core.errors import UsageError

STDIN_NAME = "-"  # `--prompt-file -` reads standard input, as most Unix tools do
# PEP 383: bytes of a command-line argument that are not valid UTF-8 reach Python as lone surrogates
# U+DC80..U+DCFF ("surrogateescape"), one per byte.
_ESCAPED_BYTE_LOW, _ESCAPED_BYTE_HIGH = 0xDC80, 0xDCFF


def check_prompt(text: str, source: str = "--prompt") -> str:
    """`text` if it can be sent to a tokenizer as UTF-8; a UsageError naming the first bad character."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        code = ord(text[exc.start])
        what = (
            f"byte 0x{code - 0xDC00:02x}"
            if _ESCAPED_BYTE_LOW <= code <= _ESCAPED_BYTE_HIGH
            else f"character U+{code:04X}"
        )
        message = f"{source}: the prompt is not valid UTF-8 ({what} at character {exc.start})"
        raise UsageError(message) from None
    return text


def decode_prompt(data: bytes, source: str) -> str:
    """The UTF-8 text of `data`; a UsageError naming the first undecodable byte and its offset."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(
            f"{source}: the prompt is not valid UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start})"
        ) from None


def read_prompt(text: str | None, file: str | None, stdin: BinaryIO, default: str) -> str:
    """The prompt from `--prompt TEXT`, `--prompt-file FILE` (`-`: stdin) or else `default`, checked."""
    if text is not None and file is not None:
        raise UsageError("give --prompt or --prompt-file, not both")
    if file is None:
        return check_prompt(default if text is None else text)
    if file == STDIN_NAME:
        return decode_prompt(stdin.read(), "standard input")
    path = Path(file)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise UsageError(f"{file}: no such file") from None
    except IsADirectoryError:
        raise UsageError(f"{file}: a directory, not a prompt file") from None
    except OSError as exc:
        raise UsageError(f"{file}: cannot read ({exc.strerror or exc})") from None
    return decode_prompt(data, file)


def prompt_too_long(prompt_tokens: int, ctx_tokens: int) -> UsageError:
    """The error both engines raise when the prompt leaves no room in the context to generate."""
    return UsageError(
        f"the prompt has {prompt_tokens} tokens, and the context holds {ctx_tokens}: "
        "shorten the prompt or load a longer context (--ctx)"
    )
