"""Registries, selectors and the pipeline built from a spec."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from livermets.errors import ConfigError, DataError
from livermets.models import (
    CLASSIFIERS,
    MRMR,
    SELECTORS,
    AdaptiveSMOTE,
    CorrelationFilter,
    L1Selector,
    PipelineSpec,
    RFPermutationTopK,
    TopKAnova,
    build_pipeline,
    selected_features,
)
from tests.models.conftest import make_data

EXPECTED_CLASSIFIERS = ["xgboost", "random_forest", "extra_trees", "linear_svm", "rbf_svm", "knn",
                        "logistic", "naive_bayes", "decision_tree", "lightgbm", "clinical_logit",
                        "default_search"]


def test_registries_hold_every_named_step():
    assert CLASSIFIERS.names() == EXPECTED_CLASSIFIERS
    assert SELECTORS.names() == ["lasso", "rf_permutation", "anova", "mrmr", "bhattacharyya",
                                 "bhattacharyya_radmlbench", "none"]


def test_unknown_name_lists_the_choices():
    with pytest.raises(ConfigError, match="unknown classifier 'xgb': use one of xgboost, "):
        CLASSIFIERS.get("xgb")


@pytest.mark.parametrize("classifier", [c for c in EXPECTED_CLASSIFIERS
                                        if c not in {"clinical_logit", "default_search"}])
def test_every_classifier_learns_a_planted_signal(classifier):
    data = make_data(n_patients=60, effect=2.5)
    spec = PipelineSpec(name="m", classifier=classifier, select="anova",
                        select_params={"k": 4}, resample="smote")
    train, test = np.arange(0, 80), np.arange(80, 120)
    model = build_pipeline(spec, seed=1).fit(data.X.iloc[train], data.y[train])
    prob = model.predict_proba(data.X.iloc[test])
    assert prob.shape == (40, 2)
    np.testing.assert_allclose(prob.sum(axis=1), 1.0, atol=1e-9)
    assert roc_auc_score(data.y[test], prob[:, 1]) > 0.8


def test_correlation_filter_keeps_the_feature_more_associated_with_the_outcome(data):
    X = data.X[["signal_copy", "signal", "noise_0"]].to_numpy()
    r = np.corrcoef(X[:, 0], X[:, 1])[0, 1]
    assert r > 0.6
    keep = CorrelationFilter(0.6).fit(X, data.y).get_support()
    # 'signal' is more associated with y than its noisy copy: the copy goes, noise stays
    assert keep.tolist() == [False, True, True]
    # above the pair's |r| nothing is redundant
    assert CorrelationFilter(min(1.0, r + 0.01)).fit(X, data.y).get_support().all()


def test_correlation_filter_drops_constant_columns(data):
    X = np.column_stack([data.X["signal"], np.ones(len(data.y))])
    assert CorrelationFilter(0.6).fit(X, data.y).get_support().tolist() == [True, False]


@pytest.mark.parametrize("selector", [TopKAnova(k=2), MRMR(k=2), L1Selector(C=0.05),
                                      RFPermutationTopK(k=2, n_estimators=30)])
def test_selectors_find_the_signal(selector, data):
    names = list(data.X.columns)
    keep = selector.fit(data.X.to_numpy(), data.y).get_support()
    chosen = [n for n, k in zip(names, keep, strict=True) if k]
    assert "signal" in chosen or "signal_copy" in chosen
    assert len(chosen) >= 1
    assert len(chosen) <= (len(names) if isinstance(selector, L1Selector) else 2)


def test_mrmr_prefers_a_new_feature_over_a_redundant_copy():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 300)
    a = y + 0.5 * rng.normal(size=300)
    b = y + 0.8 * rng.normal(size=300)
    X = np.column_stack([a, a + 0.01 * rng.normal(size=300), b])
    assert MRMR(k=2).fit(X, y).get_support().tolist() == [True, False, True]
    assert TopKAnova(k=2).fit(X, y).get_support().tolist() == [True, True, False]


def test_adaptive_smote_balances_a_tiny_minority():
    X = np.arange(40, dtype=float).reshape(20, 2)
    y = np.array([0] * 17 + [1] * 3)
    Xr, yr = AdaptiveSMOTE(k_neighbors=5, random_state=0).fit_resample(X, y)
    assert np.bincount(yr).tolist() == [17, 17]
    assert Xr.shape == (34, 2)


def test_selected_features_follow_the_fitted_steps(data):
    spec = PipelineSpec(name="m", select="anova", select_params={"k": 3})
    model = build_pipeline(spec).fit(data.X, data.y)
    chosen = selected_features(model, list(data.X.columns))
    assert len(chosen) == 3 and chosen[0] in ("signal", "signal_copy")
    assert not {"signal", "signal_copy"} <= set(chosen)  # redundancy filter removed one


def test_spec_rejects_unknown_step_names():
    with pytest.raises(ValueError, match="'smoke' is not a known resampler; allowed: "):
        PipelineSpec(name="m", resample="smoke")


def test_pipeline_is_deterministic_for_a_seed(data):
    spec = PipelineSpec(name="m", classifier="random_forest",
                        classifier_params={"n_estimators": 20}, resample="smote")
    a = build_pipeline(spec, 5).fit(data.X, data.y).predict_proba(data.X)
    b = build_pipeline(spec, 5).fit(data.X, data.y).predict_proba(data.X)
    c = build_pipeline(spec, 6).fit(data.X, data.y).predict_proba(data.X)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert isinstance(data.X, pd.DataFrame)


def test_lasso_selection_on_a_single_class_says_so_instead_of_liblinear():
    X = np.random.default_rng(0).normal(size=(12, 4))
    with pytest.raises(DataError, match=r"single class \(\[1\], 12 rows\)") as error:
        L1Selector(C=0.5).fit(X, np.ones(12, dtype=int))
    assert "liblinear" not in str(error.value) and "pool centres" in str(error.value)
