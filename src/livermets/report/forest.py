"""Forest plots of ratios (odds ratios, hazard ratios) with their CIs, on a log axis."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def forest_figure(table: pd.DataFrame, estimate: str, low: str, high: str, label: str = "variable",
                  xlabel: str = "odds ratio (95% CI)", title: str = "") -> Figure | None:
    """A forest plot of ``table``'s rows (finite, positive estimates and CIs only), or None when no
    row can be drawn; rows that cannot (e.g. separation: OR -> inf) are listed in the title."""
    import matplotlib.pyplot as plt

    values = table[[estimate, low, high]].to_numpy(dtype=float)
    ok = np.all(np.isfinite(values) & (values > 0), axis=1)
    if "separated" in table and "method" in table:  # an infinite ML estimate is not a number
        ok &= ~(table["separated"].to_numpy(bool) & (table["method"] == "ml").to_numpy())
    if not ok.any():
        return None
    shown, values = table[ok], values[ok]
    y = np.arange(len(shown))[::-1]
    fig, ax = plt.subplots(figsize=(6, 0.45 * len(shown) + 1.4))
    ax.errorbar(values[:, 0], y, xerr=[values[:, 0] - values[:, 1], values[:, 2] - values[:, 0]],
                fmt="s", color="black", ecolor="black", capsize=3, ms=5)
    ax.axvline(1.0, color="grey", ls="--", lw=0.8)
    ax.set_xscale("log")
    ax.set_yticks(y, [str(v) for v in shown[label]])
    for yi, (est, lo, hi) in zip(y, values, strict=True):
        ax.annotate(f"{est:.2f} ({lo:.2f}-{hi:.2f})", (1.02, yi),
                    xycoords=("axes fraction", "data"), va="center", fontsize=8)
    left_out = [str(v) for v in table.loc[~ok, label]]
    ax.set(xlabel=xlabel, title=title + (f"\n(not drawn: {', '.join(left_out)})" if left_out
                                          else ""))
    ax.set_ylim(-0.7, len(shown) - 0.3)
    return fig
