"""Realism and difficulty of crlm-vs-hemangioma, measured from the images and masks.

The ranges are the ones documented in docs/synthetic.md ("What the generated images measure").
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import ndimage, stats
from sklearn.metrics import roc_auc_score

from .measure import baseline_auc, measure_lesions, read

# whole-lesion mean HU on portal-venous CT, lesions >= 10 mm: (range for >= 90 %, median range)
DOCUMENTED_MEAN_HU = {"metastasis": ((40, 100), (55, 80)), "hemangioma": ((50, 160), (60, 110))}
DOCUMENTED_AUC = (0.75, 0.92)


@pytest.fixture(scope="module")
def lesions(crlm_cohort: Path) -> pd.DataFrame:
    """Lesion measurements of the shared cohort."""
    return measure_lesions(crlm_cohort)


@pytest.fixture(scope="module")
def tissues(crlm_cohort: Path) -> pd.DataFrame:
    """Per-patient liver, aorta and fat attenuation and liver SD."""
    man = pd.read_csv(crlm_cohort / "manifest.csv")
    rows = []
    for rec in man.itertuples(index=False):
        img, image = read(crlm_cohort / rec.image)
        liver, _ = read(crlm_cohort / rec.liver_mask)
        inst, _ = read(crlm_cohort / rec.lesion_mask)
        core = ndimage.binary_erosion(liver > 0, iterations=2) & ~ndimage.binary_dilation(
            inst > 0, iterations=2)
        k = image.TransformPhysicalPointToIndex((20.0, 42.0, 0.0))  # the aorta's axis
        r = max(1, int(5.0 / image.GetSpacing()[0]))
        aorta = img[k[2], k[1] - r : k[1] + r + 1, k[0] - r : k[0] + r + 1]
        soft = img[(img > -200) & (img < -20)]
        hist, edges = np.histogram(soft, bins=np.arange(-200, -19, 5))
        rows.append({
            "center": rec.center, "liver_median": float(np.median(img[core])),
            "liver_sd": float(img[core].std()), "aorta": float(aorta.mean()),
            "fat_mode": float(edges[hist.argmax()] + 2.5),
        })
    return pd.DataFrame(rows)


@pytest.mark.parametrize("label", sorted(DOCUMENTED_MEAN_HU))
def test_lesion_mean_hu_in_documented_range(lesions: pd.DataFrame, label: str) -> None:
    """Class-wise whole-lesion mean HU (>= 10 mm) lies in the documented range and median band."""
    (lo, hi), (mlo, mhi) = DOCUMENTED_MEAN_HU[label]
    values = lesions.loc[(lesions["label"] == label) & (lesions["diameter_mm"] >= 10), "mean_hu"]
    assert len(values) >= 8
    assert ((values >= lo) & (values <= hi)).mean() >= 0.9
    assert mlo <= values.median() <= mhi


def test_metastases_darker_and_more_homogeneous(lesions: pd.DataFrame) -> None:
    """Metastases are hypoattenuating relative to hemangiomas, whose nodules raise their SD."""
    by = lesions.groupby("label")
    assert by["mean_hu"].median()["metastasis"] < by["mean_hu"].median()["hemangioma"] - 5
    assert by["sd_hu"].median()["metastasis"] < by["sd_hu"].median()["hemangioma"]


def test_baseline_auc_in_documented_difficulty_range(lesions: pd.DataFrame) -> None:
    """Logistic regression on mean HU, SD HU and diameter, patient-grouped 5-fold CV."""
    auc = baseline_auc(lesions, positive="metastasis", negative="hemangioma", seed=0)
    assert DOCUMENTED_AUC[0] <= auc <= DOCUMENTED_AUC[1]


def test_sizes_cover_three_groups(crlm_cohort: Path, lesions: pd.DataFrame) -> None:
    """True diameters span <=10, 10-30 and >30 mm with a real subcentimetre share."""
    truth = pd.read_csv(crlm_cohort / "truth.csv")
    share = truth["size_group"].value_counts(normalize=True)
    assert share["<=10 mm"] >= 0.12
    assert share["10-30 mm"] >= 0.4
    assert share[">30 mm"] >= 0.04
    assert truth["diameter_mm"].min() >= 4.0
    assert truth["diameter_mm"].max() <= 50.0
    merged = lesions.merge(truth, on=["patient_id", "lesion_label"], suffixes=("", "_true"))
    rho = stats.spearmanr(merged["diameter_mm"], merged["diameter_mm_true"]).statistic
    assert rho > 0.9


def test_tissue_attenuation_and_noise(tissues: pd.DataFrame) -> None:
    """Liver ~90-115 HU, aorta ~135-190 HU, fat ~-100 HU, noise SD 10-25 HU, B noisier than A."""
    assert tissues["liver_median"].between(90, 115).all()
    assert tissues["aorta"].between(130, 195).mean() >= 0.9
    assert 140 <= tissues["aorta"].median() <= 180
    assert tissues["fat_mode"].between(-115, -80).all()
    assert tissues["liver_sd"].between(10, 25).all()
    sd = tissues.groupby("center")["liver_sd"].mean()
    assert sd["B"] > sd["A"] + 2


def test_cea_carries_signal(crlm_cohort: Path) -> None:
    """CEA is higher in patients with metastases (patient-level AUC >= 0.7)."""
    man = pd.read_csv(crlm_cohort / "manifest.csv")
    assert set(man["label"]) == {0, 1}
    assert roc_auc_score(man["label"], man["cea"]) >= 0.7
