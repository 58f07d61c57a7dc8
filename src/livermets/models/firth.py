"""Firth's penalised logistic regression (Jeffreys-prior penalty), fitted by Newton-Raphson.

Heinze & Schemper (2002): maximise ``l(b) + 0.5 log|X'WX|`` with the modified score
``X'(y - p + h (0.5 - p))`` (``h`` the diagonal of the weighted hat matrix), a step capped at
``max_step`` and halved until the penalised log-likelihood rises, as R's logistf does. Estimates
stay finite under complete or quasi-complete separation. Wald standard errors come from the
inverse Fisher information at the estimate (logistf's ``vcov``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats
from scipy.special import expit

from livermets.errors import DataError


@dataclass
class FirthResult:
    """Coefficients (intercept first when the design has one), Wald SEs and fit details."""

    params: np.ndarray
    bse: np.ndarray
    penalised_loglik: float
    loglik: float
    iterations: int
    converged: bool

    def conf_int(self, level: float = 0.95) -> np.ndarray:
        """Wald confidence limits, one row per coefficient."""
        z = stats.norm.ppf(0.5 + level / 2)
        return np.column_stack([self.params - z * self.bse, self.params + z * self.bse])

    @property
    def pvalues(self) -> np.ndarray:
        """Two-sided Wald p-values."""
        return 2 * stats.norm.sf(np.abs(self.params / self.bse))


def penalised_loglik(beta: np.ndarray, X: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Firth's penalised log-likelihood and the plain log-likelihood at ``beta``."""
    eta = X @ beta
    loglik = float(np.sum(y * eta - np.logaddexp(0.0, eta)))
    p = expit(eta)
    sign, logdet = np.linalg.slogdet((X * (p * (1 - p))[:, None]).T @ X)
    return (loglik + 0.5 * logdet if sign > 0 else -np.inf), loglik


def firth_logit(X: np.ndarray, y: np.ndarray, max_iter: int = 100, max_step: float = 5.0,
                tol: float = 1e-10) -> FirthResult:
    """Firth-penalised logistic regression of binary ``y`` on the design ``X`` (add the intercept
    column yourself)."""
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    if np.linalg.matrix_rank(X) < X.shape[1]:
        raise DataError(
            f"Firth logistic regression: the design's {X.shape[1]} columns are linearly "
            "dependent (a duplicated or constant variable); drop one of them."
        )
    beta = np.zeros(X.shape[1])
    current, _ = penalised_loglik(beta, X, y)
    converged = False
    iteration = 0
    for iteration in range(1, max_iter + 1):  # noqa: B007 - the count is reported
        p = expit(X @ beta)
        w = p * (1 - p)
        info = (X * w[:, None]).T @ X
        cov = np.linalg.inv(info)
        h = w * np.einsum("ij,jk,ik->i", X, cov, X)
        score = X.T @ (y - p + h * (0.5 - p))
        step = cov @ score
        largest = np.max(np.abs(step))
        if largest > max_step:
            step *= max_step / largest
        for _ in range(30):  # step halving until the penalised likelihood does not fall
            candidate, _ = penalised_loglik(beta + step, X, y)
            if candidate >= current - 1e-12:
                break
            step /= 2
        beta = beta + step
        current = candidate
        if np.max(np.abs(step)) < tol or np.max(np.abs(score)) < tol:
            converged = True
            break
    p = expit(X @ beta)
    cov = np.linalg.inv((X * (p * (1 - p))[:, None]).T @ X)
    penalised, loglik = penalised_loglik(beta, X, y)
    return FirthResult(beta, np.sqrt(np.diag(cov)), penalised, loglik, iteration, converged)
