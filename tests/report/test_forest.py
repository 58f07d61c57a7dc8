"""Forest plots: drawable rows on a log axis, the others named."""

from __future__ import annotations

import numpy as np
import pandas as pd

from livermets.report.forest import forest_figure


def test_forest_draws_finite_ratios_and_names_the_rest():
    table = pd.DataFrame({"variable": ["cea", "age", "sex_M"],
                          "odds_ratio": [2.5, 1.02, 3e12], "ci_low": [1.2, 0.99, 0.0],
                          "ci_high": [5.1, 1.05, np.inf], "separated": [False, False, True],
                          "method": "ml"})
    fig = forest_figure(table, "odds_ratio", "ci_low", "ci_high", title="m")
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    assert [t.get_text() for t in ax.get_yticklabels()] == ["cea", "age"]
    assert "not drawn: sex_M" in ax.get_title()
    points = ax.lines[0].get_xdata()
    np.testing.assert_array_equal(points, [2.5, 1.02])
    assert [t.get_text() for t in ax.texts] == ["2.50 (1.20-5.10)", "1.02 (0.99-1.05)"]
    only_bad = table.iloc[[2]]
    assert forest_figure(only_bad, "odds_ratio", "ci_low", "ci_high") is None
