"""Calibration against predRupdate (SYNPM, model 1) and blorr (hsb2 Hosmer-Lemeshow)."""

from __future__ import annotations

import numpy as np
import pytest

from livermets.errors import ConfigError, DataError
from livermets.stats import (
    calibration,
    calibration_curve,
    hosmer_lemeshow,
    roc_auc,
    smoothed_calibration,
)


def test_synpm_matches_predrupdate(synpm_prob: tuple) -> None:
    # predRupdate tests/testthat/_snaps/pred_validate_logistic.md, summary(pred_validate(
    # SYNPM$Existing_logistic_models[1, ], SYNPM$ValidationData, "Y")).
    y, p = synpm_prob
    res = calibration(y, p)
    assert res.oe_ratio.value == pytest.approx(1.9006, abs=5e-5)
    assert res.oe_ratio.ci == pytest.approx((1.8368, 1.9666), abs=5e-5)
    assert res.intercept.value == pytest.approx(0.7323, abs=5e-5)
    assert res.intercept.ci == pytest.approx((0.6921, 0.7726), abs=5e-5)
    assert res.slope.value == pytest.approx(0.6484, abs=5e-5)
    assert res.slope.ci == pytest.approx((0.5576, 0.7392), abs=5e-5)
    assert res.brier.value == pytest.approx(0.1249, abs=5e-5)
    assert res.brier.ci == pytest.approx((0.1219, 0.1279), abs=5e-5)
    auc = roc_auc(y, p)  # same snapshot: AUC 0.5814 (0.5702, 0.5927)
    assert auc.auc == pytest.approx(0.5814, abs=5e-5)
    assert auc.ci == pytest.approx((0.5702, 0.5927), abs=5e-5)


def test_hosmer_lemeshow_matches_blorr(hsb2_prob: tuple) -> None:
    # blorr README blr_test_hosmer_lemeshow(model): Chi-Square 4.4998, DF 8, Pr > ChiSq 0.8095,
    # partition table group 5 holds 21 cases with 3 observed and 2.72 expected events.
    y, p = hsb2_prob
    hl = hosmer_lemeshow(y, p)
    assert hl.chi2 == pytest.approx(4.4998, abs=5e-5)
    assert hl.df == 8
    assert hl.p == pytest.approx(0.8095, abs=5e-5)
    assert hl.table["total"].tolist() == [20, 20, 20, 20, 21, 19, 20, 20, 20, 20]
    assert hl.table["observed_1"].tolist() == [0, 0, 2, 1, 3, 3, 7, 10, 13, 14]
    assert hl.table["expected_1"].round(2).tolist() == [0.16, 0.53, 0.99, 1.64, 2.72, 4.05, 6.50,
                                                        8.90, 11.49, 16.02]


def test_curves(hsb2_prob: tuple) -> None:
    y, p = hsb2_prob
    binned = calibration_curve(y, p, bins=5)
    assert binned["n"].sum() == 200
    assert np.all(binned["ci_lower"] <= binned["observed"])
    smooth = smoothed_calibration(y, p, points=11)
    assert len(smooth) == 11 and smooth["observed"].between(0, 1).all()


def test_perfectly_calibrated_data_give_ideal_values() -> None:
    rng = np.random.default_rng(0)
    p = rng.uniform(0.05, 0.95, 20000)
    y = rng.random(20000) < p
    res = calibration(y, p)
    assert res.intercept.ci[0] < 0 < res.intercept.ci[1]
    assert res.slope.ci[0] < 1 < res.slope.ci[1]
    assert res.oe_ratio.ci[0] < 1 < res.oe_ratio.ci[1]


def test_bad_probabilities() -> None:
    with pytest.raises(DataError):
        calibration([0, 1, 0, 1], [0.1, 1.2, 0.3, 0.4])
    with pytest.raises(ConfigError):
        hosmer_lemeshow([0, 1, 0, 1], [0.1, 0.2, 0.3, 0.4], groups=2)
