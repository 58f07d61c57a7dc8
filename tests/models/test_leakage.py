"""Acceptance leakage tests: permuted labels, a test-fold-only separating feature, groups."""

from __future__ import annotations

import numpy as np

from livermets.models import (
    FeatureData,
    PipelineSpec,
    Tuning,
    grouped_kfold,
    predictions_table,
    run_folds,
)
from livermets.models.validation import run_fold
from livermets.stats import roc_auc
from tests.models.conftest import make_data

FULL = PipelineSpec(name="full", select="lasso", resample="smote", classifier="logistic")


def _cv_auc(data: FeatureData, spec: PipelineSpec, seed: int = 0):
    folds = grouped_kfold(data.y, data.patient_id, 4, 2, seed=seed)
    table = predictions_table(run_folds([spec], data, folds, Tuning(), seed), data)
    mean = table.groupby(["patient_id", "lesion_id"]).agg(y=("y_true", "first"),
                                                          p=("y_prob", "mean"))
    return roc_auc(mean["y"], mean["p"], positive=1, direction="<")


def test_permuted_labels_give_chance_auc_whose_ci_contains_one_half():
    data = make_data(n_patients=60, effect=2.0, n_noise=30)
    real = _cv_auc(data, FULL)
    assert real.auc > 0.8  # the planted signal is found...
    rng = np.random.default_rng(5)
    # ...and disappears with permuted labels (permuted within the patient structure)
    data.y = rng.permutation(data.y)
    permuted = _cv_auc(data, FULL)
    assert permuted.ci[0] < 0.5 < permuted.ci[1]
    assert abs(permuted.auc - 0.5) < 0.12


def test_a_feature_separating_only_the_test_fold_cannot_help():
    """A column that is noise on training rows but separates the test rows perfectly.

    Fitted on training rows only, the pipeline cannot learn its direction: flipping which class
    gets the high value must move the AUC symmetrically around the clean AUC, never to ~1.
    """
    data = make_data(n_patients=40, effect=1.0)
    folds = grouped_kfold(data.y, data.patient_id, 4, 1, seed=2)
    rng = np.random.default_rng(9)
    results: dict[str, list] = {"up": [], "down": [], "clean": []}
    for fold in folds:
        noise = rng.normal(size=len(data.y))
        for name, sign in (("up", 1.0), ("down", -1.0), ("clean", 0.0)):
            source = data
            if sign:
                column = noise.copy()
                column[fold.test] = sign * (2.0 * data.y[fold.test] - 1.0) * 1.5
                X = data.X.assign(leak=column)
                source = FeatureData(X, data.y, data.classes, data.patient_id, data.lesion_id)
            outcome = run_fold(FULL, source, fold, Tuning(), seed=0)
            results[name].append((data.y[fold.test], outcome.prob[:, 1]))

    def pooled(pairs):
        y = np.concatenate([p[0] for p in pairs])
        prob = np.concatenate([p[1] for p in pairs])
        return roc_auc(y, prob, positive=1, direction="<").auc

    up, down, clean = (pooled(results[k]) for k in ("up", "down", "clean"))
    assert up < 0.9 and down < 0.9  # a pipeline that saw the test rows would reach 1.0
    assert abs((up + down) / 2 - clean) < 0.05


def test_the_study_runner_never_splits_a_patient():
    from livermets.study.config import config_from_dict
    from livermets.study.runner import make_folds

    data = make_data(n_patients=25, per_patient=3)
    config = config_from_dict({"data": {"features": "x.csv"}, "models": [{"name": "m"}],
                               "validation": {"folds": 5, "repeats": 3}})
    _, folds = make_folds(config, data)
    assert len(folds) == 15
    for f in folds:
        assert not set(data.patient_id[f.train]) & set(data.patient_id[f.test])
