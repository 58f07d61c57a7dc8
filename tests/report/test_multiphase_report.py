"""The multi-phase diagnosis section: tables with the evaluation's numbers, a PNG ROC figure."""

from __future__ import annotations

import base64
import io
import re

import numpy as np
import pandas as pd
import pytest

from livermets.deep.multiphase.evaluate import (
    MultiphaseEvaluation,
    evaluate_multiphase,
    match_case,
)
from livermets.report import Report
from livermets.report.multiphase import (
    SYNTHETIC_NOTE,
    add_multiphase_sections,
    class_auc_table,
    summary_table,
)

CLASSES = ("hcc", "cyst", "fnh")


def _evaluation(shift: float = 0.0) -> MultiphaseEvaluation:
    """8 patients, two rules; fnh has no positive patient."""
    ids = [f"p{i}" for i in range(8)]
    truth = pd.DataFrame({"patient_id": ids, "hcc": [1, 1, 1, 0, 0, 0, 0, 0],
                          "cyst": [0, 0, 1, 1, 1, 0, 0, 0], "fnh": 0,
                          "malignant": [1, 1, 1, 0, 0, 0, 0, 0]})
    rng = np.random.default_rng(1)
    rows = []
    for rule in ("max_in_liver", "volume"):
        for k, pid in enumerate(ids):
            row = {"patient_id": pid, "center": "A", "rule": rule}
            for name in CLASSES:
                row[f"p_{name}"] = 0.5 * truth.at[k, name] + rng.random() * (1.0 + shift)
            row["p_malignant"] = row["p_hcc"]
            rows.append(row)
    ref = np.zeros((2, 6, 6), np.uint8)
    ref[:, :2, :2] = 1
    pred = ref.copy()
    matches = match_case(ref, {1: "hcc"}, pred, {1: "hcc"}, patient_id="p0")
    dice = pd.DataFrame({"patient_id": ids, "lesion_dice": 0.8, "liver_dice": 0.95,
                         "dice_hcc": 0.7})
    return evaluate_multiphase(pd.DataFrame(rows), truth, matches, dice, CLASSES, n_boot=200)


def _png_images(html: str) -> list[bytes]:
    return [base64.b64decode(data) for data in re.findall(r"data:image/png;base64,([^']+)", html)]


def test_section_tables_and_figure():
    ev = _evaluation()
    report = Report("multi-phase", synthetic=False)
    add_multiphase_sections(report, {"internal test": ev, "external (centre B)": _evaluation(0.3)},
                            synthetic=True)
    html = report.render()
    assert "Multi-phase lesion diagnosis" in html and SYNTHETIC_NOTE in html
    # summary, one per-class table per cohort, lesions, one lesion confusion matrix per cohort,
    # Dice
    assert html.count("<table") == 7 and "Lesion confusion matrix (internal test)" in html
    summary = summary_table({"internal test": ev}).set_index("Rule")
    mean = ev.summary.set_index("rule").loc["max_in_liver"]
    assert summary.loc["max_in_liver", "AUC-3, mean (95% CI)"] == (
        f"{mean['auc_mean']:.2f} ({mean['auc_mean_ci_low']:.2f}-{mean['auc_mean_ci_high']:.2f})")
    assert summary.loc["max_in_liver", "Classes averaged"] == "2 of 3"
    assert summary.loc["max_in_liver", "Cohort"] == "internal test"
    assert "external (centre B)" in html and "class hcc" in html
    images = _png_images(html)
    assert len(images) == 1 and images[0][:8] == b"\x89PNG\r\n\x1a\n"
    import matplotlib.image as mpimg

    picture = mpimg.imread(io.BytesIO(images[0]), format="png")
    assert picture.shape[1] > 2 * picture.shape[0] * 0.8  # two panels side by side


def test_per_class_table_rows_are_classes_and_columns_rules():
    ev = _evaluation()
    table = class_auc_table(ev).set_index("Class")
    assert list(table.index) == list(CLASSES)
    assert list(table.columns) == ["Patients with / without", "max_in_liver", "volume"]
    hcc = ev.class_auc.set_index(["rule", "class"]).loc[("volume", "hcc")]
    assert table.loc["hcc", "volume"] == (
        f"{hcc['auc']:.2f} ({hcc['ci_low']:.2f}-{hcc['ci_high']:.2f})")
    assert table.loc["fnh", "max_in_liver"] == "no positive patients"
    assert table.loc["cyst", "Patients with / without"] == "3 / 5"


@pytest.mark.parametrize("synthetic,shown", [(False, False), (True, True)])
def test_single_cohort_and_synthetic_note(synthetic, shown):
    report = Report("multi-phase")
    add_multiphase_sections(report, _evaluation(), synthetic=synthetic)
    html = report.render()
    assert (SYNTHETIC_NOTE in html) is shown
    assert html.count("<table") == 5 and len(_png_images(html)) == 1
    assert "Cohort" not in summary_table({"": _evaluation()}).columns
