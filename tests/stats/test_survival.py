"""Survival statistics against R survival's own test outputs and documented examples."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from livermets.errors import DataError
from livermets.stats import cox_model, harrell_c, kaplan_meier, logrank_test, risk_groups


@pytest.fixture(scope="module")
def lung(reference: Path) -> pd.DataFrame:
    return pd.read_csv(reference / "survival" / "lung.csv")


@pytest.fixture(scope="module")
def aml(reference: Path) -> pd.DataFrame:
    return pd.read_csv(reference / "survival" / "aml.csv")


@pytest.fixture(scope="module")
def ovarian(reference: Path) -> pd.DataFrame:
    return pd.read_csv(reference / "survival" / "ovarian.csv")


def test_km_ovarian_matches_survfit_summary(ovarian: pd.DataFrame) -> None:
    # therneau/survival tests/ovarian.Rout.save: summary(survfit(Surv(futime, fustat) ~ 1)).
    tab = kaplan_meier(ovarian["futime"], ovarian["fustat"]).table.set_index("time")
    expected = {59: (0.962, 0.0377, 0.890, 1.000), 268: (0.846, 0.0708, 0.718, 0.997),
                365: (0.731, 0.0870, 0.579, 0.923), 563: (0.546, 0.1032, 0.377, 0.791),
                638: (0.497, 0.1051, 0.328, 0.752)}
    for time, (surv, se, lo, hi) in expected.items():
        row = tab.loc[time]
        assert row["survival"] == pytest.approx(surv, abs=5e-4)
        assert row["std_err"] == pytest.approx(se, abs=5e-5)
        assert row["ci_lower"] == pytest.approx(lo, abs=5e-4)
        assert row["ci_upper"] == pytest.approx(hi, abs=5e-4)


def test_km_aml_medians(aml: pd.DataFrame) -> None:
    # tests/doaml.Rout.save: survfit(Surv(time, status) ~ x): Maintained median 31 (18, NA),
    # Nonmaintained 23 (8, NA); summary row 43: survival 0.0972, lower 0.0153, upper 0.620.
    fits = {g: kaplan_meier(s["time"], s["status"]) for g, s in aml.groupby("x")}
    assert fits["Maintained"].median == 31
    assert fits["Maintained"].median_ci[0] == 18 and np.isnan(fits["Maintained"].median_ci[1])
    assert fits["Nonmaintained"].median == 23
    assert fits["Nonmaintained"].median_ci[0] == 8
    assert np.isnan(fits["Nonmaintained"].median_ci[1])
    row = fits["Nonmaintained"].table.set_index("time").loc[43]
    assert (row["survival"], row["ci_lower"], row["ci_upper"]) == pytest.approx(
        (0.0972, 0.0153, 0.620), abs=5e-4)


def test_km_lung_medians_by_sex(lung: pd.DataFrame) -> None:
    # survminer::surv_median(survfit(Surv(time, status) ~ sex, lung)) documented example:
    # sex=1 270 (212, 310); sex=2 426 (348, 550). Overall median 310.
    fits = {g: kaplan_meier(s["time"], s["status"]) for g, s in lung.groupby("sex")}
    assert (fits[1].median, *fits[1].median_ci) == (270, 212, 310)
    assert (fits[2].median, *fits[2].median_ci) == (426, 348, 550)
    assert kaplan_meier(lung["time"], lung["status"]).median == 310


@pytest.mark.parametrize(
    ("data", "time", "event", "group", "chi2", "observed", "expected"),
    [
        # doaml.Rout.save survdiff(Surv(time, status) ~ x): Chisq 3.4, expected 10.69 / 7.31.
        ("aml", "time", "status", "x", 3.4, (7, 11), (10.69, 7.31)),
        # survival-Ex.Rout.save survdiff(Surv(futime, fustat) ~ rx, ovarian): Chisq 1.1,
        # expected 5.23 / 6.77; coxph sctest 1.063.
        ("ovarian", "futime", "fustat", "rx", 1.063, (7, 5), (5.23, 6.77)),
        # survdiff(Surv(time, status) ~ sex, lung): Expected 91.5817 / 73.4183, Chisq 10.3267,
        # p = 0.00131116 (Machine Learning with R Cookbook, log-rank recipe, printed output).
        ("lung", "time", "status", "sex", 10.3267, (112, 53), (91.5817, 73.4183)),
    ],
)
def test_logrank_two_groups(request: pytest.FixtureRequest, data: str, time: str, event: str,
                            group: str, chi2: float, observed: tuple, expected: tuple) -> None:
    frame = request.getfixturevalue(data)
    res = logrank_test(frame[time], frame[event], frame[group])
    digits = len(str(chi2).split(".")[1])
    assert res.chi2 == pytest.approx(chi2, abs=0.5 * 10**-digits)
    assert res.observed == pytest.approx(list(observed))
    assert res.expected == pytest.approx(list(expected), abs=5e-3 if data != "lung" else 5e-5)
    assert res.df == 1


def test_logrank_k_groups_agrees_with_lifelines(lung: pd.DataFrame) -> None:
    from lifelines.statistics import multivariate_logrank_test

    sub = lung.dropna(subset=["ph.ecog"])
    res = logrank_test(sub["time"], sub["status"], sub["ph.ecog"])
    ref = multivariate_logrank_test(sub["time"], sub["ph.ecog"], sub["status"] == 2)
    assert res.df == 3
    assert res.chi2 == pytest.approx(ref.test_statistic, rel=1e-10)
    assert res.p == pytest.approx(ref.p_value, rel=1e-8)


def test_cox_and_concordance_match_summary_coxph(lung: pd.DataFrame) -> None:
    # survival-Ex.Rout.save, summary(coxph(Surv(time, status) ~ age + sex, lung)):
    # coef 0.017045 / -0.513219, se 0.009223 / 0.167458, Concordance= 0.603.
    fit = cox_model(lung, time="time", event="status", covariates=["age", "sex"])
    assert fit.loc["age", "coef"] == pytest.approx(0.017045, abs=5e-6)
    assert fit.loc["sex", "coef"] == pytest.approx(-0.513219, abs=5e-6)
    assert fit.loc["age", "se"] == pytest.approx(0.009223, abs=5e-7)
    assert fit.loc["sex", "se"] == pytest.approx(0.167458, abs=5e-7)
    lp = fit.loc["age", "coef"] * lung["age"] + fit.loc["sex", "coef"] * lung["sex"]
    c = harrell_c(lung["time"], lung["status"], lp)
    assert c.c_index == pytest.approx(0.603, abs=5e-4)
    assert c.c_index == pytest.approx(
        (c.concordant + c.tied_risk / 2) / (c.concordant + c.discordant + c.tied_risk))


def test_cindex_counts_small_example() -> None:
    # Hand count: times 1..4 all events, risk 4,3,1,2 -> 5 concordant, 1 discordant.
    c = harrell_c([1, 2, 3, 4], [1, 1, 1, 1], [4, 3, 1, 2])
    assert (c.concordant, c.discordant, c.tied_risk, c.tied_time) == (5, 1, 0, 0)
    assert c.c_index == pytest.approx(5 / 6)
    tied = harrell_c([1, 1, 2], [1, 1, 0], [2, 1, 1])
    assert tied.tied_time == 1 and tied.tied_risk == 1


def test_risk_groups_and_errors() -> None:
    assert risk_groups([1, 2, 3, 4], 2.5).tolist() == ["low", "low", "high", "high"]
    assert risk_groups([1, 2, 3, 4]).tolist() == ["low", "low", "high", "high"]
    with pytest.raises(DataError):
        kaplan_meier([1, -2], [1, 0])
    with pytest.raises(DataError):
        harrell_c([1, 2], [0, 0], [1, 2])
    with pytest.raises(DataError):
        logrank_test([1, 2], [1, 1], ["a", "a"])
