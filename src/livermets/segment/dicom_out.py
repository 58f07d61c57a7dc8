"""Predicted masks of one patient as a DICOM-SEG that references the patient's DICOM series."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import SimpleITK as sitk

from livermets import __version__
from livermets.cohort import PatientRow
from livermets.errors import ConfigError
from livermets.io import SegAlgorithm, SegmentSpec, dicom_source, read_image, write_dicom_seg
from livermets.io.dicomseg import ABNORMAL_STRUCTURE, ANATOMICAL_STRUCTURE, LIVER, lesion_type_code

SEG_SUFFIX = "_seg.dcm"


def check_dicom_images(rows: list[PatientRow]) -> None:
    """Refuse ``--dicom-seg`` when a patient's image is not a DICOM series (before any work)."""
    not_dicom = [r.patient_id for r in rows if r.image is None or dicom_source(r.image) is None]
    if not_dicom:
        shown = ", ".join(not_dicom[:10]) + (
            f" and {len(not_dicom) - 10} more" if len(not_dicom) > 10 else ""
        )
        raise ConfigError(
            f"--dicom-seg: the images of {len(not_dicom)} patient(s) ({shown}) are not DICOM "
            "series; a DICOM-SEG must reference the DICOM slices it segments. Point their "
            "'image' cells to the DICOM folders (or zips), leave those patients out with "
            "--patients, or run without --dicom-seg (the NIfTI masks are written either way)."
        )


def predicted_segments(
    folder: Path, done: dict[str, Any]
) -> tuple[list[sitk.Image], list[SegmentSpec]]:
    """The label maps of a finished patient folder and one segment per structure and class."""
    files = done["files"]
    maps: list[sitk.Image] = []
    specs: list[SegmentSpec] = []
    if "liver_mask" in files:
        maps.append(read_image(folder / files["liver_mask"]))
        specs.append(SegmentSpec("liver", 1, LIVER, ANATOMICAL_STRUCTURE, layer=len(maps) - 1))
    if "lesion_mask" in files:
        maps.append(read_image(folder / files["lesion_mask"]))
        classes = [c for c in str(done["summary"].get("lesion_classes") or "").split(";") if c]
        for value, name in enumerate(classes or ["lesion"], start=1):
            specs.append(
                SegmentSpec(name, value, lesion_type_code(name), ABNORMAL_STRUCTURE, len(maps) - 1)
            )
    if "primary_mask" in files:
        maps.append(read_image(folder / files["primary_mask"]))
        specs.append(
            SegmentSpec("primary tumour", 1, lesion_type_code("primary"), ABNORMAL_STRUCTURE,
                        len(maps) - 1)
        )  # fmt: skip
    return maps, specs


def write_predicted_seg(
    row: PatientRow, folder: Path, done: dict[str, Any], backend: str, path: Path
) -> Path:
    """Write a patient's predicted masks as ``path``, a DICOM-SEG on its image's series."""
    maps, specs = predicted_segments(folder, done)
    if not specs:
        raise ConfigError(
            f"--dicom-seg: backend {backend} wrote no liver, lesion or primary mask for patient "
            f"{row.patient_id}; there is nothing to put in a DICOM-SEG."
        )
    algorithm = SegAlgorithm("AUTOMATIC", f"livermets segment {backend}", __version__)
    return write_dicom_seg(
        maps, specs, row.image, path,  # type: ignore[arg-type]
        algorithm=algorithm, series_description=f"livermets {backend} segmentation",
    )  # fmt: skip
