"""The hardware a plan is for: this machine as detected (matched to a profile when one fits), or a named
hardware profile for "what if". The one join of tuilab.hardware's detection and tuilab.models' profiles.

Profiles are parsed once per process and kept: they are package data that does not change while tuilab
runs, and the lab asks for the chosen profile at every status refresh.
"""

from __future__ import annotations

from functools import cache, lru_cache
from pathlib import Path
from typing import Protocol

from tuilab.core.errors import UsageError
from tuilab.core.hardware import HardwareSpec, with_gpu_budget
from tuilab.hardware.detect import Detection, detect_hardware, detect_replay
from tuilab.hardware.sampler import Sample
from tuilab.models import profiles


def detect(replay: str | None = None) -> Detection:
    """Detect this machine (or the one recorded in `replay` by `tuilab hw --record`), matched against the
    hardware profiles."""
    if replay:
        return detect_replay(Path(replay), profiles.match_hardware_profile)
    return detect_hardware(profiles.match_hardware_profile)


def detect_machine() -> tuple[HardwareSpec, tuple[str, ...]]:
    """This machine's spec and the warnings a user should see before trusting it."""
    detection = detect()
    return detection.spec, detection.warnings


def profile_spec(name: str) -> HardwareSpec:
    """A named hardware profile, parsed once per profiles folder; an unknown name raises UnknownNameError
    with close matches (errors are not cached, so a typo is answered every time it is made)."""
    return _profile_spec(name, str(profiles.user_profiles_dir()))


@cache
def _profile_spec(name: str, _user_dir: str) -> HardwareSpec:
    """Keyed by the user's profiles folder too: another TUILAB_HOME's profile of the same name is another."""
    return profiles.load_hardware_profile(name)


@lru_cache(maxsize=1)
def _profile_names() -> tuple[str, ...]:
    return tuple(profiles.hardware_profile_names())


def profile_names() -> list[str]:
    """The hardware profiles' names, listed once per process."""
    return list(_profile_names())


def machine_spec(
    profile: str | None, gpu_budget_bytes: int | None = None, replay: str | None = None
) -> HardwareSpec:
    """The spec to plan for: the named profile, a recorded machine (`replay`), or this machine as
    detected; optionally the GPU capped."""
    if profile and replay:
        raise UsageError("give --hardware or --hw-replay, not both")
    hw = profile_spec(profile) if profile else detect(replay).spec
    return with_gpu_budget(hw, gpu_budget_bytes) if gpu_budget_bytes else hw


class SamplerLike(Protocol):
    """What a live memory view reads: tuilab.hardware.sampler.MemorySampler, or a frozen one in tests."""

    def start(self) -> object: ...
    def stop(self) -> None: ...
    def latest(self) -> Sample | None: ...


class FrozenSampler:
    """A sampler that always returns one recorded sample, so snapshots do not change with the machine."""

    def __init__(self, sample: Sample | None) -> None:
        self.sample = sample

    def start(self) -> FrozenSampler:
        return self

    def stop(self) -> None:
        return None

    def latest(self) -> Sample | None:
        return self.sample


# A budget move smaller than the lab can show is not worth a new plan: the panes print gigabytes with two
# decimals under 10 GB (tuilab.ui.render.gb), so a step of 0.01 GB.
BUDGET_STEP_BYTES = 10_000_000


def budget_moved(old: HardwareSpec, new: HardwareSpec, step_bytes: int = BUDGET_STEP_BYTES) -> bool:
    """Whether a fresh detection changes what a plan may use: the host's budget, the GPU budget or a GPU's
    free memory moved by at least `step_bytes`, or the GPUs themselves changed."""
    if [g.name for g in old.gpus] != [g.name for g in new.gpus]:
        return True
    pairs = [
        (old.host_budget_bytes, new.host_budget_bytes),
        (old.gpu_budget_bytes, new.gpu_budget_bytes),
        *((a.free_bytes, b.free_bytes) for a, b in zip(old.gpus, new.gpus, strict=True)),
    ]
    return any(abs(a - b) >= step_bytes for a, b in pairs)
