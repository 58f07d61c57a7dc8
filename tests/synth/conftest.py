"""Shared synthetic cohorts for the synth tests (generated once per test session and worker)."""

from __future__ import annotations

from pathlib import Path

import pytest

from livermets.synth import generate_cohort, make_config

# The difficulty check: 40 patients at 1.5x voxel size (5-10 s on 2 cores).
DIFFICULTY = {"task": "crlm-vs-hemangioma", "patients": 40, "seed": 2024, "scale": 1.5}


@pytest.fixture(scope="session")
def crlm_cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 40-patient crlm-vs-hemangioma cohort."""
    out = tmp_path_factory.mktemp("crlm")
    generate_cohort(make_config(**DIFFICULTY), out, workers=2)
    return out


@pytest.fixture(scope="session")
def small_cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 3-patient coarse crlm-vs-hemangioma cohort (both centres)."""
    out = tmp_path_factory.mktemp("small")
    generate_cohort(make_config("crlm-vs-hemangioma", 3, 7, scale=2.0), out, workers=1)
    return out
