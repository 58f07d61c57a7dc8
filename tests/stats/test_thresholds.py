"""Operating points: pROC coords(r.s100b, "best") and blorr blr_confusion_matrix (hsb2)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from livermets.errors import ConfigError
from livermets.stats import operating_point


def test_youden_matches_proc_coords_best(asah: pd.DataFrame) -> None:
    # pROC coords(roc(aSAH$outcome, aSAH$s100b), "best"): threshold 0.205,
    # specificity 0.8055556, sensitivity 0.6341463, 1-npv 0.2054795.
    op = operating_point(asah["outcome"], asah["s100b"], positive="Poor")
    assert op.threshold == pytest.approx(0.205)
    assert op.metrics["specificity"].value == pytest.approx(0.8055556, abs=5e-8)
    assert op.metrics["sensitivity"].value == pytest.approx(0.6341463, abs=5e-8)
    assert op.metrics["npv"].value == pytest.approx(1 - 0.2054795, abs=5e-8)


def test_value_cutoff_matches_blorr(hsb2_prob: tuple) -> None:
    # blorr README blr_confusion_matrix(model) at cutoff 0.5: Accuracy 0.8100, Sensitivity 0.5094,
    # Specificity 0.9184, Pos Pred Value 0.6923, Neg Pred Value 0.8385.
    truth, prob = hsb2_prob
    op = operating_point(truth, prob, "value:0.5", direction="<")
    assert (op.tp, op.fp, op.tn, op.fn) == (27, 12, 135, 26)
    m = op.metrics
    for key, value in [("accuracy", 0.8100), ("sensitivity", 0.5094), ("specificity", 0.9184),
                       ("ppv", 0.6923), ("npv", 0.8385)]:
        assert m[key].value == pytest.approx(value, abs=5e-5)
    assert m["sensitivity"].ci[0] < m["sensitivity"].value < m["sensitivity"].ci[1]


@pytest.mark.parametrize("method", ["sens:0.9", "spec:0.9"])
def test_fixed_targets_are_reached(asah: pd.DataFrame, method: str) -> None:
    op = operating_point(asah["outcome"], asah["s100b"], method, positive="Poor",
                         ci_method="clopper-pearson")
    key = "sensitivity" if method.startswith("sens") else "specificity"
    assert op.metrics[key].value >= 0.9
    assert np.isfinite(op.threshold)


def test_bad_method() -> None:
    with pytest.raises(ConfigError):
        operating_point([0, 1, 0, 1], [0.1, 0.2, 0.3, 0.4], "best")
    with pytest.raises(ConfigError):
        operating_point([0, 1, 0, 1], [0.1, 0.2, 0.3, 0.4], "sens:2")
