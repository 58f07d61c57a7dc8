"""Separation detection, Firth's penalised logistic regression, the selection rule and EPV."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy.optimize import minimize
from scipy.special import expit

from livermets.models import ClinicalLogit, univariable_table
from livermets.models.firth import firth_logit
from livermets.models.frozen import load_model, save_model
from livermets.models.sample_size import events_per_variable, sample_size_warnings
from livermets.models.separation import detect_separation


def zero_cell_table() -> tuple[np.ndarray, np.ndarray]:
    """2x2 table: x = 1 in 8 positives and no negative; x = 0 in 5 positives, 12 negatives."""
    x = np.r_[np.ones(8), np.zeros(17)]
    y = np.r_[np.ones(8), np.ones(5), np.zeros(12)]
    return x, y


def separated_data() -> pd.DataFrame:
    """40 cases: cea > 0.3 is exactly the positive class (complete separation), age is noise."""
    rng = np.random.default_rng(7)
    cea = rng.normal(size=40)
    return pd.DataFrame({"cea": cea, "age": rng.normal(60, 10, size=40),
                         "y": (cea > 0.3).astype(int)})


def independent_firth(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Firth's estimate by direct Nelder-Mead maximisation of l(b) + log det(I(b)) / 2 (written
    out separately from livermets.models.firth, without its Newton steps or modified score).

    The search runs on standardised columns (it stalls on a raw age in years) and maps back: the
    Jeffreys penalty makes Firth's estimate equivariant under such a change of scale.
    """
    mu, sd = X[:, 1:].mean(axis=0), X[:, 1:].std(axis=0)
    Z = np.column_stack([np.ones(len(X)), (X[:, 1:] - mu) / sd])

    def objective(b: np.ndarray) -> float:
        p = expit(Z @ b)
        loglik = np.sum(np.where(y == 1, np.log(p), np.log1p(-p)))
        info = Z.T @ np.diag(p * (1 - p)) @ Z
        return -(loglik + 0.5 * np.log(np.linalg.det(info)))

    b = np.zeros(X.shape[1])
    for _ in range(2):  # a restart: Nelder-Mead polishes from a fresh simplex
        b = minimize(objective, b, method="Nelder-Mead",
                     options={"xatol": 1e-12, "fatol": 1e-16, "maxiter": 20000,
                              "maxfev": 20000}).x
    slopes = b[1:] / sd
    return np.r_[b[0] - slopes @ mu, slopes]


def test_firth_on_a_2x2_table_is_the_log_odds_ratio_with_half_added_to_each_cell():
    # Firth (1993): for a saturated binary-covariate logistic model the estimate is the
    # Haldane-corrected log odds ratio, finite although the ML odds ratio is infinite
    x, y = zero_cell_table()
    fit = firth_logit(np.column_stack([np.ones_like(x), x]), y)
    assert fit.converged
    assert fit.params[1] == pytest.approx(np.log(8.5 * 12.5 / (0.5 * 5.5)), abs=1e-9)
    assert fit.params[0] == pytest.approx(np.log(5.5 / 12.5), abs=1e-9)
    p1, p0 = 8.5 / 9, 5.5 / 18  # fitted risks; Wald SE from the information at the estimate
    se = np.sqrt(1 / (8 * p1 * (1 - p1)) + 1 / (17 * p0 * (1 - p0)))
    assert fit.bse[1] == pytest.approx(se, rel=1e-9)
    lo, hi = fit.conf_int()[1]
    assert (lo, hi) == pytest.approx((fit.params[1] - 1.959964 * se, fit.params[1] + 1.959964 * se))


def test_firth_equals_an_independent_penalised_likelihood_maximisation():
    d = separated_data()
    X = np.column_stack([np.ones(40), d["cea"], d["age"]])
    fit = firth_logit(X, d["y"].to_numpy())
    reference = independent_firth(X, d["y"].to_numpy())
    assert np.all(np.isfinite(fit.params)) and fit.converged
    np.testing.assert_allclose(fit.params, reference, atol=1e-6)
    p = expit(X @ reference)
    se = np.sqrt(np.diag(np.linalg.inv(X.T @ np.diag(p * (1 - p)) @ X)))
    np.testing.assert_allclose(fit.bse, se, rtol=1e-5)


def test_firth_is_close_to_ml_and_shrunk_towards_zero_without_separation():
    rng = np.random.default_rng(4)
    cea = rng.normal(size=400)
    y = (rng.random(400) < expit(-0.3 + 0.8 * cea)).astype(int)
    X = np.column_stack([np.ones(400), cea])
    ml = sm.Logit(y, X).fit(disp=0)
    fit = firth_logit(X, y)
    assert abs(fit.params[1] - ml.params[1]) < 0.02
    assert abs(fit.params[1]) < abs(ml.params[1])
    np.testing.assert_allclose(fit.bse, ml.bse, rtol=0.02)


def test_separation_is_found_by_linear_programs():
    x, y = zero_cell_table()
    quasi = detect_separation(np.column_stack([np.ones_like(x), x]), y, ["const", "x"])
    assert (quasi.kind, quasi.variables, quasi.directions) == ("quasi-complete", ["x"], {"x": 1})
    d = separated_data()
    full = detect_separation(np.column_stack([np.ones(40), -d["cea"]]), d["y"], ["const", "cea"])
    assert (full.kind, full.directions) == ("complete", {"cea": -1})
    rng = np.random.default_rng(4)
    z = rng.normal(size=100)
    assert detect_separation(np.column_stack([np.ones(100), z]),
                             (rng.random(100) < expit(z)).astype(int), ["const", "z"]).kind is None


def test_ml_model_records_separation_and_says_so():
    d = separated_data()
    model = ClinicalLogit(selection="none", method="ml").fit(d[["cea", "age"]], d["y"])
    assert model.separation_kind_ == "complete"
    assert "cea" in model.separation_ and model.method_ == "ml"
    assert model.table_.set_index("variable").loc["cea", "separated"]
    assert "cea on its own" in model.warnings_[0]
    assert "Complete separation" in model.warnings_[0]
    assert "set clinical: method: firth" in model.warnings_[0]


def test_auto_refits_a_separated_model_with_firth(tmp_path):
    d = separated_data()
    model = ClinicalLogit(selection="none", method="auto").fit(d[["cea", "age"]], d["y"])
    assert model.method_ == "firth" and "cea" in model.separation_
    X = np.column_stack([np.ones(40), d["cea"], d["age"]])
    np.testing.assert_allclose(model.params_.to_numpy(), independent_firth(X, d["y"].to_numpy()),
                               atol=1e-6)
    table = model.table_.set_index("variable")
    assert np.isfinite(table.loc["cea", "ci_high"]) and table.loc["cea", "odds_ratio"] > 1
    assert "fitted with Firth's penalised likelihood" in model.warnings_[0]
    save_model(tmp_path, model, {"model": "clinical"})  # plain data: skops round trip
    loaded = load_model(tmp_path).pipeline
    assert loaded.separation_ == model.separation_ and loaded.epv_ == model.epv_
    np.testing.assert_array_equal(loaded.predict_proba(d), model.predict_proba(d))
    # without separation auto is maximum likelihood
    plain = ClinicalLogit(selection="none").fit(d[["age"]], d["y"])
    assert plain.method_ == "ml" and plain.separation_ == [] and plain.separation_kind_ is None


def test_selection_rule_is_stated():
    rng = np.random.default_rng(4)
    X = pd.DataFrame({"cea": rng.normal(size=400), "age": rng.normal(60, 10, size=400)})
    y = (rng.random(400) < expit(-0.3 + 0.8 * X["cea"])).astype(int).to_numpy()
    assert ClinicalLogit(p_threshold=0.05).fit(X, y).selection_rule_ == \
        "univariable p < 0.05: cea"
    noise = pd.DataFrame({"a": rng.normal(size=80), "b": rng.normal(size=80)})
    yn = rng.integers(0, 2, 80)
    uni = univariable_table(noise, yn).set_index("variable")["p"]
    assert uni.min() > 0.05
    model = ClinicalLogit(p_threshold=0.05).fit(noise, yn)
    assert model.selected_ == [uni.idxmin()]
    assert model.selection_rule_ == (
        f"no variable passed univariable p < 0.05; kept the strongest univariable predictor "
        f"({uni.idxmin()}, p = {uni.min():.2g})")
    none = ClinicalLogit(selection="none").fit(noise.assign(c=1.0), yn)
    assert none.selection_rule_ == "no selection: a, b; left out as constant: c"


def test_events_per_variable_for_a_known_table():
    y = np.r_[np.ones(12), np.zeros(88)].astype(int)
    epv = events_per_variable(y, ["hemangioma", "metastasis"], candidates=3, selected=1)
    assert (epv["events"], epv["rarer_class"], epv["n"]) == (12, "metastasis", 100)
    assert (epv["epv_candidates"], epv["epv_selected"]) == (4.0, 12.0)
    assert epv["risk_margin"] == pytest.approx(1.96 * np.sqrt(0.12 * 0.88 / 100))
    assert epv["n_for_margin"] == 163  # (1.96 / 0.05)^2 * 0.12 * 0.88 = 162.3
    lines = sample_size_warnings(epv)
    assert len(lines) == 2
    assert lines[0].startswith("Events per variable 4.0 for the 3 candidate variable(s) (12 "
                               "events in the rarer outcome class): severe (below 5)")
    assert "at least 163 cases" in lines[1]
    assert sample_size_warnings(events_per_variable(np.r_[np.ones(200), np.zeros(200)],
                                                    ["a", "b"], 4, 2)) == []


def test_epv_of_a_fitted_model_counts_candidates_and_selected():
    d = separated_data()
    model = ClinicalLogit(p_threshold=0.05, method="firth").fit(d[["cea", "age"]], d["y"])
    events = int(min(d["y"].sum(), 40 - d["y"].sum()))
    assert model.epv_["events"] == events and model.epv_["candidates"] == 2
    assert model.epv_["epv_selected"] == events / len(model.selected_)
    assert any(w.startswith(f"Events per variable {events / 2:.1f} for the 2 candidate")
               for w in model.warnings_)


def test_constant_variables_only_is_a_user_error():
    from livermets.errors import DataError

    with pytest.raises(DataError, match=r"every variable \(a, b\) is constant"):
        ClinicalLogit().fit(pd.DataFrame({"a": [1.0] * 6, "b": [2.0] * 6}), [0, 1] * 3)
