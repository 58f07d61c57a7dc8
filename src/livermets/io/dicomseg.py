"""DICOM-SEG masks through highdicom, as a label map in patient space."""

from __future__ import annotations

import io

import highdicom as hd
import numpy as np
import SimpleITK as sitk

from livermets.errors import MaskError


def read_dicom_seg(data: bytes) -> sitk.Image:
    """Label map (segment number as value) with the geometry the SEG object stores."""
    try:
        seg = hd.seg.segread(io.BytesIO(data))
        volume = seg.get_volume(combine_segments=True, skip_overlap_checks=True)
    except Exception as exc:
        raise MaskError(
            f"cannot read the DICOM-SEG as a 3D label map: {exc}. The segmentation must cover a "
            "regularly spaced stack of slices."
        ) from exc
    affine = np.asarray(volume.affine, dtype=float)
    # highdicom arrays are (slice, row, column); SimpleITK's x axis is the column.
    array = np.asarray(volume.array)
    image = sitk.GetImageFromArray(array.astype(np.uint16 if array.max() > 255 else np.uint8))
    axes = [affine[:3, 2], affine[:3, 1], affine[:3, 0]]
    spacing = [float(np.linalg.norm(a)) for a in axes]
    direction = np.column_stack([a / s for a, s in zip(axes, spacing, strict=True)])
    image.SetSpacing(spacing)
    image.SetOrigin(tuple(float(v) for v in affine[:3, 3]))
    image.SetDirection(tuple(float(v) for v in direction.ravel()))
    return image
