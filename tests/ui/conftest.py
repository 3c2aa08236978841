"""Fixtures for the lab's tests: an app on recorded hardware (an RTX 3060 profile standing in for this
machine, and one frozen memory sample), and helpers to wait on it with the pilot.

No test reads live hardware, so snapshots are the same on every machine.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from ui_helpers import until_ready

from tuilab.bench.ladder import LadderOptions
from tuilab.core.hardware import GIB, HardwareSpec
from tuilab.hardware.sampler import GpuSample, Sample
from tuilab.lab.machine import FrozenSampler, detect_machine
from tuilab.models.discovery import FoundModel
from tuilab.models.profiles import load_hardware_profile
from tuilab.ui.app import ModelFinder, TuilabApp

RECORDED_MACHINE_PROFILE = "rtx-3060-12gb"
# One sample as `tuilab hw --watch` printed it on a 32 GiB desktop with a 12 GiB RTX 3060 at idle.
RECORDED_SAMPLE = Sample(
    time_s=0.0,
    ram_total_bytes=32 * GIB,
    ram_available_bytes=24 * GIB,
    swap_used_bytes=0,
    process_rss_bytes=180 * 1024**2,
    gpus=(GpuSample(0, used_bytes=int(0.6 * GIB), total_bytes=12 * GIB, power_w=17.0),),
)


def recorded_machine() -> tuple[HardwareSpec, tuple[str, ...]]:
    spec = replace(load_hardware_profile(RECORDED_MACHINE_PROFILE), is_profile=False)
    return spec, ()


def no_models(dirs: object = ()) -> list[FoundModel]:
    """Discovery that finds nothing on disk: the demo and the profiles only, the same on every machine."""
    return []


def handed_over_when_ready(app: TuilabApp) -> TuilabApp:
    """`app.run_test()` hands the pilot over at the app's ready point, not at its first frame: the settings
    and the machine are read on a thread, so a test that drives the app at once would race them."""
    run_test = app.run_test

    @asynccontextmanager
    async def run_test_when_ready(*args: Any, **kwargs: Any) -> AsyncIterator[Pilot[Any]]:
        async with run_test(*args, **kwargs) as pilot:
            await until_ready(pilot)
            yield pilot

    app.run_test = run_test_when_ready  # type: ignore[method-assign,assignment]
    return app


@pytest.fixture
def make_app(tmp_path: Path) -> Callable[..., TuilabApp]:
    """An app with its own settings dir; recorded hardware unless `live=True` (for real engine runs), or
    the given `machine` source. Its pilot is handed over at the app's ready point."""

    def make(
        *, live: bool = False, max_tokens: int = 64, config_dir: Path | None = None,
        ladder_options: LadderOptions | None = None, find_models: ModelFinder = no_models,
        machine: Callable[[], tuple[HardwareSpec, tuple[str, ...]]] | None = None, **options: Any,
    ) -> TuilabApp:  # fmt: skip
        return handed_over_when_ready(
            TuilabApp(
                machine=machine or (detect_machine if live else recorded_machine),
                sampler=FrozenSampler(RECORDED_SAMPLE),
                find_models=find_models,
                config_dir=config_dir or tmp_path,
                max_tokens=max_tokens,
                ladder_options=ladder_options,
                **options,
            )
        )

    return make


@pytest.fixture
def anyio_backend() -> str:
    """Pilot tests run on asyncio, as Textual does (anyio's pytest plugin runs the async tests)."""
    return "asyncio"


LADDER_FIXTURE = Path(__file__).parent / "fixtures" / "ladder-demo.toml"


@pytest.fixture
def ladder_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This test's own TUILAB_HOME, holding one recorded ladder of the demo (fixtures/ladder-demo.toml)."""
    home = tmp_path / "home"
    history = home / "data" / "ladder" / "tuilab-tiny-random-weights--amd-epyc.toml"
    history.parent.mkdir(parents=True)
    history.write_text(LADDER_FIXTURE.read_text())
    monkeypatch.setenv("TUILAB_HOME", str(home))
    return home
