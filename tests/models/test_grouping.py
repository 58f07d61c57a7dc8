"""Every inner split (calibration, rad-score, tuning / cut-off folds) keeps a patient together."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin

from livermets.models import (
    CombinedModel,
    FeatureData,
    GroupedCalibratedClassifier,
    PipelineSpec,
    Tuning,
    build_pipeline,
    fit_pipeline,
    grouped_kfold,
    grouping,
    run_folds,
    validation,
)
from livermets.models.transformers import AdaptiveSMOTE
from tests.models.conftest import make_data

LOG: list[tuple[str, np.ndarray]] = []


class Recorder(ClassifierMixin, BaseEstimator):
    """Logs the row ids (column 0) it is fitted on and asked to score; scores column 1."""

    def fit(self, X, y):
        X = np.asarray(X, dtype=float)
        LOG.append(("fit", X[:, 0].copy()))
        self.classes_ = np.unique(y)
        return self

    def predict_proba(self, X):
        X = np.asarray(X, dtype=float)
        LOG.append(("score", X[:, 0].copy()))
        p = 1 / (1 + np.exp(-X[:, 1]))
        return np.column_stack([1 - p, p])

    def decision_function(self, X):
        return self.predict_proba(X)[:, 1]


def _rows(n_patients=12, per_patient=3, seed=0):
    """Row ids, an imbalanced outcome (varying within patients) and patient ids."""
    rng = np.random.default_rng(seed)
    pid = np.repeat([f"P{i:02d}" for i in range(n_patients)], per_patient)
    y = (rng.random(len(pid)) < 0.35).astype(int)
    X = np.column_stack([np.arange(len(pid), dtype=float), 2.0 * y + rng.normal(size=len(pid))])
    return X, y, pid


def _pairs(log):
    """(rows fitted on, rows scored) of each inner fold, in order."""
    fits = [ids for kind, ids in log if kind == "fit"]
    scores = [ids for kind, ids in log if kind == "score"]
    return list(zip(fits, scores, strict=False))


def test_calibration_fits_and_calibrates_on_different_patients_only():
    X, y, pid = _rows()
    LOG.clear()
    model = GroupedCalibratedClassifier(Recorder(), n_folds=3, seed=4).fit(X, y, groups=pid)
    pairs = _pairs(LOG)
    assert len(pairs) == 3 == len(model.splits_)
    scored = []
    for fitted, calibrated in pairs:
        fit_patients, cal_patients = set(pid[fitted.astype(int)]), set(pid[calibrated.astype(int)])
        assert not fit_patients & cal_patients
        scored.extend(calibrated.astype(int))
    assert sorted(scored) == list(range(len(y)))  # every row calibrated on exactly once
    for train, test in model.splits_:
        assert not set(pid[train]) & set(pid[test])


def test_a_resampler_runs_inside_the_calibration_folds_on_training_rows_only():
    X, y, pid = _rows()
    LOG.clear()
    GroupedCalibratedClassifier(Recorder(), AdaptiveSMOTE(random_state=0), n_folds=3,
                                seed=1).fit(X, y, groups=pid)
    for fitted, calibrated in _pairs(LOG):
        real = fitted[fitted == np.round(fitted)].astype(int)
        assert len(fitted) > len(real)  # SMOTE added synthetic rows to the training part...
        np.testing.assert_array_equal(calibrated, np.round(calibrated))  # ...never calibrated on
        assert not set(pid[real]) & set(pid[calibrated.astype(int)])
    # in a pipeline the SVM takes the resampler; other classifiers keep a resample step
    svm = build_pipeline(PipelineSpec(name="s", classifier="rbf_svm", resample="smote"))
    assert "resample" not in dict(svm.steps)
    assert isinstance(svm.steps[-1][1].resampler, AdaptiveSMOTE)
    lr = build_pipeline(PipelineSpec(name="l", classifier="logistic", resample="smote"))
    assert "resample" in dict(lr.steps)


def test_the_rad_score_is_out_of_fold_across_patients():
    X, y, pid = _rows(n_patients=15)
    frame = pd.DataFrame({"row": X[:, 0], "f": X[:, 1], "cea": np.random.default_rng(2)
                          .normal(size=len(y))})
    radiomics = build_pipeline(PipelineSpec(name="r", scale="none", redundancy=None,
                                            select="none"))
    radiomics.steps[-1] = ("classifier", Recorder())
    LOG.clear()
    model = CombinedModel(radiomics, ("cea",), selection="none", seed=3).fit(frame, y, pid)
    pairs = _pairs(LOG)
    assert len(pairs) == 3  # 3 inner folds; then the refit on all rows, never scored in fit
    assert len(LOG) == 7 and LOG[-1][0] == "fit" and len(LOG[-1][1]) == len(y)
    for fitted, scored in pairs:
        assert not set(pid[fitted.astype(int)]) & set(pid[scored.astype(int)])
    for train, test in model.splits_:
        assert not set(pid[train]) & set(pid[test])


def test_every_inner_split_of_a_cross_validated_study_is_grouped(monkeypatch):
    """All inner splits of outer CV (calibration, rad-score, cut-off / tuning folds) recorded."""
    calls: list[tuple[str, np.ndarray, list]] = []
    original, original_kfold = grouping.grouped_splits, validation.grouped_kfold

    def recording(y, groups, n_splits, seed):
        splits = original(y, groups, n_splits, seed)
        calls.append((sys._getframe(1).f_code.co_qualname, np.asarray(groups), splits))
        return splits

    def recording_kfold(y, groups, n_splits, n_repeats=1, seed=0, **kwargs):
        folds = original_kfold(y, groups, n_splits, n_repeats, seed, **kwargs)
        if sys._getframe(2).f_code.co_name == "inner_oof":  # not the up-front class check
            calls.append(("inner_oof", np.asarray(groups), [(f.train, f.test) for f in folds]))
        return folds

    monkeypatch.setattr(grouping, "grouped_splits", recording)
    monkeypatch.setattr(validation, "grouped_kfold", recording_kfold)
    base = make_data(n_patients=20, per_patient=3, n_noise=4)
    X = base.X.assign(cea=np.random.default_rng(1).normal(size=len(base.y)))
    data = FeatureData(X, base.y, base.classes, base.patient_id, base.lesion_id,
                       clinical_columns=["cea"])
    svm = PipelineSpec(name="svm", select="anova", select_params={"k": 2}, resample="smote",
                       classifier="rbf_svm")
    combined = PipelineSpec(name="combined", inputs="combined", base=svm,
                            classifier="clinical_logit", classifier_params={"selection": "none"})
    folds = grouped_kfold(data.y, data.patient_id, 2, 1, seed=0)
    run_folds([combined], data, folds, Tuning(inner_folds=2), seed=0)

    callers = [c for c, _, _ in calls]
    # per outer fold: 2 cut-off folds + the refit = 3 combined fits, each with 3 rad-score folds
    # + its refit = 4 fits (calibrations) of the SVM
    assert callers.count("inner_oof") == 2
    assert callers.count("CombinedModel.fit") == 2 * 3
    assert callers.count("GroupedCalibratedClassifier.fit") == 2 * 3 * 4
    patients = set(data.patient_id)
    for caller, groups, splits in calls:
        assert set(groups) <= patients, caller  # real patient ids, not one group per row
        assert len(set(groups)) < len(groups), caller  # patients with several lesions
        for train, test in splits:
            assert not set(groups[train]) & set(groups[test]), caller
        assert sorted(np.concatenate([t for _, t in splits])) == list(range(len(groups)))


def test_fit_pipeline_refuses_a_sampler_before_a_grouped_step():
    from imblearn.pipeline import Pipeline

    pipeline = Pipeline([("resample", AdaptiveSMOTE()),
                         ("classifier", GroupedCalibratedClassifier(Recorder()))])
    X, y, pid = _rows()
    with pytest.raises(ValueError, match=r"sampler\(s\) \['resample'\] before"):
        fit_pipeline(pipeline, X, y, pid)
