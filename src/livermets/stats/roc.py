"""ROC curves and AUC: empirical AUC, DeLong/bootstrap CIs, partial and multi-class AUC."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from livermets.errors import ConfigError, DataError
from livermets.stats._validate import (
    as_binary,
    as_float_array,
    check_level,
    require_both_classes,
    same_length,
)
from livermets.stats.delong import delong_variance, normal_ci

Direction = Literal["auto", "<", ">"]


def split_scores(
    truth: Any, score: Any, *, positive: Any = None, direction: Direction = "auto"
) -> tuple[np.ndarray, np.ndarray, str]:
    """Validate inputs; return positive and negative scores oriented so that higher = positive.

    ``direction`` follows pROC: "<" means negatives score lower than positives, ">" the opposite,
    "auto" picks "<" when the median negative score is not above the median positive score.
    """
    y = as_binary(truth, "truth", positive)
    s = as_float_array(score, "score")
    same_length(truth=y, score=s)
    require_both_classes(y)
    pos, neg = s[y], s[~y]
    if direction == "auto":
        direction = "<" if np.median(neg) <= np.median(pos) else ">"
    if direction == ">":
        pos, neg = -pos, -neg
    elif direction != "<":
        raise ConfigError(f"direction must be 'auto', '<' or '>', got {direction!r}.")
    return pos, neg, direction


def auc_from_scores(pos: np.ndarray, neg: np.ndarray) -> float:
    """Empirical AUC (Mann-Whitney U / mn, ties count 1/2) of oriented scores."""
    from scipy.stats import rankdata

    m, n = pos.size, neg.size
    ranks = rankdata(np.concatenate([pos, neg]))
    return float((ranks[:m].sum() - m * (m + 1) / 2) / (m * n))


@dataclass(frozen=True)
class AucResult:
    """An AUC with its confidence interval."""

    auc: float
    ci: tuple[float, float]
    ci_method: str
    variance: float | None
    n_pos: int
    n_neg: int
    direction: str
    level: float = 0.95
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary (keys of the ``livermets stats roc`` contract)."""
        return {
            "auc": self.auc,
            "ci": list(self.ci),
            "ci_method": self.ci_method,
            "variance": self.variance,
            "n_pos": self.n_pos,
            "n_neg": self.n_neg,
            "direction": self.direction,
            "level": self.level,
            **self.extra,
        }


def roc_auc(
    truth: Any,
    score: Any,
    *,
    positive: Any = None,
    direction: Direction = "auto",
    ci: Literal["delong", "bootstrap"] = "delong",
    level: float = 0.95,
    n_boot: int = 2000,
    seed: int = 0,
    boot_method: Literal["percentile", "bca"] = "percentile",
    stratified: bool = True,
) -> AucResult:
    """AUC with a DeLong (default) or bootstrap confidence interval."""
    level = check_level(level)
    pos, neg, direction = split_scores(truth, score, positive=positive, direction=direction)
    if ci == "delong":
        auc, var = delong_variance(pos, neg)
        return AucResult(auc, normal_ci(auc, var, level), "delong", var, pos.size, neg.size,
                         direction, level)
    if ci == "bootstrap":
        from livermets.stats.bootstrap import bootstrap_auc

        boot = bootstrap_auc(pos, neg, n_boot=n_boot, seed=seed, level=level,
                             method=boot_method, stratified=stratified)
        return AucResult(boot.estimate, boot.ci, f"bootstrap-{boot_method}",
                         float(np.var(boot.replicates, ddof=1)), pos.size, neg.size, direction,
                         level, {"n_boot": n_boot, "seed": seed, "stratified": stratified})
    raise ConfigError(f"ci must be 'delong' or 'bootstrap', got {ci!r}.")


@dataclass(frozen=True)
class RocCurve:
    """Empirical ROC curve: thresholds (pROC midpoints) with specificity and sensitivity."""

    thresholds: np.ndarray
    specificity: np.ndarray
    sensitivity: np.ndarray
    direction: str


def roc_curve(
    truth: Any, score: Any, *, positive: Any = None, direction: Direction = "auto"
) -> RocCurve:
    """ROC points at every threshold, ordered by increasing threshold (a case is positive if >=)."""
    pos, neg, direction = split_scores(truth, score, positive=positive, direction=direction)
    return _curve(pos, neg, direction)


def _curve(pos: np.ndarray, neg: np.ndarray, direction: str) -> RocCurve:
    values = np.unique(np.concatenate([pos, neg]))
    mids = (values[:-1] + values[1:]) / 2
    thr = np.concatenate([[-np.inf], mids, [np.inf]])
    pos_sorted, neg_sorted = np.sort(pos), np.sort(neg)
    sens = 1.0 - np.searchsorted(pos_sorted, thr, side="left") / pos.size
    spec = np.searchsorted(neg_sorted, thr, side="left") / neg.size
    shown = thr if direction == "<" else -thr
    return RocCurve(shown, spec, sens, direction)


def _segment_integral(x: np.ndarray, y: np.ndarray, lo: float, hi: float) -> float:
    """Integral over [lo, hi] of the polyline (x, y), x non-decreasing (exact, segment-wise)."""
    total = 0.0
    for x0, x1, y0, y1 in zip(x[:-1], x[1:], y[:-1], y[1:], strict=True):
        a, b = max(x0, lo), min(x1, hi)
        if b <= a or x1 == x0:
            continue
        ya = y0 + (y1 - y0) * (a - x0) / (x1 - x0)
        yb = y0 + (y1 - y0) * (b - x0) / (x1 - x0)
        total += (b - a) * (ya + yb) / 2
    return total


def partial_auc(
    truth: Any,
    score: Any,
    *,
    limits: tuple[float, float] = (0.8, 1.0),
    focus: Literal["specificity", "sensitivity"] = "specificity",
    correct: bool = False,
    positive: Any = None,
    direction: Direction = "auto",
) -> float:
    """Partial AUC over a specificity or sensitivity span, as pROC (McClish correction optional)."""
    lo, hi = sorted(float(v) for v in limits)
    if not (0.0 <= lo < hi <= 1.0):
        raise ConfigError(f"partial AUC limits must lie in [0, 1] and differ, got {limits}.")
    pos, neg, direction = split_scores(truth, score, positive=positive, direction=direction)
    curve = _curve(pos, neg, direction)
    fpr = (1.0 - curve.specificity)[::-1]
    tpr = curve.sensitivity[::-1]
    if focus == "specificity":
        area = _segment_integral(fpr, tpr, 1.0 - hi, 1.0 - lo)
    elif focus == "sensitivity":
        area = _segment_integral(tpr, 1.0 - fpr, lo, hi)
    else:
        raise ConfigError(f"focus must be 'specificity' or 'sensitivity', got {focus!r}.")
    if not correct:
        return float(area)
    width = hi - lo
    min_area = ((1.0 - lo) ** 2 - (1.0 - hi) ** 2) / 2
    return float((1 + (area - min_area) / (width - min_area)) / 2)


@dataclass(frozen=True)
class MulticlassAuc:
    """One-vs-rest AUC per class with DeLong CIs, and their unweighted mean (macro AUC)."""

    per_class: dict[str, AucResult]
    macro: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        return {"macro_auc": self.macro,
                "per_class": {k: v.to_dict() for k, v in self.per_class.items()}}


def multiclass_auc(
    truth: Sequence[Any] | np.ndarray | pd.Series,
    scores: pd.DataFrame | np.ndarray,
    classes: Sequence[Any] | None = None,
    *,
    level: float = 0.95,
) -> MulticlassAuc:
    """One-vs-rest AUC of each class's score column and the macro average."""
    y = pd.Series(np.asarray(truth, dtype=object))
    if y.isna().any():
        raise DataError("truth has missing values; drop those rows before computing AUCs.")
    if isinstance(scores, pd.DataFrame):
        names = list(classes) if classes is not None else list(scores.columns)
        matrix = scores.to_numpy(dtype=float)
    else:
        matrix = np.asarray(scores, dtype=float)
        if classes is None:
            raise ConfigError("Pass classes=... naming the score columns of the array.")
        names = list(classes)
    if matrix.ndim != 2 or matrix.shape[1] != len(names) or matrix.shape[0] != len(y):
        raise DataError(
            f"scores must have one row per case ({len(y)}) and one column per class "
            f"({len(names)}); got shape {matrix.shape}."
        )
    per_class: dict[str, AucResult] = {}
    labels = y.map(str)
    for j, name in enumerate(names):
        is_c = (labels == str(name)).to_numpy()
        if is_c.all() or not is_c.any():
            raise DataError(
                f"Class {name!r} has {int(is_c.sum())} of {len(y)} cases; one-vs-rest AUC needs "
                "cases in and out of every class. Drop classes without cases."
            )
        per_class[str(name)] = roc_auc(is_c, matrix[:, j], direction="<", level=level)
    return MulticlassAuc(per_class, float(np.mean([r.auc for r in per_class.values()])))
