"""Voxel grids of the synthetic scans: physical field of view, spacing and coordinate blocks."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk


@dataclass(frozen=True)
class Box:
    """An axis-aligned box in patient coordinates (mm; x to patient left, y posterior, z up)."""

    lo: tuple[float, float, float]
    hi: tuple[float, float, float]


@dataclass(frozen=True)
class Grid:
    """A voxel grid: array shape (z, y, x); spacing and origin (x, y, z) in mm; axis-aligned."""

    shape: tuple[int, int, int]
    spacing: tuple[float, float, float]
    origin: tuple[float, float, float]

    @classmethod
    def covering(cls, box: Box, spacing: tuple[float, float, float]) -> Grid:
        """The grid of voxel centres that tiles ``box`` at ``spacing`` (x, y, z mm)."""
        n = [max(1, round((box.hi[a] - box.lo[a]) / spacing[a])) for a in range(3)]
        origin = tuple(box.lo[a] + 0.5 * spacing[a] for a in range(3))
        return cls((n[2], n[1], n[0]), tuple(float(s) for s in spacing), origin)  # type: ignore[arg-type]

    @property
    def size_xyz(self) -> tuple[int, int, int]:
        """Number of voxels along x, y and z."""
        return (self.shape[2], self.shape[1], self.shape[0])

    def axis_mm(self, axis: int) -> np.ndarray:
        """Physical coordinates (mm, float32) of the voxel centres along axis 0=x, 1=y, 2=z."""
        n = self.size_xyz[axis]
        return (self.origin[axis] + self.spacing[axis] * np.arange(n)).astype(np.float32)

    def block(self, lo_mm: np.ndarray, hi_mm: np.ndarray) -> tuple[slice, slice, slice] | None:
        """Array slices (z, y, x) of the voxels with centres in [lo_mm, hi_mm]; None if empty."""
        out = []
        for axis in (2, 1, 0):
            n = self.size_xyz[axis]
            i0 = int(np.ceil((lo_mm[axis] - self.origin[axis]) / self.spacing[axis]))
            i1 = int(np.floor((hi_mm[axis] - self.origin[axis]) / self.spacing[axis])) + 1
            i0, i1 = max(i0, 0), min(i1, n)
            if i1 <= i0:
                return None
            out.append(slice(i0, i1))
        return (out[0], out[1], out[2])

    def coords(
        self, sl: tuple[slice, slice, slice] | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Open (broadcastable) x, y, z coordinate arrays in mm of a block (default: all)."""
        sl = sl or (slice(None), slice(None), slice(None))
        x = self.axis_mm(0)[sl[2]][None, None, :]
        y = self.axis_mm(1)[sl[1]][None, :, None]
        z = self.axis_mm(2)[sl[0]][:, None, None]
        return x, y, z

    def index_of(self, points_mm: np.ndarray) -> np.ndarray:
        """Nearest voxel indices (z, y, x) of points given as an (n, 3) array of x, y, z mm."""
        sp = np.asarray(self.spacing)
        idx = np.rint((points_mm - np.asarray(self.origin)) / sp).astype(int)
        zyx = idx[:, ::-1]
        return np.clip(zyx, 0, np.asarray(self.shape) - 1)

    def inside(self, points_mm: np.ndarray) -> np.ndarray:
        """Whether each of the (n, 3) x, y, z points lies within the grid's field of view."""
        sp = np.asarray(self.spacing)
        idx = (points_mm - np.asarray(self.origin)) / sp
        return np.all((idx >= -0.5) & (idx <= np.asarray(self.size_xyz) - 0.5), axis=1)

    def to_image(self, array: np.ndarray) -> sitk.Image:
        """Wrap a (z, y, x) array as a SimpleITK image on this grid."""
        image = sitk.GetImageFromArray(array)
        image.SetSpacing(self.spacing)
        image.SetOrigin(self.origin)
        image.SetDirection((1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0))
        return image
