"""3D-IRCADb-01 (IRCAD France) into a livermets cohort: NIfTI images, masks, lesion classes."""

from __future__ import annotations

import re
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import SimpleITK as sitk

from livermets._atomic import write_table
from livermets._progress import PatientProgress
from livermets.errors import InputFileError
from livermets.io import read_dicom_series, write_image

LICENCE_NOTE = (
    "3D-IRCADb-01, IRCAD France; CC BY-NC-ND 4.0 (non-commercial; do not redistribute modified "
    "copies)."
)
_CATEGORIES = (
    (re.compile(r"^liver(kyst|kyste|cyst)\w*$"), "cyst"),
    (re.compile(r"^metastasectomie\w*$"), "resection_bed"),
    (re.compile(r".*tumou?rs?\d*$"), "tumour"),
)


def lesion_category(structure: str) -> str | None:
    """Lesion category of an IRCADb mask folder name, or None for organs and vessels."""
    name = structure.lower()
    for pattern, category in _CATEGORIES:
        if pattern.match(name):
            return category
    return None


@dataclass
class _Source:
    """A folder or zip holding one DICOM series per sub-folder."""

    path: Path
    top: str

    def structures(self) -> list[str]:
        """Names of the sub-folders (one series each)."""
        if self.path.is_dir():
            return sorted(p.name for p in self.path.iterdir() if p.is_dir())
        with zipfile.ZipFile(self.path) as archive:
            names = {
                Path(n).parts[1]
                for n in archive.namelist()
                if len(Path(n).parts) > 2 and Path(n).parts[0] == self.top
            }
        return sorted(names)

    def read(self, structure: str | None = None) -> sitk.Image:
        """Read the series of one sub-folder (or of the top folder)."""
        if self.path.is_dir():
            return read_dicom_series(self.path / structure if structure else self.path)
        prefix = f"{self.top}/{structure}" if structure else self.top
        return read_dicom_series(self.path, prefix=prefix)


def _find(folder: Path, name: str) -> _Source | None:
    if (folder / name).is_dir():
        return _Source(folder / name, name)
    if (folder / f"{name}.zip").is_file():
        return _Source(folder / f"{name}.zip", name)
    return None


def _patient_number(folder: Path) -> int | None:
    match = re.fullmatch(r"3Dircadb1\.(\d+)", folder.name)
    return int(match.group(1)) if match else None


def find_patients(src: Path) -> dict[int, Path]:
    """Patient number -> folder of the official layout (``3Dircadb1.N``)."""
    if not src.is_dir():
        raise InputFileError(f"{src} is not a folder. Give the folder holding 3Dircadb1.N folders.")
    found = {n: p for p in src.iterdir() if p.is_dir() and (n := _patient_number(p)) is not None}
    if not found:
        raise InputFileError(
            f"{src} holds no '3Dircadb1.N' folders. Give the folder of the official 3D-IRCADb-01 "
            "distribution (each patient folder with MASKS_DICOM(.zip) and PATIENT_DICOM(.zip))."
        )
    return dict(sorted(found.items()))


def convert_patient(
    number: int,
    folder: Path,
    out: Path,
    min_liver_overlap: float = 0.1,
) -> tuple[dict, list[dict]]:
    """Convert one patient; return its manifest row and its structure rows."""
    pid = f"ircadb{number:02d}"
    masks = _find(folder, "MASKS_DICOM")
    if masks is None:
        raise InputFileError(f"{folder} has no MASKS_DICOM folder or MASKS_DICOM.zip.")
    ct = _find(folder, "PATIENT_DICOM")
    structures = masks.structures()
    if "liver" not in structures:
        raise InputFileError(f"{folder}: MASKS_DICOM has no 'liver' mask.")
    liver_img = masks.read("liver")
    liver = sitk.GetArrayFromImage(liver_img) > 0
    lesion_map = np.zeros(liver.shape, dtype=np.uint8)
    class_rows, structure_rows = [], []
    for name in structures:
        category = lesion_category(name)
        if category is None:
            continue
        mask = sitk.GetArrayFromImage(masks.read(name)) > 0
        n_voxels = int(mask.sum())
        overlap = float((mask & liver).sum() / n_voxels) if n_voxels else 0.0
        row = {
            "patient_id": pid,
            "structure": name,
            "category": category,
            "n_voxels": n_voxels,
            "volume_ml": n_voxels * float(np.prod(liver_img.GetSpacing())) / 1000,
            "fraction_in_liver": overlap,
        }
        if n_voxels == 0:
            row["status"] = "excluded: empty mask"
        elif overlap < min_liver_overlap:
            row["status"] = "excluded: outside the liver"
        else:
            value = len(class_rows) + 1
            row["status"] = f"lesion label {value}"
            lesion_map[mask] = value
            class_rows.append({"lesion_label": value, "label": category, "structure": name})
        structure_rows.append(row)
    patient_dir = out / pid
    patient_dir.mkdir(parents=True, exist_ok=True)
    liver_out = sitk.GetImageFromArray(liver.astype(np.uint8))
    liver_out.CopyInformation(liver_img)
    write_image(liver_out, patient_dir / "liver.nii.gz")
    manifest_row = {
        "patient_id": pid,
        "image": "",
        "lesion_mask": "",
        "liver_mask": f"{pid}/liver.nii.gz",
        "lesion_labels": "",
        "center": "IRCAD",
        "modality": "CT",
        "has_ct": int(ct is not None),
        "n_lesion_masks": len(class_rows),
    }
    if ct is not None:
        image = ct.read()
        write_image(image, patient_dir / "image.nii.gz")
        manifest_row["image"] = f"{pid}/image.nii.gz"
    if class_rows:
        lesions_out = sitk.GetImageFromArray(lesion_map)
        lesions_out.CopyInformation(liver_img)
        write_image(lesions_out, patient_dir / "lesions.nii.gz")
        write_table(pd.DataFrame(class_rows), patient_dir / "lesion_labels.csv")
        manifest_row["lesion_mask"] = f"{pid}/lesions.nii.gz"
        manifest_row["lesion_labels"] = f"{pid}/lesion_labels.csv"
    return manifest_row, structure_rows


def convert_ircadb(
    src: str | Path,
    out: str | Path,
    patients: Sequence[int] | None = None,
    progress: PatientProgress | None = None,
    min_liver_overlap: float = 0.1,
) -> Path:
    """Convert the official 3D-IRCADb-01 layout; return the path of the written manifest."""
    src, out = Path(src), Path(out)
    found = find_patients(src)
    if patients is not None:
        missing = sorted(set(patients) - set(found))
        if missing:
            raise InputFileError(f"patients {missing} are not in {src} (found {sorted(found)}).")
        found = {n: found[n] for n in patients}
    rows, structures = [], []
    for number, folder in found.items():
        row, structure_rows = convert_patient(number, folder, out, min_liver_overlap)
        rows.append(row)
        structures.extend(structure_rows)
        if progress is not None:
            progress(row["patient_id"])
    write_table(pd.DataFrame(structures), out / "structures.csv")
    (out / "LICENCE.txt").write_text(LICENCE_NOTE + "\n")
    return write_table(pd.DataFrame(rows), out / "manifest.csv")
