"""Read and write images: NIfTI, NRRD, MHA via SimpleITK; DICOM folders and zips via pydicom."""

from __future__ import annotations

import zipfile
from pathlib import Path

import SimpleITK as sitk

from livermets._atomic import atomic_path
from livermets.errors import InputFileError
from livermets.io.dicom import read_dicom_series
from livermets.io.nifti import check_nifti_complete

ITK_SUFFIXES = (".nii", ".nii.gz", ".nrrd", ".nhdr", ".mha", ".mhd")


def _has_suffix(path: Path, suffixes: tuple[str, ...]) -> bool:
    name = path.name.lower()
    return any(name.endswith(s) for s in suffixes)


def is_dicom_file(path: Path) -> bool:
    """True when the file starts with a DICOM preamble ('DICM' at byte 128)."""
    try:
        with open(path, "rb") as fp:
            fp.seek(128)
            return fp.read(4) == b"DICM"
    except OSError:
        return False


def check_exists(path: str | Path, what: str = "file") -> Path:
    """Return the path, or raise a clear error if it does not exist."""
    path = Path(path)
    if not path.exists():
        raise InputFileError(
            f"{what} {path} does not exist. Check the path (relative paths in a "
            "manifest are relative to the manifest's folder)."
        )
    return path


def read_image(path: str | Path, *, series_uid: str | None = None) -> sitk.Image:
    """Read a 3D image: NIfTI / NRRD / MHA, a DICOM folder or zip, or one DICOM file."""
    path = check_exists(path, "image")
    if path.is_dir() or zipfile.is_zipfile(path):
        return read_dicom_series(path, series_uid=series_uid)
    if _has_suffix(path, ITK_SUFFIXES):
        try:
            image = sitk.ReadImage(str(path))
        except RuntimeError as exc:
            raise InputFileError(
                f"cannot read image {path}: the file is damaged or not a valid "
                f"{path.suffix} image ({str(exc).strip().splitlines()[-1]})."
            ) from exc
        check_nifti_complete(path)
        return image
    if is_dicom_file(path) or path.suffix.lower() in (".dcm", ".ima"):
        import pydicom

        uid = series_uid or str(
            pydicom.dcmread(path, stop_before_pixels=True, force=True).get("SeriesInstanceUID", "")
        )
        return read_dicom_series(path.parent, series_uid=uid or None)
    raise InputFileError(
        f"cannot read {path}: unknown image format. Use NIfTI (.nii, .nii.gz), NRRD, MHA, a folder "
        "of DICOM slices, or a zip of DICOM slices."
    )


def dicom_source(path: str | Path) -> tuple[Path, str | None] | None:
    """(folder or zip, series UID) of an image path that is DICOM; None for NIfTI, NRRD, MHA."""
    path = check_exists(path, "image")
    if path.is_dir() or zipfile.is_zipfile(path):
        return path, None
    if _has_suffix(path, ITK_SUFFIXES):
        return None
    if is_dicom_file(path) or path.suffix.lower() in (".dcm", ".ima"):
        import pydicom

        uid = str(
            pydicom.dcmread(path, stop_before_pixels=True, force=True).get("SeriesInstanceUID", "")
        )
        return path.parent, uid or None
    return None


def write_image(image: sitk.Image, path: str | Path, *, compress: bool = True) -> Path:
    """Write an image atomically (format from the suffix, e.g. .nii.gz)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        sitk.WriteImage(image, str(tmp), useCompression=compress)
    return path
