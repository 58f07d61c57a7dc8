"""A small lesion-level feature table (planted signal) and a study config over it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml


def write_table(path: Path, n_patients: int = 30, seed: int = 1) -> Path:
    """Lesion rows with radiomics-like columns, size group, centre, split and clinical data."""
    rng = np.random.default_rng(seed)
    rows = []
    for p in range(n_patients):
        for lesion in range(1 + p % 2):
            y = int(rng.random() < 0.5)
            diameter = float(rng.uniform(4, 45))
            row = {"patient_id": f"P{p:03d}", "lesion_id": f"L{lesion}",
                   "label": "metastasis" if y else "hemangioma",
                   "center": "A" if p < 22 else "B", "split": "train" if p < 20 else "test",
                   "diameter_mm": diameter,
                   "size_group": "<=10 mm" if diameter <= 10 else "10-30 mm" if diameter <= 30
                   else ">30 mm",
                   "cea": float(rng.normal(5 + 2 * y)), "sex": str(rng.choice(["F", "M"])),
                   "params_hash": "abc123", "engine_version": "pyradiomics 3.0.1"}
            for i in range(12):
                row[f"original_firstorder_F{i}"] = float(rng.normal())
            row["original_firstorder_F0"] += 2.0 * y
            row["original_glcm_Contrast"] = row["original_firstorder_F0"] + 0.1 * rng.normal()
            rows.append(row)
    table = pd.DataFrame(rows)
    if path.suffix == ".parquet":
        table.to_parquet(path, index=False)
    else:
        table.to_csv(path, index=False)
    return path


BASE = {
    "name": "toy",
    "seed": 3,
    "synthetic": True,
    "data": {"features": "features.csv.gz", "positive": "metastasis"},
    "models": [
        {"name": "lasso_lr", "select": "lasso", "classifier": "logistic"},
        {"name": "tree", "select": "anova", "select_params": {"k": 3},
         "classifier": "decision_tree"},
    ],
    "validation": {"design": "cv", "folds": 3, "repeats": 2, "bootstrap": 200},
    "explain": {"max_rows": 40},
}


def write_config(folder: Path, **changes) -> Path:
    """The base config with top-level keys replaced, written beside the feature table."""
    config = {**BASE, **changes}
    path = folder / "study.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture
def study_dir(tmp_path) -> Path:
    """A folder with features.csv.gz."""
    write_table(tmp_path / "features.csv.gz")
    return tmp_path
