"""Writing one patient's files (NIfTI via SimpleITK, lesion-label CSV) and the cohort tables."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import SimpleITK as sitk

from livermets._atomic import atomic_path, write_table, write_text
from livermets.synth.grid import Grid

RECORD = "record.json"


def write_nifti(array: np.ndarray, grid: Grid, path: Path) -> None:
    """Write a (z, y, x) array on ``grid`` as compressed NIfTI, atomically."""
    with atomic_path(path) as tmp:
        sitk.WriteImage(grid.to_image(array), str(tmp), useCompression=True)


def write_lesion_labels(rows: list[tuple[int, str]], path: Path) -> None:
    """Write the per-patient table lesion_label -> class name."""
    df = pd.DataFrame(rows, columns=["lesion_label", "label"])
    write_table(df, path)


def write_record(path: Path, record: dict[str, Any]) -> None:
    """Store a patient's finished rows beside its files (lets an interrupted run resume)."""
    write_text(path, json.dumps(record, indent=1))


def read_record(path: Path, fingerprint: str, root: Path) -> dict[str, Any] | None:
    """A finished patient's stored rows, if they match this run and all its files exist."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if record.get("fingerprint") != fingerprint:
        return None
    files = [v for k, v in record["manifest"].items() if _is_path_column(k) and v]
    if not all((root / f).is_file() for f in files):
        return None
    return record


def _is_path_column(name: str) -> bool:
    """Whether a manifest column holds a file path."""
    return name == "image" or name.startswith("image_") or name.endswith("_mask") or (
        name == "lesion_labels")


def write_cohort_tables(root: Path, manifest: list[dict[str, Any]], truth: list[dict[str, Any]],
                        patients: list[dict[str, Any]], clinical_columns: list[str],
                        truth_columns: list[str]) -> dict[str, Path]:
    """Write manifest.csv, clinical.csv, truth.csv and truth_patients.csv atomically."""
    man = pd.DataFrame(manifest)
    clin = man[["patient_id", "center", "label", *clinical_columns]]
    tru = pd.DataFrame(truth, columns=truth_columns) if truth else pd.DataFrame(
        columns=truth_columns)
    pat = pd.DataFrame(patients)
    paths = {
        "truth": write_table(tru, root / "truth.csv"),
        "truth_patients": write_table(pat, root / "truth_patients.csv"),
        "clinical": write_table(clin, root / "clinical.csv"),
        "manifest": write_table(man, root / "manifest.csv"),
    }
    return paths
