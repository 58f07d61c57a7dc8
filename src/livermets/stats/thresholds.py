"""Operating points: Youden, fixed sensitivity/specificity or value; metrics with binomial CIs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from livermets.errors import ConfigError
from livermets.stats._validate import check_level
from livermets.stats.binomial import CI_METHODS, proportion_ci
from livermets.stats.roc import Direction, _curve, split_scores


@dataclass(frozen=True)
class Metric:
    """A proportion with its confidence interval (numerator / denominator)."""

    value: float
    ci: tuple[float, float] | None
    numerator: int | None = None
    denominator: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        return {"value": self.value, "ci": list(self.ci) if self.ci else None,
                "numerator": self.numerator, "denominator": self.denominator}


@dataclass(frozen=True)
class OperatingPoint:
    """Classification at one threshold: counts and metrics."""

    threshold: float
    method: str
    direction: str
    tp: int
    fp: int
    tn: int
    fn: int
    metrics: dict[str, Metric]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary (keys of the ``livermets stats threshold`` contract)."""
        return {"threshold": self.threshold, "method": self.method, "direction": self.direction,
                "counts": {"tp": self.tp, "fp": self.fp, "tn": self.tn, "fn": self.fn},
                **{k: v.to_dict() for k, v in self.metrics.items()}}


def parse_method(method: str) -> tuple[str, float | None]:
    """Parse 'youden', 'sens:0.9', 'spec:0.9' or 'value:0.5'."""
    text = method.strip().lower()
    if text == "youden":
        return "youden", None
    kind, _, number = text.partition(":")
    if kind not in {"sens", "spec", "value"} or not number:
        raise ConfigError(
            f"Unknown threshold method {method!r}; use youden, sens:0.9, spec:0.9 or value:0.5."
        )
    try:
        target = float(number)
    except ValueError:
        raise ConfigError(f"{method!r}: {number!r} is not a number.") from None
    if kind in {"sens", "spec"} and not 0.0 <= target <= 1.0:
        raise ConfigError(f"{method!r}: the target {kind} must lie between 0 and 1.")
    return kind, target


def confusion_metrics(
    tp: int, fp: int, tn: int, fn: int, ci_method: str = "wilson", level: float = 0.95
) -> dict[str, Metric]:
    """Sensitivity, specificity, accuracy, PPV, NPV (binomial CIs) and F1 from counts."""
    if ci_method not in CI_METHODS:
        raise ConfigError(f"ci-method must be one of {CI_METHODS}, got {ci_method!r}.")

    def prop(k: int, n: int) -> Metric:
        value = k / n if n else float("nan")
        return Metric(value, proportion_ci(k, n, ci_method, level), k, n)

    f1_den = 2 * tp + fp + fn
    return {
        "sensitivity": prop(tp, tp + fn),
        "specificity": prop(tn, tn + fp),
        "accuracy": prop(tp + tn, tp + tn + fp + fn),
        "ppv": prop(tp, tp + fp),
        "npv": prop(tn, tn + fn),
        "f1": Metric(2 * tp / f1_den if f1_den else float("nan"), None),
    }


def operating_point(
    truth: Any,
    score: Any,
    method: str = "youden",
    *,
    positive: Any = None,
    direction: Direction = "auto",
    ci_method: str = "wilson",
    level: float = 0.95,
) -> OperatingPoint:
    """Choose a threshold (Youden, target sensitivity/specificity, or a value) and report metrics.

    Thresholds from the ROC curve are pROC's midpoints between adjacent scores. A case is called
    positive when score >= threshold (direction '<') or score <= threshold (direction '>').
    """
    level = check_level(level)
    kind, target = parse_method(method)
    pos, neg, direction = split_scores(truth, score, positive=positive, direction=direction)
    sign = 1.0 if direction == "<" else -1.0
    if kind == "value":
        assert target is not None
        cut = sign * target
    else:
        curve = _curve(pos, neg, direction)
        se, sp = curve.sensitivity, curve.specificity
        if kind == "youden":
            idx = int(np.argmax(se + sp))
        elif kind == "sens":
            ok = np.flatnonzero(se >= target - 1e-12)
            idx = int(ok[np.argmax(sp[ok])])  # highest specificity reaching the sensitivity
        else:
            ok = np.flatnonzero(sp >= target - 1e-12)
            idx = int(ok[np.argmax(se[ok])])
        cut = sign * float(curve.thresholds[idx])
    tp = int(np.sum(pos >= cut))
    tn = int(np.sum(neg < cut))
    fp, fn = neg.size - tn, pos.size - tp
    metrics = confusion_metrics(tp, fp, tn, fn, ci_method, level)
    return OperatingPoint(sign * cut, method, direction, tp, fp, tn, fn, metrics)
