"""Out-of-distribution check of a frozen model's inputs against its training data.

At save time the card keeps a compact reference (plain JSON): per input feature the training
min / max, 0.5 / 99.5 percentiles, mean and SD, and the same for acquisition descriptors found in
the feature table (voxel spacing columns, first-order intensity statistics). At predict time
every row gets the number of features outside the training range [min, max], how far (in
training SDs), and whether its spacing lies outside the training spacing. A row is flagged when a
feature the model selected lies more than FAR_SD beyond the range, when more than FRACTION_OUT of
its inputs lie outside it, or when its spacing does; a patient is flagged if any row is.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd

REFERENCE_KEY = "training_reference"
FAR_SD = 1.0  # a feature this many training SDs beyond the training range flags the row
FRACTION_OUT = 0.10  # ... as does this share of the inputs outside the training range
EXTREME = 1e-6  # probabilities below this (or above 1 - this) are called extreme
SPACING = re.compile(r"spacing", re.IGNORECASE)
INTENSITY = re.compile(r"firstorder_(Mean|Median|10Percentile|90Percentile|Minimum|Maximum)$|"
                       r"^diagnostics_Image-original_(Mean|Minimum|Maximum)$")


def _numeric(table: pd.DataFrame, name: str) -> np.ndarray | None:
    """A column as floats, or None if it is not numeric."""
    column = table[name]
    if pd.api.types.is_bool_dtype(column) or not pd.api.types.is_numeric_dtype(column):
        return None
    return column.to_numpy(dtype=float)


def _summary(values: np.ndarray) -> dict[str, float] | None:
    """min, max, 0.5 / 99.5 percentiles, mean and SD of the finite values (None if none)."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return None
    lo, hi = np.percentile(finite, [0.5, 99.5])
    return {"min": float(finite.min()), "max": float(finite.max()), "p0_5": float(lo),
            "p99_5": float(hi), "mean": float(finite.mean()), "sd": float(finite.std(ddof=1))
            if finite.size > 1 else 0.0}


def acquisition_columns(table: pd.DataFrame, features: list[str]) -> list[str]:
    """Numeric spacing and intensity-statistic columns of ``table`` that are not model inputs."""
    chosen = set(features)
    return [str(c) for c in table.columns
            if str(c) not in chosen and (SPACING.search(str(c)) or INTENSITY.search(str(c)))
            and _numeric(table, c) is not None]


def training_reference(table: pd.DataFrame, features: list[str]) -> dict[str, Any]:
    """The card's reference: ranges of the numeric ``features`` and acquisition columns."""
    out: dict[str, Any] = {"n_rows": len(table), "far_sd": FAR_SD, "fraction_out": FRACTION_OUT,
                           "features": {}, "acquisition": {}}
    for key, names in (("features", features), ("acquisition",
                                                acquisition_columns(table, features))):
        for name in names:
            values = _numeric(table, name) if name in table.columns else None
            stats = None if values is None else _summary(values)
            if stats is not None:
                out[key][name] = stats
    return out


def _distance(values: np.ndarray, stats: dict[str, float]) -> np.ndarray:
    """How far values lie outside [min, max], in training SDs (0 inside; NaN stays 0)."""
    sd = stats["sd"] if stats["sd"] > 0 else max(abs(stats["max"]), 1.0) * 1e-3
    below = (stats["min"] - values) / sd
    above = (values - stats["max"]) / sd
    far = np.fmax(np.fmax(below, above), 0.0)
    return np.nan_to_num(far, nan=0.0)


def _distances(block: dict[str, dict[str, float]], table: pd.DataFrame) -> pd.DataFrame:
    """Per row and reference column: the distance outside the training range (SDs)."""
    columns = {}
    for name, stats in block.items():
        if name in table.columns and (values := _numeric(table, name)) is not None:
            columns[name] = _distance(values, stats)
    return pd.DataFrame(columns, index=table.index)


def _names(far: pd.DataFrame, top: int = 10) -> list[str]:
    """Per row: 'name (+x.x SD)' of the columns outside the range, farthest first."""
    out = []
    for _, row in far.iterrows():
        row = row[row > 0].sort_values(ascending=False)
        shown = [f"{n} ({v:.1f} SD)" for n, v in row.head(top).items()]
        out.append("; ".join(shown) + (" ..." if len(row) > top else ""))
    return out


def ood_rows(reference: dict[str, Any], table: pd.DataFrame,
             selected: list[str] | None = None) -> pd.DataFrame:
    """Per input row: features / selected features / spacing outside the training range, flag."""
    table = table.reset_index(drop=True)
    far = _distances(reference.get("features", {}), table)
    acquisition = _distances(reference.get("acquisition", {}), table)
    spacing = acquisition[[c for c in acquisition.columns if SPACING.search(c)]]
    used = far[[c for c in (selected or []) if c in far.columns]]
    far_sd = float(reference.get("far_sd", FAR_SD))
    share = float(reference.get("fraction_out", FRACTION_OUT))
    n_out = (far > 0).sum(axis=1)
    out = pd.DataFrame({
        "ood_n_features_out": n_out.astype(int),
        "ood_n_features": far.shape[1],
        "ood_n_selected_out": (used > 0).sum(axis=1).astype(int),
        "ood_max_sd": far.max(axis=1) if far.shape[1] else 0.0,
        "ood_features_out": _names(far),
        "ood_spacing_out": _names(spacing),
        "ood_acquisition_out": _names(acquisition.drop(columns=spacing.columns)),
    }, index=table.index)
    flag = ((used > far_sd).any(axis=1) | (n_out > share * max(far.shape[1], 1))
            | (spacing > 0).any(axis=1))
    out["ood_flag"] = flag.astype(bool)
    return out


def extreme(predictions: pd.DataFrame) -> pd.Series:
    """Rows whose probability is below EXTREME or above 1 - EXTREME (any class)."""
    probs = [c for c in predictions.columns if c == "y_prob" or str(c).startswith("p_")]
    values = predictions[probs].to_numpy(dtype=float)
    return pd.Series(((values < EXTREME) | (values > 1 - EXTREME)).any(axis=1),
                     index=predictions.index)


def patient_ood(predictions: pd.DataFrame) -> pd.DataFrame:
    """One row per patient: rows flagged, most features out, spacing out, extreme probabilities."""
    rows = predictions.assign(_extreme=extreme(predictions))
    probs = [c for c in predictions.columns if c == "y_prob" or str(c).startswith("p_")]

    def one(group: pd.DataFrame) -> pd.Series:
        values = group[probs].to_numpy(dtype=float)
        spacing = sorted({s for s in group["ood_spacing_out"] if s})
        worst = group.loc[group["ood_n_features_out"].idxmax()]
        return pd.Series({
            "n_rows": len(group), "n_rows_flagged": int(group["ood_flag"].sum()),
            "ood_n_features_out": int(group["ood_n_features_out"].max()),
            "ood_n_features": int(group["ood_n_features"].max()),
            "ood_n_selected_out": int(group["ood_n_selected_out"].max()),
            "ood_max_sd": float(group["ood_max_sd"].max()),
            "ood_features_out": worst["ood_features_out"],
            "ood_spacing_out": " | ".join(spacing),
            "min_prob": float(np.nanmin(values)), "max_prob": float(np.nanmax(values)),
            "extreme_prob": bool(group["_extreme"].any()),
            "ood_flag": bool(group["ood_flag"].any()),
        })

    table = rows.groupby("patient_id", sort=False)[list(rows.columns)].apply(one)
    return table.reset_index()


def ood_message(patients: pd.DataFrame, where: str) -> str:
    """The one-line summary: patients flagged, and those of them with extreme probabilities."""
    n, flagged = len(patients), patients["ood_flag"]
    if not flagged.any():
        return (f"out-of-distribution check: none of {n} patient(s) lie outside the model's "
                f"training data; per patient: {where}")
    both = int((flagged & patients["extreme_prob"]).sum())
    spacing = int((flagged & (patients["ood_spacing_out"] != "")).sum())
    return (f"warning: {int(flagged.sum())} of {n} patient(s) lie outside the model's training "
            f"data ({spacing} by voxel spacing); {both} of them have extreme probabilities "
            f"(<{EXTREME:g} or >1-{EXTREME:g}), which come from extrapolation, not certainty. "
            f"Per patient: {where}")
