"""Kaplan-Meier figures as papers print them: S = 1 at t = 0, confidence bands, censor marks,
time units and a numbers-at-risk table under the curves."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from livermets.stats.survival import KaplanMeier

if TYPE_CHECKING:
    from matplotlib.axes import Axes

UNITS = ("days", "weeks", "months", "years")


def time_unit(column: str | None) -> str:
    """The unit a time column's name gives (``time_months`` -> months), else ``time``."""
    name = (column or "").lower()
    return next((u for u in UNITS if name.endswith(u) or name.endswith(u[:-1])), "time")


def at_risk_times(curves: Mapping[str, KaplanMeier], n: int = 5) -> np.ndarray:
    """About ``n`` evenly spaced round tick times from 0 to the longest follow-up."""
    from matplotlib.ticker import MaxNLocator

    last = max(float(km.table["time"].max()) for km in curves.values())
    ticks = MaxNLocator(nbins=n, steps=[1, 2, 2.5, 5, 10]).tick_values(0.0, max(last, 1e-9))
    return ticks[(ticks >= 0) & (ticks <= last + 1e-9)]


def numbers_at_risk(curves: Mapping[str, KaplanMeier], times: Sequence[float]) -> pd.DataFrame:
    """Patients still at risk (time >= t) in each group at each of ``times``."""
    rows = {}
    for label, km in curves.items():
        tab = km.table
        # at risk at t: those whose first row at or after t is still at risk there
        row = np.searchsorted(tab["time"].to_numpy(), np.asarray(times, float), side="left")
        risk = np.where(row < len(tab), tab["n_risk"].to_numpy()[np.minimum(row, len(tab) - 1)],
                        0)
        rows[label] = risk.astype(int)
    return pd.DataFrame(rows, index=[f"{t:g}" for t in times]).T


def km_axes(ax: Axes, curves: Mapping[str, KaplanMeier], unit: str = "time",
            title: str = "") -> pd.DataFrame:
    """Draw the curves on ``ax`` with bands, censor marks and a numbers-at-risk table; the table."""
    times = at_risk_times(curves)
    for label, km in curves.items():
        tab = km.table
        t = np.concatenate([[0.0], tab["time"].to_numpy()])
        s = np.concatenate([[1.0], tab["survival"].to_numpy()])
        lo = np.concatenate([[1.0], tab["ci_lower"].fillna(0.0).to_numpy()])
        hi = np.concatenate([[1.0], tab["ci_upper"].fillna(1.0).to_numpy()])
        (line,) = ax.step(t, s, where="post", label=label)
        ax.fill_between(t, lo, hi, step="post", alpha=0.15, color=line.get_color(), lw=0)
        censored = tab[tab["n_censor"] > 0]
        ax.plot(censored["time"], censored["survival"], "|", color=line.get_color(), ms=7)
    ax.set(title=title, xlabel=unit, ylabel="event-free probability", ylim=(0, 1.02),
           xlim=(0, 1.02 * max(float(km.table["time"].max()) for km in curves.values()) or 1))
    ax.set_xticks(times)
    ax.legend(fontsize=7, loc="lower left")
    table = numbers_at_risk(curves, times)
    # the counts sit under their tick times (data x, axes y), one row per group
    below = ax.get_xaxis_transform()
    ax.text(0.0, -0.2, "number at risk", transform=ax.transAxes, fontsize=7, va="top")
    for k, (label, counts) in enumerate(table.iterrows()):
        y = -0.27 - 0.07 * k
        ax.text(-0.06, y, label, transform=ax.transAxes, fontsize=7, ha="right", va="top")
        for x, count in zip(times, counts, strict=True):
            ax.text(x, y, str(count), transform=below, fontsize=7, ha="center", va="top")
    return table
