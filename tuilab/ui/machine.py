"""The hardware the lab plans for: this machine as detected (matched to a profile when one fits), or a
named profile for "what if". Detection joined with the profiles as `tuilab hw` joins them.
"""

from __future__ import annotations

from typing import Protocol

from tuilab.core.hardware import HardwareSpec
from tuilab.hardware.detect import detect_hardware
from tuilab.hardware.sampler import Sample
from tuilab.models import profiles


class SamplerLike(Protocol):
    """What the hardware pane reads: tuilab.hardware.sampler.MemorySampler, or a frozen one in tests."""

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


def detect_machine() -> tuple[HardwareSpec, tuple[str, ...]]:
    """This machine's spec and the warnings a user should see before trusting it."""
    detection = detect_hardware(profiles.match_hardware_profile)
    return detection.spec, detection.warnings


def profile_spec(name: str) -> HardwareSpec:
    return profiles.load_hardware_profile(name)


def profile_names() -> list[str]:
    return profiles.hardware_profile_names()
