"""Engine log capture: a ring of the last lines an engine printed, and the allocations they announce.

Engine logs never reach the terminal. llama.cpp's log callback feeds a `LogRing`; everything else a worker
prints (native aborts included) lands in its log file, whose tail the caller reads when the worker dies.
"""

from __future__ import annotations

import os
import re
from collections import deque
from collections.abc import Iterable
from pathlib import Path
from typing import TextIO

from tuilab.engines.protocol import BufferSize

# ggml_log_level in ggml/include/ggml.h: NONE 0, DEBUG 1, INFO 2, WARN 3, ERROR 4, CONT 5.
GGML_LOG_DEBUG = 1
GGML_LOG_CONT = 5

# Lines like "load_tensors:   CUDA0 model buffer size =  4403.49 MiB" and
# "llama_kv_cache:   CPU KV buffer size = 64.00 MiB" (llama.cpp src/llama-model.cpp, llama-kv-cache.cpp,
# llama-context.cpp).
_BUFFER_RE = re.compile(r"(\S+)\s+(model|KV|compute|output) buffer size\s*=\s*([\d.]+) MiB")
_MIB = 1024**2
# A debug line, kept even though debug output is dropped: "tensor blk.0.ffn_up_exps.weight (0 MiB q4_0)
# buffer type overridden to CPU_REPACK" (llama-model.cpp load_tensors, a tensor_buft_overrides match).
_OVERRIDDEN_RE = re.compile(r"tensor (\S+) \(.*\) buffer type overridden to (\S+)")


class LogRing:
    """The last `max_lines` complete log lines; fragments are joined until a newline arrives."""

    def __init__(self, max_lines: int = 200, echo: TextIO | None = None) -> None:
        self._lines: deque[str] = deque(maxlen=max_lines)
        self._partial = ""
        self._skipping = False
        self._echo = echo
        self.buffers: list[BufferSize] = []
        self.overridden: list[tuple[str, str]] = []  # (tensor, buffer type) a placement override chose

    def add(self, level: int, text: str) -> None:
        """Take one llama.cpp log callback; debug output is dropped (it is hundreds of lines a load) except
        the lines naming where an override put a tensor."""
        if level != GGML_LOG_CONT:
            self._skipping = level == GGML_LOG_DEBUG
        if self._skipping:
            if (match := _OVERRIDDEN_RE.search(text)) is not None:
                self.overridden.append((match.group(1), match.group(2)))
            return
        self._partial += text
        while "\n" in self._partial:
            line, self._partial = self._partial.split("\n", 1)
            self._add_line(line)

    def _add_line(self, line: str) -> None:
        self._lines.append(line)
        match = _BUFFER_RE.search(line)
        if match:
            device, kind, mib = match.groups()
            self.buffers.append(BufferSize(device, kind, round(float(mib) * _MIB)))
        if self._echo is not None:
            self._echo.write(line + "\n")

    def tail(self, n_lines: int = 40) -> list[str]:
        lines = list(self._lines)
        if self._partial:
            lines.append(self._partial)
        return lines[-n_lines:]

    def clear_buffers(self) -> None:
        self.buffers.clear()
        self.overridden.clear()


def buffer_total(buffers: Iterable[BufferSize], kind: str) -> int | None:
    """Sum of the reported buffers of one kind over all devices, None if none was reported."""
    sizes = [b.n_bytes for b in buffers if b.kind == kind]
    return sum(sizes) if sizes else None


def file_tail(path: Path, n_lines: int = 40, max_bytes: int = 64 * 1024) -> list[str]:
    """The last lines of a log file, reading at most `max_bytes` from its end; [] if it is gone."""
    try:
        with path.open("rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - max_bytes))
            data = f.read()
    except OSError:
        return []
    lines = data.decode("utf-8", errors="replace").splitlines()
    return [line for line in lines if line.strip()][-n_lines:]
