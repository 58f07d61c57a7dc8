"""pyradiomics' batch CSV (``ID,Image,Mask[,Label]``, as ``pyradiomics batch.csv``) as a manifest.

Assumed: each ``Mask`` is the lesion mask (``lesion_mask``); ``Label`` (optional) is the mask value
of the lesions (``lesion_mask_label``; blank: every non-zero value); ``ID`` (optional) is the
patient id (``case<N>`` by row when absent). Relative paths are resolved against the CSV's folder,
as pyradiomics does. Every other column is kept as a clinical column.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from livermets.errors import ManifestError

BATCH_COLUMNS = {"ID": "patient_id", "Image": "image", "Mask": "lesion_mask",
                 "Label": "lesion_mask_label"}  # fmt: skip


def is_pyradiomics_batch(table: pd.DataFrame) -> bool:
    """True for a table with pyradiomics' ``Image`` and ``Mask`` columns and no ``patient_id``."""
    return {"Image", "Mask"} <= set(table.columns) and "patient_id" not in table.columns


def from_pyradiomics_batch(table: pd.DataFrame, path: Path) -> pd.DataFrame:
    """The manifest table of a pyradiomics batch table (columns renamed, ids filled in)."""
    clash = sorted(set(BATCH_COLUMNS.values()) & set(table.columns))
    if clash:
        raise ManifestError(
            f"manifest {path} has pyradiomics batch columns (Image, Mask) and livermets columns "
            f"{clash}: use one naming, either ID,Image,Mask[,Label] or patient_id,image,"
            "lesion_mask[,lesion_mask_label]."
        )
    if "Label_channel" in table.columns and table["Label_channel"].notna().any():
        raise ManifestError(
            f"manifest {path}: the Label_channel column (multi-channel masks) is not supported; "
            "give single-channel masks and delete the column."
        )
    out = table.drop(columns=[c for c in ("Label_channel",) if c in table.columns])
    out = out.rename(columns=BATCH_COLUMNS)
    if "patient_id" not in out.columns:
        out.insert(0, "patient_id", [f"case{i}" for i in range(1, len(out) + 1)])
    out["patient_id"] = out["patient_id"].astype("string")
    return out
