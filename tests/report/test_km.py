"""Kaplan-Meier figure parts: numbers at risk, ticks, units, the curve from S = 1 at t = 0."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from livermets.report.km import at_risk_times, km_axes, numbers_at_risk, time_unit
from livermets.stats import kaplan_meier


def _groups():
    rng = np.random.default_rng(3)
    out = {}
    for name, scale in (("low risk", 40.0), ("high risk", 15.0)):
        t = np.round(rng.exponential(scale, 60), 1)
        e = rng.random(60) < 0.7
        out[name] = (t, e)
    return out


def test_numbers_at_risk_count_patients_still_followed():
    groups = _groups()
    curves = {k: kaplan_meier(t, e) for k, (t, e) in groups.items()}
    times = [0, 10, 20, 30, 45.5, 500]
    table = numbers_at_risk(curves, times)
    for name, (t, _) in groups.items():
        assert table.loc[name].tolist() == [int((t >= x).sum()) for x in times]


def test_ticks_units_and_the_drawn_curve():
    curves = {k: kaplan_meier(t, e) for k, (t, e) in _groups().items()}
    ticks = at_risk_times(curves)
    assert ticks[0] == 0 and len(ticks) >= 4 and np.all(np.diff(ticks) > 0)
    assert ticks[-1] <= max(km.table["time"].max() for km in curves.values())
    assert [time_unit(c) for c in ("time_months", "os_days", "fu_years", "time", None)] == [
        "months", "days", "years", "time", "time"]
    fig, ax = plt.subplots()
    table = km_axes(ax, curves, "months")
    line = ax.get_lines()[0]
    assert (line.get_xdata()[0], line.get_ydata()[0]) == (0.0, 1.0)  # S = 1 at t = 0
    assert ax.get_xlabel() == "months" and list(table.columns) == [f"{t:g}" for t in ticks]
    censor = ax.get_lines()[1]  # ticks at the censoring times, on the curve
    km = curves["low risk"].table
    assert list(censor.get_xdata()) == km.loc[km["n_censor"] > 0, "time"].tolist()
    plt.close(fig)
