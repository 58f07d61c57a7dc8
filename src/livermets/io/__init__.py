"""Image and mask I/O: formats, DICOM series, DICOM-SEG, RTSTRUCT, geometry checks."""

from livermets.io.dicom import read_dicom_series, scan_series
from livermets.io.geometry import (
    Geometry,
    GeometryTolerance,
    align_mask,
    geometry_differences,
    resample_to,
)
from livermets.io.images import read_image, write_image
from livermets.io.masks import normalise_labels, read_mask
from livermets.io.rtstruct import rasterise_rtstruct

__all__ = [
    "Geometry",
    "GeometryTolerance",
    "align_mask",
    "geometry_differences",
    "normalise_labels",
    "rasterise_rtstruct",
    "read_dicom_series",
    "read_image",
    "read_mask",
    "resample_to",
    "scan_series",
    "write_image",
]
