"""Feature filters and selectors fitted on the training fold only (scikit-learn estimators)."""

from __future__ import annotations

import warnings
from abc import abstractmethod

import numpy as np
from imblearn.base import BaseSampler
from imblearn.over_sampling import SMOTE
from sklearn.base import BaseEstimator
from sklearn.ensemble import RandomForestClassifier
from sklearn.feature_selection import SelectorMixin, f_classif
from sklearn.inspection import permutation_importance
from sklearn.linear_model import LogisticRegression
from sklearn.utils.validation import check_is_fitted, validate_data

from livermets.errors import ConfigError, DataError


def outcome_association(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """ANOVA F of each column against the class (monotone in |point-biserial r| for 2 classes)."""
    with np.errstate(divide="ignore", invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # constant features: F is NaN, handled
        f, _ = f_classif(X, y)
    return np.where(np.isfinite(f), f, -np.inf)


def correlation_ratio(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Correlation ratio eta (|point-biserial r| for 2 classes) of each column with the class."""
    f = outcome_association(X, y)
    k, n = len(np.unique(y)), len(y)
    between = np.where(np.isfinite(f), f * (k - 1), 0.0)
    return np.sqrt(between / (between + (n - k)))


def abs_correlation(X: np.ndarray) -> np.ndarray:
    """Absolute Pearson correlation matrix; constant columns correlate 0 with everything."""
    centred = X - X.mean(axis=0)
    norm = np.sqrt((centred**2).sum(axis=0))
    norm[norm == 0] = np.inf
    z = centred / norm
    return np.abs(z.T @ z)


def n_keep(k: int | str, n_features: int) -> int:
    """How many columns a top-k selector keeps: ``k`` (at most every column) or ``"all"``."""
    if isinstance(k, str):
        if k != "all":
            raise ConfigError(f"k must be a positive number of features or 'all', not {k!r}")
        return n_features
    if int(k) < 1:
        raise ConfigError(f"k must be a positive number of features or 'all', not {k!r}")
    return min(int(k), n_features)


def check_k(k: int | str) -> int | str:
    """``k`` if it is a valid top-k setting (a positive integer or ``"all"``)."""
    n_keep(k, 1)
    return k


def bhattacharyya_radmlbench(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """radMLBench's "Bhattacharyya" feature score (higher = better), ported exactly.

    radMLBench (Demircioğlu, ``bhattacharyya_score_fct``) compares, with OpenCV's
    ``compareHist(HISTCMP_BHATTACHARYYA)``, each feature column min-max scaled and normalised to
    sum 1 over the *samples* with the label vector y / sum(y):
    ``d = sqrt(max(0, 1 - sum_i sqrt(h1_i h2_i) / sqrt(sum h1 * sum h2)))``, returned negated and
    in float32 like the original (its float32 rounding decides ties). It rewards features whose
    min-max mass lies on the positive rows, so it is one-sided: a feature that is *lower* in the
    positive class never ranks high. Constant columns score 0, the best score (as in the
    original). Binary outcomes only; ``y`` is 0 / 1 with 1 the positive class.
    """
    X = np.asarray(X, float)
    y = np.asarray(y, float)
    yn = (y / y.sum()).astype(np.float32)
    low, high = X.min(axis=0), X.max(axis=0)
    spread = high - low
    constant = spread == 0
    U = (X - low) / np.where(constant, 1.0, spread)
    Xn = (U / np.where(constant, 1.0, U.sum(axis=0))).astype(np.float32)
    bc = np.sqrt(Xn.astype(np.float64) * yn[:, None]).sum(axis=0)
    scale = Xn.sum(axis=0).astype(np.float64) * yn.sum()
    with np.errstate(divide="ignore"):
        scale = np.where(np.abs(scale) > np.finfo(float).eps, 1 / np.sqrt(np.abs(scale)), 1.0)
    d = np.sqrt(np.maximum(1 - bc * scale, 0))
    d[constant] = 0.0
    return -d.astype(np.float32)


def bhattacharyya_two_sided(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The radMLBench score of the feature or of its negation, whichever is larger, so that
    features lower in the positive class can rank high too; constant columns rank last."""
    X = np.asarray(X, float)
    score = np.maximum(bhattacharyya_radmlbench(X, y), bhattacharyya_radmlbench(-X, y))
    score = score.astype(np.float64)
    score[np.ptp(X, axis=0) == 0] = -np.inf
    return score


class _Selector(SelectorMixin, BaseEstimator):
    """Base of the selectors here: subclasses compute ``support_`` in ``_select``."""

    def fit(self, X: np.ndarray, y: np.ndarray) -> _Selector:
        """Learn which columns to keep from the training data."""
        X, y = validate_data(self, X, y, ensure_all_finite=True, dtype=float)
        self.support_ = self._select(X, np.asarray(y))
        if not self.support_.any():  # never hand an empty matrix to the next step
            self.support_[int(np.argmax(outcome_association(X, y)))] = True
        return self

    @abstractmethod
    def _select(self, X: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Boolean mask of the columns to keep (each selector's own rule)."""

    def _get_support_mask(self) -> np.ndarray:
        check_is_fitted(self, "support_")
        return self.support_

    def __sklearn_tags__(self):  # type: ignore[no-untyped-def]
        """Selectors need y and reject NaN (impute first)."""
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        return tags


class CorrelationFilter(_Selector):
    """Drop redundant features: of a pair with |Pearson r| > threshold keep the one more
    associated with the outcome (ANOVA F), greedily from the most associated feature down."""

    def __init__(self, threshold: float = 0.6) -> None:
        self.threshold = threshold

    def _select(self, X: np.ndarray, y: np.ndarray) -> np.ndarray:
        assoc = outcome_association(X, y)
        corr = abs_correlation(X)
        keep = np.zeros(X.shape[1], dtype=bool)
        constant = X.std(axis=0) == 0
        for j in np.argsort(-assoc, kind="stable"):
            if constant[j]:
                continue
            if not keep.any() or corr[j, keep].max() <= self.threshold:
                keep[j] = True
        return keep


class TopKAnova(_Selector):
    """The k features with the largest ANOVA F statistic."""

    def __init__(self, k: int | str = 10) -> None:
        self.k = k

    def _select(self, X: np.ndarray, y: np.ndarray) -> np.ndarray:
        keep = np.zeros(X.shape[1], dtype=bool)
        order = np.argsort(-outcome_association(X, y), kind="stable")
        keep[order[: n_keep(self.k, X.shape[1])]] = True
        return keep


class TopKBhattacharyya(_Selector):
    """The k features with the best radMLBench Bhattacharyya score (binary outcomes only).

    ``two_sided=True`` scores each feature and its negation (``bhattacharyya_two_sided``);
    ``False`` is radMLBench's one-sided score exactly (``bhattacharyya_radmlbench``). Ties are
    broken like scikit-learn's ``SelectKBest`` (the later column wins), as in radMLBench.
    """

    def __init__(self, k: int | str = 10, two_sided: bool = True) -> None:
        self.k = k
        self.two_sided = two_sided

    def _select(self, X: np.ndarray, y: np.ndarray) -> np.ndarray:
        classes = np.unique(y)
        if len(classes) != 2:
            raise ConfigError(
                f"the Bhattacharyya selectors score two classes, but the outcome has "
                f"{len(classes)}; use anova, mrmr, lasso or rf_permutation."
            )
        positive = (y == classes[1]).astype(float)
        score = (bhattacharyya_two_sided if self.two_sided else bhattacharyya_radmlbench)(
            X, positive)
        self.scores_ = np.asarray(score, dtype=np.float64)
        keep = np.zeros(X.shape[1], dtype=bool)
        order = np.argsort(np.nan_to_num(self.scores_, nan=-np.inf), kind="mergesort")
        keep[order[len(order) - n_keep(self.k, X.shape[1]):]] = True
        return keep


class MRMR(_Selector):
    """Minimum-redundancy maximum-relevance (Ding & Peng 2005), difference form on a correlation
    scale: relevance = correlation ratio with the class, redundancy = mean |r| with the chosen."""

    def __init__(self, k: int | str = 10) -> None:
        self.k = k

    def _select(self, X: np.ndarray, y: np.ndarray) -> np.ndarray:
        relevance = correlation_ratio(X, y)
        usable = X.std(axis=0) > 0
        corr = abs_correlation(X)
        keep = np.zeros(X.shape[1], dtype=bool)
        redundancy = np.zeros(X.shape[1])
        for n in range(min(n_keep(self.k, X.shape[1]), int(usable.sum()))):
            score = relevance - (redundancy / n if n else 0.0)
            score[keep | ~usable] = -np.inf
            best = int(np.argmax(score))
            keep[best] = True
            redundancy += corr[best]
        return keep


class L1Selector(_Selector):
    """Features with a non-zero coefficient in an L1-penalised (LASSO) logistic regression."""

    def __init__(self, C: float = 0.1, seed: int = 0) -> None:
        self.C = C
        self.seed = seed

    def _select(self, X: np.ndarray, y: np.ndarray) -> np.ndarray:
        counts = np.unique(y, return_counts=True)
        if len(counts[0]) < 2:
            raise DataError(
                f"LASSO selection: the training rows hold a single class ({counts[0].tolist()}, "
                f"{len(y)} rows), so no feature can be selected; too few cases of a class for "
                "this design: lower the number of folds or pool centres."
            )
        model = LogisticRegression(
            l1_ratio=1.0, C=self.C, solver="liblinear", random_state=self.seed, max_iter=1000
        )
        model.fit(X, y)
        return np.any(np.abs(model.coef_) > 1e-10, axis=0)


class RFPermutationTopK(_Selector):
    """The k features with the largest random-forest permutation importance (training fold)."""

    def __init__(self, k: int | str = 10, n_estimators: int = 100, n_repeats: int = 3,
                 seed: int = 0):
        self.k = k
        self.n_estimators = n_estimators
        self.n_repeats = n_repeats
        self.seed = seed

    def _select(self, X: np.ndarray, y: np.ndarray) -> np.ndarray:
        forest = RandomForestClassifier(
            n_estimators=self.n_estimators, random_state=self.seed, n_jobs=1
        ).fit(X, y)
        result = permutation_importance(
            forest, X, y, n_repeats=self.n_repeats, random_state=self.seed, n_jobs=1
        )
        keep = np.zeros(X.shape[1], dtype=bool)
        order = np.argsort(-result.importances_mean, kind="stable")
        keep[order[: n_keep(self.k, X.shape[1])]] = True
        return keep


class AdaptiveSMOTE(BaseSampler):
    """SMOTE whose neighbour count shrinks to what the smallest class of the fold allows."""

    _sampling_type = "over-sampling"
    _parameter_constraints: dict = {}  # noqa: RUF012

    def __init__(self, k_neighbors: int = 5, random_state: int | None = None) -> None:
        super().__init__(sampling_strategy="auto")
        self.k_neighbors = k_neighbors
        self.random_state = random_state

    def _fit_resample(self, X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        smallest = int(np.unique(y, return_counts=True)[1].min())
        k = min(self.k_neighbors, smallest - 1)
        if k < 1:
            return X, y
        return SMOTE(k_neighbors=k, random_state=self.random_state).fit_resample(X, y)
