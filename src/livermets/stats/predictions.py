"""The long predictions table shared by the stages: case keys, probability columns, averaging."""

from __future__ import annotations

import pandas as pd

CASE = ["patient_id", "lesion_id"]


def case_keys(predictions: pd.DataFrame) -> list[str]:
    """The columns that identify a case (patient, and lesion when lesion-level)."""
    return [c for c in CASE if c in predictions.columns]


def prob_columns(predictions: pd.DataFrame) -> list[str]:
    """``y_prob`` for binary tasks, the ``p_<class>`` columns for multi-class ones."""
    if "y_prob" in predictions.columns:
        return ["y_prob"]
    return [c for c in predictions.columns if c.startswith("p_")]


def averaged(predictions: pd.DataFrame) -> pd.DataFrame:
    """One row per model, split and case: probabilities averaged over repeats."""
    keys = ["model", "split", *case_keys(predictions)]
    probs = prob_columns(predictions)
    return (predictions.groupby(keys, sort=True, dropna=False)
            .agg(y_true=("y_true", "first"), **{p: (p, "mean") for p in probs})
            .reset_index())
