"""Decision curve analysis: net benefit of a model, treat-all and treat-none (binary, case-control,
survival at a horizon), computed as dcurves does."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from livermets.errors import ConfigError, DataError
from livermets.stats._validate import as_binary, as_float_array, same_length
from livermets.stats.survival import kaplan_meier, survival_inputs


def parse_thresholds(spec: str) -> np.ndarray:
    """Parse 'start:stop:step' (inclusive stop, as R's seq) into an array of thresholds."""
    parts = spec.split(":")
    try:
        start, stop, step = (float(p) for p in parts)
    except ValueError:
        raise ConfigError(f"--thresholds must look like 0:0.99:0.01, got {spec!r}.") from None
    if step <= 0 or stop < start:
        raise ConfigError(f"--thresholds {spec!r}: need step > 0 and stop >= start.")
    count = int(np.floor((stop - start) / step + 1e-9)) + 1
    return np.round(start + step * np.arange(count), 10)


def _check_thresholds(thresholds: Any) -> np.ndarray:
    thr = as_float_array(thresholds, "thresholds")
    if np.any((thr < 0) | (thr >= 1)):
        raise ConfigError("Thresholds must lie in [0, 1); net benefit is undefined at 1.")
    return thr


@dataclass(frozen=True)
class DecisionCurve:
    """Net benefit over thresholds for the model, treat-all and treat-none."""

    thresholds: np.ndarray
    model: np.ndarray
    treat_all: np.ndarray
    treat_none: np.ndarray
    prevalence: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary (keys of the ``livermets stats dca`` contract)."""
        return {"thresholds": self.thresholds.tolist(),
                "net_benefit": {"model": self.model.tolist(), "all": self.treat_all.tolist(),
                                "none": self.treat_none.tolist()},
                "prevalence": self.prevalence}


def _prob(prob: Any) -> np.ndarray:
    """Validated risks; a risk of exactly 0 never counts as test-positive (as dcurves)."""
    p = as_float_array(prob, "prob")
    if np.any((p < 0) | (p > 1)):
        raise DataError("prob must hold predicted risks between 0 and 1 for a decision curve.")
    return np.where(p == 0, -np.finfo(float).eps, p)


def decision_curve(
    truth: Any,
    prob: Any,
    thresholds: Any = None,
    *,
    positive: Any = None,
    prevalence: float | None = None,
    harm: float = 0.0,
) -> DecisionCurve:
    """Net benefit for a binary outcome; with ``prevalence`` for case-control samples."""
    y = as_binary(truth, "truth", positive)
    p = _prob(prob)
    same_length(truth=y, prob=p)
    thr = _check_thresholds(np.arange(0, 1, 0.01) if thresholds is None else thresholds)
    if prevalence is not None and not 0 < prevalence < 1:
        raise ConfigError(f"prevalence must lie strictly between 0 and 1, got {prevalence}.")
    if not y.any() or y.all():
        raise DataError("truth has only one class; a decision curve needs events and non-events.")
    rate = float(y.mean()) if prevalence is None else float(prevalence)
    tpr = (p[y][None, :] >= thr[:, None]).mean(axis=1)
    fpr = (p[~y][None, :] >= thr[:, None]).mean(axis=1)
    odds = thr / (1 - thr)
    model = tpr * rate - odds * fpr * (1 - rate) - harm
    treat_all = rate - odds * (1 - rate)
    return DecisionCurve(thr, model, treat_all, np.zeros_like(thr), rate)


def decision_curve_survival(
    time: Any, event: Any, prob: Any, horizon: float, thresholds: Any = None, *, harm: float = 0.0
) -> DecisionCurve:
    """Net benefit for a survival outcome at ``horizon``: risk among test-positives from KM."""
    t, e = survival_inputs(time, event)
    p = _prob(prob)
    same_length(time=t, prob=p)
    thr = _check_thresholds(np.arange(0, 1, 0.01) if thresholds is None else thresholds)
    if horizon <= 0:
        raise ConfigError(f"horizon must be positive, got {horizon}.")
    overall = kaplan_meier(t, e).survival_at(horizon)
    if not np.isfinite(overall):
        raise DataError(f"No follow-up reaches the horizon {horizon} (last time {t.max()}); "
                        "choose an earlier horizon.")
    rate = 1.0 - overall
    model = np.empty(thr.size)
    for k, th in enumerate(thr):
        sel = p >= th
        if not sel.any():
            model[k] = 0.0 - harm
            continue
        risk = 1.0 - kaplan_meier(t[sel], e[sel]).survival_at(horizon)
        share = sel.mean()
        model[k] = risk * share - th / (1 - th) * (1 - risk) * share - harm
    treat_all = rate - thr / (1 - thr) * (1 - rate)
    return DecisionCurve(thr, model, treat_all, np.zeros_like(thr), rate)
