"""Slice -> lesion -> patient aggregation of predicted probabilities."""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from livermets.errors import ConfigError


def lesion_probabilities(meta: pd.DataFrame, prob: np.ndarray,
                         how: Literal["mean", "max"] = "mean") -> tuple[pd.DataFrame, np.ndarray]:
    """One row per (patient_id, lesion_id): the mean or max of its slices' class probabilities.

    For ``max`` (binary or multi-class) the slice with the highest probability of any non-first
    class is taken whole, so each lesion's row still sums to one.
    """
    if how not in ("mean", "max"):
        raise ConfigError(f"lesion aggregation must be mean or max, got {how!r}")
    keys = meta[["patient_id", "lesion_id"]].astype(str).reset_index(drop=True)
    codes, uniques = pd.factorize(keys["patient_id"] + "\x00" + keys["lesion_id"], sort=False)
    out = np.zeros((len(uniques), prob.shape[1]))
    if how == "mean":
        np.add.at(out, codes, prob)
        out /= np.bincount(codes, minlength=len(uniques))[:, None]
    else:
        score = prob[:, 1:].max(axis=1)
        for k in range(len(uniques)):
            rows = np.flatnonzero(codes == k)
            out[k] = prob[rows[np.argmax(score[rows])]]
    first = pd.Series(np.arange(len(codes))).groupby(codes).first().to_numpy()
    return keys.iloc[first].reset_index(drop=True), out


def patient_probabilities(lesions: pd.DataFrame, prob: np.ndarray,
                          how: Literal["max", "mean", "max_lesion"] = "max"
                          ) -> tuple[pd.DataFrame, np.ndarray]:
    """One row per patient from lesion probabilities.

    ``max``: per class, the maximum over the patient's lesions (binary: any lesion positive);
    ``max_lesion``: the whole probability vector of the lesion with the single highest
    non-first-class probability (the maximum-probability-inside-the-liver rule); ``mean``.
    """
    if how not in ("max", "mean", "max_lesion"):
        raise ConfigError(f"patient aggregation must be max, mean or max_lesion, got {how!r}")
    codes, uniques = pd.factorize(lesions["patient_id"].astype(str), sort=False)
    out = np.zeros((len(uniques), prob.shape[1]))
    for k in range(len(uniques)):
        rows = prob[codes == k]
        if how == "max":
            out[k] = rows.max(axis=0)
            if prob.shape[1] == 2:
                out[k, 0] = 1.0 - out[k, 1]
        elif how == "mean":
            out[k] = rows.mean(axis=0)
        else:
            out[k] = rows[np.argmax(rows[:, 1:].max(axis=1))]
    return pd.DataFrame({"patient_id": np.asarray(uniques, dtype=object)}), out
