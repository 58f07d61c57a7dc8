"""The default model search: a fixed portfolio of pipelines across model families, scored on
the same patient-grouped inner folds, averaged across families, with a robust fallback.

``DefaultSearchClassifier`` is one estimator (``classifier: default_search``): ``fit`` scores
every ``PORTFOLIO`` candidate on grouped inner folds of the rows it is given (the outer
training rows), keeps the best candidate of each of the ``top_families`` best families and
averages their probabilities. When the inner folds cannot tell that combination from the robust
default (its inner AUC gain is below ``se_factor`` standard errors of the per-fold gains), or
the rarest class has fewer than ``min_events`` patients, it uses ``ROBUST_DEFAULT`` instead and
says so in ``used_`` / ``reason_``.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.metrics import roc_auc_score
from sklearn.utils.validation import check_is_fitted

from livermets.models.ensemble import SoftVotingEnsemble
from livermets.models.grouping import fit_pipeline, grouped_splits, row_groups
from livermets.models.pipeline import PipelineSpec, build_pipeline


@dataclass(frozen=True)
class PortfolioEntry:
    """One candidate pipeline of the portfolio and the model family it belongs to."""

    name: str
    family: str
    spec: PipelineSpec


def _trees(name: str, classifier: str, **params: Any) -> PortfolioEntry:
    return PortfolioEntry(name, "trees", PipelineSpec(
        name=name, scale="none", redundancy=None, select="none", classifier=classifier,
        classifier_params=params))


def _linear(name: str, k: int, C: float) -> PortfolioEntry:
    return PortfolioEntry(name, "linear", PipelineSpec(
        name=name, redundancy=None, select="anova", select_params={"k": k},
        classifier="logistic", classifier_params={"C": C}))


# Small-data gradient boosting: shallow trees, slow learning, row and column subsampling, L2.
LIGHTGBM_SMALL = {"n_estimators": 300, "learning_rate": 0.03, "num_leaves": 4, "max_depth": 2,
                  "min_child_samples": 8, "subsample": 0.7, "subsample_freq": 1,
                  "colsample_bytree": 0.3, "reg_lambda": 5.0}

PORTFOLIO: tuple[PortfolioEntry, ...] = (
    _trees("rf500", "random_forest", n_estimators=500),
    _trees("et500", "extra_trees", n_estimators=500),
    PortfolioEntry("lgbm_small", "boosting", PipelineSpec(
        name="lgbm_small", scale="none", redundancy=None, select="none", classifier="lightgbm",
        classifier_params=LIGHTGBM_SMALL)),
    _linear("anova16_lr_c0.1", 16, 0.1),
    _linear("anova32_lr_c1", 32, 1.0),
    _linear("anova128_lr_c0.01", 128, 0.01),
    PortfolioEntry("anova64_rbf_svm", "kernel", PipelineSpec(
        name="anova64_rbf_svm", redundancy=None, select="anova", select_params={"k": 64},
        classifier="rbf_svm", classifier_params={"C": 1.0})),
)
# One fixed member per family, averaged: what the search falls back to.
ROBUST_DEFAULT: tuple[str, ...] = ("rf500", "lgbm_small", "anova32_lr_c1", "anova64_rbf_svm")
# The selection rule's knobs, chosen on the design tables only (docs/models.md, radMLBench).
DEFAULT_RULE: dict[str, Any] = {"top_families": 3, "se_factor": 1.0, "min_events": 10,
                                "chance_z": 1.96}


def portfolio_entries(names: Sequence[str] | None = None) -> list[PortfolioEntry]:
    """The portfolio entries called ``names`` (all of ``PORTFOLIO`` by default)."""
    if names is None:
        return list(PORTFOLIO)
    by_name = {e.name: e for e in PORTFOLIO}
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise ValueError(f"unknown portfolio candidate(s) {unknown}; use {list(by_name)}")
    return [by_name[n] for n in names]


def _auc(y: np.ndarray, prob: np.ndarray) -> float:
    """Binary AUC of the last column, macro one-vs-rest otherwise; NaN with a single class."""
    if len(np.unique(y)) < 2:
        return float("nan")
    if prob.shape[1] == 2:
        return float(roc_auc_score(y, prob[:, 1]))
    return float(roc_auc_score(y, prob, multi_class="ovr", average="macro",
                               labels=range(prob.shape[1])))


def _fit_predict(spec: PipelineSpec, seed: int, X: Any, y: np.ndarray, groups: np.ndarray,
                 train: np.ndarray, test: np.ndarray, n_classes: int) -> np.ndarray:
    """Probabilities (one column per class code) of ``spec`` fitted on ``train``, on ``test``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = fit_pipeline(build_pipeline(spec, seed), X.iloc[train], y[train], groups[train])
        out = np.zeros((len(test), n_classes))
        out[:, np.asarray(model.classes_, dtype=int)] = model.predict_proba(X.iloc[test])
    return out


def portfolio_oof(entries: Sequence[PortfolioEntry], X: Any, y: np.ndarray, groups: np.ndarray,
                  splits: Sequence[tuple[np.ndarray, np.ndarray]], seed: int,
                  n_jobs: int = 1) -> dict[str, np.ndarray]:
    """Every candidate's out-of-fold probabilities on the same inner ``splits``."""
    from joblib import Parallel, delayed

    n_classes = int(y.max()) + 1
    tasks = [(e, train, test) for e in entries for train, test in splits]
    results = Parallel(n_jobs=n_jobs)(
        delayed(_fit_predict)(e.spec, seed, X, y, groups, train, test, n_classes)
        for e, train, test in tasks)
    oof = {e.name: np.zeros((len(y), n_classes)) for e in entries}
    for (e, _, test), prob in zip(tasks, results, strict=True):
        oof[e.name][test] = prob
    return oof


def _se_auc(y: np.ndarray, auc: float) -> float:
    """Hanley-McNeil standard error of an AUC (two largest classes)."""
    counts = np.sort(np.bincount(y))[::-1]
    n0, n1 = int(counts[0]), int(counts[1]) if len(counts) > 1 else 0
    if n1 == 0 or not np.isfinite(auc):
        return float("inf")
    q1, q2 = auc / (2 - auc), 2 * auc**2 / (1 + auc)
    var = (auc * (1 - auc) + (n1 - 1) * (q1 - auc**2) + (n0 - 1) * (q2 - auc**2)) / (n0 * n1)
    return float(np.sqrt(max(var, 0.0)))


@dataclass
class Choice:
    """What the selection rule picked from the inner folds, and why."""

    members: list[str]
    used: str  # "ensemble" or "fallback"
    reason: str
    inner_auc: float
    robust_inner_auc: float
    candidate_auc: dict[str, float] = field(default_factory=dict)


def choose(oof: dict[str, np.ndarray], y: np.ndarray,
           splits: Sequence[tuple[np.ndarray, np.ndarray]], families: dict[str, str],
           robust: Sequence[str] = ROBUST_DEFAULT, top_families: int | None = 3,
           se_factor: float | None = 1.0, min_events: int = 10,
           chance_z: float | None = 1.96, groups: np.ndarray | None = None) -> Choice:
    """The cross-family ensemble (best candidate of each of the ``top_families`` families with
    the best inner AUC; None = every family), or ``robust`` when the rarest class has fewer
    than ``min_events`` patients (``groups``; rows without them), the ensemble's inner AUC is
    within ``chance_z`` Hanley-McNeil standard errors of 0.5 (None = no such check), or its
    inner AUC gain over ``robust`` is below ``se_factor`` standard errors of its per-fold gains
    (None = never fall back)."""
    scores = {name: _auc(y, prob) for name, prob in oof.items()}
    best: dict[str, str] = {}
    for name in sorted(scores, key=lambda n: -scores[n]):
        best.setdefault(families[name], name)
    ranked = sorted(best.values(), key=lambda n: -scores[n])
    members = ranked if top_families is None else ranked[:top_families]

    def mean(names: Sequence[str]) -> np.ndarray:
        return np.mean([oof[n] for n in names], axis=0)

    ensemble, fallback = mean(members), mean(robust)
    auc, robust_auc = _auc(y, ensemble), _auc(y, fallback)
    # events are patients, not lesions: ten lesions of one patient are one event
    owners = row_groups(groups, len(y))
    events = (min(len(np.unique(owners[y == c])) for c in np.unique(y))
              if len(np.unique(y)) > 1 else 0)
    gains = [_auc(y[test], ensemble[test]) - _auc(y[test], fallback[test]) for _, test in splits]
    gains = [g for g in gains if np.isfinite(g)]
    se = float(np.std(gains, ddof=1) / np.sqrt(len(gains))) if len(gains) > 1 else float("inf")
    if se_factor is not None and events < min_events:
        return Choice(list(robust), "fallback", f"few events: {events} < {min_events} in the "
                      "rarest class", auc, robust_auc, scores)
    if se_factor is not None and chance_z is not None and auc - 0.5 < chance_z * _se_auc(y, auc):
        return Choice(list(robust), "fallback", f"no signal: inner AUC {auc:.3f} within "
                      f"{chance_z:g} SE ({_se_auc(y, auc):.3f}) of chance", auc, robust_auc,
                      scores)
    if se_factor is not None and auc - robust_auc < se_factor * se:
        return Choice(list(robust), "fallback", f"inner AUC gain {auc - robust_auc:+.3f} over "
                      f"the robust default < {se_factor:g} SE ({se:.3f})", auc, robust_auc,
                      scores)
    return Choice(list(members), "ensemble", f"inner AUC gain {auc - robust_auc:+.3f} over the "
                  f"robust default (SE {se:.3f})", auc, robust_auc, scores)


class DefaultSearchClassifier(ClassifierMixin, BaseEstimator):
    """The default search as one classifier: portfolio on grouped inner folds, cross-family
    ensemble or robust fallback, members refitted on all rows given to ``fit``.

    After ``fit``: ``used_`` ("ensemble" / "fallback"), ``reason_``, ``members_`` (candidate
    names), ``candidate_auc_`` (inner AUC of every candidate), ``inner_auc_`` and ``oof_`` (the
    chosen combination's inner out-of-fold probabilities), ``estimator_`` (the fitted
    ``SoftVotingEnsemble``). Each candidate carries its own imputer, scaler and selector.
    """

    uses_groups = True

    def __init__(self, portfolio: Sequence[str] | None = None,
                 robust: Sequence[str] = ROBUST_DEFAULT, inner_folds: int = 5,
                 top_families: int | None = DEFAULT_RULE["top_families"],
                 se_factor: float | None = DEFAULT_RULE["se_factor"],
                 min_events: int = DEFAULT_RULE["min_events"],
                 chance_z: float | None = DEFAULT_RULE["chance_z"], seed: int = 0,
                 n_jobs: int = 1) -> None:
        self.portfolio = portfolio
        self.robust = robust
        self.inner_folds = inner_folds
        self.top_families = top_families
        self.se_factor = se_factor
        self.min_events = min_events
        self.chance_z = chance_z
        self.seed = seed
        self.n_jobs = n_jobs

    def fit(self, X: Any, y: np.ndarray, groups: Any = None) -> DefaultSearchClassifier:
        """Score the portfolio on grouped inner folds of these rows, choose, refit."""
        import pandas as pd

        X = X if isinstance(X, pd.DataFrame) else pd.DataFrame(np.asarray(X))
        self.classes_, codes = np.unique(np.asarray(y), return_inverse=True)
        groups = row_groups(groups, len(codes))
        entries = portfolio_entries(self.portfolio)
        missing = [n for n in self.robust if n not in {e.name for e in entries}]
        if missing:
            raise ValueError(f"robust default member(s) {missing} are not in the portfolio")
        self.splits_ = grouped_splits(codes, groups, self.inner_folds, self.seed)
        oof = portfolio_oof(entries, X, codes, groups, self.splits_, self.seed, self.n_jobs)
        choice = choose(oof, codes, self.splits_, {e.name: e.family for e in entries},
                        self.robust, self.top_families, self.se_factor, self.min_events,
                        self.chance_z, groups)
        self.used_, self.reason_, self.members_ = choice.used, choice.reason, choice.members
        self.candidate_auc_ = choice.candidate_auc
        self.oof_ = np.mean([oof[n] for n in choice.members], axis=0)
        self.inner_auc_ = _auc(codes, self.oof_)
        specs = {e.name: e.spec for e in entries}
        self.estimator_ = SoftVotingEnsemble([build_pipeline(specs[n], self.seed)
                                              for n in choice.members])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.estimator_.fit(X, codes, groups)
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """The chosen members' mean class probabilities (columns in ``classes_`` order)."""
        check_is_fitted(self, "estimator_")
        out = np.zeros((len(X), len(self.classes_)))
        out[:, np.asarray(self.estimator_.classes_, dtype=int)] = self.estimator_.predict_proba(X)
        return out

    def predict(self, X: Any) -> np.ndarray:
        """The class with the largest mean probability."""
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


def search_choice(pipeline: Any) -> dict[str, Any] | None:
    """What a fitted default search used and why (None for any other fitted pipeline)."""
    final = pipeline.steps[-1][1] if hasattr(pipeline, "steps") else pipeline
    if not isinstance(final, DefaultSearchClassifier) or not hasattr(final, "used_"):
        return None
    return {"used": final.used_, "reason": final.reason_, "members": list(final.members_),
            "inner_auc": final.inner_auc_,
            "candidate_auc": {k: round(v, 4) for k, v in final.candidate_auc_.items()}}


DEFAULT_SEARCH_SPEC = PipelineSpec(name="default_search", scale="none", redundancy=None,
                                   select="none", classifier="default_search")

