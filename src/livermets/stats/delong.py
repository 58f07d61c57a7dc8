"""DeLong AUC variance, CI and tests (the fast O(n log n) algorithm of Sun & Xu 2014)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

from livermets.errors import DataError
from livermets.stats._validate import check_level


@dataclass(frozen=True)
class Placements:
    """DeLong structural components: the AUC and the placement value of every case."""

    auc: float
    v10: np.ndarray  # one per positive: share of negatives scored below it (ties 1/2)
    v01: np.ndarray  # one per negative: share of positives scored above it (ties 1/2)


def placements(pos: np.ndarray, neg: np.ndarray) -> Placements:
    """Placement values of positive and negative scores by midranks (Sun & Xu 2014)."""
    m, n = pos.size, neg.size
    both = np.concatenate([pos, neg])
    ranks = sps.rankdata(both)  # midranks handle ties as 1/2
    r_pos = sps.rankdata(pos)
    r_neg = sps.rankdata(neg)
    v10 = (ranks[:m] - r_pos) / n
    v01 = 1.0 - (ranks[m:] - r_neg) / m
    return Placements(auc=float(v10.mean()), v10=v10, v01=v01)


def delong_covariance(
    pos_scores: np.ndarray, neg_scores: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """AUCs and DeLong covariance matrix of k paired scores (arrays of shape (k, m) and (k, n))."""
    pos_scores = np.atleast_2d(pos_scores)
    neg_scores = np.atleast_2d(neg_scores)
    k, m = pos_scores.shape
    n = neg_scores.shape[1]
    if m < 2 or n < 2:
        raise DataError(
            f"DeLong's variance needs at least 2 positive and 2 negative cases (got {m} and {n})."
        )
    v10 = np.empty((k, m))
    v01 = np.empty((k, n))
    aucs = np.empty(k)
    for r in range(k):
        p = placements(pos_scores[r], neg_scores[r])
        v10[r], v01[r], aucs[r] = p.v10, p.v01, p.auc
    s10 = np.atleast_2d(np.cov(v10, ddof=1))
    s01 = np.atleast_2d(np.cov(v01, ddof=1))
    return aucs, s10 / m + s01 / n


def delong_variance(pos: np.ndarray, neg: np.ndarray) -> tuple[float, float]:
    """AUC and its DeLong variance for one score."""
    aucs, cov = delong_covariance(pos[None, :], neg[None, :])
    return float(aucs[0]), float(cov[0, 0])


def normal_ci(estimate: float, variance: float, level: float = 0.95) -> tuple[float, float]:
    """Wald interval estimate +/- z * sqrt(variance), clipped to [0, 1] as pROC does."""
    z = sps.norm.ppf(0.5 + check_level(level) / 2)
    half = z * np.sqrt(max(variance, 0.0))
    return float(max(estimate - half, 0.0)), float(min(estimate + half, 1.0))


@dataclass(frozen=True)
class AucComparison:
    """Result of comparing two AUCs: difference a - b with CI, statistic and two-sided p."""

    auc_a: float
    auc_b: float
    diff: float
    ci: tuple[float, float]
    z: float
    p: float
    method: str
    df: float | None = None

    def to_dict(self) -> dict[str, object]:
        """JSON-ready dictionary (keys of the ``livermets stats delong`` contract)."""
        out: dict[str, object] = {
            "auc_a": self.auc_a,
            "auc_b": self.auc_b,
            "diff": self.diff,
            "ci": list(self.ci),
            "z": self.z,
            "p": self.p,
            "method": self.method,
        }
        if self.df is not None:
            out["df"] = self.df
        return out


def delong_test_paired(
    pos_a: np.ndarray, neg_a: np.ndarray, pos_b: np.ndarray, neg_b: np.ndarray, level: float = 0.95
) -> AucComparison:
    """DeLong's test for two correlated AUCs (same cases), as pROC's roc.test(paired=TRUE)."""
    if pos_a.shape != pos_b.shape or neg_a.shape != neg_b.shape:
        raise DataError("A paired DeLong test needs both scores on the same cases.")
    aucs, cov = delong_covariance(np.vstack([pos_a, pos_b]), np.vstack([neg_a, neg_b]))
    diff = float(aucs[0] - aucs[1])
    var = float(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
    sd = np.sqrt(max(var, 0.0))
    z = 0.0 if sd == 0 and diff == 0 else diff / sd
    p = float(2 * sps.norm.sf(abs(z)))
    q = sps.norm.ppf(0.5 + check_level(level) / 2)
    return AucComparison(
        auc_a=float(aucs[0]),
        auc_b=float(aucs[1]),
        diff=diff,
        ci=(diff - q * sd, diff + q * sd),
        z=float(z),
        p=p,
        method="DeLong paired",
    )


def delong_test_unpaired(
    pos_a: np.ndarray, neg_a: np.ndarray, pos_b: np.ndarray, neg_b: np.ndarray, level: float = 0.95
) -> AucComparison:
    """DeLong's test of two independent AUCs, Welch-Satterthwaite df, as pROC (paired=FALSE)."""
    auc_a, var_a = delong_variance(pos_a, neg_a)
    auc_b, var_b = delong_variance(pos_b, neg_b)
    n_a = pos_a.size + neg_a.size
    n_b = pos_b.size + neg_b.size
    diff = auc_a - auc_b
    sd = np.sqrt(var_a + var_b)
    t = diff / sd if sd > 0 else 0.0
    df = (var_a + var_b) ** 2 / (var_a**2 / (n_a - 1) + var_b**2 / (n_b - 1)) if sd > 0 else np.inf
    p = float(2 * sps.t.sf(abs(t), df))
    q = sps.t.ppf(0.5 + check_level(level) / 2, df)
    return AucComparison(
        auc_a=auc_a,
        auc_b=auc_b,
        diff=diff,
        ci=(diff - q * sd, diff + q * sd),
        z=float(t),
        p=p,
        method="DeLong unpaired",
        df=float(df),
    )
