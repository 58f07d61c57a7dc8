"""The flow of patients and lesions through a study: cohort, analysed, each split."""

from __future__ import annotations

import numpy as np
import pandas as pd

from livermets.report.document import Section, figure_png
from livermets.study.runner import StudyResult


def flow_table(result: StudyResult) -> pd.DataFrame:
    """Stages with their patients and cases (lesions at lesion level)."""
    data = result.data
    rows = []
    manifest = result.config.data.manifest
    if manifest is not None:
        from livermets.cohort import load_manifest

        cohort = load_manifest(manifest).table
        rows.append({"stage": "cohort (manifest)", "patients": int(cohort["patient_id"].nunique()),
                     "cases": np.nan})
    patients = pd.Series(data.patient_id)
    rows.append({"stage": "analysed (a feature row and a label)",
                 "patients": int(patients.nunique()), "cases": len(patients)})
    splits = result.predictions.drop_duplicates(["patient_id", "lesion_id"]
                                                if "lesion_id" in result.predictions else
                                                ["patient_id"])
    for split, g in splits.groupby("split", sort=False):
        rows.append({"stage": f"split: {split}", "patients": int(g["patient_id"].nunique()),
                     "cases": len(g)})
    table = pd.DataFrame(rows)
    if manifest is not None:  # who left between the cohort and the analysis
        table.loc[len(table)] = {"stage": "not analysed (no lesion kept, or extraction failed)",
                                 "patients": rows[0]["patients"] - rows[1]["patients"],
                                 "cases": np.nan}
    return table


def flow_figure(table: pd.DataFrame, unit: str) -> bytes:
    """Boxes top to bottom: cohort, analysed, then the splits side by side."""
    import matplotlib.pyplot as plt

    splits = table[table["stage"].str.startswith("split: ")]
    head = table[~table["stage"].str.startswith("split: ")
                 & ~table["stage"].str.startswith("not analysed")]
    left = table[table["stage"].str.startswith("not analysed")]
    width = max(len(splits), 1)
    fig, ax = plt.subplots(figsize=(max(6, 2.6 * width), 1.6 * (len(head) + 1) + 0.4))
    ax.axis("off")
    levels = len(head) + 1

    def box(x: float, y: float, text: str) -> None:
        ax.text(x, y, text, ha="center", va="center", fontsize=8,
                bbox={"boxstyle": "round", "fc": "white", "ec": "black"})

    def label(row: pd.Series) -> str:
        cases = "" if pd.isna(row["cases"]) else f"\n{int(row['cases'])} {unit}"
        return f"{row['stage']}\n{int(row['patients'])} patients{cases}"

    for k, (_, row) in enumerate(head.iterrows()):
        y = levels - k
        box(0.5, y, label(row))
        if k:
            ax.annotate("", (0.5, y + 0.3), (0.5, y + 0.7), arrowprops={"arrowstyle": "->"})
    if not left.empty and len(head) > 1:
        box(0.88, levels - 0.5, label(left.iloc[0]))
    for j, (_, row) in enumerate(splits.iterrows()):
        x = (j + 0.5) / width
        box(x, 1, label(row))
        ax.annotate("", (x, 1.3), (0.5, levels - len(head) + 1 - 0.3),
                    arrowprops={"arrowstyle": "->"})
    ax.set(xlim=(0, 1), ylim=(0.4, levels + 0.6))
    return figure_png(fig)


def draw_flow(section: Section, result: StudyResult) -> None:
    """The flow table and diagram of the study's patients and cases."""
    table = flow_table(result)
    unit = "lesions" if result.config.data.level == "lesion" else "cases"
    section.figure(flow_figure(table, unit), f"Patients and {unit} from the cohort to each "
                   "split of the validation design.")
    section.table(table, f"Patients and {unit} at each stage.", csv="flow")
