"""The cohort sections of the report: Table 1, size distribution, lesion gallery."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import SimpleITK as sitk

from livermets._atomic import write_table
from livermets.cohort import Manifest
from livermets.io import read_image, read_mask
from livermets.lesions.measure import DEFAULT_SIZE_EDGES, size_group_names
from livermets.report.document import Report, Section
from livermets.report.figures import gallery, size_distribution
from livermets.report.registry import SectionRegistry, draw_sections
from livermets.report.table_one import Variable, table_one

PATIENT_VARIABLES = [
    Variable("age", "Age (years)", digits=0),
    Variable("sex", "Sex", "categorical"),
    Variable("n_lesions", "Lesions per patient", digits=0),
    Variable("largest_diameter_mm", "Largest lesion diameter (mm)"),
    Variable("tumour_burden_pct", "Tumour burden (% of liver volume)", digits=2),
    Variable("liver_volume_ml", "Liver volume (mL)", digits=0),
]


def lesion_variables(edges: tuple[float, ...] = DEFAULT_SIZE_EDGES) -> list[Variable]:
    """Table 1 rows of the lesion table."""
    return [
        Variable("diameter_mm", "Longest axial diameter (mm)"),
        Variable("volume_ml", "Volume (mL)", digits=2),
        Variable("size_group", "Size group", "categorical", levels=size_group_names(edges)),
        Variable("mean_hu", "Mean attenuation (HU)"),
        Variable("sd_hu", "SD of attenuation (HU)"),
        Variable("center", "Centre", "categorical"),
    ]


def patient_frame(manifest: Manifest, patients: pd.DataFrame) -> pd.DataFrame:
    """Patients table joined with the manifest's label, centre and clinical columns."""
    keep = ["patient_id", *[c for c in ("label", "center") if c in manifest.table.columns]]
    keep += manifest.clinical_columns
    frame = patients.merge(manifest.table[keep], on="patient_id", how="left")
    frame["tumour_burden_pct"] = 100 * frame["tumour_burden"]
    if "center" not in frame.columns:
        frame["center"] = "all"
    return frame


def _pick(group: pd.DataFrame, n: int) -> pd.DataFrame:
    """n lesions spread over the size range (deterministic)."""
    ordered = group.sort_values(["diameter_mm", "patient_id", "lesion_id"])
    if len(ordered) <= n:
        return ordered
    return ordered.iloc[np.linspace(0, len(ordered) - 1, n).round().astype(int)]


def gallery_crops(
    manifest: Manifest, lesions: pd.DataFrame, per_class: int = 6, min_side_mm: float = 30.0
) -> dict[str, list[tuple[np.ndarray, np.ndarray, str]]]:
    """Axial crops (pixels, lesion mask, title) around chosen lesions, grouped by class."""
    rows = {
        r.patient_id: r for r in manifest.rows() if r.image is not None and "lesion_mask" in r.masks
    }
    lesions = lesions[lesions["patient_id"].astype(str).isin(rows)]
    chosen = [
        _pick(group, per_class).assign(_class=str(label))
        for label, group in lesions.dropna(subset=["label"]).groupby("label", sort=True)
    ]
    if not chosen:
        return {}
    picks = pd.concat(chosen)
    crops: dict[str, list] = {str(c): [] for c in picks["_class"].unique()}
    for pid, items in picks.groupby("patient_id", sort=True):
        row = rows.get(str(pid))
        if row is None:
            continue
        image = read_image(row.image)
        labels = sitk.GetArrayFromImage(read_mask(row.masks["lesion_mask"], image, resample=True))
        pixels = sitk.GetArrayViewFromImage(image)
        spacing = image.GetSpacing()
        for _, lesion in items.iterrows():
            side = max(min_side_mm, 2.5 * float(lesion["diameter_mm"]))
            half_x, half_y = int(side / spacing[0] / 2), int(side / spacing[1] / 2)
            k = int(lesion["diameter_slice"])
            cx, cy = round(lesion["centroid_i"]), round(lesion["centroid_j"])
            y0, y1 = max(cy - half_y, 0), min(cy + half_y, pixels.shape[1])
            x0, x1 = max(cx - half_x, 0), min(cx + half_x, pixels.shape[2])
            region = labels[k, y0:y1, x0:x1] == int(lesion["source_label"])
            title = f"{pid} #{int(lesion['lesion_id'])}, {lesion['diameter_mm']:.0f} mm"
            crops[str(lesion["_class"])].append(
                (np.asarray(pixels[k, y0:y1, x0:x1], dtype=float), region, title)
            )
    for label in crops:
        crops[label].sort(key=lambda item: float(item[2].rsplit(", ", 1)[1].split()[0]))
    return crops


@dataclass(frozen=True)
class CohortReportInput:
    """What the cohort report draws: the manifest, the lesion and patient tables of
    ``lesions.build_lesion_tables``, the folder its tables go to and the gallery's size."""

    manifest: Manifest
    lesions: pd.DataFrame
    patients: pd.DataFrame
    out: Path
    per_class: int = 6


COHORT_SECTIONS: SectionRegistry[CohortReportInput] = SectionRegistry("cohort report section")


def draw_cohort(section: Section, data: CohortReportInput) -> None:
    """Table 1 by centre, label and lesion class, the size distribution and the lesion gallery;
    their tables under ``out/tables``."""
    lesions, patients = data.lesions, data.patients
    pframe = patient_frame(data.manifest, patients)
    lframe = lesions.merge(pframe[["patient_id", "center"]], on="patient_id", how="left")
    n_centres = pframe["center"].nunique()
    section.text(
        f"{len(pframe)} patients from {n_centres} centre(s) with {len(lesions)} measured "
        f"lesions; lesions under the minimum size left out: "
        f"{int(patients['n_excluded_small'].sum())}."
    )
    tables = data.out / "tables"
    by_centre = table_one(pframe, "center", PATIENT_VARIABLES)
    write_table(by_centre, tables / "table1_patients_by_centre.csv")
    section.table(
        by_centre,
        "Table 1a. Patients by centre. Wilcoxon rank-sum / Kruskal-Wallis "
        "tests for continuous variables, chi-square or Fisher's exact test otherwise.",
    )
    if "label" in pframe.columns and pframe["label"].notna().any():
        by_label = table_one(pframe, "label", PATIENT_VARIABLES)
        write_table(by_label, tables / "table1_patients_by_label.csv")
        section.table(by_label, "Table 1b. Patients by patient-level label.")
    if len(lframe) and lframe["label"].notna().any():
        by_class = table_one(lframe, "label", lesion_variables())
        write_table(by_class, tables / "table1_lesions_by_class.csv")
        section.table(
            by_class,
            "Table 1c. Lesions by class. Lesion-level tests treat lesions as "
            "independent although several may come from one patient; read the "
            "p-values as descriptive.",
        )
        section.figure(
            size_distribution(lframe),
            "Longest axial diameter by lesion class; dashed "
            "lines at the 10 mm and 30 mm size-group edges.",
        )
        crops = gallery_crops(data.manifest, lframe, data.per_class)
        if crops:
            section.figure(
                gallery(crops, data.per_class),
                "Lesion gallery: axial slice of largest "
                "diameter, window W400/L50, lesion contour in red; rows are classes, "
                "lesions ordered by size.",
            )


COHORT_SECTIONS.add("cohort", "Cohort", 10, draw_cohort)


def add_cohort_sections(
    report: Report,
    manifest: Manifest,
    lesions: pd.DataFrame,
    patients: pd.DataFrame,
    out: Path,
    per_class: int = 6,
) -> None:
    """Draw the registered cohort sections (``COHORT_SECTIONS``); write the lesion and patient
    tables beside them."""
    out = Path(out)
    draw_sections(report, COHORT_SECTIONS,
                  CohortReportInput(manifest, lesions, patients, out, per_class))
    write_table(lesions, out / "lesions.parquet")
    write_table(patients, out / "patients.parquet")
