"""Lesion classes: the known vocabulary and per-patient lesion-label files (CSV or JSON)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from livermets.errors import InputFileError

KNOWN_LESION_CLASSES = frozenset(
    {
        "metastasis",
        "hemangioma",
        "cyst",
        "hcc",
        "icc",
        "fnh",
        "calcification",
        "other",
        "crc",
        "pdac",
        "tumour",
        "benign",
        "malignant",
        "resection_bed",
    }
)


def read_lesion_labels(path: str | Path) -> dict[int, str]:
    """Map lesion-mask value -> class from a CSV (``lesion_label``, ``label``) or JSON object."""
    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"lesion-label file {path} does not exist.")
    try:
        if path.suffix.lower() == ".json":
            raw = json.loads(path.read_text())
            if not isinstance(raw, dict):
                raise ValueError("expected a JSON object {lesion value: class}")
            return {int(k): str(v) for k, v in raw.items()}
        table = pd.read_csv(path)
        missing = {"lesion_label", "label"} - set(table.columns)
        if missing:
            raise ValueError(f"missing columns {sorted(missing)}")
        return {int(k): str(v) for k, v in zip(table["lesion_label"], table["label"], strict=True)}
    except (ValueError, TypeError, json.JSONDecodeError, pd.errors.ParserError) as exc:
        raise InputFileError(
            f"cannot read lesion labels from {path}: {exc}. Use a CSV with columns "
            "'lesion_label' (value in the lesion mask) and 'label' (class), or a JSON object."
        ) from exc
