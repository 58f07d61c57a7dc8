"""Top-k soft-voting ensembles of the inner search, and configurable search ranges."""

from __future__ import annotations

import json

import numpy as np
import pytest
from pydantic import ValidationError

from livermets.models import (
    PipelineSpec,
    SearchSpace,
    SoftVotingEnsemble,
    Tuning,
    build_pipeline,
    fit_spec,
    grouped_kfold,
    run_folds,
    selected_features,
    validation,
)
from livermets.models import ensemble as ensemble_module
from livermets.models.validation import inner_oof, run_fold, search, youden_threshold
from tests.models.conftest import make_data

SEARCH = PipelineSpec(name="m", select="anova", search={"select": ["anova", "mrmr"],
                                                        "classifier": ["logistic", "naive_bayes"]})


def test_ensemble_of_one_is_the_single_best_configuration_as_before():
    """Numbers from this exact run before ``Tuning.ensemble`` existed (run_folds of SEARCH,
    make_data(20), 2 folds, seed 5, 6 trials): probabilities of the first 4 test rows, cut-off
    and inner AUC of both folds."""
    data = make_data(n_patients=20)
    folds = grouped_kfold(data.y, data.patient_id, 2, 1, seed=5)
    before = [
        ([0.9911942664515476, 0.877063270703728, 0.0953677531449243, 0.047403631726951036],
         0.817586910932989, 0.9090909090909092),
        ([0.9999991426535446, 0.9941239163822044, 0.019140769795747022, 0.011829806371015238],
         0.7713187613399751, 0.71875),
    ]
    for tuning in (Tuning(trials=6), Tuning(trials=6, ensemble=1)):
        outcomes = run_folds([SEARCH], data, folds, tuning, seed=5)
        for outcome, (prob, cut, auc) in zip(outcomes, before, strict=True):
            # to 12 digits: the last bit differs between CPUs (BLAS kernels)
            assert outcome.prob[:4, 1].tolist() == pytest.approx(prob, rel=1e-12, abs=1e-15)
            assert outcome.threshold == pytest.approx(cut, rel=1e-12)
            assert outcome.inner_auc == auc
            assert outcome.members == []


def test_ensemble_averages_exactly_the_best_distinct_members():
    data = make_data(n_patients=24)
    tuning = Tuning(trials=8, ensemble=3)
    result = fit_spec(SEARCH, data, tuning, seed=4)
    assert isinstance(result.pipeline, SoftVotingEnsemble)
    assert len(result.members) == 3 and len({m.model_dump_json() for m in result.members}) == 3
    # the members are the 3 best distinct trials of the same (seeded) search, best first
    ranked, trials = search(SEARCH, data, tuning, seed=4, top=3)
    assert [c.spec for c in ranked] == result.members
    assert result.spec == result.members[0]
    assert result.member_inner_auc == sorted(result.member_inner_auc, reverse=True)
    assert result.member_inner_auc[0] == trials["value"].max()
    # the prediction is the plain mean of the 3 members, each refitted on all the rows
    X = data.X[data.columns_for(SEARCH)]
    members = [build_pipeline(m, 4).fit(X, data.y).predict_proba(X) for m in result.members]
    np.testing.assert_array_equal(result.pipeline.predict_proba(X), np.mean(members, axis=0))
    # the cut-off and the inner AUC come from the members' averaged inner-fold predictions
    oof = np.mean([inner_oof(m, data, 4, tuning.inner_folds) for m in result.members], axis=0)
    np.testing.assert_array_equal(result.train_oof, oof)
    assert result.threshold == youden_threshold(data.y, oof[:, 1])
    # the features are the union of the members'
    union = {f for m in result.pipeline.estimators_ for f in selected_features(m, list(X.columns))}
    assert set(result.features) == union


def test_ensemble_members_are_fitted_on_the_outer_training_rows_only(monkeypatch):
    """Test rows carry a sentinel value (1e6); every fit - inner trials, cut-off folds and the
    3 members' refits - is recorded and must never contain it."""
    data = make_data(n_patients=16)
    fold = grouped_kfold(data.y, data.patient_id, 4, 1, seed=0)[0]
    data.X.loc[fold.test, "noise_0"] = 1e6
    fits: list[tuple[str, int, float, set]] = []

    def recorder(module_name, original):
        def fit(pipeline, X, y, groups=None):
            fits.append((module_name, len(X), float(np.max(np.abs(np.asarray(X, float)))),
                         set(np.asarray(groups))))
            return original(pipeline, X, y, groups)
        return fit

    monkeypatch.setattr(validation, "fit_pipeline",
                        recorder("validation", validation.fit_pipeline))
    monkeypatch.setattr(ensemble_module, "fit_pipeline",
                        recorder("ensemble", ensemble_module.fit_pipeline))
    outcome = run_fold(SEARCH, data, fold, Tuning(trials=5, ensemble=3), seed=1)
    assert len(outcome.members) == 3
    test_patients = set(data.patient_id[fold.test])
    for _, _, largest, patients in fits:
        assert largest < 1e3 and not patients & test_patients
    refits = [f for f in fits if f[0] == "ensemble"]
    assert len(refits) == 3  # one per member, on exactly the training rows
    assert all(n == len(fold.train) and p == set(data.patient_id[fold.train])
               for _, n, _, p in refits)
    assert outcome.prob.shape == (len(fold.test), 2)


def test_ensemble_needs_enough_trials():
    with pytest.raises(ValidationError, match=r"needs tuning.trials >= 5 \(got 3\)"):
        Tuning(trials=3, ensemble=5)


def test_search_params_replace_registered_ranges():
    spec = PipelineSpec(
        name="m", select="anova", redundancy=None,
        search={"select": ["anova", "bhattacharyya"],
                "params": {"select.*.k": [2, 16, "all"],
                           "logistic.C": {"low": 2**-7, "high": 2**5, "log": True}}})
    data = make_data(n_patients=20)
    _, trials = search(spec, data, Tuning(trials=8), seed=3)
    k = trials.filter(like="params_select.").stack()
    assert set(k) <= {2, 16, "all"} and len(set(k)) > 1
    C = trials["params_logistic.C"]
    assert C.between(2**-7, 2**5).all() and (C.min() < 0.1 or C.max() > 10.0)
    # k='all' keeps every column
    full = build_pipeline(spec.model_copy(update={"select_params": {"k": "all"}}))
    full.fit(data.X, data.y)
    assert full.named_steps["select"].get_support().all()
    # typos and mismatched kinds are refused with the names
    with pytest.raises(ValidationError, match=r"did you mean select\.anova\.k"):
        SearchSpace(params={"select.anova.kk": [4]})
    with pytest.raises(ValidationError, match=r"gives a range, but \['select.anova.k'\]"):
        SearchSpace(params={"select.anova.k": {"low": 1, "high": 8}})
    with pytest.raises(ValidationError, match=r"integer parameter\(s\) \['knn.n_neighbors'\]"):
        SearchSpace(params={"knn.n_neighbors": {"low": 0.5, "high": 5, "log": True}})
    with pytest.raises(ValidationError, match=r"'logistic.C'; \['big'\] are not numbers"):
        SearchSpace(params={"logistic.C": [1.0, "big"]})
    with pytest.raises(ValidationError, match=r"\[2.5\] are not whole numbers"):
        SearchSpace(params={"knn.n_neighbors": [3, 2.5]})
    assert SearchSpace(params={"knn.n_neighbors": {"low": 1, "high": 9, "log": True},
                               "logistic.C": [0.5, 2]}).params


def test_an_ensemble_model_runs_through_a_study_report_and_predict(tmp_path):
    """A nested-CV study with tuning.ensemble: the frozen ensemble pickles, its card and report
    are written (SHAP of the ensemble), and `livermets predict` reproduces its probabilities;
    the clinical model keeps one configuration (its nomogram needs one logistic model)."""
    import pandas as pd

    from livermets.models.frozen import load_model
    from livermets.pipeline import run_study
    from livermets.study.predict import predict
    from tests.study.conftest import write_config, write_table

    write_table(tmp_path / "features.csv.gz")
    config = write_config(
        tmp_path,
        data={"features": "features.csv.gz", "positive": "metastasis", "clinical": ["cea"]},
        clinical={"variables": ["cea"]},
        models=[{"name": "ens", "select": "anova", "redundancy": None,
                 "search": {"select": ["anova", "bhattacharyya"],
                            "classifier": ["logistic", "naive_bayes"]}}],
        validation={"design": "nested_cv", "folds": 3, "repeats": 1, "bootstrap": 100,
                    "tuning": {"trials": 4, "inner_folds": 2, "ensemble": 3}},
    )
    result = run_study(config, tmp_path / "out")
    assert isinstance(result.finals["ens"].fit.pipeline, SoftVotingEnsemble)
    assert not isinstance(result.finals["clinical"].fit.pipeline, SoftVotingEnsemble)
    folder = tmp_path / "out" / "models" / "ens"
    card = json.loads((folder / "card.json").read_text())
    assert card["selected_features"] == result.finals["ens"].fit.features
    assert card["threshold"] == result.finals["ens"].fit.threshold
    assert "Explanations" in (tmp_path / "out" / "report.html").read_text()
    new = write_table(tmp_path / "new.parquet", n_patients=6, seed=9)
    predict(folder, new, tmp_path / "p.csv", "max")
    frozen = load_model(folder)
    table = pd.read_parquet(new)
    expected = frozen.pipeline.predict_proba(table[card["input_columns"]].astype(float))[:, 1]
    np.testing.assert_allclose(pd.read_csv(tmp_path / "p.csv")["y_prob"], expected)


def test_youden_threshold_at_a_curve_end_stays_a_probability():
    """When Youden's best cut is pROC's -inf / +inf end (inverted scores), the cut moves into
    [0, 1] with the same calls, so the model card can be written as JSON."""
    from livermets.stats import operating_point

    y = np.array([0, 1, 0, 1, 0, 1])
    prob = np.array([0.9, 0.1, 0.8, 0.2, 0.7, 0.3])  # AUC 0: every cut has se + sp <= 1
    raw = operating_point(y, prob, "youden", positive=1, direction="<").threshold
    assert not np.isfinite(raw)
    cut = youden_threshold(y, prob)
    assert 0.0 <= cut <= np.nextafter(1.0, 2.0)
    assert ((prob >= cut) == (prob >= raw)).all()
