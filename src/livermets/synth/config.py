"""Validated settings of one synthetic-cohort run."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from livermets import __version__
from livermets.errors import ConfigError
from livermets.synth.scanner import PHASES

TASK_NAMES: tuple[str, ...] = (
    "crlm-vs-hemangioma", "crc-vs-pdac", "slm-clinical", "mlm-survival", "multiphase-multiclass",
)
MR_TASKS: tuple[str, ...] = ("slm-clinical",)
MAX_PATIENTS = 100_000


@dataclass(frozen=True)
class SynthConfig:
    """Task, cohort size, seed, number of centres, CT phases and grid coarsening factor."""

    task: str
    patients: int
    seed: int
    centres: int
    phases: tuple[str, ...]
    scale: float

    def fingerprint(self) -> str:
        """A short hash of everything that determines the generated files."""
        payload = json.dumps({**asdict(self), "version": __version__}, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]


def parse_phases(phases: str | Sequence[str] | None) -> tuple[str, ...] | None:
    """Turn ``"arterial,venous"`` or a list of names into a tuple of phase names."""
    if phases is None:
        return None
    items = phases.split(",") if isinstance(phases, str) else list(phases)
    names = [p.strip().lower() for item in items for p in str(item).split(",") if p.strip()]
    return tuple(names) or None


def make_config(task: str, patients: int, seed: int, centres: int = 2,
                phases: str | Sequence[str] | None = None, scale: float = 1.0) -> SynthConfig:
    """Validate the settings; raise ``ConfigError`` saying what is wrong and how to fix it."""
    from livermets.synth.tasks import TASKS

    if task not in TASK_NAMES:
        raise ConfigError(
            f"unknown synthetic task {task!r}: use one of {', '.join(TASK_NAMES)}")
    if isinstance(patients, bool) or not isinstance(patients, int) or not (
            1 <= patients <= MAX_PATIENTS):
        raise ConfigError(
            f"--patients must be a whole number from 1 to {MAX_PATIENTS}, got {patients!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"--seed must be a whole number >= 0, got {seed!r}")
    if centres not in (1, 2):
        raise ConfigError(f"--centres must be 1 or 2, got {centres!r}")
    if not (0.5 <= float(scale) <= 4.0):
        raise ConfigError(f"--scale must lie between 0.5 and 4 (voxel-size factor), got {scale!r}")
    names = parse_phases(phases)
    if task in MR_TASKS:
        if names is not None:
            raise ConfigError(
                f"--phases applies to CT tasks only; {task} is MRI (T2, DWI, ADC): drop --phases")
        resolved: tuple[str, ...] = ()
    else:
        resolved = names if names is not None else TASKS[task].default_phases
        unknown = [p for p in resolved if p not in PHASES]
        if unknown:
            raise ConfigError(
                f"unknown phase(s) {', '.join(unknown)}: use a comma-separated subset of "
                f"{','.join(PHASES)} that includes venous")
        if len(set(resolved)) != len(resolved):
            raise ConfigError(f"--phases lists a phase twice: {','.join(resolved)}")
        if "venous" not in resolved:
            raise ConfigError(
                "--phases must include venous (the manifest's `image` is the portal-venous CT)")
        resolved = tuple(p for p in PHASES if p in resolved)
    return SynthConfig(task, int(patients), int(seed), int(centres), resolved, float(scale))


def centre_of(index: int, patients: int, centres: int) -> str:
    """The centre of patient ``index``: the first 60% (rounded up) are A, the rest B."""
    if centres == 1:
        return "A"
    n_a = max(1, min(patients - 1, -(-patients * 3 // 5)))
    return "A" if index < n_a else "B"
