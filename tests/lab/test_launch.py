"""tuilab.lab.launch: what a run loads, or why it is refused, the same for `tuilab run` and the lab.

The refusal needs a machine too small for the tiny model: a real profile with its GPU removed and 64 MiB
of RAM free (no test machine is that small)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tuilab.core.errors import FitRefusedError, UsageError
from tuilab.core.hardware import MIB, HardwareSpec
from tuilab.lab.launch import prepare_run, resolve_for_run
from tuilab.lab.machine import profile_spec
from tuilab.lab.planning import FitQuery
from tuilab.models.tiny import TinyModels


def small_machine() -> HardwareSpec:
    return replace(profile_spec("rtx-3060-12gb"), gpus=(), ram_available_bytes=64 * MIB, os_reserve_bytes=0)


class TestALaunch:
    def test_loads_what_the_plan_says(self, tiny_models: TinyModels) -> None:
        model = resolve_for_run(str(tiny_models.gguf_f16), None)
        launch = prepare_run(model, profile_spec("rtx-3060-12gb"), FitQuery(ctx_tokens=512), threads=1)
        assert launch.spec.ctx_tokens == launch.fit.ctx_tokens == 512
        assert launch.spec.gpu_layers == launch.fit.gpu_layers and launch.spec.threads == 1
        assert launch.warning is None and launch.note is None

    def test_carries_the_clamp_note(self, tiny_models: TinyModels) -> None:
        model = resolve_for_run(str(tiny_models.gguf_f16), None)
        launch = prepare_run(model, profile_spec("rtx-3060-12gb"), FitQuery(ctx_tokens=10**6))
        assert launch.spec.ctx_tokens == 2048 and launch.note is not None and "2048" in launch.note


class TestARefusal:
    def test_names_the_numbers_and_the_reason(self, tiny_models: TinyModels) -> None:
        model = resolve_for_run(str(tiny_models.gguf_f16), None)
        with pytest.raises(FitRefusedError, match="will not fit") as refused:
            prepare_run(model, small_machine(), FitQuery())
        assert "KV cache" in str(refused.value) and "0.07 GB RAM" in str(refused.value)

    def test_is_a_warning_when_forced(self, tiny_models: TinyModels) -> None:
        model = resolve_for_run(str(tiny_models.gguf_f16), None)
        launch = prepare_run(model, small_machine(), FitQuery(), force=True)
        assert launch.warning is not None and "will not fit" in launch.warning


class TestWhatCannotRun:
    def test_a_profile_has_no_weights(self) -> None:
        with pytest.raises(UsageError, match="profile without weights"):
            resolve_for_run("llama-3-8b", None)

    def test_a_gguf_on_mlx(self, tiny_models: TinyModels) -> None:
        with pytest.raises(UsageError, match="GGUF"):
            resolve_for_run(str(tiny_models.gguf_f16), "mlx")
