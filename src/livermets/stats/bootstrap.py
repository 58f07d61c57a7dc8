"""Vectorised, seeded bootstrap of the AUC: percentile and BCa CIs, paired bootstrap test."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import stats as sps

from livermets.errors import ConfigError, DataError
from livermets.stats._validate import check_level
from livermets.stats.delong import AucComparison, placements

_BLOCK = 256  # replicates per block at most
_BLOCK_CELLS = 8_000_000  # and at most this many case weights held at once


def block_size(n_cases: int) -> int:
    """Bootstrap replicates per block for n_cases, so that a block's case weights fit in memory."""
    return max(1, min(_BLOCK, _BLOCK_CELLS // max(n_cases, 1)))


@dataclass(frozen=True)
class BootstrapResult:
    """Bootstrap replicates of a statistic and the resulting confidence interval."""

    estimate: float
    ci: tuple[float, float]
    replicates: np.ndarray
    method: str


def resample_counts(rng: np.random.Generator, size: int, n_rep: int) -> np.ndarray:
    """Resampling counts (n_rep, size): how often each case is drawn in each replicate."""
    draws = rng.integers(0, size, size=(n_rep, size))
    flat = (draws + (np.arange(n_rep) * size)[:, None]).ravel()
    return np.bincount(flat, minlength=n_rep * size).reshape(n_rep, size).astype(float)


def weighted_aucs(
    pos: np.ndarray, neg: np.ndarray, w_pos: np.ndarray, w_neg: np.ndarray
) -> np.ndarray:
    """AUC of every replicate given case weights (rows of w_pos, w_neg); O(B (m + n))."""
    order = np.argsort(neg, kind="stable")
    neg_sorted = neg[order]
    left = np.searchsorted(neg_sorted, pos, side="left")
    right = np.searchsorted(neg_sorted, pos, side="right")
    cum = np.zeros((w_neg.shape[0], neg.size + 1))
    np.cumsum(w_neg[:, order], axis=1, out=cum[:, 1:])
    below = 0.5 * (cum[:, left] + cum[:, right])  # negatives below each positive, ties 1/2
    m_b = w_pos.sum(axis=1)
    n_b = w_neg.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (w_pos * below).sum(axis=1) / (m_b * n_b)


def _replicate_weights(
    rng: np.random.Generator, m: int, n: int, n_rep: int, stratified: bool
) -> tuple[np.ndarray, np.ndarray]:
    if stratified:
        return resample_counts(rng, m, n_rep), resample_counts(rng, n, n_rep)
    both = resample_counts(rng, m + n, n_rep)
    return both[:, :m], both[:, m:]


def bootstrap_auc_replicates(
    pos: np.ndarray, neg: np.ndarray, *, n_boot: int = 2000, seed: int = 0, stratified: bool = True
) -> np.ndarray:
    """AUC of ``n_boot`` bootstrap resamples (stratified by class unless told otherwise)."""
    if n_boot < 1:
        raise ConfigError(f"n_boot must be at least 1, got {n_boot}.")
    rng = np.random.default_rng(seed)
    out = np.empty(n_boot)
    block = block_size(pos.size + neg.size)
    for start in range(0, n_boot, block):
        b = min(block, n_boot - start)
        w_pos, w_neg = _replicate_weights(rng, pos.size, neg.size, b, stratified)
        out[start:start + b] = weighted_aucs(pos, neg, w_pos, w_neg)
    return out


def percentile_ci(replicates: np.ndarray, level: float) -> tuple[float, float]:
    """Percentile interval (R's quantile type 7, as pROC)."""
    finite = replicates[np.isfinite(replicates)]
    if finite.size == 0:
        raise DataError("No bootstrap replicate had both classes; use stratified resampling.")
    alpha = 1 - check_level(level)
    lo, hi = np.quantile(finite, [alpha / 2, 1 - alpha / 2])
    return float(lo), float(hi)


def bca_ci(
    replicates: np.ndarray, estimate: float, jackknife: np.ndarray, level: float
) -> tuple[float, float]:
    """Bias-corrected and accelerated interval (Efron 1987) from replicates and jackknife values."""
    finite = replicates[np.isfinite(replicates)]
    alpha = 1 - check_level(level)
    prop = (np.sum(finite < estimate) + 0.5 * np.sum(finite == estimate)) / finite.size
    prop = min(max(prop, 1.0 / (finite.size + 1)), finite.size / (finite.size + 1))
    z0 = sps.norm.ppf(prop)
    d = jackknife.mean() - jackknife
    denom = 6.0 * np.sum(d**2) ** 1.5
    a = float(np.sum(d**3) / denom) if denom > 0 else 0.0
    z = sps.norm.ppf([alpha / 2, 1 - alpha / 2])
    adj = sps.norm.cdf(z0 + (z0 + z) / (1 - a * (z0 + z)))
    lo, hi = np.quantile(finite, adj)
    return float(lo), float(hi)


def auc_jackknife(pos: np.ndarray, neg: np.ndarray) -> np.ndarray:
    """Leave-one-case-out AUCs in closed form from DeLong placements (positives then negatives)."""
    p = placements(pos, neg)
    m, n = pos.size, neg.size
    return np.concatenate([(m * p.auc - p.v10) / (m - 1), (n * p.auc - p.v01) / (n - 1)])


def bootstrap_auc(
    pos: np.ndarray,
    neg: np.ndarray,
    *,
    n_boot: int = 2000,
    seed: int = 0,
    level: float = 0.95,
    method: Literal["percentile", "bca"] = "percentile",
    stratified: bool = True,
) -> BootstrapResult:
    """Bootstrap CI of the AUC of oriented scores (higher = positive)."""
    estimate = placements(pos, neg).auc
    reps = bootstrap_auc_replicates(pos, neg, n_boot=n_boot, seed=seed, stratified=stratified)
    if method == "percentile":
        ci = percentile_ci(reps, level)
    elif method == "bca":
        if pos.size < 2 or neg.size < 2:
            raise DataError("BCa needs at least 2 positive and 2 negative cases.")
        ci = bca_ci(reps, estimate, auc_jackknife(pos, neg), level)
    else:
        raise ConfigError(f"bootstrap method must be 'percentile' or 'bca', got {method!r}.")
    return BootstrapResult(estimate, ci, reps, method)


def bootstrap_test_paired(
    pos_a: np.ndarray,
    neg_a: np.ndarray,
    pos_b: np.ndarray,
    neg_b: np.ndarray,
    *,
    n_boot: int = 2000,
    seed: int = 0,
    level: float = 0.95,
    stratified: bool = True,
) -> AucComparison:
    """Bootstrap test of two correlated AUCs: D = diff / sd(bootstrap diffs), as pROC."""
    auc_a, auc_b = placements(pos_a, neg_a).auc, placements(pos_b, neg_b).auc
    rng = np.random.default_rng(seed)
    diffs = np.empty(n_boot)
    block = block_size(pos_a.size + neg_a.size)
    for start in range(0, n_boot, block):
        b = min(block, n_boot - start)
        w_pos, w_neg = _replicate_weights(rng, pos_a.size, neg_a.size, b, stratified)
        diffs[start:start + b] = (weighted_aucs(pos_a, neg_a, w_pos, w_neg)
                                  - weighted_aucs(pos_b, neg_b, w_pos, w_neg))
    diffs = diffs[np.isfinite(diffs)]
    sd = float(np.std(diffs, ddof=1))
    diff = auc_a - auc_b
    d = diff / sd if sd > 0 else 0.0
    lo, hi = percentile_ci(diffs, level)
    return AucComparison(auc_a, auc_b, diff, (lo, hi), float(d), float(2 * sps.norm.sf(abs(d))),
                         "bootstrap paired")
