"""Detection of complete and quasi-complete separation in logistic regression (linear programs).

Konis (2007), the method of R's safeBinaryRegression / detectseparation: with ``s = 2y - 1``, the
maximum-likelihood estimate is infinite exactly when some direction ``d != 0`` has
``s_i x_i'd >= 0`` for every row (quasi-complete separation; ``> 0`` for every row is complete
separation). Coefficient ``j`` diverges when such a direction has ``d_j != 0``, which one linear
program per sign and coefficient decides. Columns are scaled to unit SD first so one tolerance
fits every variable.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linprog

TOL = 1e-7


@dataclass
class Separation:
    """What the linear programs found: ``kind`` is None, ``"quasi-complete"`` or ``"complete"``."""

    kind: str | None
    variables: list[str] = field(default_factory=list)
    directions: dict[str, int] = field(default_factory=dict)  # +1: OR -> inf, -1: OR -> 0


def _scaled(X: np.ndarray) -> np.ndarray:
    sd = X.std(axis=0)
    return X / np.where(sd > 0, sd, np.abs(X).max(axis=0) + (X.max(axis=0) == 0))


def detect_separation(X: np.ndarray, y: np.ndarray, names: list[str]) -> Separation:
    """Separation of binary ``y`` by the design ``X`` (with its intercept column; ``names`` one
    per column, the intercept's ``"const"``, which is never listed)."""
    A = np.asarray(X, dtype=float)
    A = _scaled(A) * (2 * np.asarray(y, dtype=float) - 1)[:, None]
    n, k = A.shape
    bounds = [(-1.0, 1.0)] * k
    # does any direction separate at all? maximise the total margin sum(A d) with A d >= 0
    first = linprog(-A.sum(axis=0), A_ub=-A, b_ub=np.zeros(n), bounds=bounds, method="highs")
    if first.status != 0 or -first.fun <= TOL * n:
        return Separation(None)
    directions = {}
    for j, name in enumerate(names):
        if name == "const":
            continue
        for sign in (1, -1):
            c = np.zeros(k)
            c[j] = -sign
            res = linprog(c, A_ub=-A, b_ub=np.zeros(n), bounds=bounds, method="highs")
            if res.status == 0 and -res.fun > TOL:
                directions[name] = sign
                break
    # complete separation: a direction with A d >= t > 0 on every row
    c = np.zeros(k + 1)
    c[-1] = -1.0
    A_ub = np.hstack([-A, np.ones((n, 1))])
    res = linprog(c, A_ub=A_ub, b_ub=np.zeros(n), bounds=[*bounds, (0.0, 1.0)], method="highs")
    kind = "complete" if res.status == 0 and -res.fun > TOL else "quasi-complete"
    return Separation(kind, list(directions), directions)
