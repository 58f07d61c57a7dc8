"""Clinical variables: demographics and tumour markers from literature-shaped distributions."""

from __future__ import annotations

import numpy as np


def lognormal(rng: np.random.Generator, median: float, sigma: float, lo: float = 0.0,
              hi: float = np.inf) -> float:
    """A log-normal draw with the given median and log-SD, truncated to [lo, hi] by rejection."""
    for _ in range(1000):
        value = float(median * np.exp(rng.normal(0.0, sigma)))
        if lo <= value <= hi:
            return value
    return float(np.clip(median, lo, hi))


def sizes(rng: np.random.Generator, n: int, median: float, sigma: float, lo: float,
          hi: float) -> list[float]:
    """``n`` lesion diameters (mm) from a truncated log-normal."""
    return [lognormal(rng, median, sigma, lo, hi) for _ in range(n)]


def count(rng: np.random.Generator, first: int, mean_extra: float, cap: int) -> int:
    """``first`` plus a Poisson number of extra items, capped."""
    return int(min(first + rng.poisson(mean_extra), cap))


def age(rng: np.random.Generator, mean: float, sd: float) -> int:
    """Age in years, clipped to 25-92."""
    return int(np.clip(round(rng.normal(mean, sd)), 25, 92))


def sex(rng: np.random.Generator, p_male: float) -> str:
    """Sex as ``M`` or ``F``."""
    return "M" if rng.random() < p_male else "F"


def marker(rng: np.random.Generator, median: float, sigma: float) -> float:
    """A serum tumour marker (log-normal), rounded to 0.1."""
    return round(lognormal(rng, median, sigma, 0.1, 1e5), 1)


def choice(rng: np.random.Generator, options: dict[str, float]) -> str:
    """One key of ``options`` drawn with the given (unnormalised) weights."""
    keys = list(options)
    weights = np.array([options[k] for k in keys], dtype=float)
    return keys[int(rng.choice(len(keys), p=weights / weights.sum()))]


def sigmoid(x: float) -> float:
    """The logistic function."""
    return float(1.0 / (1.0 + np.exp(-x)))
