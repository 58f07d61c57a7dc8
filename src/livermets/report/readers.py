"""Report sections of a reader study: reader AUCs with and without AI, Obuchowski-Rockette MRMC
overall and per lesion-size group, and reading times (``readers.analysis`` computes them)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from livermets._atomic import write_table
from livermets.readers.analysis import ReaderStudyResult, analyse_reader_study
from livermets.report.document import Report, Section, figure_png
from livermets.report.registry import SectionRegistry, draw_sections
from livermets.stats.mrmc import MrmcResult

ORDER = 60


@dataclass(frozen=True)
class ReaderReportInput:
    """What the reader-study report draws: the analysed study and the folder of its tables."""

    study: ReaderStudyResult
    out: Path


READER_SECTIONS: SectionRegistry[ReaderReportInput] = SectionRegistry(
    "reader study report section")


def reader_auc_table(result: MrmcResult) -> pd.DataFrame:
    """AUC of every reader in every modality, with the reader average."""
    table = result.reader_auc.T.copy()
    table.loc["mean"] = table.mean(axis=0)
    table.index.name = "reader"
    return table.round(3).reset_index()


def mrmc_table(result: MrmcResult, label: str = "all cases") -> pd.DataFrame:
    """One row per modality comparison: AUCs, difference with CI, F/t and p."""
    out = []
    aucs = result.reader_auc.mean(axis=1)
    for comp in result.comparisons:
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


def auc_figure(result: MrmcResult) -> bytes:
    """Reader AUCs per modality, one line per reader."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    aucs = result.reader_auc
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


def draw_readers(section: Section, data: ReaderReportInput) -> None:
    """Reader AUCs, the MRMC comparisons overall and per size group, reading times; their
    tables under ``out/tables``."""
    study, tables = data.study, data.out / "tables"
    ratings = study.ratings
    n_readers, n_cases = ratings["reader"].nunique(), ratings["case"].nunique()
    section.text(f"{n_readers} readers rated {n_cases} cases in each of "
                 f"{ratings['modality'].nunique()} sessions. Obuchowski-Rockette analysis "
                 "with jackknife covariance, random readers and random cases, Hillis df.")
    aucs = reader_auc_table(study.overall)
    write_table(aucs, tables / "reader_auc.csv")
    section.table(aucs, "Empirical AUC of every reader per session.")
    section.figure(auc_figure(study.overall), "Reader AUCs without and with AI (grey: readers).")
    comparison = pd.concat([mrmc_table(study.overall),
                            *(mrmc_table(result, f"size {group}")
                              for group, result in study.by_size)], ignore_index=True)
    write_table(comparison, tables / "reader_mrmc.csv")
    section.table(comparison, "Difference of reader-averaged AUCs (OR MRMC), overall and by "
                  "lesion size, with 95% CIs and p.")
    for group, why in study.not_analysed:
        section.note(f"size {group}: not analysed ({why})")
    if "time_s" in ratings.columns:
        times = reading_time_table(ratings)
        write_table(times, tables / "reading_times.csv")
        section.table(times, "Reading time per case (seconds): median and IQR.")


READER_SECTIONS.add("readers", "Reader study", ORDER, draw_readers)


def add_reader_sections(report: Report, ratings_df: pd.DataFrame, out: str | Path) -> Report:
    """Analyse the ratings (``readers.analysis``), draw the registered reader-study sections
    (``READER_SECTIONS``) and write their tables under ``out/tables``."""
    study = analyse_reader_study(ratings_df)
    draw_sections(report, READER_SECTIONS, ReaderReportInput(study, Path(out)))
    return report
