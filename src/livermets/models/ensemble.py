"""Soft voting over several fitted pipelines: the inner loop's best configurations averaged."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.utils.validation import check_is_fitted

from livermets.models.grouping import fit_pipeline


class SoftVotingEnsemble(ClassifierMixin, BaseEstimator):
    """The mean of the class probabilities of ``estimators`` (pipelines), each fitted on all
    the training rows given to ``fit`` (with the patient ``groups`` routed like
    ``fit_pipeline``, so calibrated members split their rows by patient).

    ``estimators_`` holds the fitted members; ``classes_`` is the union of their classes (every
    member is fitted on the same rows, so they agree). ``weights`` (default equal) weight the
    mean. Pickles like a pipeline; ``livermets predict`` uses ``predict_proba`` and ``classes_``.
    """

    uses_groups = True

    def __init__(self, estimators: list[Any] | None = None,
                 weights: list[float] | None = None) -> None:
        self.estimators = estimators
        self.weights = weights

    def fit(self, X: Any, y: np.ndarray, groups: Any = None) -> SoftVotingEnsemble:
        """Fit a clone of every member on ``X``, ``y`` (and ``groups``)."""
        if not self.estimators:
            raise ValueError("a soft-voting ensemble needs at least one estimator")
        if self.weights is not None and len(self.weights) != len(self.estimators):
            raise ValueError(f"{len(self.weights)} weights for {len(self.estimators)} estimators")
        self.estimators_ = [fit_pipeline(clone(e), X, y, groups) for e in self.estimators]
        self.classes_ = np.unique(np.concatenate([np.asarray(m.classes_)
                                                  for m in self.estimators_]))
        return self

    def member_probabilities(self, X: Any) -> list[np.ndarray]:
        """Every member's probabilities, one column per class of ``classes_``."""
        check_is_fitted(self, "estimators_")
        out = []
        for member in self.estimators_:
            prob = np.zeros((len(X), len(self.classes_)))
            columns = np.searchsorted(self.classes_, np.asarray(member.classes_))
            prob[:, columns] = member.predict_proba(X)
            out.append(prob)
        return out

    def predict_proba(self, X: Any) -> np.ndarray:
        """The (weighted) mean of the members' class probabilities."""
        return np.average(np.stack(self.member_probabilities(X)), axis=0, weights=self.weights)

    def predict(self, X: Any) -> np.ndarray:
        """The class with the largest mean probability."""
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]
