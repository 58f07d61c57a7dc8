"""Fixtures: the read-only reference data sets of the published R packages (../shared/data)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

REFERENCE = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "reference"


@pytest.fixture(scope="session")
def reference() -> Path:
    """Folder of the reference data sets."""
    assert REFERENCE.is_dir(), f"reference data missing at {REFERENCE}"
    return REFERENCE


@pytest.fixture(scope="session")
def asah(reference: Path) -> pd.DataFrame:
    """pROC's aSAH data (113 patients, outcome Good/Poor)."""
    return pd.read_csv(reference / "proc_asah" / "aSAH.csv")


@pytest.fixture(scope="session")
def synpm_prob(reference: Path) -> tuple[pd.Series, np.ndarray]:
    """predRupdate SYNPM validation outcome and risks of the first existing logistic model."""
    data = pd.read_csv(reference / "calibration" / "SYNPM_ValidationData.csv")
    coefs = pd.read_csv(reference / "calibration" / "SYNPM_Existing_logistic_models.csv").iloc[0]
    lp = coefs["Intercept"] + sum(
        coefs[k] * data[k] for k in ["Age", "SexM", "Smoking_Status", "Diabetes", "Creatinine"]
    )
    return data["Y"], 1 / (1 + np.exp(-lp.to_numpy()))


@pytest.fixture(scope="session")
def hsb2_prob(reference: Path) -> tuple[pd.Series, np.ndarray]:
    """blorr's hsb2 outcome and fitted risks of glm(honcomp ~ female + read + science)."""
    import statsmodels.api as sm

    data = pd.read_csv(reference / "calibration" / "hsb2.csv")
    x = sm.add_constant(data[["female", "read", "science"]].astype(float))
    fit = sm.GLM(data["honcomp"], x, family=sm.families.Binomial()).fit()
    return data["honcomp"], np.asarray(fit.fittedvalues)


@pytest.fixture(scope="session")
def vandyke(reference: Path) -> pd.DataFrame:
    """Van Dyke reader study as distributed with MRMCaov (5 readers, 2 treatments, 114 cases)."""
    return pd.read_csv(reference / "mrmc_vandyke" / "VanDyke_MRMCaov.csv")
