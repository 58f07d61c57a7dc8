"""Table 1 statistics against R's outputs (values as R 4.x prints them)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from livermets.report.table_one import (
    Variable,
    categorical_p,
    continuous_p,
    format_p,
    median_iqr,
    table_one,
)


def test_chi_square_with_yates_correction_as_r():
    # R: chisq.test(matrix(c(10, 20, 20, 10), 2)) -> X-squared = 5.4, df = 1, p-value = 0.02014
    p, test = categorical_p(np.array([[10, 20], [20, 10]]))
    assert test == "chi-square" and round(p, 5) == 0.02014


def test_fisher_for_small_2x2_as_r():
    # R: fisher.test(matrix(c(3, 1, 1, 3), 2))$p.value -> 0.4857
    p, test = categorical_p(np.array([[3, 1], [1, 3]]))
    assert test == "Fisher" and round(p, 4) == 0.4857


def test_wilcoxon_as_r():
    # R: wilcox.test(c(1.83, 0.50, 1.62, 2.48, 1.68, 1.88, 1.55, 3.06, 1.30),
    #                c(0.878, 0.647, 0.598, 2.05, 1.06, 1.29, 1.06, 3.14, 1.29)) -> p-value = 0.1329
    # (R's help page example; exact test, no ties between groups)
    x = pd.Series([1.83, 0.50, 1.62, 2.48, 1.68, 1.88, 1.55, 3.06, 1.30])
    y = pd.Series([0.878, 0.647, 0.598, 2.05, 1.06, 1.29, 1.06, 3.14, 1.29])
    assert round(continuous_p([x, y]), 4) == 0.1329


def test_kruskal_as_r():
    # R: kruskal.test(list(c(2.9, 3.0, 2.5, 2.6, 3.2), c(3.8, 2.7, 4.0, 2.4),
    #                      c(2.8, 3.4, 3.7, 2.2, 2.0))) -> chi-squared = 0.77143, p-value = 0.68
    groups = [
        pd.Series(v)
        for v in ([2.9, 3.0, 2.5, 2.6, 3.2], [3.8, 2.7, 4.0, 2.4], [2.8, 3.4, 3.7, 2.2, 2.0])
    ]
    assert round(continuous_p(groups), 2) == 0.68


@pytest.mark.parametrize(("p", "text"), [(0.0004, "<0.001"), (0.0201, "0.020"), (0.5, "0.500")])
def test_format_p(p, text):
    assert format_p(p) == text


def test_median_iqr_uses_type_7_quantiles():
    # R: quantile(1:10) -> 25%: 3.25, 50%: 5.5, 75%: 7.75
    assert median_iqr(pd.Series(range(1, 11)), 2) == "5.50 [3.25, 7.75]"


def test_table_one_layout_and_counts():
    df = pd.DataFrame(
        {
            "group": ["A"] * 4 + ["B"] * 4,
            "age": [50, 60, 70, 80, 40, 45, 50, 55],
            "sex": ["M", "M", "F", "F", "M", "M", "M", "F"],
        }
    )
    table = table_one(
        df, "group", [Variable("age", "Age", digits=0), Variable("sex", "Sex", "categorical")]
    )
    assert list(table.columns) == [
        "Characteristic",
        "Overall (n=8)",
        "A (n=4)",
        "B (n=4)",
        "p",
        "test",
    ]
    rows = table.set_index("Characteristic")
    assert rows.loc["Age, median [IQR]", "A (n=4)"] == "65 [58, 72]"
    assert rows.loc["   M", "B (n=4)"] == "3 (75%)"
    assert rows.loc["   F", "Overall (n=8)"] == "3 (38%)"
    assert rows.loc["Sex, n (%)", "test"] == "Fisher"
