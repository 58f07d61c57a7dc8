"""Calibration of predicted probabilities: intercept, slope, O:E, Brier, Hosmer-Lemeshow, curves."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as sps

from livermets.errors import ConfigError, DataError
from livermets.stats._validate import (
    as_binary,
    as_float_array,
    check_level,
    require_both_classes,
    same_length,
)
from livermets.stats.binomial import proportion_ci

_EPS = 1e-8


def _inputs(truth: Any, prob: Any, positive: Any) -> tuple[np.ndarray, np.ndarray]:
    y = as_binary(truth, "truth", positive).astype(float)
    p = as_float_array(prob, "prob")
    same_length(truth=y, prob=p)
    if np.any((p < 0) | (p > 1)):
        raise DataError(
            f"prob must hold probabilities in [0, 1]; found values from {p.min():.4g} to "
            f"{p.max():.4g}. Pass predicted probabilities, not scores or logits."
        )
    require_both_classes(y.astype(bool))
    return y, p


def logit(p: np.ndarray) -> np.ndarray:
    """Log-odds, with probabilities clipped to [1e-8, 1 - 1e-8]."""
    q = np.clip(p, _EPS, 1 - _EPS)
    return np.log(q / (1 - q))


@dataclass(frozen=True)
class Estimate:
    """A point estimate with standard error and confidence interval."""

    value: float
    ci: tuple[float, float]
    se: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        return {"value": self.value, "ci": list(self.ci), "se": self.se}


def calibration_intercept(
    truth: Any, prob: Any, *, positive: Any = None, level: float = 0.95
) -> Estimate:
    """Calibration-in-the-large: intercept of logit P(y) = a + offset(logit p), Wald CI."""
    import statsmodels.api as sm

    y, p = _inputs(truth, prob, positive)
    fit = sm.GLM(y, np.ones((y.size, 1)), family=sm.families.Binomial(), offset=logit(p)).fit()
    return _wald(float(fit.params[0]), float(fit.bse[0]), level)


def calibration_slope(
    truth: Any, prob: Any, *, positive: Any = None, level: float = 0.95
) -> Estimate:
    """Calibration slope: b in logit P(y) = a + b logit p, Wald CI."""
    import statsmodels.api as sm

    y, p = _inputs(truth, prob, positive)
    x = sm.add_constant(logit(p), has_constant="add")
    fit = sm.GLM(y, x, family=sm.families.Binomial()).fit()
    return _wald(float(fit.params[1]), float(fit.bse[1]), level)


def _wald(value: float, se: float, level: float) -> Estimate:
    z = sps.norm.ppf(0.5 + check_level(level) / 2)
    return Estimate(value, (value - z * se, value + z * se), se)


def oe_ratio(truth: Any, prob: Any, *, positive: Any = None, level: float = 0.95) -> Estimate:
    """Observed:expected events with a log-scale CI, se = sqrt((1 - ybar) / O) (as predRupdate)."""
    y, p = _inputs(truth, prob, positive)
    observed, expected = y.sum(), p.sum()
    se = float(np.sqrt((1 - y.mean()) / observed))
    z = sps.norm.ppf(0.5 + check_level(level) / 2)
    log_oe = np.log(observed / expected)
    return Estimate(float(np.exp(log_oe)),
                    (float(np.exp(log_oe - z * se)), float(np.exp(log_oe + z * se))), se)


def brier_score(truth: Any, prob: Any, *, positive: Any = None, level: float = 0.95) -> Estimate:
    """Brier score with Spiegelhalter's (1986) variance under calibration, as predRupdate."""
    y, p = _inputs(truth, prob, positive)
    n = y.size
    value = float(np.mean((p - y) ** 2))
    se = float(np.sqrt(np.sum((1 - 2 * p) ** 2 * p * (1 - p)) / n**2))
    z = sps.norm.ppf(0.5 + check_level(level) / 2)
    return Estimate(value, (value - z * se, value + z * se), se)


@dataclass(frozen=True)
class HosmerLemeshow:
    """Hosmer-Lemeshow goodness-of-fit test and its partition table."""

    chi2: float
    df: int
    p: float
    table: pd.DataFrame = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        return {"chi2": self.chi2, "df": self.df, "p": self.p}


def _quantile_groups(p: np.ndarray, groups: int) -> np.ndarray:
    """Group 1..g by R's type-7 quantiles: g1 = p <= q1, gk = q(k-1) < p <= qk."""
    cuts = np.quantile(p, np.linspace(0, 1, groups + 1))
    return np.searchsorted(cuts[1:-1], p, side="left") + 1


def hosmer_lemeshow(
    truth: Any, prob: Any, *, groups: int = 10, positive: Any = None
) -> HosmerLemeshow:
    """Hosmer-Lemeshow test with R's quantile grouping (as blorr), df = non-empty groups - 2."""
    if groups < 3:
        raise ConfigError(f"Hosmer-Lemeshow needs at least 3 groups, got {groups}.")
    y, p = _inputs(truth, prob, positive)
    g = _quantile_groups(p, groups)
    frame = pd.DataFrame({"group": g, "y": y, "p": p})
    table = frame.groupby("group").agg(total=("y", "size"), observed_1=("y", "sum"),
                                       expected_1=("p", "sum"))
    table["observed_0"] = table["total"] - table["observed_1"]
    table["expected_0"] = table["total"] - table["expected_1"]
    with np.errstate(divide="ignore", invalid="ignore"):
        parts = ((table["observed_1"] - table["expected_1"]) ** 2 / table["expected_1"]
                 + (table["observed_0"] - table["expected_0"]) ** 2 / table["expected_0"])
    chi2 = float(parts.sum())
    df = int(len(table) - 2)
    return HosmerLemeshow(chi2, df, float(sps.chi2.sf(chi2, df)), table.reset_index())


def calibration_curve(
    truth: Any, prob: Any, *, bins: int = 10, positive: Any = None, level: float = 0.95
) -> pd.DataFrame:
    """Binned calibration curve: quantile bins with mean predicted and observed rate (Wilson CI)."""
    if bins < 1:
        raise ConfigError(f"bins must be at least 1, got {bins}.")
    y, p = _inputs(truth, prob, positive)
    g = _quantile_groups(p, bins)
    rows = []
    for k in np.unique(g):
        sel = g == k
        n, events = int(sel.sum()), int(y[sel].sum())
        lo, hi = proportion_ci(events, n, "wilson", level)
        rows.append({"bin": int(k), "n": n, "mean_predicted": float(p[sel].mean()),
                     "observed": events / n, "ci_lower": lo, "ci_upper": hi})
    return pd.DataFrame(rows)


def smoothed_calibration(
    truth: Any, prob: Any, *, frac: float = 0.75, points: int = 101, positive: Any = None
) -> pd.DataFrame:
    """Smoothed calibration curve: lowess of outcome on predicted probability on a grid."""
    from statsmodels.nonparametric.smoothers_lowess import lowess

    if not 0 < frac <= 1:
        raise ConfigError(f"frac must lie in (0, 1], got {frac}.")
    y, p = _inputs(truth, prob, positive)
    grid = np.linspace(p.min(), p.max(), points)
    fitted = lowess(y, p, frac=frac, it=0, xvals=grid)
    return pd.DataFrame({"predicted": grid, "observed": np.clip(fitted, 0, 1)})


@dataclass(frozen=True)
class CalibrationResult:
    """All calibration measures of one set of predictions."""

    intercept: Estimate
    slope: Estimate
    brier: Estimate
    oe_ratio: Estimate
    hosmer_lemeshow: HosmerLemeshow
    n: int
    events: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary (keys of the ``livermets stats calibration`` contract)."""
        return {"intercept": self.intercept.to_dict(), "slope": self.slope.to_dict(),
                "brier": self.brier.to_dict(), "oe_ratio": self.oe_ratio.value,
                "oe_ratio_ci": list(self.oe_ratio.ci),
                "hosmer_lemeshow": self.hosmer_lemeshow.to_dict(), "n": self.n,
                "events": self.events}


def calibration(
    truth: Any, prob: Any, *, groups: int = 10, positive: Any = None, level: float = 0.95
) -> CalibrationResult:
    """Calibration-in-the-large, slope, Brier, O:E and Hosmer-Lemeshow in one call."""
    y, p = _inputs(truth, prob, positive)
    return CalibrationResult(
        intercept=calibration_intercept(y, p, level=level),
        slope=calibration_slope(y, p, level=level),
        brier=brier_score(y, p, level=level),
        oe_ratio=oe_ratio(y, p, level=level),
        hosmer_lemeshow=hosmer_lemeshow(y, p, groups=groups),
        n=int(y.size),
        events=int(y.sum()),
    )
