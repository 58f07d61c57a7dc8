"""Explanations of fitted pipelines: SHAP values (tree, linear or permutation explainer) and
permutation importance."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import log_loss, roc_auc_score

from livermets.models.pipeline import selected_features

TREE_MODELS = ("XGBClassifier", "RandomForestClassifier", "LGBMClassifier",
               "DecisionTreeClassifier")
LINEAR_MODELS = ("LogisticRegression",)


def transformed(pipeline: Any, X: pd.DataFrame) -> pd.DataFrame:
    """The matrix the classifier sees (samplers skipped), with the selected feature names.

    For a ``SoftVotingEnsemble``: the input columns its members use (their union), untransformed.
    """
    if hasattr(pipeline, "estimators_"):
        return X[selected_features(pipeline, list(X.columns))].astype(float)
    data: Any = X
    for _, step in pipeline.steps[:-1]:
        if hasattr(step, "fit_resample"):
            continue
        data = step.transform(data)
    names = selected_features(pipeline, list(X.columns))
    return pd.DataFrame(np.asarray(data, dtype=float), columns=names[: np.shape(data)[1]])


def shap_values(pipeline: Any, X: pd.DataFrame, seed: int = 0, max_rows: int = 200
                ) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """SHAP values of the positive class for up to ``max_rows`` rows, inputs, explainer kind."""
    import shap

    rows = X.sample(n=min(max_rows, len(X)), random_state=seed) if len(X) > max_rows else X
    Z = transformed(pipeline, rows)
    if hasattr(pipeline, "estimators_"):
        return _ensemble_shap(pipeline, rows, Z, seed)
    model = pipeline.steps[-1][1]
    kind = type(model).__name__
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if kind in TREE_MODELS:
            explainer = shap.TreeExplainer(model)
            values = explainer.shap_values(Z.to_numpy())
            name = "tree"
        elif kind in LINEAR_MODELS:
            explainer = shap.LinearExplainer(model, Z.to_numpy())
            values = explainer.shap_values(Z.to_numpy())
            name = "linear"
        else:
            background = Z.iloc[: min(50, len(Z))].to_numpy()
            explainer = shap.explainers.Permutation(
                lambda a: model.predict_proba(a)[:, -1], background, seed=seed)
            values = explainer(Z.to_numpy(), max_evals=2 * Z.shape[1] + 1).values
            name = "permutation"
    values = np.asarray(values)
    if values.ndim == 3:  # (rows, features, classes): keep the positive (last) class
        values = values[..., -1]
    return pd.DataFrame(values, columns=Z.columns), Z, name


def _ensemble_shap(ensemble: Any, rows: pd.DataFrame, Z: pd.DataFrame, seed: int
                   ) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """Permutation SHAP values of a soft-voting ensemble's positive-class probability over the
    input columns its members use (the other columns cannot change its output)."""
    import shap

    template = rows.iloc[[0]].reset_index(drop=True)

    def positive(values: np.ndarray) -> np.ndarray:
        frame = pd.concat([template] * len(values), ignore_index=True)
        frame[list(Z.columns)] = values
        return ensemble.predict_proba(frame)[:, -1]

    background = Z.iloc[: min(50, len(Z))].to_numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        explainer = shap.explainers.Permutation(positive, background, seed=seed)
        values = explainer(Z.to_numpy(), max_evals=2 * Z.shape[1] + 1).values
    return pd.DataFrame(np.asarray(values), columns=Z.columns), Z, "permutation"


def _auc_score(y: np.ndarray, prob: np.ndarray, labels: np.ndarray) -> float:
    """AUC (binary) or macro one-vs-rest AUC (multi-class); larger is better."""
    if len(labels) == 2:
        return float(roc_auc_score(y == labels[1], prob[:, 1]))
    return float(roc_auc_score(y, prob, multi_class="ovr", average="macro", labels=labels))


def _neg_log_loss(y: np.ndarray, prob: np.ndarray, labels: np.ndarray) -> float:
    """Minus the log-loss (cross-entropy), so that larger is better like the AUC."""
    return -float(log_loss(y, prob, labels=labels))


IMPORTANCE_SCORES = {"auc": _auc_score, "log_loss": _neg_log_loss}


def importance_table(pipeline: Any, X: pd.DataFrame, y: np.ndarray, columns: list[str],
                     seed: int = 0, repeats: int = 10, score: str = "auc") -> pd.DataFrame:
    """Permutation importance of ``columns``: the mean drop of ``score`` over ``repeats``
    shuffles of a column (every shuffle from one generator seeded with ``seed``).

    ``score`` is ``auc`` (AUC for two classes, macro one-vs-rest AUC for more) or ``log_loss``
    (importance = mean increase of the log-loss). Columns the fitted pipeline drops have
    importance 0 by construction, so only the selected ones need to be shuffled.
    """
    if score not in IMPORTANCE_SCORES:
        raise ValueError(f"unknown importance score {score!r}: use {', '.join(IMPORTANCE_SCORES)}")
    rng = np.random.default_rng(seed)
    labels = np.asarray(pipeline.classes_)
    y = np.asarray(y)
    rule = IMPORTANCE_SCORES[score]

    def measure(frame: pd.DataFrame) -> float:
        return rule(y, pipeline.predict_proba(frame), labels)

    base = measure(X)
    rows = []
    for column in columns:
        drops = []
        for _ in range(repeats):
            shuffled = X.copy()
            shuffled[column] = rng.permutation(shuffled[column].to_numpy())
            drops.append(base - measure(shuffled))
        rows.append({"feature": column, "importance_mean": float(np.mean(drops)),
                     "importance_sd": float(np.std(drops))})
    table = pd.DataFrame(rows, columns=["feature", "importance_mean", "importance_sd"])
    return table.sort_values("importance_mean", ascending=False, kind="stable").reset_index(
        drop=True)
