"""RTSTRUCT masks: planar contours rasterised onto the voxel grid of the referenced image."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pydicom
import SimpleITK as sitk
from pydicom.dataset import Dataset
from skimage.draw import polygon as fill_polygon

from livermets.errors import MaskError


def roi_names(ds: Dataset) -> dict[int, str]:
    """ROI number -> ROI name of an RTSTRUCT dataset."""
    return {
        int(r.ROINumber): str(r.get("ROIName", "")) for r in ds.get("StructureSetROISequence", [])
    }


def _physical_to_index(points: np.ndarray, reference: sitk.Image) -> np.ndarray:
    """Continuous (x, y, z) voxel indices of physical points (N x 3, mm)."""
    direction = np.asarray(reference.GetDirection()).reshape(3, 3)
    spacing = np.asarray(reference.GetSpacing())
    origin = np.asarray(reference.GetOrigin())
    return (np.linalg.inv(direction * spacing) @ (points - origin).T).T


def rasterise_rtstruct(
    ds: Dataset | str, reference: sitk.Image, names: list[str] | None = None
) -> sitk.Image:
    """Label map on the reference grid: ROI k (file order, or ``names`` order) gets label k."""
    if not isinstance(ds, Dataset):
        ds = pydicom.dcmread(ds, force=True)
    available = roi_names(ds)
    wanted = list(available) if names is None else []
    for name in names or []:
        matches = [n for n, roi in available.items() if roi == name]
        if not matches:
            raise MaskError(
                f"RTSTRUCT has no ROI named '{name}'. ROIs present: {sorted(available.values())}."
            )
        wanted.append(matches[0])
    size_x, size_y, size_z = reference.GetSize()
    labels = np.zeros((size_z, size_y, size_x), dtype=np.uint16)
    contours = {int(c.ReferencedROINumber): c for c in ds.get("ROIContourSequence", [])}
    for label, roi_number in enumerate(wanted, start=1):
        roi = contours.get(roi_number)
        if roi is None:
            continue
        per_slice: dict[int, np.ndarray] = defaultdict(
            lambda: np.zeros((size_y, size_x), dtype=bool)
        )
        for contour in roi.get("ContourSequence", []):
            if str(contour.get("ContourGeometricType", "CLOSED_PLANAR")) == "POINT":
                continue
            points = np.asarray([float(v) for v in contour.ContourData]).reshape(-1, 3)
            index = _physical_to_index(points, reference)
            k = round(float(np.median(index[:, 2])))
            if not 0 <= k < size_z:
                continue
            rr, cc = fill_polygon(index[:, 1], index[:, 0], shape=(size_y, size_x))
            region = np.zeros((size_y, size_x), dtype=bool)
            region[rr, cc] = True
            per_slice[k] ^= region  # even-odd rule: inner contours are holes
        for k, region in per_slice.items():
            labels[k][region] = label
    if not labels.any():
        raise MaskError(
            "the RTSTRUCT contours do not fall on the image grid: the RTSTRUCT probably belongs to "
            "another image series. Give the image series the RTSTRUCT references."
        )
    image = sitk.GetImageFromArray(labels)
    image.CopyInformation(reference)
    return image
