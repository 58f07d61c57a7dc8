"""Comparing AUCs: paired/unpaired DeLong, bootstrap test, and a Holm-adjusted comparison table."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import combinations
from typing import Any, Literal

import numpy as np
import pandas as pd

from livermets.errors import ConfigError, DataError
from livermets.stats._validate import as_binary, as_float_array, require_both_classes, same_length
from livermets.stats.bootstrap import bootstrap_test_paired
from livermets.stats.delong import AucComparison, delong_test_paired, delong_test_unpaired


def _oriented(y: np.ndarray, s: np.ndarray, direction: str) -> tuple[np.ndarray, np.ndarray]:
    pos, neg = s[y], s[~y]
    if direction == "auto":
        direction = "<" if np.median(neg) <= np.median(pos) else ">"
    if direction == ">":
        return -pos, -neg
    if direction != "<":
        raise ConfigError(f"direction must be 'auto', '<' or '>', got {direction!r}.")
    return pos, neg


def compare_aucs(
    truth: Any,
    score_a: Any,
    score_b: Any,
    *,
    positive: Any = None,
    paired: bool = True,
    method: Literal["delong", "bootstrap"] = "delong",
    truth_b: Any = None,
    direction: str = "auto",
    level: float = 0.95,
    n_boot: int = 2000,
    seed: int = 0,
) -> AucComparison:
    """Compare AUC(score_a) with AUC(score_b): DeLong (paired or unpaired) or paired bootstrap.

    For unpaired curves measured on different cases, pass the second truth as ``truth_b``.
    """
    y_a = as_binary(truth, "truth", positive)
    y_b = y_a if truth_b is None else as_binary(truth_b, "truth_b", positive)
    a = as_float_array(score_a, "score_a")
    b = as_float_array(score_b, "score_b")
    same_length(truth=y_a, score_a=a)
    same_length(truth_b=y_b, score_b=b)
    require_both_classes(y_a)
    require_both_classes(y_b, "truth_b")
    pos_a, neg_a = _oriented(y_a, a, direction)
    pos_b, neg_b = _oriented(y_b, b, direction)
    if paired and truth_b is not None:
        raise ConfigError("A paired comparison uses one truth for both scores; drop truth_b.")
    if method == "delong":
        test = delong_test_paired if paired else delong_test_unpaired
        return test(pos_a, neg_a, pos_b, neg_b, level)
    if method == "bootstrap":
        if not paired:
            raise ConfigError("The bootstrap test here is paired; use method='delong' if unpaired.")
        return bootstrap_test_paired(pos_a, neg_a, pos_b, neg_b, n_boot=n_boot, seed=seed,
                                     level=level)
    raise ConfigError(f"method must be 'delong' or 'bootstrap', got {method!r}.")


def holm_adjust(pvalues: Sequence[float] | np.ndarray) -> np.ndarray:
    """Holm step-down adjusted p-values (statsmodels; as R's p.adjust(method = "holm"))."""
    from statsmodels.stats.multitest import multipletests

    p = np.asarray(pvalues, dtype=float)
    if p.size == 0:
        return p
    if np.any(~np.isfinite(p)) or np.any((p < 0) | (p > 1)):
        raise DataError("p-values must be finite numbers between 0 and 1.")
    return multipletests(p, method="holm")[1]


def comparison_table(
    truth: Any,
    scores: Mapping[str, Any],
    *,
    positive: Any = None,
    reference: str | None = None,
    direction: str = "auto",
    level: float = 0.95,
) -> pd.DataFrame:
    """Paired DeLong comparisons of several models (all pairs, or each vs ``reference``), Holm p.

    Pass ``direction="<"`` for predicted probabilities of the positive class: with "auto" a
    below-chance model would be flipped (its AUC read as 1 - AUC).
    """
    names = list(scores)
    if len(names) < 2:
        raise DataError("A comparison table needs at least two scores.")
    if reference is not None and reference not in scores:
        raise ConfigError(f"reference {reference!r} is not one of the scores {names}.")
    pairs = ([(reference, n) for n in names if n != reference] if reference
             else list(combinations(names, 2)))
    rows = []
    for a, b in pairs:
        res = compare_aucs(truth, scores[a], scores[b], positive=positive, direction=direction,
                           level=level)
        rows.append({"model_a": a, "model_b": b, "auc_a": res.auc_a, "auc_b": res.auc_b,
                     "diff": res.diff, "ci_lower": res.ci[0], "ci_upper": res.ci[1],
                     "z": res.z, "p": res.p})
    table = pd.DataFrame(rows)
    table["p_holm"] = holm_adjust(table["p"].to_numpy())
    return table
