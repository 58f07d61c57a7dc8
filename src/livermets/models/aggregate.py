"""Patient-level aggregation of lesion predictions: max, mean, largest lesion or vote.

Binary tasks (a ``y_prob`` column): the patient's probability is the max or mean of its lesions',
the largest lesion's, or (vote) the share of its lesions at or above the fold's cut-off; the
patient is positive if any lesion is.

Multi-class tasks (one ``p_<class>`` column per class): each class's probability is aggregated
separately and the result renormalised to sum to 1:

- ``max``: p_c = max over lesions of p_c, divided by the sum of these maxima over classes;
- ``mean``: p_c = mean over lesions of p_c (already sums to 1);
- ``largest``: the largest lesion's probabilities;
- ``vote``: every lesion votes for its most probable class; p_c = (votes_c + mean p_c) /
  (lesions + 1), i.e. the votes plus one soft vote with the mean probabilities. The most probable
  class is then the majority class, ties broken by the mean probability.

A multi-class patient's true class is the class of its lesions; a patient whose lesions have
different classes has no single true class (``y_true`` null; patient-level metrics leave it out).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from livermets.errors import ConfigError, DataError

KEYS = ["model", "repeat", "fold", "split", "patient_id"]


def _max(g: pd.DataFrame) -> float:
    return float(g["y_prob"].max())


def _mean(g: pd.DataFrame) -> float:
    return float(g["y_prob"].mean())


def _largest(g: pd.DataFrame) -> float:
    return float(g["y_prob"].iloc[int(np.argmax(g["diameter_mm"].to_numpy()))])


def _vote(g: pd.DataFrame) -> float:
    return float((g["y_prob"] >= g["threshold"]).mean())


AGGREGATORS: dict[str, Callable[[pd.DataFrame], float]] = {
    "max": _max,
    "mean": _mean,
    "largest": _largest,
    "vote": _vote,
}


def _normalised(p: np.ndarray) -> np.ndarray:
    return p / p.sum()


def _max_multi(p: np.ndarray, diameter: np.ndarray) -> np.ndarray:
    return _normalised(p.max(axis=0))


def _mean_multi(p: np.ndarray, diameter: np.ndarray) -> np.ndarray:
    return _normalised(p.mean(axis=0))


def _largest_multi(p: np.ndarray, diameter: np.ndarray) -> np.ndarray:
    return _normalised(p[int(np.argmax(diameter))])


def _vote_multi(p: np.ndarray, diameter: np.ndarray) -> np.ndarray:
    votes = np.bincount(p.argmax(axis=1), minlength=p.shape[1])
    return (votes + p.mean(axis=0)) / (len(p) + 1)


MULTICLASS_AGGREGATORS: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "max": _max_multi,
    "mean": _mean_multi,
    "largest": _largest_multi,
    "vote": _vote_multi,
}


def aggregate_patients(
    predictions: pd.DataFrame,
    method: str = "max",
    positive: object = 1,
    diameter: pd.DataFrame | None = None,
    thresholds: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per patient, model, repeat, fold and split (rules in the module docstring).

    ``largest`` needs ``diameter`` (patient_id, lesion_id, diameter_mm); binary ``vote`` (share
    of lesions at or above the fold's cut-off) uses ``thresholds`` (model, repeat, fold,
    threshold), or 0.5 without them. ``positive`` is the positive class of a binary task.
    """
    if method not in AGGREGATORS:
        raise ConfigError(f"unknown aggregation {method!r}: use one of {', '.join(AGGREGATORS)}")
    probs = [c for c in predictions.columns if str(c).startswith("p_")]
    if "y_prob" not in predictions and not probs:
        raise DataError("patient-level aggregation needs a y_prob column (binary task) or "
                        "p_<class> columns (multi-class task).")
    table = predictions.copy()
    if method == "largest":
        if diameter is None:
            raise DataError("aggregation 'largest' needs lesion diameters (a diameter column).")
        table = table.merge(diameter[["patient_id", "lesion_id", "diameter_mm"]],
                            on=["patient_id", "lesion_id"], how="left")
        table["diameter_mm"] = table["diameter_mm"].fillna(-np.inf)
    if "y_prob" not in table:
        return _aggregate_multiclass(table, method, probs)
    if method == "vote":
        if thresholds is not None:
            cut = thresholds[["model", "repeat", "fold", "threshold"]].drop_duplicates(
                ["model", "repeat", "fold"])
            table = table.merge(cut, on=["model", "repeat", "fold"], how="left")
            table["threshold"] = table["threshold"].fillna(0.5)
        else:
            table["threshold"] = 0.5
    table["_pos"] = table["y_true"].astype(str) == str(positive)
    rows = []
    for key, g in table.groupby(KEYS, sort=True):
        rows.append((*key, positive if g["_pos"].any() else _negative(g, positive),
                     AGGREGATORS[method](g)))
    return pd.DataFrame(rows, columns=[*KEYS, "y_true", "y_prob"])


def _aggregate_multiclass(table: pd.DataFrame, method: str, probs: list[str]) -> pd.DataFrame:
    """Per-class aggregation of the ``p_<class>`` columns (see the module docstring)."""
    rule = MULTICLASS_AGGREGATORS[method]
    rows = []
    for key, g in table.groupby(KEYS, sort=True):
        truth = g["y_true"].dropna().unique()
        diameter = g["diameter_mm"].to_numpy() if "diameter_mm" in g else np.zeros(len(g))
        rows.append((*key, truth[0] if len(truth) == 1 else None,
                     *rule(g[probs].to_numpy(dtype=float), diameter)))
    frame = pd.DataFrame(rows, columns=[*KEYS, "y_true", *probs])
    frame["y_true"] = frame["y_true"].astype(object).where(frame["y_true"].notna(), None)
    return frame


def _negative(g: pd.DataFrame, positive: object) -> object:
    """The negative label seen in the group (labels of a binary task other than ``positive``)."""
    others = g.loc[~g["_pos"], "y_true"]
    return others.iloc[0]
