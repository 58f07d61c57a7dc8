"""Cohort manifest (CSV): one row per patient, with image, mask, label and clinical columns."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from livermets.cohort.pyradiomics_batch import from_pyradiomics_batch, is_pyradiomics_batch
from livermets.errors import ManifestError

MASK_COLUMNS = ("lesion_mask", "liver_mask", "primary_mask")
RESERVED_COLUMNS = {
    "patient_id",
    "image",
    *MASK_COLUMNS,
    "label",
    "lesion_labels",
    "lesion_mask_label",
    "center",
    "split",
    "modality",
}
SPLIT_VALUES = {"train", "test", "external", "validation"}
MODALITIES = ("CT", "MR")  # a blank modality cell means CT
NOT_IMAGE_COLUMNS = {"image_hash"}  # provenance column of feature tables, not a path


def is_image_column(column: str) -> bool:
    """True for ``image`` and per-phase ``image_<phase>`` columns."""
    return column == "image" or (column.startswith("image_") and column not in NOT_IMAGE_COLUMNS)


def is_extra_mask_column(column: str) -> bool:
    """True for extra region masks named ``mask_<region>``."""
    return column.startswith("mask_")


@dataclass
class PatientRow:
    """One manifest row with its paths resolved against the manifest's folder."""

    patient_id: str
    images: dict[str, Path]
    masks: dict[str, Path]
    lesion_labels: Path | None
    label: object
    center: str | None
    split: str | None
    modality: str
    clinical: dict[str, object] = field(default_factory=dict)
    lesion_mask_label: int | None = None

    @property
    def image(self) -> Path | None:
        """The reference image: ``image``, else the first per-phase image."""
        if "image" in self.images:
            return self.images["image"]
        return next(iter(self.images.values()), None)


@dataclass
class Manifest:
    """A loaded cohort manifest."""

    path: Path
    table: pd.DataFrame

    @property
    def root(self) -> Path:
        """Folder against which relative paths are resolved."""
        return self.path.parent

    @property
    def image_columns(self) -> list[str]:
        """The image columns present (``image``, ``image_<phase>``)."""
        return [c for c in self.table.columns if is_image_column(c)]

    @property
    def mask_columns(self) -> list[str]:
        """The mask columns present (lesion, liver, primary, ``mask_<region>``)."""
        cols = self.table.columns
        return [c for c in cols if c in MASK_COLUMNS or is_extra_mask_column(c)]

    @property
    def clinical_columns(self) -> list[str]:
        """Every column that is not a reserved, image or mask column."""
        return [
            c
            for c in self.table.columns
            if c not in RESERVED_COLUMNS and not is_image_column(c) and not is_extra_mask_column(c)
        ]

    def resolve(self, value: object) -> Path | None:
        """Resolve a path cell (blank means absent) against the manifest's folder."""
        if value is None or (isinstance(value, float) and pd.isna(value)):
            return None
        text = str(value).strip()
        if not text:
            return None
        path = Path(text).expanduser()
        return path if path.is_absolute() else self.root / path

    def rows(self) -> list[PatientRow]:
        """Every row as a ``PatientRow``."""
        out = []
        for _, row in self.table.iterrows():
            images = {c: self.resolve(row[c]) for c in self.image_columns}
            masks = {c: self.resolve(row[c]) for c in self.mask_columns}
            out.append(
                PatientRow(
                    patient_id=str(row["patient_id"]),
                    images={k: v for k, v in images.items() if v is not None},
                    masks={k: v for k, v in masks.items() if v is not None},
                    lesion_labels=self.resolve(row.get("lesion_labels")),
                    label=None if pd.isna(row.get("label")) else row.get("label"),
                    center=None if pd.isna(row.get("center")) else str(row.get("center")),
                    split=None if pd.isna(row.get("split")) else str(row.get("split")),
                    modality=_modality(row.get("modality")) or "CT",
                    clinical={c: row[c] for c in self.clinical_columns},
                    lesion_mask_label=_mask_label(row.get("lesion_mask_label")),
                )
            )
        return out


def _mask_label(value: object) -> int | None:
    """The ``lesion_mask_label`` of a cell (checked by ``check_rows``); None when blank."""
    if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NA:
        return None
    text = str(value).strip()
    return int(float(text)) if text else None


def _modality(value: object) -> str | None:
    """The modality of a cell, upper case; None when blank."""
    if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NA:
        return None
    return str(value).strip().upper() or None


def _rows(table: pd.DataFrame, mask: pd.Series) -> str:
    """CSV line numbers (header is line 1) of the rows where ``mask`` holds, at most ten."""
    lines = [str(i + 2) for i in table.index[mask.to_numpy()]]
    return ", ".join(lines[:10]) + (f" and {len(lines) - 10} more" if len(lines) > 10 else "")


def check_rows(table: pd.DataFrame, path: Path) -> None:
    """Refuse rows no stage can use: a blank ``patient_id``, an unknown ``modality``."""
    ids = table["patient_id"]
    blank = ids.isna() | (ids.str.len() == 0)
    if blank.any():
        raise ManifestError(
            f"manifest {path}: line(s) {_rows(table, blank)} have no patient_id. Give every row a "
            "unique patient_id (or delete the empty rows)."
        )
    if "lesion_mask_label" in table.columns:
        cells = table["lesion_mask_label"]
        numbers = pd.to_numeric(cells, errors="coerce")
        bad = cells.notna() & ~(numbers.notna() & (numbers >= 1) & (numbers % 1 == 0))
        if bad.any():
            raise ManifestError(
                f"manifest {path}: lesion_mask_label on line(s) {_rows(table, bad)} is not a "
                "positive whole number. Give the mask value of the lesions (e.g. 1), or leave "
                "the cell blank to take every non-zero value."
            )
    if "modality" in table.columns:
        values = table["modality"].map(_modality)
        unknown = values.notna() & ~values.isin(MODALITIES)
        if unknown.any():
            found = sorted(set(table.loc[unknown, "modality"].astype(str)))
            raise ManifestError(
                f"manifest {path}: modality {found} on line(s) {_rows(table, unknown)} is not one "
                f"of {', '.join(MODALITIES)}. Write CT or MR (a blank cell means CT)."
            )


def load_manifest(path: str | Path) -> Manifest:
    """Read a manifest CSV; raise ``ManifestError`` when it cannot be used at all."""
    path = Path(path)
    if not path.is_file():
        raise ManifestError(f"manifest {path} does not exist. Give the path of the cohort CSV.")
    try:
        table = pd.read_csv(path, dtype={"patient_id": str, "ID": str}, keep_default_na=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ManifestError(f"cannot read manifest {path} as CSV: {exc}") from exc
    table.columns = [str(c).strip() for c in table.columns]
    if is_pyradiomics_batch(table):  # ID,Image,Mask[,Label]: see cohort/pyradiomics_batch.py
        table = from_pyradiomics_batch(table, path)
    if "patient_id" not in table.columns:
        raise ManifestError(
            f"manifest {path} has no 'patient_id' column (columns: {list(table.columns)}). "
            "Add one: a manifest has patient_id, image (or image_<phase> per phase) and the mask "
            f"columns {', '.join(MASK_COLUMNS)}; the rest are clinical variables. Or give a "
            "pyradiomics batch CSV with Image and Mask columns."
        )
    if table.empty:
        raise ManifestError(f"manifest {path} has no rows.")
    if not any(is_image_column(c) for c in table.columns) and "lesion_mask" not in table.columns:
        raise ManifestError(
            f"manifest {path} has neither an 'image' (or 'image_<phase>') nor a 'lesion_mask' "
            "column. Add the image paths."
        )
    table["patient_id"] = table["patient_id"].astype("string").str.strip()
    check_rows(table, path)
    return Manifest(path=path.resolve(), table=table)
