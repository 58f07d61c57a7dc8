"""'Table 1': characteristics by group, median [IQR] or n (%), with the usual test p-values."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats


@dataclass(frozen=True)
class Variable:
    """A row block of Table 1: a column, its display name and its kind."""

    column: str
    name: str
    kind: str = "continuous"  # or "categorical"
    digits: int = 1
    levels: Sequence[str] | None = None


def format_p(p: float) -> str:
    """p-values as papers print them: '<0.001', else three decimals."""
    if p is None or not np.isfinite(p):
        return ""
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def median_iqr(values: pd.Series, digits: int = 1) -> str:
    """'median [Q1, Q3]' of the non-missing values (R's default quantile type 7)."""
    values = pd.to_numeric(values, errors="coerce").dropna()
    if values.empty:
        return ""
    q1, med, q3 = np.percentile(values, [25, 50, 75])
    return f"{med:.{digits}f} [{q1:.{digits}f}, {q3:.{digits}f}]"


def continuous_p(groups: list[pd.Series]) -> float:
    """Wilcoxon rank-sum (2 groups) or Kruskal-Wallis (more) p-value."""
    samples = [pd.to_numeric(g, errors="coerce").dropna().to_numpy() for g in groups]
    samples = [s for s in samples if s.size]
    if len(samples) < 2:
        return float("nan")
    if np.ptp(np.concatenate(samples)) == 0:
        return 1.0
    if len(samples) == 2:
        return float(stats.mannwhitneyu(*samples, alternative="two-sided").pvalue)
    return float(stats.kruskal(*samples).pvalue)


def categorical_p(table: np.ndarray) -> tuple[float, str]:
    """Chi-square test (Yates-corrected for 2x2, as R's chisq.test), or Fisher's exact test
    for 2x2 tables with an expected count under 5. Returns (p, test name)."""
    table = table[table.sum(axis=1) > 0][:, table.sum(axis=0) > 0]
    if table.shape[0] < 2 or table.shape[1] < 2:
        return float("nan"), ""
    expected = stats.contingency.expected_freq(table)
    if table.shape == (2, 2) and expected.min() < 5:
        return float(stats.fisher_exact(table).pvalue), "Fisher"
    return float(stats.chi2_contingency(table, correction=True).pvalue), "chi-square"


def table_one(df: pd.DataFrame, group: str, variables: Sequence[Variable]) -> pd.DataFrame:
    """Table 1 of ``df`` by ``group``: Overall, one column per group, p-value and test."""
    groups = [g for g in sorted(df[group].dropna().unique(), key=str)]
    headers = [f"{g} (n={int((df[group] == g).sum())})" for g in groups]
    rows = []
    for var in variables:
        if var.column not in df.columns or df[var.column].dropna().empty:
            continue
        column = df[var.column]
        if var.kind == "continuous":
            cells = [median_iqr(column, var.digits)]
            cells += [median_iqr(column[df[group] == g], var.digits) for g in groups]
            n_tests = len(groups)
            p = continuous_p([column[df[group] == g] for g in groups])
            test = "" if n_tests < 2 else "Wilcoxon" if n_tests == 2 else "Kruskal-Wallis"
            rows.append([f"{var.name}, median [IQR]", *cells, format_p(p), test])
            continue
        levels = list(var.levels) if var.levels else sorted(column.dropna().unique(), key=str)
        counts = np.array(
            [[int(((column == lv) & (df[group] == g)).sum()) for g in groups] for lv in levels]
        )
        p, test = categorical_p(counts)
        rows.append([f"{var.name}, n (%)", "", *[""] * len(groups), format_p(p), test])
        for i, level in enumerate(levels):
            total = int((column == level).sum())
            cells = [f"{total} ({100 * total / max(column.notna().sum(), 1):.0f}%)"]
            for j, g in enumerate(groups):
                n_group = int((df[group] == g).sum() and column[df[group] == g].notna().sum())
                cells.append(f"{counts[i, j]} ({100 * counts[i, j] / max(n_group, 1):.0f}%)")
            rows.append([f"   {level}", *cells, "", ""])
    overall = f"Overall (n={len(df)})"
    return pd.DataFrame(rows, columns=["Characteristic", overall, *headers, "p", "test"])
