"""Registries of pipeline steps: imputers, scalers, selectors, resamplers and classifiers.

Each entry is a factory ``(seed, **params) -> estimator`` with an Optuna search space; every
estimator runs single-threaded and seeded, so results do not depend on the number of workers.
"""

from __future__ import annotations

from typing import Any

from sklearn.base import BaseEstimator
from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import GaussianNB
from sklearn.neighbors import KNeighborsClassifier
from sklearn.preprocessing import RobustScaler, StandardScaler
from sklearn.svm import SVC
from sklearn.tree import DecisionTreeClassifier

from livermets.models.grouping import GroupedCalibratedClassifier
from livermets.models.registry import Registry
from livermets.models.transformers import (
    MRMR,
    AdaptiveSMOTE,
    L1Selector,
    RFPermutationTopK,
    TopKAnova,
    TopKBhattacharyya,
    check_k,
)

IMPUTERS: Registry[BaseEstimator] = Registry("imputer")
SCALERS: Registry[BaseEstimator | None] = Registry("scaler")
SELECTORS: Registry[BaseEstimator | None] = Registry("selector")
RESAMPLERS: Registry[BaseEstimator | None] = Registry("resampler")
CLASSIFIERS: Registry[BaseEstimator] = Registry("classifier")


def _k_space(trial: Any, prefix: str) -> dict[str, Any]:
    """Default grid of the top-k selectors (``search.params`` may replace it, e.g. up to 256 or
    ``"all"``)."""
    return {"k": trial.suggest_categorical(f"{prefix}k", [2, 4, 8, 16, 32])}


@IMPUTERS.register("median")
def _median(seed: int = 0) -> BaseEstimator:
    """Median of the training fold (numeric features)."""
    return SimpleImputer(strategy="median", keep_empty_features=True)


@IMPUTERS.register("most_frequent")
def _most_frequent(seed: int = 0) -> BaseEstimator:
    """Most frequent value of the training fold."""
    return SimpleImputer(strategy="most_frequent", keep_empty_features=True)


@SCALERS.register("zscore")
def _zscore(seed: int = 0) -> BaseEstimator:
    """Z-score with the training fold's mean and SD."""
    return StandardScaler()


@SCALERS.register("robust")
def _robust(seed: int = 0) -> BaseEstimator:
    """Median and inter-quartile range of the training fold."""
    return RobustScaler()


@SCALERS.register("none")
def _no_scale(seed: int = 0) -> None:
    """No scaling."""
    return None


@SELECTORS.register(
    "lasso",
    space=lambda t, p: {"C": t.suggest_float(f"{p}C", 0.01, 10.0, log=True)},
)
def _lasso(seed: int = 0, C: float = 0.5) -> BaseEstimator:
    """LASSO: non-zero coefficients of an L1-penalised logistic regression."""
    return L1Selector(C=C, seed=seed)


@SELECTORS.register("rf_permutation", space=_k_space)
def _rf_perm(seed: int = 0, k: int | str = 10, n_estimators: int = 100) -> BaseEstimator:
    """Top-k random-forest permutation importance."""
    return RFPermutationTopK(k=check_k(k), n_estimators=n_estimators, seed=seed)


@SELECTORS.register("anova", space=_k_space)
def _anova(seed: int = 0, k: int | str = 10) -> BaseEstimator:
    """Top-k ANOVA F statistic."""
    return TopKAnova(k=check_k(k))


@SELECTORS.register("mrmr", space=_k_space)
def _mrmr(seed: int = 0, k: int | str = 10) -> BaseEstimator:
    """Minimum-redundancy maximum-relevance top-k."""
    return MRMR(k=check_k(k))


@SELECTORS.register("bhattacharyya", space=_k_space)
def _bhattacharyya(seed: int = 0, k: int | str = 10) -> BaseEstimator:
    """Top-k two-sided radMLBench Bhattacharyya score (binary outcomes)."""
    return TopKBhattacharyya(k=check_k(k), two_sided=True)


@SELECTORS.register("bhattacharyya_radmlbench", space=_k_space)
def _bhattacharyya_radmlbench(seed: int = 0, k: int | str = 10) -> BaseEstimator:
    """Top-k radMLBench Bhattacharyya score, one-sided exactly as radMLBench (binary outcomes)."""
    return TopKBhattacharyya(k=check_k(k), two_sided=False)


@SELECTORS.register("none")
def _no_select(seed: int = 0) -> None:
    """Keep every feature."""
    return None


@RESAMPLERS.register("smote", space=lambda t, p: {"k_neighbors": t.suggest_int(f"{p}k", 2, 7)})
def _smote(seed: int = 0, k_neighbors: int = 5) -> BaseEstimator:
    """SMOTE oversampling of the minority class (training fold only)."""
    return AdaptiveSMOTE(k_neighbors=k_neighbors, random_state=seed)


@RESAMPLERS.register("undersample")
def _undersample(seed: int = 0) -> BaseEstimator:
    """Random undersampling of the majority class (training fold only)."""
    from imblearn.under_sampling import RandomUnderSampler

    return RandomUnderSampler(random_state=seed)


@RESAMPLERS.register("none")
def _no_resample(seed: int = 0) -> None:
    """No resampling."""
    return None


def _xgb_space(t: Any, p: str) -> dict[str, Any]:
    return {
        "n_estimators": t.suggest_int(f"{p}n_estimators", 50, 400, log=True),
        "max_depth": t.suggest_int(f"{p}max_depth", 2, 6),
        "learning_rate": t.suggest_float(f"{p}learning_rate", 0.01, 0.3, log=True),
        "subsample": t.suggest_float(f"{p}subsample", 0.6, 1.0),
        "colsample_bytree": t.suggest_float(f"{p}colsample_bytree", 0.5, 1.0),
    }


@CLASSIFIERS.register("xgboost", space=_xgb_space)
def _xgboost(seed: int = 0, **params: Any) -> BaseEstimator:
    """Gradient-boosted trees (XGBoost, histogram method, one thread)."""
    from xgboost import XGBClassifier

    settings = {"n_estimators": 100, "max_depth": 3, "learning_rate": 0.1, **params}
    return XGBClassifier(
        **settings, tree_method="hist", n_jobs=1, random_state=seed, verbosity=0
    )


def _rf_space(t: Any, p: str) -> dict[str, Any]:
    return {
        "n_estimators": t.suggest_int(f"{p}n_estimators", 50, 400, log=True),
        "max_depth": t.suggest_categorical(f"{p}max_depth", [None, 3, 5, 10]),
        "min_samples_leaf": t.suggest_int(f"{p}min_samples_leaf", 1, 10),
        "max_features": t.suggest_categorical(f"{p}max_features", ["sqrt", "log2", 0.5]),
    }


@CLASSIFIERS.register("random_forest", space=_rf_space)
def _random_forest(seed: int = 0, **params: Any) -> BaseEstimator:
    """Random forest."""
    settings = {"n_estimators": 200, **params}
    return RandomForestClassifier(**settings, random_state=seed, n_jobs=1)


@CLASSIFIERS.register("extra_trees", space=_rf_space)
def _extra_trees(seed: int = 0, **params: Any) -> BaseEstimator:
    """Extremely randomised trees."""
    settings = {"n_estimators": 500, **params}
    return ExtraTreesClassifier(**settings, random_state=seed, n_jobs=1)


def _svm_calibrated(svc: SVC, seed: int) -> BaseEstimator:
    """Platt-scaled probabilities from 3 seeded inner folds of the training data, grouped by
    patient (the pipeline's resampler, if any, runs inside those folds)."""
    return GroupedCalibratedClassifier(svc, method="sigmoid", n_folds=3, seed=seed)


@CLASSIFIERS.register(
    "linear_svm", space=lambda t, p: {"C": t.suggest_float(f"{p}C", 1e-3, 10.0, log=True)}
)
def _linear_svm(seed: int = 0, C: float = 1.0) -> BaseEstimator:
    """Linear support-vector machine with sigmoid-calibrated probabilities."""
    return _svm_calibrated(SVC(kernel="linear", C=C, random_state=seed), seed)


@CLASSIFIERS.register(
    "rbf_svm",
    space=lambda t, p: {
        "C": t.suggest_float(f"{p}C", 1e-2, 100.0, log=True),
        "gamma": t.suggest_float(f"{p}gamma", 1e-4, 1.0, log=True),
    },
)
def _rbf_svm(seed: int = 0, C: float = 1.0, gamma: float | str = "scale") -> BaseEstimator:
    """Kernel (RBF) support-vector machine with sigmoid-calibrated probabilities."""
    return _svm_calibrated(SVC(kernel="rbf", C=C, gamma=gamma, random_state=seed), seed)


@CLASSIFIERS.register(
    "knn",
    space=lambda t, p: {
        "n_neighbors": t.suggest_int(f"{p}n_neighbors", 3, 25),
        "weights": t.suggest_categorical(f"{p}weights", ["uniform", "distance"]),
    },
)
def _knn(seed: int = 0, n_neighbors: int = 7, weights: str = "uniform") -> BaseEstimator:
    """k-nearest neighbours."""
    return KNeighborsClassifier(n_neighbors=n_neighbors, weights=weights)


@CLASSIFIERS.register(
    "logistic", space=lambda t, p: {"C": t.suggest_float(f"{p}C", 1e-3, 100.0, log=True)}
)
def _logistic(seed: int = 0, C: float = 1.0) -> BaseEstimator:
    """L2-penalised logistic regression."""
    return LogisticRegression(C=C, max_iter=5000, random_state=seed)


@CLASSIFIERS.register(
    "naive_bayes",
    space=lambda t, p: {
        "var_smoothing": t.suggest_float(f"{p}var_smoothing", 1e-11, 1e-3, log=True)
    },
)
def _naive_bayes(seed: int = 0, var_smoothing: float = 1e-9) -> BaseEstimator:
    """Gaussian naive Bayes."""
    return GaussianNB(var_smoothing=var_smoothing)


@CLASSIFIERS.register(
    "decision_tree",
    space=lambda t, p: {
        "max_depth": t.suggest_int(f"{p}max_depth", 1, 8),
        "min_samples_leaf": t.suggest_int(f"{p}min_samples_leaf", 1, 20),
    },
)
def _decision_tree(
    seed: int = 0, max_depth: int | None = 4, min_samples_leaf: int = 3
) -> BaseEstimator:
    """Decision tree (CART)."""
    return DecisionTreeClassifier(
        max_depth=max_depth, min_samples_leaf=min_samples_leaf, random_state=seed
    )


def _lgbm_space(t: Any, p: str) -> dict[str, Any]:
    return {
        "n_estimators": t.suggest_int(f"{p}n_estimators", 50, 400, log=True),
        "num_leaves": t.suggest_int(f"{p}num_leaves", 4, 31),
        "learning_rate": t.suggest_float(f"{p}learning_rate", 0.01, 0.3, log=True),
        "min_child_samples": t.suggest_int(f"{p}min_child_samples", 3, 20),
        "colsample_bytree": t.suggest_float(f"{p}colsample_bytree", 0.5, 1.0),
    }


@CLASSIFIERS.register("lightgbm", space=_lgbm_space)
def _lightgbm(seed: int = 0, **params: Any) -> BaseEstimator:
    """LightGBM gradient boosting (deterministic, one thread)."""
    from lightgbm import LGBMClassifier

    settings = {"n_estimators": 100, "num_leaves": 15, "min_child_samples": 5, **params}
    return LGBMClassifier(
        **settings, random_state=seed, n_jobs=1, deterministic=True, force_row_wise=True,
        verbose=-1,
    )


@CLASSIFIERS.register(
    "clinical_logit",
    space=lambda t, p: {"p_threshold": t.suggest_categorical(f"{p}p", [0.01, 0.05, 0.1, 0.2])},
)
def _clinical_logit(
    seed: int = 0, selection: str = "pvalue", p_threshold: float = 0.05, method: str = "auto"
) -> BaseEstimator:
    """Logistic regression (maximum likelihood, Firth, or Firth under separation: ``method``)
    after univariable screening (p < threshold) or LASSO."""
    from livermets.models.clinical import ClinicalLogit

    return ClinicalLogit(selection=selection, p_threshold=p_threshold, seed=seed, method=method)


@CLASSIFIERS.register("default_search")
def _default_search(seed: int = 0, **params: Any) -> BaseEstimator:
    """The default search: a portfolio of tree, boosting, linear and kernel pipelines on
    patient-grouped inner folds, averaged across families, robust fallback
    (``livermets.models.default_search``)."""
    from livermets.models.default_search import DefaultSearchClassifier

    return DefaultSearchClassifier(seed=seed, **params)
