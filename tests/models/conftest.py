"""Small synthetic feature tables for the model tests."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from livermets.models import FeatureData


def make_data(n_patients: int = 40, per_patient: int = 2, n_noise: int = 15, effect: float = 1.5,
              seed: int = 0) -> FeatureData:
    """Lesion-level data: one informative feature, a near-copy of it, and noise features."""
    rng = np.random.default_rng(seed)
    pid = np.repeat([f"P{i:03d}" for i in range(n_patients)], per_patient)
    n = len(pid)
    y = rng.integers(0, 2, n)
    X = pd.DataFrame(rng.normal(size=(n, n_noise)), columns=[f"noise_{i}" for i in range(n_noise)])
    X.insert(0, "signal", rng.normal(size=n) + effect * y)
    X.insert(1, "signal_copy", X["signal"] + 0.3 * rng.normal(size=n))
    lesion = np.tile([f"L{k}" for k in range(per_patient)], n_patients)
    return FeatureData(X, y, [0, 1], pid, lesion)


@pytest.fixture
def data() -> FeatureData:
    """40 patients x 2 lesions with a planted signal."""
    return make_data()
