"""Patient-level aggregation of lesion predictions: max, mean, largest lesion or vote."""

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


def aggregate_patients(
    predictions: pd.DataFrame,
    method: str = "max",
    positive: object = 1,
    diameter: pd.DataFrame | None = None,
    thresholds: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per patient, model, repeat, fold and split; the patient is positive if any lesion is.

    ``largest`` needs ``diameter`` (patient_id, lesion_id, diameter_mm); ``vote`` (share of
    lesions at or above the fold's cut-off) uses ``thresholds`` (model, repeat, fold, threshold),
    or 0.5 without them.
    """
    if method not in AGGREGATORS:
        raise ConfigError(f"unknown aggregation {method!r}: use one of {', '.join(AGGREGATORS)}")
    if "y_prob" not in predictions:
        raise DataError("patient-level aggregation needs binary predictions (a y_prob column).")
    table = predictions.copy()
    if method == "largest":
        if diameter is None:
            raise DataError("aggregation 'largest' needs lesion diameters (a diameter column).")
        table = table.merge(diameter[["patient_id", "lesion_id", "diameter_mm"]],
                            on=["patient_id", "lesion_id"], how="left")
        table["diameter_mm"] = table["diameter_mm"].fillna(-np.inf)
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


def _negative(g: pd.DataFrame, positive: object) -> object:
    """The negative label seen in the group (labels of a binary task other than ``positive``)."""
    others = g.loc[~g["_pos"], "y_true"]
    return others.iloc[0]
