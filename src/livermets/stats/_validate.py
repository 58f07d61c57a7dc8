"""Input checks shared by the statistics modules: user errors become clear LivermetsErrors."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from livermets.errors import ConfigError, DataError

_TRUE_LABELS = {"1", "1.0", "true", "yes", "y", "t", "pos", "positive"}
_FALSE_LABELS = {"0", "0.0", "false", "no", "n", "f", "neg", "negative"}


def as_float_array(values: Any, name: str, *, allow_nan: bool = False) -> np.ndarray:
    """Convert ``values`` to a 1-D float array; reject non-numeric values and (by default) NaN."""
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise DataError(
            f"{name} must be numeric, but it holds non-numeric values ({exc}). "
            "Convert the column to numbers before computing statistics."
        ) from None
    if arr.ndim != 1:
        arr = arr.reshape(-1)
    if not allow_nan and not np.all(np.isfinite(arr)):
        bad = int(np.sum(~np.isfinite(arr)))
        raise DataError(
            f"{name} has {bad} missing or non-finite value(s) (NaN/inf). "
            "Drop or impute those rows before computing statistics."
        )
    return arr


def as_binary(values: Any, name: str = "truth", positive: Any = None) -> np.ndarray:
    """Convert a truth vector (0/1, booleans, or two labels with ``positive``) to a bool array."""
    raw = np.asarray(values).reshape(-1)
    if positive is None and raw.dtype.kind in "biuf":
        if raw.dtype.kind == "b":
            return raw.astype(bool)
        if raw.dtype.kind == "f" and np.isnan(raw).any():
            raise DataError(
                f"{name} has {int(np.isnan(raw).sum())} missing value(s). "
                "Drop those rows or fill in the true class."
            )
        if np.all((raw == 0) | (raw == 1)):
            return raw == 1
    series = pd.Series(np.asarray(values, dtype=object).reshape(-1))
    if series.isna().any():
        raise DataError(
            f"{name} has {int(series.isna().sum())} missing value(s). "
            "Drop those rows or fill in the true class."
        )
    labels = pd.unique(series)
    if positive is not None:
        pos_str = str(positive)
        as_str = series.map(_label_str)
        if pos_str not in set(as_str):
            raise ConfigError(
                f"Positive label {positive!r} does not occur in {name} "
                f"(labels found: {sorted(set(as_str))}). Pass one of these with --positive."
            )
        if len(labels) > 2:
            raise DataError(
                f"{name} has {len(labels)} distinct values ({sorted(set(as_str))[:10]}); "
                "a binary statistic needs exactly two classes."
            )
        return (as_str == pos_str).to_numpy()
    lowered = {_label_str(v).lower() for v in labels}
    if lowered <= (_TRUE_LABELS | _FALSE_LABELS) and not (
        lowered & _TRUE_LABELS and lowered & _FALSE_LABELS and len(labels) > 2
    ):
        return series.map(lambda v: _label_str(v).lower() in _TRUE_LABELS).to_numpy()
    raise DataError(
        f"{name} holds the labels {sorted(_label_str(v) for v in labels)[:10]}, which are not 0/1. "
        "Say which label is the positive class with --positive (Python: positive=...)."
    )


def _label_str(value: Any) -> str:
    if isinstance(value, bool | np.bool_):
        return "1" if value else "0"
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value)


def require_both_classes(truth: np.ndarray, name: str = "truth") -> tuple[int, int]:
    """Return (n_pos, n_neg) or raise if one class is absent."""
    n_pos = int(np.sum(truth))
    n_neg = int(truth.size - n_pos)
    if n_pos == 0 or n_neg == 0:
        only = "positive" if n_neg == 0 else "negative"
        raise DataError(
            f"{name} has only {only} cases ({truth.size} rows); this statistic needs both "
            "positive and negative cases. Check the truth column and --positive."
        )
    return n_pos, n_neg


def same_length(**arrays: np.ndarray) -> int:
    """Check that all arrays have the same length and return it."""
    lengths = {k: len(v) for k, v in arrays.items()}
    if len(set(lengths.values())) > 1:
        raise DataError(f"Inputs have different lengths: {lengths}. Pass one value per case.")
    return next(iter(lengths.values()))


def require_columns(
    df: pd.DataFrame, columns: Sequence[str | None], source: str = "the CSV"
) -> None:
    """Raise a DataError naming any missing column and listing the available ones."""
    missing = [c for c in columns if c is not None and c not in df.columns]
    if missing:
        raise DataError(
            f"Column(s) {missing} not found in {source}. Available columns: {list(df.columns)}. "
            "Check the spelling of the column option."
        )


def check_level(level: float) -> float:
    """Validate a confidence level in (0, 1)."""
    if not 0.0 < float(level) < 1.0:
        raise ConfigError(f"Confidence level must be between 0 and 1, got {level}.")
    return float(level)
