"""The network grid: an image reoriented and resampled to a training spacing (no torch)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import SimpleITK as sitk

ORIENTATION = "LPS"


def to_grid(
    image: sitk.Image, spacing_xyz: Sequence[float], orientation: str = ORIENTATION
) -> sitk.Image:
    """An empty image covering ``image`` at the given spacing and orientation (LPS unless told),
    the network's grid."""
    oriented = sitk.DICOMOrient(image, orientation)
    old_size = np.array(oriented.GetSize(), dtype=float)
    old_spacing = np.array(oriented.GetSpacing(), dtype=float)
    new_spacing = np.array(spacing_xyz, dtype=float)
    size = np.maximum(1, np.round(old_size * old_spacing / new_spacing)).astype(int)
    # keep the physical centre of the first voxel's extent: shift the origin by half a voxel
    direction = np.array(oriented.GetDirection()).reshape(3, 3)
    corner = np.array(oriented.GetOrigin()) - direction @ (old_spacing / 2)
    origin = corner + direction @ (new_spacing / 2)
    grid = sitk.Image([int(s) for s in size], sitk.sitkUInt8)
    grid.SetSpacing([float(s) for s in new_spacing])
    grid.SetDirection(oriented.GetDirection())
    grid.SetOrigin([float(v) for v in origin])
    return grid


def image_on_grid(image: sitk.Image, grid: sitk.Image) -> np.ndarray:
    """The image resampled (linear) onto the grid, as float32 (z, y, x)."""
    low = float(np.min(sitk.GetArrayViewFromImage(image)))
    resampled = sitk.Resample(
        sitk.Cast(image, sitk.sitkFloat32), grid, sitk.Transform(), sitk.sitkLinear, low,
        sitk.sitkFloat32,
    )  # fmt: skip
    return sitk.GetArrayFromImage(resampled)
