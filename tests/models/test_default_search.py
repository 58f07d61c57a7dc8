"""The default search: pinned portfolio and rule, fallback on noise, cross-family ensemble on
a separable table, patient-grouped inner folds."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from livermets.errors import ConfigError
from livermets.models import FeatureData, Tuning, build_pipeline, fit_spec
from livermets.models import default_search as ds
from livermets.models.grouping import fit_pipeline
from livermets.models.validation import Fold, FoldOutcome, thresholds_table

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "radmlbench.py"


def _benchmark():
    spec = importlib.util.spec_from_file_location("radmlbench", BENCHMARK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_benchmarked_search_is_the_library_default_and_is_pinned():
    bench = _benchmark()
    assert bench.SEARCH_SPEC is ds.DEFAULT_SEARCH_SPEC
    assert ds.DEFAULT_SEARCH_SPEC.classifier == "default_search"
    assert [(e.name, e.family) for e in ds.PORTFOLIO] == [
        ("rf500", "trees"), ("et500", "trees"), ("lgbm_small", "boosting"),
        ("anova16_lr_c0.1", "linear"), ("anova32_lr_c1", "linear"),
        ("anova128_lr_c0.01", "linear"), ("anova64_rbf_svm", "kernel")]
    assert ds.ROBUST_DEFAULT == ("rf500", "lgbm_small", "anova32_lr_c1", "anova64_rbf_svm")
    assert ds.DEFAULT_RULE == {"top_families": 3, "se_factor": 1.0, "min_events": 10,
                               "chance_z": 1.96}
    model = build_pipeline(ds.DEFAULT_SEARCH_SPEC, seed=3)
    final = model.steps[-1][1]
    assert isinstance(final, ds.DefaultSearchClassifier)
    assert (final.top_families, final.se_factor, final.min_events, final.chance_z,
            final.inner_folds, final.seed) == (3, 1.0, 10, 1.96, 5, 3)
    # the previous default stays importable under its own name
    assert bench.PREVIOUS_TUNING == {"trials": 40, "inner_folds": 5, "ensemble": 10}
    assert bench.PREVIOUS_SPEC.search.classifier == ["logistic", "rbf_svm", "naive_bayes"]
    assert set(bench.DESIGN_TABLES).isdisjoint(bench.CONFIRMATION_TABLES)


def _fit(data: FeatureData, seed: int = 0) -> ds.DefaultSearchClassifier:
    model = build_pipeline(ds.DEFAULT_SEARCH_SPEC, seed=seed)
    fit_pipeline(model, data.X, data.y, data.patient_id)
    return model.steps[-1][1]


def test_noise_falls_back_to_the_robust_default():
    rng = np.random.default_rng(4)
    n = 60
    X = pd.DataFrame(rng.normal(size=(n, 30)), columns=[f"f{i}" for i in range(30)])
    data = FeatureData(X, rng.integers(0, 2, n), [0, 1], np.array([f"P{i}" for i in range(n)]))
    search = _fit(data)
    assert search.used_ == "fallback"
    assert search.members_ == list(ds.ROBUST_DEFAULT)
    assert "SE" in search.reason_
    assert set(search.candidate_auc_) == {e.name for e in ds.PORTFOLIO}
    assert search.predict_proba(X).shape == (n, 2)


def test_few_events_fall_back_whatever_the_inner_auc():
    y = np.array([0] * 30 + [1] * 6)
    strong = {"a": np.c_[1 - y, y].astype(float), "b": np.full((36, 2), 0.5)}
    splits = [(np.arange(36), np.arange(36))]
    choice = ds.choose(strong, y, splits, {"a": "x", "b": "y"}, robust=("b",), min_events=10)
    assert (choice.used, choice.members) == ("fallback", ["b"])
    assert choice.reason == "few events: 6 < 10 in the rarest class"
    assert choice.inner_auc == 1.0 and choice.robust_inner_auc == 0.5
    # events are patients: 12 positive lesions of 4 patients are 4 events, not 12
    y = np.array([0] * 30 + [1] * 12)
    strong = {"a": np.c_[1 - y, y].astype(float), "b": np.full((42, 2), 0.5)}
    groups = np.r_[np.arange(30), np.repeat(np.arange(100, 104), 3)]
    splits = [(np.arange(42), np.arange(42))]
    by_row = ds.choose(strong, y, splits, {"a": "x", "b": "y"}, robust=("b",), min_events=10,
                       chance_z=None, se_factor=1.0)
    by_patient = ds.choose(strong, y, splits, {"a": "x", "b": "y"}, robust=("b",),
                           min_events=10, chance_z=None, groups=groups)
    assert not by_row.reason.startswith("few events")
    assert by_patient.reason == "few events: 4 < 10 in the rarest class"


def test_separable_lesion_table_uses_the_cross_family_ensemble_on_grouped_folds(monkeypatch):
    """A signal in |f0| that trees find and the fixed RBF-SVM member of the robust default
    misses: the inner folds separate the cross-family ensemble from the robust default. Fitted
    through ``fit_spec`` (an untuned study model): the search runs once, on all rows, and its
    own inner out-of-fold probabilities give the cut-off."""
    calls = []
    real = ds.portfolio_oof

    def counting(*args, **kwargs):
        calls.append(len(args[1]))
        return real(*args, **kwargs)

    monkeypatch.setattr(ds, "portfolio_oof", counting)
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(100, 20)), columns=[f"f{i}" for i in range(20)])
    y = (np.abs(X["f0"]) + 0.3 * rng.normal(size=100) > 0.8).to_numpy(dtype=int)
    pid = np.repeat([f"P{i:02d}" for i in range(50)], 2)  # two lesions per patient
    result = fit_spec(ds.DEFAULT_SEARCH_SPEC, FeatureData(X, y, [0, 1], pid), Tuning(), seed=2)
    assert calls == [100]  # one search on all rows, no loop of inner folds around it
    search = result.pipeline.steps[-1][1]
    assert search.used_ == "ensemble", search.reason_
    families = {e.name: e.family for e in ds.PORTFOLIO}
    assert len(search.members_) == 3
    assert [families[m] for m in search.members_][:2] == ["boosting", "trees"]
    assert "anova64_rbf_svm" not in search.members_
    assert search.candidate_auc_["anova64_rbf_svm"] < 0.5 < search.candidate_auc_["rf500"]
    assert search.inner_auc_ > search.candidate_auc_["anova32_lr_c1"] + 0.2
    np.testing.assert_array_equal(result.train_oof, search.oof_)
    assert result.inner_auc == pytest.approx(search.inner_auc_)
    assert 0.0 <= result.threshold <= 1.0
    choice = ds.search_choice(result.pipeline)
    assert choice["used"] == "ensemble" and choice["members"] == search.members_
    assert ds.search_choice(build_pipeline(ds.PORTFOLIO[0].spec)) is None
    assert len(search.splits_) == 5
    for train, test in search.splits_:
        assert not set(pid[train]) & set(pid[test])
    assert search.predict_proba(X).shape == (100, 2)


@pytest.mark.parametrize("bad", [["rf500", "nope"]])
def test_unknown_candidate_is_refused(bad):
    with pytest.raises(ValueError, match="unknown portfolio candidate"):
        ds.portfolio_entries(bad)



def test_thresholds_table_says_what_the_search_used_per_fold():
    fold = Fold(0, 1, np.arange(3), np.arange(3, 5))
    choice = {"used": "fallback", "reason": "few events: 6 < 10 in the rarest class",
              "members": ["rf500", "lgbm_small"]}
    outcomes = [FoldOutcome("default_search", fold, np.zeros((2, 2)), 0.4, [], {}, 0.7, [],
                            choice),
                FoldOutcome("lr", fold, np.zeros((2, 2)), 0.5, ["a"], {}, 0.6)]
    table = thresholds_table(outcomes)
    assert table["search_used"].tolist() == ["fallback", ""]
    assert table["search_members"].tolist() == ["rf500+lgbm_small", ""]
    assert table["search_reason"].iloc[0] == choice["reason"]
    assert "search_used" not in thresholds_table(outcomes[1:]).columns


def test_a_resampler_in_front_of_the_search_is_refused():
    spec = ds.DEFAULT_SEARCH_SPEC.model_copy(update={"resample": "smote"})
    with pytest.raises(ConfigError, match="takes no resampler"):
        build_pipeline(spec)


def test_tuning_trials_do_not_repeat_the_search(monkeypatch):
    calls = []
    real = ds.portfolio_oof
    monkeypatch.setattr(ds, "portfolio_oof", lambda *a, **k: calls.append(1) or real(*a, **k))
    rng = np.random.default_rng(3)
    X = pd.DataFrame(rng.normal(size=(40, 4)), columns=list("abcd"))
    y = (X["a"] > 0).to_numpy(dtype=int)
    data = FeatureData(X, y, [0, 1], np.array([f"P{i}" for i in range(40)]))
    result = fit_spec(ds.DEFAULT_SEARCH_SPEC, data, Tuning(trials=5, ensemble=2), seed=0)
    assert calls == [1] and result.members == []
    assert ds.search_choice(result.pipeline) is not None
