"""Test helpers: measure generated lesions from image + instance mask, and a baseline model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import SimpleITK as sitk
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedGroupKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


def read(path: Path) -> tuple[np.ndarray, sitk.Image]:
    """A NIfTI file as a (z, y, x) array and its SimpleITK image."""
    image = sitk.ReadImage(str(path))
    return sitk.GetArrayFromImage(image), image


def measure_lesions(root: Path, image_column: str = "image") -> pd.DataFrame:
    """One row per lesion: mean and SD of HU inside its mask, equivalent diameter, class."""
    manifest = pd.read_csv(root / "manifest.csv")
    rows = []
    for rec in manifest.itertuples(index=False):
        if not isinstance(rec.lesion_mask, str):
            continue
        img, image = read(root / getattr(rec, image_column))
        inst, _ = read(root / rec.lesion_mask)
        labels = pd.read_csv(root / rec.lesion_labels)
        voxel_ml = float(np.prod(image.GetSpacing())) / 1000.0
        for lab in labels.itertuples(index=False):
            values = img[inst == lab.lesion_label].astype(float)
            volume = values.size * voxel_ml
            rows.append({
                "patient_id": rec.patient_id, "lesion_label": lab.lesion_label,
                "label": lab.label, "center": rec.center, "mean_hu": values.mean(),
                "sd_hu": values.std(), "voxels": values.size,
                "diameter_mm": (6000.0 * volume / np.pi) ** (1 / 3),
            })
    return pd.DataFrame(rows)


def baseline_auc(lesions: pd.DataFrame, positive: str, negative: str, seed: int = 0) -> float:
    """Patient-grouped 5-fold CV AUC of logistic regression on mean HU, SD HU and diameter."""
    df = lesions[lesions["label"].isin([positive, negative])].reset_index(drop=True)
    x = df[["mean_hu", "sd_hu", "diameter_mm"]].to_numpy()
    y = (df["label"] == positive).to_numpy().astype(int)
    groups = df["patient_id"].to_numpy()
    prob = np.zeros(len(df))
    cv = StratifiedGroupKFold(n_splits=5, shuffle=True, random_state=seed)
    for train, test in cv.split(x, y, groups):
        model = make_pipeline(StandardScaler(), LogisticRegression())
        model.fit(x[train], y[train])
        prob[test] = model.predict_proba(x[test])[:, 1]
    return float(roc_auc_score(y, prob))
