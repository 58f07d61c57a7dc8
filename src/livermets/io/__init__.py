"""Image and mask I/O: formats, DICOM series, DICOM-SEG, RTSTRUCT, geometry checks."""

from livermets.io.dicom import read_dicom_series, read_series_headers, scan_series
from livermets.io.dicomseg import SegAlgorithm, SegmentSpec, read_dicom_seg, write_dicom_seg
from livermets.io.geometry import (
    Geometry,
    GeometryTolerance,
    align_mask,
    geometry_differences,
    resample_to,
)
from livermets.io.images import dicom_source, read_image, write_image
from livermets.io.masks import normalise_labels, read_mask
from livermets.io.rtstruct import rasterise_rtstruct

__all__ = [
    "Geometry",
    "GeometryTolerance",
    "SegAlgorithm",
    "SegmentSpec",
    "align_mask",
    "dicom_source",
    "geometry_differences",
    "normalise_labels",
    "rasterise_rtstruct",
    "read_dicom_seg",
    "read_dicom_series",
    "read_image",
    "read_mask",
    "read_series_headers",
    "resample_to",
    "scan_series",
    "write_dicom_seg",
    "write_image",
]
