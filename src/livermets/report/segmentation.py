"""The segmentation-QA section of the report: structure agreement, lesion detection by size,
and a per-size-group scatter of per-lesion Dice against diameter."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from livermets._atomic import atomic_path, write_table
from livermets.report.document import Report, Section, figure_png
from livermets.report.registry import SectionRegistry, draw_sections
from livermets.segment.qa import ALL_GROUPS, SegmentationQA


def _fmt_ci(value: float, low: float, high: float, digits: int = 2) -> str:
    if not np.isfinite(value):
        return ""
    if not (np.isfinite(low) and np.isfinite(high)):
        return f"{value:.{digits}f}"
    return f"{value:.{digits}f} ({low:.{digits}f}-{high:.{digits}f})"


def structure_table(qa: SegmentationQA) -> pd.DataFrame:
    """Per structure: Dice mean (95% CI), median, HD95 and ASD medians."""
    rows = []
    for r in qa.structure_summary.to_dict(orient="records"):
        rows.append(
            {
                "Structure": r["structure"],
                "Patients": r["n_patients"],
                "Dice, mean (95% CI)": _fmt_ci(r["dice_mean"], r["dice_ci_low"],
                                               r["dice_ci_high"], 3),
                "Dice, median": f"{r['dice_median']:.3f}",
                "HD95 (mm), median": _fmt_ci(r["hd95_median_mm"], np.nan, np.nan, 1),
                "ASD (mm), median": _fmt_ci(r["asd_median_mm"], np.nan, np.nan, 2),
            }
        )  # fmt: skip
    return pd.DataFrame(rows)


def detection_table(qa: SegmentationQA) -> pd.DataFrame:
    """Per size group: lesions, sensitivity (Wilson CI), FP per patient, per-lesion Dice."""
    rows = []
    for r in qa.detection.to_dict(orient="records"):
        rows.append(
            {
                "Size group": "All" if r["size_group"] == ALL_GROUPS else r["size_group"],
                "Lesions": r["n_lesions"],
                "Detected": r["detected"],
                "Sensitivity (95% CI)": _fmt_ci(r["sensitivity"], r["sensitivity_ci_low"],
                                                r["sensitivity_ci_high"]),
                "FP per patient (95% CI)": _fmt_ci(r["fp_per_patient"],
                                                   r["fp_per_patient_ci_low"],
                                                   r["fp_per_patient_ci_high"]),
                "Per-lesion Dice, mean (95% CI)": _fmt_ci(r["lesion_dice_mean"],
                                                          r["lesion_dice_ci_low"],
                                                          r["lesion_dice_ci_high"]),
            }
        )  # fmt: skip
    return pd.DataFrame(rows)


def dice_vs_diameter(lesions: pd.DataFrame, groups: list[str], edges: tuple[float, ...]) -> bytes:
    """PNG: per-lesion Dice against reference diameter, coloured by size group."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.0, 3.8))
    colours = plt.get_cmap("tab10")
    for i, group in enumerate(groups):
        part = lesions[lesions["size_group"] == group]
        if part.empty:
            continue
        detected = part["detected"].astype(bool)
        ax.scatter(part.loc[detected, "diameter_mm"], part.loc[detected, "dice"], s=18,
                   color=colours(i), label=f"{group} (n={len(part)})")  # fmt: skip
        ax.scatter(part.loc[~detected, "diameter_mm"], part.loc[~detected, "dice"], s=22,
                   color=colours(i), marker="x")  # fmt: skip
    for edge in edges:
        ax.axvline(edge, color="grey", linestyle="--", linewidth=0.8)
    ax.set_xlabel("Reference lesion diameter (mm, longest axial)")
    ax.set_ylabel("Per-lesion Dice")
    ax.set_ylim(-0.03, 1.03)
    if len(lesions):
        ax.legend(frameon=False, fontsize=8, loc="lower right")
    fig.tight_layout()
    return figure_png(fig)


@dataclass(frozen=True)
class DemoTraining:
    """How the demo trained the segmenter whose masks the QA compares."""

    iterations: int
    train_centre: str


@dataclass(frozen=True)
class SegmentationReportInput:
    """What the segmentation report draws: the QA, the folder its tables and figure go to and,
    for the demo, how its segmenter was trained."""

    qa: SegmentationQA
    out: Path
    demo: DemoTraining | None = None


SEGMENTATION_SECTIONS: SectionRegistry[SegmentationReportInput] = SectionRegistry(
    "segmentation report section")


def draw_segmentation(section: Section, data: SegmentationReportInput) -> None:
    """The segmentation-QA section; its tables and figure under ``out``."""
    qa, out = data.qa, data.out
    if data.demo is not None:
        section.note(
            f"Demo segmentation: livermets' MONAI UNet trained for {data.demo.iterations} "
            f"iterations on centre {data.demo.train_centre} at 2 x 2 x 5 mm, applied to the "
            "other centre and compared with the synthetic truth masks. A short CPU training: it "
            "shows the pipeline, not a good model."
        )
    match = qa.settings.match
    section.text(
        f"Automatic against reference masks in {qa.n_patients} patients. Dice, 95th-percentile "
        "Hausdorff distance (HD95) and average symmetric surface distance (ASD) per structure; "
        f"a predicted lesion detects a reference lesion when their {match.metric.upper()} "
        f"exceeds {match.threshold:g} (one-to-one matching that maximises total overlap)."
    )
    tables = out / "tables"
    write_table(qa.structures, tables / "segmentation_structures.csv")
    if not qa.structure_summary.empty:
        write_table(qa.structure_summary, tables / "segmentation_structure_summary.csv")
        section.table(
            structure_table(qa),
            "Agreement per structure; 95% CI of the mean Dice by the t distribution over "
            "patients. Distances are undefined where one mask is empty.",
        )
    if qa.detection.empty:
        section.note("The reference has no lesion masks: no lesion-wise detection analysis.")
        return
    write_table(qa.detection, tables / "segmentation_detection.csv")
    write_table(qa.lesions, tables / "segmentation_lesions.csv")
    section.table(
        detection_table(qa),
        "Lesion-wise detection by size group (reference lesion diameter for sensitivity and "
        "Dice, predicted lesion diameter for false positives). Wilson 95% CI for sensitivity, "
        "exact Poisson CI for false positives per patient; per-lesion Dice counts missed "
        "lesions as 0.",
    )
    groups = [g for g in qa.detection["size_group"] if g != ALL_GROUPS]
    png = dice_vs_diameter(qa.lesions, groups, tuple(match.size_edges))
    with atomic_path(out / "figures" / "segmentation_dice_vs_diameter.png") as tmp:
        tmp.write_bytes(png)
    section.figure(
        png,
        "Per-lesion Dice against reference diameter by size group; crosses are missed "
        "lesions, dashed lines the size-group edges.",
    )


SEGMENTATION_SECTIONS.add("segmentation", "Segmentation quality", 20, draw_segmentation)


def add_segmentation_sections(report: Report, qa_result: SegmentationQA, out: Path) -> None:
    """Draw the registered segmentation sections (``SEGMENTATION_SECTIONS``) of a QA; write
    their tables and figure under ``out``."""
    draw_sections(report, SEGMENTATION_SECTIONS, SegmentationReportInput(qa_result, Path(out)))


def add_demo_segmentation_sections(report: Report, qa: SegmentationQA, out: Path, *,
                                   iterations: int, train_centre: str) -> None:
    """The demo's segmentation QA: what was trained on what, then the QA section."""
    draw_sections(report, SEGMENTATION_SECTIONS, SegmentationReportInput(
        qa, Path(out), DemoTraining(iterations, train_centre)))
