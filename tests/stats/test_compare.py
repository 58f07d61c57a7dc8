"""AUC comparison against pROC tests/testthat/test-roc.test.R (xrobin/pROC) on aSAH."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from livermets.errors import ConfigError
from livermets.stats import compare_aucs, comparison_table, holm_adjust

# roc.test(r.a, r.b): statistic Z, p.value, conf.int of the AUC difference (paired DeLong).
PAIRED = [
    ("wfns", "s100b", 2.20898359144091, 0.0271757822291882, 0.0104061769564846, 0.174214419249478),
    ("wfns", "ndka", 2.79777591868904, 0.00514557970691098, 0.0634011709339876, 0.3600405634833566),
    ("ndka", "s100b", -1.39077002573558, 0.164295175223054, -0.2876917446341914,
     0.0488706064228094),
]
# roc.test(..., paired = FALSE): statistic D and p.value (t with Welch-Satterthwaite df).
UNPAIRED = [
    ("wfns", "s100b", 1.43490640926908, 0.152825378808796),
    ("wfns", "ndka", 3.10125096778969, 0.00220950791756457),
    ("ndka", "s100b", -1.55995743389685, 0.120192832430845),
]


@pytest.mark.parametrize(("a", "b", "z", "p", "lo", "hi"), PAIRED)
def test_paired_delong_matches_proc(asah: pd.DataFrame, a: str, b: str, z: float, p: float,
                                    lo: float, hi: float) -> None:
    res = compare_aucs(asah["outcome"], asah[a], asah[b], positive="Poor")
    assert res.z == pytest.approx(z, rel=1e-9)
    assert res.p == pytest.approx(p, rel=1e-9)
    assert res.ci == pytest.approx((lo, hi), rel=1e-9)


@pytest.mark.parametrize(("a", "b", "d", "p"), UNPAIRED)
def test_unpaired_delong_matches_proc(asah: pd.DataFrame, a: str, b: str, d: float,
                                      p: float) -> None:
    res = compare_aucs(asah["outcome"], asah[a], asah[b], positive="Poor", paired=False)
    assert res.z == pytest.approx(d, rel=1e-9)
    assert res.p == pytest.approx(p, rel=1e-9)


def test_identical_curves_give_z0_p1(asah: pd.DataFrame) -> None:
    # pROC: roc.test(r.wfns, r.wfns) has statistic 0 and p.value 1.
    res = compare_aucs(asah["outcome"], asah["wfns"], asah["wfns"], positive="Poor")
    assert res.z == 0 and res.p == 1


def test_bootstrap_test_agrees_with_delong(asah: pd.DataFrame) -> None:
    res = compare_aucs(asah["outcome"], asah["wfns"], asah["s100b"], positive="Poor",
                       method="bootstrap", n_boot=2000, seed=1)
    assert res.diff == pytest.approx(0.0923102981029810, abs=1e-12)
    assert res.p == pytest.approx(0.0272, abs=0.01)
    with pytest.raises(ConfigError):
        compare_aucs(asah["outcome"], asah["wfns"], asah["s100b"], positive="Poor",
                     method="bootstrap", paired=False)


def test_holm_matches_p_adjust() -> None:
    # R: p.adjust(c(0.01, 0.02, 0.03, 0.04, 0.05), "holm") = 0.05 0.08 0.09 0.09 0.09
    got = holm_adjust([0.01, 0.02, 0.03, 0.04, 0.05])
    assert got == pytest.approx([0.05, 0.08, 0.09, 0.09, 0.09])
    assert holm_adjust([0.5, 0.01]) == pytest.approx([0.5, 0.02])


def test_comparison_table_has_holm_column(asah: pd.DataFrame) -> None:
    table = comparison_table(asah["outcome"], {m: asah[m] for m in ["wfns", "s100b", "ndka"]},
                             positive="Poor")
    assert len(table) == 3
    assert np.all(table["p_holm"] >= table["p"])
    row = table[(table.model_a == "wfns") & (table.model_b == "s100b")].iloc[0]
    assert row["p"] == pytest.approx(0.0271757822291882, rel=1e-9)
