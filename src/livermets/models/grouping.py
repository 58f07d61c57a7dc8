"""Patient-grouped inner splits and the estimators that split their training data internally.

Every split made inside a training fold (probability calibration, the combined model's
out-of-fold rad-score) keeps all lesions of a patient on one side, like the outer folds. The
groups reach those estimators as a ``groups`` fit parameter: ``fit_pipeline`` routes it to the
final step of a pipeline when the step declares ``uses_groups = True``.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from imblearn.pipeline import Pipeline
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.model_selection import StratifiedGroupKFold
from sklearn.utils.validation import check_is_fitted

from livermets.errors import DataError

Split = tuple[np.ndarray, np.ndarray]


def row_groups(groups: Any, n_rows: int) -> np.ndarray:
    """``groups`` as an array of one entry per row; without groups every row is its own."""
    if groups is None:
        return np.arange(n_rows)
    groups = np.asarray(groups)
    if len(groups) != n_rows:
        raise ValueError(f"groups has {len(groups)} entries for {n_rows} rows")
    return groups


def grouped_splits(y: np.ndarray, groups: np.ndarray, n_splits: int, seed: int) -> list[Split]:
    """Stratified k-fold (seeded shuffle) with all rows of a group on one side of every split.

    ``n_splits`` shrinks to the number of groups when there are fewer, and further (down to 2)
    while some training part would lack a class. If no number of folds gives every training part
    every class (a class with a single patient), the ``n_splits`` splits are returned as they are
    (``complete_splits`` keeps the usable ones).
    """
    n_splits = max(2, min(n_splits, len(np.unique(groups))))
    n_classes = len(np.unique(y))
    first: list[Split] | None = None
    for k in range(n_splits, 1, -1):
        splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="The least populated class")
            splits = list(splitter.split(np.zeros(len(y)), y, groups))
        if all(len(np.unique(y[train])) == n_classes for train, _ in splits):
            return splits
        first = splits if first is None else first
    assert first is not None
    return first


def complete_splits(splits: list[Split], y: np.ndarray) -> list[Split]:
    """The splits whose training part holds every class of ``y`` (a model can be fitted)."""
    n_classes = len(np.unique(y))
    return [(train, test) for train, test in splits if len(np.unique(y[train])) == n_classes]


def fit_pipeline(pipeline: Pipeline, X: Any, y: np.ndarray, groups: Any = None) -> Pipeline:
    """Fit ``pipeline``; the patient ``groups`` go to its final step if that step splits rows.

    Such a step must see the rows in their original order, so no sampler may precede it (the
    calibrated SVMs take the resampler inside, see ``GroupedCalibratedClassifier``).
    """
    name, final = pipeline.steps[-1]
    if not getattr(final, "uses_groups", False):
        return pipeline.fit(X, y)
    samplers = [n for n, step in pipeline.steps[:-1] if hasattr(step, "fit_resample")]
    if samplers:
        raise ValueError(f"step {name!r} splits rows by patient; sampler(s) {samplers} before "
                         "it would change the rows")
    return pipeline.fit(X, y, **{f"{name}__groups": row_groups(groups, len(y))})


class GroupedCalibratedClassifier(ClassifierMixin, BaseEstimator):
    """A classifier with probabilities calibrated (sigmoid or isotonic) on patient-grouped inner
    folds (``CalibratedClassifierCV`` given the splits; its per-fold models are averaged).

    A ``resampler`` is fitted inside each inner fold on its training part only, so calibration
    uses real held-out rows at the real class balance, never synthetic or duplicated ones.
    ``splits_`` holds the inner splits used (those whose training part has every class).
    """

    uses_groups = True

    def __init__(self, estimator: Any = None, resampler: Any = None, method: str = "sigmoid",
                 n_folds: int = 3, seed: int = 0) -> None:
        self.estimator = estimator
        self.resampler = resampler
        self.method = method
        self.n_folds = n_folds
        self.seed = seed

    def fit(self, X: Any, y: np.ndarray, groups: Any = None) -> GroupedCalibratedClassifier:
        """Calibrate on grouped inner folds of the training rows (rows are independent without
        ``groups``)."""
        y = np.asarray(y)
        splits = grouped_splits(y, row_groups(groups, len(y)), self.n_folds, self.seed)
        self.splits_ = complete_splits(splits, y)
        if not self.splits_:
            raise DataError(
                f"probability calibration: {len(np.unique(row_groups(groups, len(y))))} patients "
                "are too few to form patient-grouped inner folds whose training parts hold every "
                "class; add patients or use a classifier without calibration (not an SVM)."
            )
        inner = clone(self.estimator)
        if self.resampler is not None:
            inner = Pipeline([("resample", clone(self.resampler)), ("model", inner)])
        self.calibrated_ = CalibratedClassifierCV(inner, method=self.method, cv=self.splits_)
        self.calibrated_.fit(X, y)
        self.classes_ = self.calibrated_.classes_
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """Calibrated class probabilities (mean over the inner folds' calibrated models)."""
        check_is_fitted(self, "calibrated_")
        return self.calibrated_.predict_proba(X)

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class."""
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]
