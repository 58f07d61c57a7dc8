"""An untuned multiclass model runs no inner folds; binary and tuned models still do."""

from __future__ import annotations

import numpy as np
import pandas as pd

from livermets.models import FeatureData, PipelineSpec, Tuning
from livermets.models.validation import fit_spec, uses_inner_folds


def _data(classes: list[str], counts: list[int]) -> FeatureData:
    """One row per patient; class k has counts[k] patients and a shifted first feature."""
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(len(classes)), counts)
    X = pd.DataFrame(rng.normal(size=(len(y), 4)), columns=[f"f{i}" for i in range(4)])
    X["f0"] += 3.0 * y
    return FeatureData(X, y, classes, np.array([f"P{i:03d}" for i in range(len(y))]))


SPEC = PipelineSpec(name="lr", select="none", classifier="logistic")


def test_untuned_multiclass_fits_with_a_class_too_rare_for_inner_folds():
    data = _data(["a", "b", "c"], [10, 10, 1])  # 1 patient of c: an inner training fold lacks c
    assert not uses_inner_folds(data, Tuning(trials=0, inner_folds=3))
    fit = fit_spec(SPEC, data, Tuning(trials=0, inner_folds=3), seed=1)
    assert fit.threshold is None and np.isnan(fit.inner_auc)
    prob = fit.pipeline.predict_proba(data.X)
    assert prob.shape == (21, 3)
    assert np.allclose(prob.sum(axis=1), 1.0)
    assert (prob.argmax(axis=1) == data.y).mean() > 0.8  # the planted shift is learnt


def test_binary_and_tuned_models_still_run_inner_folds():
    binary = _data(["neg", "pos"], [12, 12])
    assert uses_inner_folds(binary, Tuning(trials=0, inner_folds=3))
    fit = fit_spec(SPEC, binary, Tuning(trials=0, inner_folds=3), seed=1)
    assert fit.threshold is not None and 0.8 < fit.inner_auc <= 1.0  # Youden cut-off on inner OOF
    assert np.isfinite(fit.train_oof).all()
    assert uses_inner_folds(_data(["a", "b", "c"], [10, 10, 2]), Tuning(trials=2, inner_folds=3))
