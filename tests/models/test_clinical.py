"""Clinical logistic models, rad-score, nomogram and patient-level aggregation."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from livermets.errors import ConfigError, DataError
from livermets.models import ClinicalLogit, CombinedModel, aggregate_patients, univariable_table
from livermets.models.nomogram import nomogram_figure, nomogram_scales, predicted_from_points


@pytest.fixture
def clinical():
    """400 patients: cea raises the log-odds by 0.8 per unit, age is noise."""
    rng = np.random.default_rng(4)
    X = pd.DataFrame({"cea": rng.normal(size=400), "age": rng.normal(60, 10, size=400)})
    y = (rng.random(400) < 1 / (1 + np.exp(-(-0.3 + 0.8 * X["cea"])))).astype(int)
    return X, y.to_numpy()


def test_univariable_odds_ratios_match_statsmodels(clinical):
    X, y = clinical
    table = univariable_table(X, y)
    fit = sm.Logit(y, sm.add_constant(X[["cea"]])).fit(disp=0)
    row = table.set_index("variable").loc["cea"]
    assert row["odds_ratio"] == pytest.approx(np.exp(fit.params["cea"]))
    assert row["ci_low"] == pytest.approx(np.exp(fit.conf_int().loc["cea", 0]))
    assert row["p"] < 1e-6
    assert table.set_index("variable").loc["age", "p"] > 0.05
    assert row["odds_ratio"] == pytest.approx(2.23, abs=0.6)  # true OR exp(0.8) = 2.23


def test_pvalue_screening_keeps_only_significant_variables(clinical):
    X, y = clinical
    model = ClinicalLogit(selection="pvalue", p_threshold=0.05).fit(X, y)
    assert model.selected_ == ["cea"]
    assert model.table_["variable"].tolist() == ["cea"]
    prob = model.predict_proba(X)[:, 1]
    fit = sm.Logit(y, sm.add_constant(X[["cea"]])).fit(disp=0)
    np.testing.assert_allclose(prob, fit.predict(sm.add_constant(X[["cea"]])), rtol=1e-6)
    assert ClinicalLogit(selection="none").fit(X, y).selected_ == ["cea", "age"]


def test_combined_model_uses_an_out_of_fold_rad_score(clinical):
    from livermets.models import PipelineSpec, build_pipeline

    X, y = clinical
    rng = np.random.default_rng(0)
    radiomics = pd.DataFrame({"f0": y * 1.5 + rng.normal(size=400),
                              "f1": rng.normal(size=400)})
    data = pd.concat([radiomics, X], axis=1)
    base = build_pipeline(PipelineSpec(name="r", select="none"), seed=0)
    model = CombinedModel(base, ("cea", "age"), seed=0).fit(data, y)
    assert "rad_score" in model.clinical_.selected_ and "cea" in model.clinical_.selected_
    table = model.clinical_.table_.set_index("variable")
    assert table.loc["rad_score", "odds_ratio"] > 1.5
    prob = model.predict_proba(data)[:, 1]
    assert prob.shape == (400,) and 0 < prob.min() < prob.max() < 1


def test_nomogram_points_reproduce_the_model_probability(clinical):
    X, y = clinical
    model = ClinicalLogit(selection="none").fit(X, y)
    coefs = model.params_.drop("const")
    intercept = float(model.params_["const"])
    scales = nomogram_scales(coefs, intercept, X)
    assert scales["max_total"] == pytest.approx(100 + 100 * abs(coefs["age"]) * np.ptp(X["age"])
                                                / (abs(coefs["cea"]) * np.ptp(X["cea"])))
    for i in (0, 7, 99):
        assert predicted_from_points(coefs, intercept, X, X.iloc[i]) == pytest.approx(
            model.predict_proba(X.iloc[[i]])[0, 1])
    fig = nomogram_figure(coefs, intercept, X, "test")
    assert [t.get_text() for t in fig.axes[0].texts][:4] == ["Points", "cea", "age",
                                                             "Total points"]


def test_nomogram_axis_of_a_binary_predictor_is_its_two_values():
    rng = np.random.default_rng(4)
    X = pd.DataFrame({"cea": rng.normal(5, 2, 200), "sex_M": rng.integers(0, 2, 200).astype(float)})
    y = (X["cea"] + 1.2 * X["sex_M"] + rng.normal(0, 1.5, 200) > 5.6).astype(int).to_numpy()
    model = ClinicalLogit(selection="none").fit(X, y)
    coefs, intercept = model.params_.drop("const"), float(model.params_["const"])
    fig = nomogram_figure(coefs, intercept, X, "binary")
    texts = [t.get_text() for t in fig.axes[0].texts]
    rows = ["Points", "cea", "sex_M", "Total points", "Probability"]
    sex_row = len(rows) - 1 - rows.index("sex_M")
    labels = [t for t in fig.axes[0].texts if abs(t.get_position()[1] - (sex_row + 0.18)) < 1e-9]
    assert [t.get_text() for t in labels] == ["0", "1"]
    points = abs(coefs["sex_M"]) / nomogram_scales(coefs, intercept, X)["unit"]
    assert sorted(t.get_position()[0] for t in labels) == pytest.approx([0.0, points])
    assert "0.2" not in texts[texts.index("sex_M"):]  # no continuum between 0 and 1
    plt.close(fig)


def test_clinical_logit_refuses_multiclass():
    with pytest.raises(DataError, match="binary outcomes only"):
        ClinicalLogit().fit(pd.DataFrame({"a": [1.0, 2, 3]}), np.array([0, 1, 2]))


PREDS = pd.DataFrame({
    "patient_id": ["a", "a", "a", "b", "b"],
    "lesion_id": ["1", "2", "3", "1", "2"],
    "model": "m", "repeat": 0, "fold": 0, "split": "cv",
    "y_true": ["met", "hem", "hem", "hem", "hem"],
    "y_prob": [0.2, 0.9, 0.4, 0.1, 0.7],
})
DIAMETER = pd.DataFrame({"patient_id": ["a", "a", "a", "b", "b"],
                         "lesion_id": ["1", "2", "3", "1", "2"],
                         "diameter_mm": [30.0, 5.0, 8.0, 12.0, 4.0]})


@pytest.mark.parametrize(("method", "expected"), [
    ("max", [0.9, 0.7]), ("mean", [0.5, 0.4]), ("largest", [0.2, 0.1]), ("vote", [1 / 3, 0.5]),
])
def test_patient_aggregation(method, expected):
    cuts = pd.DataFrame({"model": ["m"], "repeat": [0], "fold": [0], "threshold": [0.5]})
    table = aggregate_patients(PREDS, method, "met", DIAMETER, cuts)
    assert table["y_prob"].tolist() == pytest.approx(expected)
    assert table["y_true"].tolist() == ["met", "hem"]  # positive if any lesion is


def test_unknown_aggregation():
    with pytest.raises(ConfigError, match="use one of max, mean, largest, vote"):
        aggregate_patients(PREDS, "median")
