"""Read masks (NIfTI, NRRD, MHA, DICOM series, DICOM-SEG, RTSTRUCT) as integer label maps."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pydicom
import SimpleITK as sitk

from livermets.errors import MaskError
from livermets.io.dicom import (
    RTSTRUCT_SOP_CLASS,
    SEG_SOP_CLASS,
    scan_series,
    select_series,
    series_to_image,
)
from livermets.io.dicomseg import read_dicom_seg
from livermets.io.geometry import align_mask, resample_to
from livermets.io.images import check_exists, is_dicom_file, read_image
from livermets.io.rtstruct import rasterise_rtstruct


def normalise_labels(mask: sitk.Image, name: str = "mask") -> sitk.Image:
    """Integer label map: 0/255 and 0/1 masks become 0/1; label maps keep their values."""
    array = sitk.GetArrayViewFromImage(mask)
    if array.dtype.kind == "f" and (
        not np.all(np.isfinite(array)) or not np.all(np.equal(np.mod(array, 1), 0))
    ):
        raise MaskError(
            f"{name} holds non-integer values (a probability map?). Threshold it into a "
            "binary or label mask first."
        )
    if not array.size:
        return sitk.Cast(mask, sitk.sitkUInt8)
    lo, hi = float(array.min()), float(array.max())
    if lo < 0:
        raise MaskError(
            f"{name} holds negative values; a mask must be 0 (background) or labels > 0."
        )
    if hi == 255 and _only_0_and_255(array):
        out = sitk.Cast(mask > 0, sitk.sitkUInt8)
    else:
        pixel = sitk.sitkUInt8 if hi < 256 else sitk.sitkUInt16 if hi < 65536 else sitk.sitkUInt32
        out = mask if mask.GetPixelID() == pixel else sitk.Cast(mask, pixel)
    out.CopyInformation(mask)
    return out


def _only_0_and_255(array: np.ndarray) -> bool:
    """True when every value is 0 or 255 (a binary mask saved as 0/255)."""
    counts = np.bincount(array.ravel().astype(np.uint8, copy=False), minlength=256)
    return counts[1:255].sum() == 0 and counts[0] + counts[255] == array.size


def _dicom_object(path: Path) -> tuple[str, bytes] | None:
    """(SOP class, bytes) when the path is one SEG or RTSTRUCT object (file, folder or zip)."""
    if path.is_file() and not zipfile.is_zipfile(path):
        if not (is_dicom_file(path) or path.suffix.lower() == ".dcm"):
            return None
        ds = pydicom.dcmread(path, stop_before_pixels=True, force=True)
        sop = str(ds.get("SOPClassUID", ""))
        return (sop, path.read_bytes()) if sop in (SEG_SOP_CLASS, RTSTRUCT_SOP_CLASS) else None
    groups = scan_series(path)
    objects = [g for g in groups.values() if g.sop_class in (SEG_SOP_CLASS, RTSTRUCT_SOP_CLASS)]
    if len(objects) == 1 and len(groups) == 1 and len(objects[0].files) == 1:
        with objects[0].files[0].open() as fp:
            return objects[0].sop_class, fp.read()
    return None


def read_mask(
    path: str | Path,
    reference: sitk.Image | None = None,
    *,
    resample: bool = False,
    roi_names: list[str] | None = None,
    name: str | None = None,
) -> sitk.Image:
    """Read a mask as a label map, on the reference image's grid when one is given."""
    path = check_exists(path, "mask")
    name = name or f"mask {path}"
    obj = _dicom_object(path)
    if obj is not None and obj[0] == RTSTRUCT_SOP_CLASS:
        if reference is None:
            raise MaskError(
                f"{path} is an RTSTRUCT: its contours can only be rasterised on an image grid. "
                "Give the image it was drawn on."
            )
        import io

        return rasterise_rtstruct(
            pydicom.dcmread(io.BytesIO(obj[1]), force=True), reference, roi_names
        )
    if obj is not None:
        mask = normalise_labels(read_dicom_seg(obj[1]), name)
        # a SEG stores only the frames it segments, on the referenced image's planes: placing it
        # on the full image grid is exact, not an interpolation
        return mask if reference is None else resample_to(mask, reference)
    elif path.is_dir() or zipfile.is_zipfile(path):
        groups = scan_series(path)
        mask = series_to_image(select_series(groups, path), path)
    else:
        mask = read_image(path)
    mask = normalise_labels(mask, name)
    if reference is not None:
        mask = align_mask(mask, reference, resample=resample, mask_name=name)
    return mask
