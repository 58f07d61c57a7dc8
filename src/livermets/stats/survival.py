"""Survival statistics: Harrell's C, Kaplan-Meier with Greenwood CIs, log-rank, Cox, risk groups."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as sps

from livermets.errors import ConfigError, DataError
from livermets.stats._validate import as_binary, as_float_array, check_level, same_length


def survival_inputs(time: Any, event: Any) -> tuple[np.ndarray, np.ndarray]:
    """Validate follow-up times (finite, >= 0) and event indicators (0/1 or 1/2 as R's Surv)."""
    t = as_float_array(time, "time")
    raw = np.asarray(event).reshape(-1)
    if raw.dtype.kind in "iuf" and np.all(np.isin(raw[~pd.isna(raw)], [1, 2])) \
            and not pd.isna(raw).any() and np.any(raw == 2):
        e = raw == 2  # R's Surv accepts 1 = censored, 2 = dead
    else:
        e = as_binary(raw, "event")
    same_length(time=t, event=e)
    if np.any(t < 0):
        raise DataError("time has negative values; follow-up times must be >= 0.")
    if t.size == 0:
        raise DataError("No rows to analyse.")
    return t, e


@dataclass(frozen=True)
class ConcordanceResult:
    """Harrell's C with the pair counts it is made of (as R survival::concordance)."""

    c_index: float
    concordant: int
    discordant: int
    tied_risk: int
    tied_time: int
    tied_both: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary (keys of the ``livermets stats cindex`` contract)."""
        return {"c_index": self.c_index, "concordant": self.concordant,
                "discordant": self.discordant, "tied_risk": self.tied_risk,
                "tied_time": self.tied_time, "tied_both": self.tied_both}


def harrell_c(time: Any, event: Any, risk: Any, *, block: int = 1024) -> ConcordanceResult:
    """Harrell's C of a risk score (higher = earlier event); ties in risk count 1/2.

    A pair is comparable when the shorter time is an event; a censored time tied with an event
    time counts as later (as R). Pairs of events at the same time are counted as tied_time.
    """
    t, e = survival_inputs(time, event)
    x = as_float_array(risk, "risk score")
    same_length(time=t, risk=x)
    conc = disc = tie_x = tie_y = tie_xy = 0
    ev = np.flatnonzero(e)
    for start in range(0, ev.size, block):
        i = ev[start:start + block]
        ti, xi = t[i][:, None], x[i][:, None]
        later = (t[None, :] > ti) | ((t[None, :] == ti) & ~e[None, :])
        conc += int(np.sum(later & (xi > x[None, :])))
        disc += int(np.sum(later & (xi < x[None, :])))
        tie_x += int(np.sum(later & (xi == x[None, :])))
        same = (t[None, :] == ti) & e[None, :]
        same[np.arange(i.size), i] = False
        tie_y += int(np.sum(same & (xi != x[None, :])))
        tie_xy += int(np.sum(same & (xi == x[None, :])))
    total = conc + disc + tie_x
    if total == 0:
        raise DataError("No comparable pairs: the C-index needs at least one event before "
                        "another subject's follow-up ends.")
    return ConcordanceResult((conc + 0.5 * tie_x) / total, conc, disc, tie_x, tie_y // 2,
                             tie_xy // 2)


@dataclass(frozen=True)
class KaplanMeier:
    """Kaplan-Meier estimate with Greenwood standard errors and log-scale CIs (R's default)."""

    table: pd.DataFrame  # time, n_risk, n_event, n_censor, survival, std_err, ci_lower, ci_upper
    median: float
    median_ci: tuple[float, float]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        tab = self.table
        return {"time": tab["time"].tolist(), "n_risk": tab["n_risk"].tolist(),
                "n_event": tab["n_event"].tolist(), "survival": tab["survival"].tolist(),
                "ci_lower": tab["ci_lower"].tolist(), "ci_upper": tab["ci_upper"].tolist(),
                "median": self.median, "median_ci": list(self.median_ci)}

    def survival_at(self, when: float) -> float:
        """S(when): survival at the last time <= when (NaN beyond the last follow-up)."""
        tab = self.table
        if when > tab["time"].iloc[-1]:
            return float("nan")
        idx = np.searchsorted(tab["time"].to_numpy(), when, side="right") - 1
        return 1.0 if idx < 0 else float(tab["survival"].iloc[idx])


def kaplan_meier(time: Any, event: Any, *, level: float = 0.95) -> KaplanMeier:
    """Kaplan-Meier curve, Greenwood variance, log CIs and median with CI (as R's survfit)."""
    t, e = survival_inputs(time, event)
    z = sps.norm.ppf(0.5 + check_level(level) / 2)
    times, inv = np.unique(t, return_inverse=True)
    d = np.bincount(inv, weights=e.astype(float), minlength=times.size)
    c = np.bincount(inv, minlength=times.size) - d
    at_risk = t.size - np.concatenate([[0], np.cumsum(d + c)[:-1]])
    surv = np.cumprod(1 - d / at_risk)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        gw = np.cumsum(np.where(at_risk > d, d / (at_risk * (at_risk - d)), np.inf * (d > 0)))
        se_log = np.sqrt(gw)
        lower = np.where(surv > 0, surv * np.exp(-z * se_log), np.nan)
        upper = np.where(surv > 0, np.minimum(surv * np.exp(z * se_log), 1.0), np.nan)
        std_err = np.where(surv > 0, surv * se_log, np.nan)
    table = pd.DataFrame({"time": times, "n_risk": at_risk.astype(int), "n_event": d.astype(int),
                          "n_censor": c.astype(int), "survival": surv,
                          "std_err": std_err, "ci_lower": lower, "ci_upper": upper})
    event_rows = table[table["n_event"] > 0]
    median = _first_below(event_rows["time"].to_numpy(), event_rows["survival"].to_numpy())
    lcl = _first_below(event_rows["time"].to_numpy(), event_rows["ci_lower"].to_numpy())
    ucl = _first_below(event_rows["time"].to_numpy(), event_rows["ci_upper"].to_numpy())
    return KaplanMeier(table, median, (lcl, ucl))


def _first_below(times: np.ndarray, curve: np.ndarray, q: float = 0.5) -> float:
    """First time a step curve is <= q; midpoint rule when it sits exactly at q (as R)."""
    keep = ~np.isnan(curve)  # a band that is undefined (S = 0) never crosses, as R
    times, vals = times[keep], curve[keep]
    hit = np.flatnonzero(vals <= q + 1e-10)
    if hit.size == 0:
        return float("nan")
    k = hit[0]
    if abs(vals[k] - q) < 1e-10:
        later = np.flatnonzero(vals[k + 1:] < q - 1e-10)
        if later.size:
            return float((times[k] + times[k + 1 + later[0]]) / 2)
        return float("nan") if k + 1 >= times.size else float((times[k] + times[-1]) / 2)
    return float(times[k])


@dataclass(frozen=True)
class LogRankResult:
    """Log-rank test of k groups: observed and expected events, chi-square, df and p."""

    groups: list[str]
    n: list[int]
    observed: list[float]
    expected: list[float]
    chi2: float
    df: int
    p: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        return {"chi2": self.chi2, "df": self.df, "p": self.p,
                "groups": {g: {"n": n, "observed": o, "expected": x} for g, n, o, x in
                           zip(self.groups, self.n, self.observed, self.expected, strict=True)}}


def logrank_test(time: Any, event: Any, group: Any) -> LogRankResult:
    """Log-rank test of 2 or more groups (lifelines' chi-square, as R's survdiff) with O and E."""
    t, e = survival_inputs(time, event)
    g = pd.Series(np.asarray(group, dtype=object).reshape(-1))
    same_length(time=t, group=g.to_numpy())
    if g.isna().any():
        raise DataError(f"group has {int(g.isna().sum())} missing value(s); drop those rows.")
    names = sorted(pd.unique(g.map(str)), key=_natural_key)
    if len(names) < 2:
        raise DataError(f"The log-rank test needs at least 2 groups; found {names}.")
    gi = g.map(str).map({n: k for k, n in enumerate(names)}).to_numpy()
    times, inv = np.unique(t, return_inverse=True)
    k = len(names)
    n_t = times.size
    d = np.zeros((n_t, k))
    leave = np.zeros((n_t, k))
    np.add.at(d, (inv, gi), e.astype(float))
    np.add.at(leave, (inv, gi), 1.0)
    at_risk = leave.sum(axis=0)[None, :] - np.vstack([np.zeros(k), np.cumsum(leave, 0)[:-1]])
    n_all = at_risk.sum(axis=1)
    d_all = d.sum(axis=1)
    keep = d_all > 0
    at_risk, d, n_all, d_all = at_risk[keep], d[keep], n_all[keep], d_all[keep]
    expected = (at_risk * (d_all / n_all)[:, None]).sum(axis=0)
    observed = d.sum(axis=0)
    from lifelines.statistics import multivariate_logrank_test

    test = multivariate_logrank_test(t, gi, e.astype(int))
    counts = np.bincount(gi, minlength=k)
    return LogRankResult(names, counts.tolist(), observed.tolist(), expected.tolist(),
                         float(test.test_statistic), int(test.degrees_of_freedom),
                         float(test.p_value))


def _natural_key(name: str) -> tuple[int, float | str]:
    try:
        return (0, float(name))
    except ValueError:
        return (1, name)


def cox_model(
    data: pd.DataFrame, *, time: str, event: str, covariates: list[str], level: float = 0.95
) -> pd.DataFrame:
    """Cox proportional-hazards fit (lifelines, Efron ties as R): coef, HR, se, CI, z, p."""
    from lifelines import CoxPHFitter

    missing = [c for c in [time, event, *covariates] if c not in data.columns]
    if missing:
        raise DataError(f"Column(s) {missing} not found; available: {list(data.columns)}.")
    frame = data[[time, event, *covariates]].dropna()
    if frame.empty:
        raise DataError("No complete rows for the Cox model; check missing values.")
    t, e = survival_inputs(frame[time], frame[event])
    fit_frame = frame[covariates].astype(float).assign(_time=t, _event=e.astype(int))
    cph = CoxPHFitter(alpha=1 - check_level(level))
    cph.fit(fit_frame, duration_col="_time", event_col="_event")
    summary = cph.summary
    z = sps.norm.ppf(0.5 + level / 2)
    return pd.DataFrame({
        "coef": summary["coef"], "hr": np.exp(summary["coef"]), "se": summary["se(coef)"],
        "hr_lower": np.exp(summary["coef"] - z * summary["se(coef)"]),
        "hr_upper": np.exp(summary["coef"] + z * summary["se(coef)"]),
        "z": summary["z"], "p": summary["p"],
    })


def risk_groups(score: Any, cutoff: float | str = "median", *, labels: tuple[str, str] = ("low",
                "high")) -> np.ndarray:
    """Split subjects into low/high risk at a cut-off (a number or 'median'); high if >= cutoff."""
    s = as_float_array(score, "score")
    if isinstance(cutoff, str):
        if cutoff != "median":
            raise ConfigError(f"cutoff must be a number or 'median', got {cutoff!r}.")
        value = float(np.median(s))
    else:
        value = float(cutoff)
    return np.where(s >= value, labels[1], labels[0])
