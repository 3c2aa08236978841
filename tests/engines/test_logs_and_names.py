"""Log capture, exit descriptions and engine/KV names: the engine plumbing that needs no engine."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tuilab.core.errors import UnknownNameError, UsageError
from tuilab.engines.client import describe_exit
from tuilab.engines.logs import GGML_LOG_CONT, GGML_LOG_DEBUG, LogRing, buffer_total, file_tail
from tuilab.engines.protocol import BufferSize, check_kv_type, engine_name

INFO, ERROR = 2, 4  # ggml_log_level (ggml/include/ggml.h)

# Recorded from llama-cpp-python 0.3.36 loading the tiny F16 GGUF on this CPU box.
RECORDED_LOAD_LINES = [
    "load_tensors:   CPU_Mapped model buffer size =     2.75 MiB\n",
    "llama_context:        CPU  output buffer size =     0.00 MiB\n",
    "llama_kv_cache:        CPU KV buffer size =     0.50 MiB\n",
    "sched_reserve:        CPU compute buffer size =     4.51 MiB\n",
]


class TestLogRing:
    def test_fragments_join_into_lines(self) -> None:
        ring = LogRing()
        for piece in ("llama_model_load: ", "error loading", " model\n", "next"):
            ring.add(INFO, piece)
        assert ring.tail() == ["llama_model_load: error loading model", "next"]

    def test_debug_output_and_its_continuations_are_dropped(self) -> None:
        ring = LogRing()
        ring.add(GGML_LOG_DEBUG, "create_tensor: loading ")
        ring.add(GGML_LOG_CONT, "blk.0.attn_q.weight\n")
        ring.add(ERROR, "failed to open\n")
        ring.add(GGML_LOG_CONT, "really\n")
        assert ring.tail() == ["failed to open", "really"]

    def test_keeps_only_the_last_lines(self) -> None:
        ring = LogRing(max_lines=3)
        for i in range(10):
            ring.add(INFO, f"line {i}\n")
        assert ring.tail() == ["line 7", "line 8", "line 9"]

    def test_buffer_sizes_are_read_from_the_load_log(self) -> None:
        ring = LogRing()
        for line in RECORDED_LOAD_LINES:
            ring.add(INFO, line)
        assert buffer_total(ring.buffers, "model") == round(2.75 * 1024**2)
        assert buffer_total(ring.buffers, "KV") == round(0.5 * 1024**2)
        assert buffer_total(ring.buffers, "compute") == round(4.51 * 1024**2)
        assert buffer_total(ring.buffers, "missing") is None

    def test_device_buffers_sum_across_devices(self) -> None:
        buffers = [
            BufferSize("CUDA0", "model", 100),
            BufferSize("CUDA1", "model", 50),
            BufferSize("CPU", "model", 7),
        ]
        assert buffer_total(buffers, "model") == 157


class TestFileTail:
    def test_last_non_empty_lines(self, tmp_path: Path) -> None:
        log = tmp_path / "w.log"
        log.write_text("".join(f"line {i}\n\n" for i in range(100)))
        assert file_tail(log, n_lines=2) == ["line 98", "line 99"]

    def test_a_missing_file_is_no_lines(self, tmp_path: Path) -> None:
        assert file_tail(tmp_path / "gone.log") == []


class TestDescribeExit:
    @pytest.mark.parametrize(
        ("exit_code", "expected"),
        [
            (-signal.SIGKILL, "SIGKILL"),
            (-signal.SIGABRT, "SIGABRT"),
            (-signal.SIGSEGV, "SIGSEGV"),
            (-signal.SIGUSR1, "SIGUSR1"),
            (3, "status 3"),
            (None, "stopped answering"),
        ],
        ids=["oom-or-kill", "native-abort", "segfault", "other-signal", "exit-status", "hung"],
    )
    def test_names_the_cause(self, exit_code: int | None, expected: str) -> None:
        assert expected in describe_exit(exit_code)


class TestNames:
    @pytest.mark.parametrize(
        ("typed", "name"), [("llama", "llama.cpp"), ("LLAMA.CPP", "llama.cpp"), ("mlx", "mlx")]
    )
    def test_engine_aliases(self, typed: str, name: str) -> None:
        assert engine_name(typed) == name

    def test_unknown_engine_suggests(self) -> None:
        with pytest.raises(UnknownNameError, match="mlx"):
            engine_name("mlxx")

    @pytest.mark.parametrize(("engine", "kv"), [("llama.cpp", "mlx-kv8"), ("mlx", "q8_0")])
    def test_kv_type_of_the_other_engine_is_refused(self, engine: str, kv: str) -> None:
        with pytest.raises(UsageError, match="not offered"):
            check_kv_type(engine, kv)

    @pytest.mark.parametrize(("engine", "kv"), [("llama.cpp", "Q8_0"), ("mlx", "mlx-kv4"), ("mlx", "f16")])
    def test_kv_type_of_the_engine_is_accepted(self, engine: str, kv: str) -> None:
        assert check_kv_type(engine, kv) == kv.lower()
