"""Voxel-grid geometry of images and masks: description, comparison, resampling."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk

from livermets.errors import GeometryMismatchError


@dataclass(frozen=True)
class Geometry:
    """Size (x, y, z voxels), spacing (mm), origin (mm) and direction cosines of a voxel grid."""

    size: tuple[int, ...]
    spacing: tuple[float, ...]
    origin: tuple[float, ...]
    direction: tuple[float, ...]

    @classmethod
    def of(cls, image: sitk.Image) -> Geometry:
        """Read the geometry of a SimpleITK image."""
        return cls(
            tuple(int(v) for v in image.GetSize()),
            tuple(float(v) for v in image.GetSpacing()),
            tuple(float(v) for v in image.GetOrigin()),
            tuple(float(v) for v in image.GetDirection()),
        )

    def describe(self) -> str:
        """A one-line human-readable description."""
        fmt = lambda values: "(" + ", ".join(f"{v:.4g}" for v in values) + ")"  # noqa: E731
        return (
            f"size {self.size}, spacing {fmt(self.spacing)} mm, origin {fmt(self.origin)} mm, "
            f"direction {fmt(self.direction)}"
        )


@dataclass(frozen=True)
class GeometryTolerance:
    """How far two grids may differ and still count as the same grid."""

    spacing_rel: float = 1e-3
    origin_mm: float = 1e-2
    direction_abs: float = 1e-4


def geometry_differences(
    mask: sitk.Image, image: sitk.Image, tol: GeometryTolerance | None = None
) -> list[str]:
    """List the properties (size, spacing, origin, direction) on which two grids differ."""
    tol = tol or GeometryTolerance()
    a, b = Geometry.of(mask), Geometry.of(image)
    diffs = []
    if a.size != b.size:
        diffs.append("size")
    if len(a.spacing) != len(b.spacing) or not np.allclose(
        a.spacing, b.spacing, rtol=tol.spacing_rel, atol=0
    ):
        diffs.append("spacing")
    if len(a.origin) != len(b.origin) or not np.allclose(
        a.origin, b.origin, rtol=0, atol=max(tol.origin_mm, tol.spacing_rel * min(b.spacing))
    ):
        diffs.append("origin")
    if len(a.direction) != len(b.direction) or not np.allclose(
        a.direction, b.direction, rtol=0, atol=tol.direction_abs
    ):
        diffs.append("direction")
    return diffs


def resample_to(mask: sitk.Image, reference: sitk.Image) -> sitk.Image:
    """Resample a mask onto the reference grid with nearest-neighbour interpolation."""
    return sitk.Resample(
        mask, reference, sitk.Transform(), sitk.sitkNearestNeighbor, 0, mask.GetPixelID()
    )


def align_mask(
    mask: sitk.Image,
    image: sitk.Image,
    *,
    resample: bool = False,
    mask_name: str = "mask",
    image_name: str = "image",
    tol: GeometryTolerance | None = None,
) -> sitk.Image:
    """Return the mask on the image grid: unchanged, resampled (with a warning), or an error."""
    diffs = geometry_differences(mask, image, tol)
    if not diffs:
        if Geometry.of(mask) != Geometry.of(image):
            mask = sitk.Image(mask)
            mask.CopyInformation(image)
        return mask
    detail = (
        f"{mask_name}: {Geometry.of(mask).describe()}; "
        f"{image_name}: {Geometry.of(image).describe()}"
    )
    if resample:
        warnings.warn(
            f"{mask_name} does not match {image_name} ({', '.join(diffs)} differ); "
            f"resampled with nearest neighbour. {detail}",
            stacklevel=2,
        )
        return resample_to(mask, image)
    raise GeometryMismatchError(
        f"{mask_name} does not lie on the grid of {image_name}: {', '.join(diffs)} differ. "
        f"{detail}. Fix the mask export, or pass --resample-masks to resample masks onto the "
        "image grid with nearest-neighbour interpolation."
    )
