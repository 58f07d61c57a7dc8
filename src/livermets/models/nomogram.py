"""Nomogram of a logistic model: points per predictor, total points, predicted probability."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd


def nomogram_scales(coefs: pd.Series, intercept: float, X: pd.DataFrame) -> dict[str, Any]:
    """Points scales (0-100 for the widest-effect predictor) and the total-points mapping."""
    lo, hi = X[coefs.index].min(), X[coefs.index].max()
    effect = (coefs * (hi - lo)).abs()
    unit = float(effect.max()) / 100.0 if effect.max() > 0 else 1.0
    ref = pd.Series(np.where(coefs >= 0, lo, hi), index=coefs.index)  # 0 points here
    lp0 = intercept + float((coefs * ref).sum())
    return {"low": lo, "high": hi, "ref": ref, "unit": unit, "lp0": lp0,
            "max_total": float(effect.sum() / unit)}


def is_binary(values: pd.Series) -> bool:
    """Whether a predictor only takes the values 0 and 1 (an indicator such as sex_M)."""
    seen = set(pd.unique(values.dropna().astype(float)))
    return len(seen) == 2 and seen == {0.0, 1.0}


def nomogram_figure(coefs: pd.Series, intercept: float, X: pd.DataFrame, title: str = "") -> Any:
    """A matplotlib nomogram of a fitted logistic model on its training data ranges."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s = nomogram_scales(coefs, intercept, X)
    names = list(coefs.index)
    rows = ["Points", *names, "Total points", "Probability"]
    fig, ax = plt.subplots(figsize=(8, 0.55 * len(rows) + 0.8))
    ax.set_xlim(-5, 105)
    ax.set_ylim(-0.5, len(rows) - 0.5)
    ax.axis("off")

    def scale(y: float, positions: np.ndarray, labels: list[str]) -> None:
        ax.plot([positions.min(), positions.max()], [y, y], color="black", lw=1)
        for x, text in zip(positions, labels, strict=True):
            ax.plot([x, x], [y, y + 0.12], color="black", lw=1)
            ax.text(x, y + 0.18, text, ha="center", va="bottom", fontsize=7)

    for i, label in enumerate(rows):
        ax.text(-7, len(rows) - 1 - i, label, ha="right", va="center", fontsize=8)
    ticks = np.linspace(0, 100, 11)
    scale(len(rows) - 1, ticks, [f"{t:.0f}" for t in ticks])
    for i, name in enumerate(names):
        if is_binary(X[name]):  # an indicator: its two values, not a continuum
            values = np.array([0.0, 1.0])
        else:
            span = abs(coefs[name] * (s["high"][name] - s["low"][name])) / s["unit"]
            values = np.linspace(s["low"][name], s["high"][name],
                                 int(np.clip(span // 10 + 1, 2, 6)))
        points = np.abs(coefs[name] * (values - s["ref"][name])) / s["unit"]
        scale(len(rows) - 2 - i, points, [f"{v:.3g}" for v in values])
    total_ticks = np.linspace(0, s["max_total"], 6)
    scale(1, total_ticks / s["max_total"] * 100, [f"{t:.0f}" for t in total_ticks])
    probs = np.array([0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95])
    totals = (np.log(probs / (1 - probs)) - s["lp0"]) / s["unit"]
    inside = (totals >= 0) & (totals <= s["max_total"])
    if inside.any():
        scale(0, totals[inside] / s["max_total"] * 100, [f"{p:g}" for p in probs[inside]])
    if title:
        ax.set_title(title, fontsize=10)
    return fig


def predicted_from_points(coefs: pd.Series, intercept: float, X: pd.DataFrame,
                          row: pd.Series) -> float:
    """Probability read off the nomogram for one case (equals the model's probability)."""
    s = nomogram_scales(coefs, intercept, X)
    total = float((np.abs(coefs * (row[coefs.index] - s["ref"])) / s["unit"]).sum())
    lp = s["lp0"] + total * s["unit"]
    return float(1 / (1 + np.exp(-lp)))
