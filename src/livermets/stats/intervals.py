"""Student t confidence intervals of a mean bounded to [0, 1] (Dice and similar overlaps)."""

from __future__ import annotations

import math

import numpy as np
from scipy import stats as sps


def t_interval(values: np.ndarray, level: float) -> tuple[float, float]:
    """t CI of the mean of the finite values, clipped to [0, 1]; NaNs below two values."""
    values = values[np.isfinite(values)]
    if values.size < 2:
        return float("nan"), float("nan")
    half = sps.t.ppf(0.5 + level / 2, values.size - 1) * values.std(ddof=1) / math.sqrt(values.size)
    # Dice lies in [0, 1]: the interval is clipped to it
    return max(0.0, float(values.mean() - half)), min(1.0, float(values.mean() + half))
