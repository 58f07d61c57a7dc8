"""Decision curves against dcurves tests/testthat/test-dca.R (ddsjoberg/dcurves)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from livermets.errors import ConfigError, DataError
from livermets.stats import decision_curve, decision_curve_survival, parse_thresholds

THR = parse_thresholds("0:0.99:0.01")


def _at(res, value: float) -> tuple[float, float, float]:
    k = int(np.flatnonzero(np.isclose(res.thresholds, value))[0])
    return res.treat_all[k], res.treat_none[k], res.model[k]


def test_binary(reference: Path) -> None:
    # dca(cancer ~ cancerpredmarker, df_binary) at 0.25: all, none, model.
    df = pd.read_csv(reference / "dcurves" / "df_binary.csv")
    res = decision_curve(df["cancer"], df["cancerpredmarker"], THR)
    assert _at(res, 0.25) == pytest.approx((-0.1466667, 0.0, 0.0640000), abs=1e-6)


def test_binary_threshold_zero(reference: Path) -> None:
    # dca(cancer ~ famhistory, df_binary, thresholds = 0): net benefit c(0.140, 0, 0.032).
    df = pd.read_csv(reference / "dcurves" / "df_binary.csv")
    res = decision_curve(df["cancer"], df["famhistory"], [0.0])
    assert _at(res, 0.0) == pytest.approx((0.140, 0.0, 0.032), abs=1e-12)


def test_case_control(reference: Path) -> None:
    # dca(casecontrol ~ cancerpredmarker, df_case_control, prevalence = 0.15) at 0.25.
    df = pd.read_csv(reference / "dcurves" / "df_case_control.csv")
    res = decision_curve(df["casecontrol"], df["cancerpredmarker"], THR, prevalence=0.15)
    assert _at(res, 0.25) == pytest.approx((-0.13333333, 0.0, 0.01495671), abs=1e-8)


def test_survival(reference: Path) -> None:
    # dca(Surv(ttcancer, cancer) ~ cancerpredmarker, df_surv, time = 1) at 0.25.
    df = pd.read_csv(reference / "dcurves" / "df_surv.csv")
    res = decision_curve_survival(df["ttcancer"], df["cancer"], df["cancerpredmarker"], 1.0, THR)
    assert _at(res, 0.25) == pytest.approx((-0.13695058, 0.0, 0.05695371), abs=1e-8)


def test_threshold_parsing_and_errors() -> None:
    assert parse_thresholds("0:0.99:0.01").size == 100
    assert parse_thresholds("0.1:0.3:0.1").tolist() == [0.1, 0.2, 0.3]
    with pytest.raises(ConfigError):
        parse_thresholds("0-1")
    with pytest.raises(ConfigError):
        decision_curve([0, 1], [0.2, 0.4], [1.0])
    with pytest.raises(DataError):
        decision_curve([1, 1], [0.2, 0.4], [0.1])
    with pytest.raises(DataError):
        decision_curve_survival([1, 2], [1, 0], [0.2, 0.4], horizon=10)
