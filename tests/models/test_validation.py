"""Grouped repeated CV, nested tuning, fixed splits, worker-count independence."""

from __future__ import annotations

import numpy as np
import pytest

from livermets.errors import DataError
from livermets.models import (
    Fold,
    PipelineSpec,
    Tuning,
    check_groups_not_split,
    fit_spec,
    fixed_split,
    grouped_kfold,
    predictions_table,
    run_folds,
    thresholds_table,
)
from tests.models.conftest import make_data

LR = PipelineSpec(name="lr", select="anova", select_params={"k": 3})


def test_groups_never_split_on_any_fold_of_any_repeat():
    data = make_data(n_patients=30, per_patient=3)
    folds = grouped_kfold(data.y, data.patient_id, n_splits=5, n_repeats=4, seed=7)
    assert len(folds) == 20
    for repeat in range(4):
        tests = [f.test for f in folds if f.repeat == repeat]
        # every row is tested exactly once per repeat
        assert sorted(np.concatenate(tests).tolist()) == list(range(90))
    for f in folds:
        assert not set(data.patient_id[f.train]) & set(data.patient_id[f.test])
        assert set(f.train) | set(f.test) == set(range(90))
    # repeats shuffle differently, the same seed gives the same folds
    assert not np.array_equal(folds[0].test, folds[5].test)
    again = grouped_kfold(data.y, data.patient_id, 5, 4, seed=7)
    assert all(np.array_equal(a.test, b.test) for a, b in zip(folds, again, strict=True))


def test_a_split_patient_is_refused():
    groups = np.array(["a", "a", "b", "b"])
    bad = [Fold(0, 0, np.array([0, 2]), np.array([1, 3]))]
    with pytest.raises(DataError, match=r"patient\(s\) \['a', 'b'\] are in both"):
        check_groups_not_split(bad, groups)


def test_too_few_patients_for_the_folds():
    data = make_data(n_patients=4)
    with pytest.raises(DataError, match="4 patients cannot fill 5 folds"):
        grouped_kfold(data.y, data.patient_id, 5)


def test_fixed_split_keeps_the_test_rows_split_names():
    folds = fixed_split(["train", "TEST", "train", "external"])
    assert folds[0].train.tolist() == [0, 2] and folds[0].test.tolist() == [1, 3]
    with pytest.raises(DataError, match="needs training rows"):
        fixed_split(["test", "test"])


def test_predictions_table_schema_and_threshold_from_training_rows():
    data = make_data(n_patients=20)
    folds = grouped_kfold(data.y, data.patient_id, 3, 2, seed=0)
    outcomes = run_folds([LR], data, folds, Tuning(), seed=0)
    table = predictions_table(outcomes, data)
    assert list(table.columns) == ["patient_id", "lesion_id", "model", "repeat", "fold", "split",
                                   "y_true", "y_prob"]
    assert len(table) == 2 * len(data.y)
    assert table.groupby("repeat").size().tolist() == [40, 40]
    assert set(table["split"]) == {"cv"}
    cuts = thresholds_table(outcomes)
    assert len(cuts) == 6 and cuts["threshold"].between(0, 1).all()
    # the cut-off comes from the training rows: refitting fold 0 alone gives the same number
    fold = folds[0]
    from livermets.models.validation import derive_seed

    alone = fit_spec(LR, data.subset(fold.train), Tuning(), derive_seed(0, "lr", 0, 0, "cv"))
    assert alone.threshold == pytest.approx(cuts["threshold"].iloc[0])


def test_results_do_not_depend_on_the_number_of_workers():
    data = make_data(n_patients=16)
    folds = grouped_kfold(data.y, data.patient_id, 2, 2, seed=1)
    specs = [PipelineSpec(name="lr", select="anova", resample="smote")]
    serial = predictions_table(run_folds(specs, data, folds, Tuning(trials=2), 3, workers=1), data)
    parallel = predictions_table(run_folds(specs, data, folds, Tuning(trials=2), 3, workers=2),
                                 data)
    np.testing.assert_array_equal(serial["y_prob"].to_numpy(), parallel["y_prob"].to_numpy())


def test_nested_tuning_is_seeded_and_searches_step_choices():
    data = make_data(n_patients=20)
    spec = PipelineSpec(name="m", select="anova", search={"select": ["anova", "mrmr"],
                                                          "resample": ["none", "smote"]})
    a = fit_spec(spec, data, Tuning(trials=4, inner_folds=3), seed=11)
    b = fit_spec(spec, data, Tuning(trials=4, inner_folds=3), seed=11)
    assert a.spec == b.spec
    assert a.spec.select in ("anova", "mrmr") and "k" in a.spec.select_params
    assert "C" in a.spec.classifier_params
    assert a.inner_auc == pytest.approx(b.inner_auc)
    assert 0.5 < a.inner_auc <= 1.0


def test_multiclass_predictions_have_one_column_per_class():
    data = make_data(n_patients=24)
    rng = np.random.default_rng(0)
    data.y = np.where(rng.random(len(data.y)) < 0.3, 2, data.y)
    data.classes = ["a", "b", "c"]
    folds = grouped_kfold(data.y, data.patient_id, 3, 1, seed=0)
    table = predictions_table(run_folds([LR], data, folds, Tuning(), 0), data)
    assert [c for c in table.columns if c.startswith("p_")] == ["p_a", "p_b", "p_c"]
    np.testing.assert_allclose(table[["p_a", "p_b", "p_c"]].sum(axis=1), 1.0)
    assert set(table["y_true"]) == {"a", "b", "c"}


def test_the_inner_loop_can_choose_the_classifier():
    data = make_data(n_patients=20)
    spec = PipelineSpec(name="m", select="anova",
                        search={"classifier": ["naive_bayes", "knn"], "tune_select": False})
    result = fit_spec(spec, data, Tuning(trials=4), seed=2)
    assert result.spec.classifier in ("naive_bayes", "knn")
    assert set(result.spec.classifier_params) in ({"var_smoothing"}, {"n_neighbors", "weights"})
    assert type(result.pipeline.steps[-1][1]).__name__ in ("GaussianNB", "KNeighborsClassifier")


def test_a_training_fold_without_a_class_names_fold_and_class():
    """Three patients of one class and one of the other in two folds: one fold trains on one."""
    y = np.array([0, 0, 0, 1])
    groups = np.array(["a", "b", "c", "d"])
    with pytest.raises(DataError, match=r"cross-validation: repeat 0 fold \d trains on 2 "
                       r"patient\(s\) with no case of class met, .*have ben: 3 patient\(s\), "
                       r"met: 1 patient\(s\)\)\. Lower validation\.folds \(now 2\)"):
        grouped_kfold(y, groups, 2, classes=["ben", "met"])
    folds = grouped_kfold(np.array([0, 0, 1, 1]), groups, 2, classes=["ben", "met"])
    assert all(set(np.array([0, 0, 1, 1])[f.train]) == {0, 1} for f in folds)
