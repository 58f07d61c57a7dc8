"""Report sections of a reader study: reader AUCs with and without AI, Obuchowski-Rockette MRMC
overall and per lesion-size group, and reading times."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from livermets._atomic import write_table
from livermets.errors import DataError, LivermetsError
from livermets.report.document import Report, figure_png
from livermets.stats import mrmc, mrmc_data

ORDER = 60
REQUIRED = ["reader", "modality", "case", "truth", "rating"]


def _analyse(ratings: pd.DataFrame) -> object:
    """OR MRMC (jackknife covariance, random readers and cases) of a ratings table."""
    data = mrmc_data(ratings, reader="reader", modality="modality", case="case", truth="truth",
                     rating="rating")
    return mrmc(data, method="or", cov="jackknife", analysis="random")


def reader_auc_table(result: object) -> pd.DataFrame:
    """AUC of every reader in every modality, with the reader average."""
    table = result.reader_auc.T.copy()  # type: ignore[attr-defined]
    table.loc["mean"] = table.mean(axis=0)
    table.index.name = "reader"
    return table.round(3).reset_index()


def mrmc_table(result: object, label: str = "all cases") -> pd.DataFrame:
    """One row per modality comparison: AUCs, difference with CI, F/t and p."""
    out = []
    aucs = result.reader_auc.mean(axis=1)  # type: ignore[attr-defined]
    for comp in result.comparisons:  # type: ignore[attr-defined]
        out.append({"cases": label, "modality_a": comp.modality_a,
                    "auc_a": round(float(aucs[comp.modality_a]), 3),
                    "modality_b": comp.modality_b,
                    "auc_b": round(float(aucs[comp.modality_b]), 3),
                    "difference": round(comp.diff, 3),
                    "ci_low": round(float(comp.ci[0]), 3), "ci_high": round(float(comp.ci[1]), 3),
                    "df": round(comp.df, 1), "p": float(f"{comp.p:.3g}")})
    return pd.DataFrame(out)


def reading_time_table(ratings: pd.DataFrame) -> pd.DataFrame:
    """Median [IQR] reading time in seconds per modality and reader."""
    rows = []
    for (modality, reader), group in ratings.groupby(["modality", "reader"], sort=True):
        q1, med, q3 = np.percentile(group["time_s"], [25, 50, 75])
        rows.append({"modality": modality, "reader": reader, "n": len(group),
                     "median_s": round(float(med), 1), "q1_s": round(float(q1), 1),
                     "q3_s": round(float(q3), 1), "total_min": round(group["time_s"].sum() / 60,
                                                                     1)})
    return pd.DataFrame(rows)


def auc_figure(result: object) -> bytes:
    """Reader AUCs per modality, one line per reader."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    aucs = result.reader_auc  # type: ignore[attr-defined]
    fig, ax = plt.subplots(figsize=(4.5, 3.5))
    x = np.arange(len(aucs.index))
    for reader in aucs.columns:
        ax.plot(x, aucs[reader].to_numpy(), marker="o", color="0.6", lw=1)
    ax.plot(x, aucs.mean(axis=1).to_numpy(), marker="s", color="C3", lw=2.5, label="mean")
    ax.set_xticks(x, list(aucs.index))
    ax.set_ylabel("AUC")
    ax.set_ylim(max(0.0, float(aucs.min().min()) - 0.05), 1.0)
    ax.legend(loc="lower right")
    fig.tight_layout()
    return figure_png(fig)


def add_reader_sections(report: Report, ratings_df: pd.DataFrame, out: str | Path) -> Report:
    """Add the reader-study sections to ``report`` and write their tables under ``out/tables``."""
    missing = [c for c in REQUIRED if c not in ratings_df.columns]
    if missing:
        raise DataError(f"the ratings table lacks columns {missing}; use the CSV written by "
                        "`livermets readers export`.")
    out = Path(out)
    result = _analyse(ratings_df)
    section = report.section("readers", "Reader study", ORDER)
    n_readers, n_cases = ratings_df["reader"].nunique(), ratings_df["case"].nunique()
    section.text(f"{n_readers} readers rated {n_cases} cases in each of "
                 f"{ratings_df['modality'].nunique()} sessions. Obuchowski-Rockette analysis "
                 "with jackknife covariance, random readers and random cases, Hillis df.")
    aucs = reader_auc_table(result)
    write_table(aucs, out / "tables" / "reader_auc.csv")
    section.table(aucs, "Empirical AUC of every reader per session.")
    section.figure(auc_figure(result), "Reader AUCs without and with AI (grey: readers).")
    tables = [mrmc_table(result)]
    notes = []
    if "size_group" in ratings_df.columns:
        for group, part in ratings_df.groupby("size_group", sort=True):
            try:
                tables.append(mrmc_table(_analyse(part), f"size {group}"))
            except LivermetsError as exc:
                notes.append(f"size {group}: not analysed ({exc})")
    comparison = pd.concat(tables, ignore_index=True)
    write_table(comparison, out / "tables" / "reader_mrmc.csv")
    section.table(comparison, "Difference of reader-averaged AUCs (OR MRMC), overall and by "
                  "lesion size, with 95% CIs and p.")
    for note in notes:
        section.note(note)
    if "time_s" in ratings_df.columns:
        times = reading_time_table(ratings_df)
        write_table(times, out / "tables" / "reading_times.csv")
        section.table(times, "Reading time per case (seconds): median and IQR.")
    return report
