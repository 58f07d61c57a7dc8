"""Binomial proportion CIs (Wilson, Clopper-Pearson, Agresti-Coull, Wald) and McNemar tests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from scipy import stats as sps

from livermets.errors import ConfigError, DataError
from livermets.stats._validate import as_binary, check_level, same_length

CiMethod = Literal["wilson", "clopper-pearson", "agresti-coull", "wald"]
CI_METHODS: tuple[str, ...] = ("wilson", "clopper-pearson", "agresti-coull", "wald")


def proportion_ci(
    successes: int, total: int, method: str = "wilson", level: float = 0.95
) -> tuple[float, float]:
    """Confidence interval of a binomial proportion successes / total."""
    level = check_level(level)
    k, n = int(successes), int(total)
    if n <= 0:
        return (float("nan"), float("nan"))
    if not 0 <= k <= n:
        raise DataError(f"successes ({k}) must lie between 0 and total ({n}).")
    z = sps.norm.ppf(0.5 + level / 2)
    p = k / n
    if method == "wilson":
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
        lo, hi = centre - half, centre + half
    elif method == "clopper-pearson":
        alpha = 1 - level
        lo = 0.0 if k == 0 else sps.beta.ppf(alpha / 2, k, n - k + 1)
        hi = 1.0 if k == n else sps.beta.ppf(1 - alpha / 2, k + 1, n - k)
    elif method == "agresti-coull":
        n_t = n + z * z
        p_t = (k + z * z / 2) / n_t
        half = z * np.sqrt(p_t * (1 - p_t) / n_t)
        lo, hi = p_t - half, p_t + half
    elif method == "wald":
        half = z * np.sqrt(p * (1 - p) / n)
        lo, hi = p - half, p + half
    else:
        raise ConfigError(f"CI method must be one of {CI_METHODS}, got {method!r}.")
    return float(max(lo, 0.0)), float(min(hi, 1.0))


@dataclass(frozen=True)
class McNemarResult:
    """McNemar test on the two discordant counts."""

    b: int
    c: int
    statistic: float
    p: float
    method: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        return {"b": self.b, "c": self.c, "chi2": self.statistic, "p": self.p,
                "method": self.method}


def mcnemar_test(b: int, c: int, *, exact: bool = False, correction: bool = True) -> McNemarResult:
    """McNemar test of the discordant counts b and c (R's mcnemar.test, or the exact binomial)."""
    b, c = int(b), int(c)
    if b < 0 or c < 0:
        raise DataError("Discordant counts must be non-negative.")
    if exact:
        p = 1.0 if b + c == 0 else float(min(1.0, 2 * sps.binom.cdf(min(b, c), b + c, 0.5)))
        return McNemarResult(b, c, float("nan"), p, "exact")
    if b + c == 0:
        return McNemarResult(b, c, 0.0, 1.0, "chi2")
    num = (abs(b - c) - (1 if correction else 0)) ** 2
    stat = num / (b + c)
    return McNemarResult(b, c, float(stat), float(sps.chi2.sf(stat, 1)),
                         "chi2-corrected" if correction else "chi2")


def paired_accuracy_test(
    truth: Any, pred_a: Any, pred_b: Any, *, positive: Any = None, exact: bool = False
) -> McNemarResult:
    """McNemar test of paired accuracy: b = only A correct, c = only B correct."""
    y = as_binary(truth, "truth", positive)
    a = as_binary(pred_a, "pred_a")
    bb = as_binary(pred_b, "pred_b")
    same_length(truth=y, pred_a=a, pred_b=bb)
    ok_a, ok_b = a == y, bb == y
    return mcnemar_test(int(np.sum(ok_a & ~ok_b)), int(np.sum(~ok_a & ok_b)), exact=exact)
