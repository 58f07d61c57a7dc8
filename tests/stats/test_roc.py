"""ROC/AUC against pROC's published values on aSAH (tests/testthat of xrobin/pROC)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from livermets.errors import ConfigError, DataError, LivermetsError
from livermets.stats import multiclass_auc, partial_auc, roc_auc, roc_curve

# pROC tests/testthat/test-var.R (var of r.wfns, r.ndka, r.s100b) and print_output/r.* files;
# test-ci.auc.R expected.ci.auc for ndka; the s100b CI 0.6301-0.8326 is print(ci(roc(...))).
CASES = [
    ("s100b", 0.7314, (0.6301, 0.8326), 0.00266868245717244),
    ("wfns", 0.8237, (0.7485, 0.8988), 0.00146991470882363),
    ("ndka", 0.611957994579946, (0.501244999271703, 0.722670989888189), 0.0031908105493913),
]


@pytest.mark.parametrize(("marker", "auc", "ci", "var"), CASES)
def test_auc_delong_matches_proc(asah: pd.DataFrame, marker: str, auc: float, ci: tuple,
                                 var: float) -> None:
    res = roc_auc(asah["outcome"], asah[marker], positive="Poor")
    assert res.auc == pytest.approx(auc, abs=5e-5)
    assert res.ci == pytest.approx(ci, abs=5e-5)
    assert res.variance == pytest.approx(var, rel=1e-9)
    assert (res.n_pos, res.n_neg, res.direction) == (41, 72, "<")


def test_direction_greater_gives_same_ci(asah: pd.DataFrame) -> None:
    # pROC test-ci.auc.R: ci.auc(aSAH$outcome, -aSAH$ndka) equals the CI of ndka.
    res = roc_auc(asah["outcome"], -asah["ndka"], positive="Poor")
    assert res.direction == ">"
    assert res.ci == pytest.approx((0.501244999271703, 0.722670989888189), abs=1e-12)


@pytest.mark.parametrize(
    ("focus", "expected"), [("specificity", 0.02983), ("sensitivity", 0.01376)]
)
def test_partial_auc_matches_proc(asah: pd.DataFrame, focus: str, expected: float) -> None:
    # pROC print_output/r.s100b.partial1 and r.s100b.partial2: partial.auc = c(0.9, 0.99).
    got = partial_auc(asah["outcome"], asah["s100b"], positive="Poor", limits=(0.9, 0.99),
                      focus=focus)  # type: ignore[arg-type]
    assert got == pytest.approx(expected, abs=5e-6)


def test_partial_auc_full_range_is_auc_and_correction_bounds(asah: pd.DataFrame) -> None:
    full = partial_auc(asah["outcome"], asah["s100b"], positive="Poor", limits=(0, 1))
    assert full == pytest.approx(0.731368563685637, abs=1e-12)
    corrected = partial_auc(asah["outcome"], asah["s100b"], positive="Poor", limits=(0.8, 1),
                            correct=True)
    assert 0.5 <= corrected <= 1.0


def test_roc_curve_endpoints(asah: pd.DataFrame) -> None:
    curve = roc_curve(asah["outcome"], asah["s100b"], positive="Poor")
    assert curve.sensitivity[0] == 1.0 and curve.specificity[0] == 0.0
    assert curve.sensitivity[-1] == 0.0 and curve.specificity[-1] == 1.0
    assert np.all(np.diff(curve.sensitivity) <= 0)


def test_bootstrap_ci_is_seeded_and_close_to_delong(asah: pd.DataFrame) -> None:
    a = roc_auc(asah["outcome"], asah["s100b"], positive="Poor", ci="bootstrap", seed=7)
    b = roc_auc(asah["outcome"], asah["s100b"], positive="Poor", ci="bootstrap", seed=7)
    c = roc_auc(asah["outcome"], asah["s100b"], positive="Poor", ci="bootstrap", seed=8)
    assert a.ci == b.ci and a.ci != c.ci
    assert a.ci == pytest.approx((0.6301, 0.8326), abs=0.02)
    bca = roc_auc(asah["outcome"], asah["s100b"], positive="Poor", ci="bootstrap",
                  boot_method="bca", seed=7)
    assert bca.ci[0] < bca.auc < bca.ci[1]
    assert bca.ci != a.ci


def test_bootstrap_replicates_match_loop(asah: pd.DataFrame) -> None:
    from livermets.stats.bootstrap import resample_counts, weighted_aucs
    from livermets.stats.roc import auc_from_scores, split_scores

    pos, neg, _ = split_scores(asah["outcome"], asah["s100b"], positive="Poor")
    rng = np.random.default_rng(3)
    w_pos, w_neg = resample_counts(rng, pos.size, 20), resample_counts(rng, neg.size, 20)
    fast = weighted_aucs(pos, neg, w_pos, w_neg)
    slow = [auc_from_scores(np.repeat(pos, w_pos[b].astype(int)),
                            np.repeat(neg, w_neg[b].astype(int))) for b in range(20)]
    assert fast == pytest.approx(slow, abs=1e-12)


def test_multiclass_one_vs_rest(asah: pd.DataFrame) -> None:
    scores = pd.DataFrame({"Good": -asah["s100b"], "Poor": asah["s100b"]})
    res = multiclass_auc(asah["outcome"], scores)
    assert res.per_class["Poor"].auc == pytest.approx(0.731368563685637)
    assert res.per_class["Good"].auc == pytest.approx(0.731368563685637)
    assert res.macro == pytest.approx(0.731368563685637)


@pytest.mark.parametrize(
    ("truth", "score", "kwargs", "error"),
    [
        ([1, 1, 1], [0.1, 0.2, 0.3], {}, DataError),
        ([0, 1, 0, 1], [0.1, np.nan, 0.3, 0.4], {}, DataError),
        (["a", "b", "a", "b"], [0.1, 0.2, 0.3, 0.4], {}, DataError),
        (["a", "b", "a", "b"], [0.1, 0.2, 0.3, 0.4], {"positive": "c"}, ConfigError),
        ([0, 1, 0, 1], [0.1, 0.2, 0.3], {}, DataError),
        ([0, 1, 0, 1], [0.1, 0.2, 0.3, 0.4], {"ci": "magic"}, ConfigError),
    ],
)
def test_bad_input_raises_user_error(truth: list, score: list, kwargs: dict, error: type) -> None:
    with pytest.raises(error) as info:
        roc_auc(truth, score, **kwargs)
    assert isinstance(info.value, LivermetsError)
    assert len(str(info.value)) > 20
