"""Binomial proportion CIs (Wilson, Clopper-Pearson, Agresti-Coull, Wald) and McNemar tests.

Both are statsmodels' (identical to R's binom / mcnemar.test); this module checks inputs and
names the methods as the reports do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from livermets.errors import ConfigError, DataError
from livermets.stats._validate import as_binary, check_level, same_length

CiMethod = Literal["wilson", "clopper-pearson", "agresti-coull", "wald"]
CI_METHODS: tuple[str, ...] = ("wilson", "clopper-pearson", "agresti-coull", "wald")
_STATSMODELS_METHOD = {"wilson": "wilson", "clopper-pearson": "beta",
                       "agresti-coull": "agresti_coull", "wald": "normal"}


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
    if method not in _STATSMODELS_METHOD:
        raise ConfigError(f"CI method must be one of {CI_METHODS}, got {method!r}.")
    from statsmodels.stats.proportion import proportion_confint

    lo, hi = proportion_confint(k, n, alpha=1 - level, method=_STATSMODELS_METHOD[method])
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
    if b + c == 0:  # no discordant pair: no evidence either way (statsmodels would give nan)
        return McNemarResult(b, c, float("nan") if exact else 0.0, 1.0,
                             "exact" if exact else "chi2")
    from statsmodels.stats.contingency_tables import mcnemar

    result = mcnemar([[0, b], [c, 0]], exact=exact, correction=correction)
    if exact:
        return McNemarResult(b, c, float("nan"), float(result.pvalue), "exact")
    return McNemarResult(b, c, float(result.statistic), float(result.pvalue),
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
