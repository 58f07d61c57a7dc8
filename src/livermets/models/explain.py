"""Explanations of fitted pipelines: SHAP values (tree, linear or permutation explainer) and
permutation importance."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from livermets.models.pipeline import selected_features

TREE_MODELS = ("XGBClassifier", "RandomForestClassifier", "LGBMClassifier",
               "DecisionTreeClassifier")
LINEAR_MODELS = ("LogisticRegression",)


def transformed(pipeline: Any, X: pd.DataFrame) -> pd.DataFrame:
    """The matrix the classifier sees (samplers skipped), with the selected feature names."""
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


def importance_table(pipeline: Any, X: pd.DataFrame, y: np.ndarray, columns: list[str],
                     seed: int = 0, repeats: int = 10) -> pd.DataFrame:
    """Permutation importance (mean AUC drop over ``repeats`` shuffles) of ``columns``.

    Columns the fitted pipeline drops have importance 0 by construction, so only the selected
    ones need to be shuffled.
    """
    rng = np.random.default_rng(seed)
    n_classes = len(np.unique(y))

    def auc(frame: pd.DataFrame) -> float:
        prob = pipeline.predict_proba(frame)
        if n_classes == 2:
            return float(roc_auc_score(y, prob[:, 1]))
        return float(roc_auc_score(y, prob, multi_class="ovr"))

    base = auc(X)
    rows = []
    for column in columns:
        drops = []
        for _ in range(repeats):
            shuffled = X.copy()
            shuffled[column] = rng.permutation(shuffled[column].to_numpy())
            drops.append(base - auc(shuffled))
        rows.append({"feature": column, "importance_mean": float(np.mean(drops)),
                     "importance_sd": float(np.std(drops))})
    table = pd.DataFrame(rows, columns=["feature", "importance_mean", "importance_sd"])
    return table.sort_values("importance_mean", ascending=False, kind="stable").reset_index(
        drop=True)
