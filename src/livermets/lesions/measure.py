"""Lesion size: longest axial diameter (RECIST-style), maximum 3D diameter, volume, size groups."""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Sequence

import numpy as np
from scipy.ndimage import binary_erosion
from scipy.spatial import ConvexHull, QhullError
from scipy.spatial.distance import pdist

DEFAULT_SIZE_EDGES = (10.0, 30.0)
SIZE_EDGES_OPTION = ",".join(f"{e:g}" for e in DEFAULT_SIZE_EDGES)  # '10,30' for CLI defaults


def _max_pairwise(points: np.ndarray) -> float:
    """Largest distance between two points, through the convex hull when there are many."""
    if len(points) < 2:
        return 0.0
    if len(points) > 64:
        # flat or collinear point sets have no hull: then every point is used
        with contextlib.suppress(QhullError):
            points = points[ConvexHull(points).vertices]
    return float(pdist(points).max())


def _boundary(mask: np.ndarray) -> np.ndarray:
    return mask & ~binary_erosion(mask)


def _edge_points(index: np.ndarray, spacing: np.ndarray) -> np.ndarray:
    """Centres of the voxel faces of each voxel (index rows, physical axes scaled by spacing)."""
    offsets = np.concatenate([np.eye(index.shape[1]) * 0.5, -np.eye(index.shape[1]) * 0.5])
    points = (index[:, None, :] + offsets[None, :, :]).reshape(-1, index.shape[1])
    return np.unique(points, axis=0) * spacing


def axial_diameter(mask: np.ndarray, spacing_xyz: Sequence[float]) -> tuple[float, int]:
    """Longest in-plane diameter (mm) over axial slices of a (z, y, x) mask, and its slice."""
    spacing_yx = np.array([spacing_xyz[1], spacing_xyz[0]], dtype=float)
    best, best_slice = 0.0, -1
    for z in np.flatnonzero(mask.any(axis=(1, 2))):
        plane = mask[z]
        index = np.argwhere(_boundary(plane)).astype(float)
        diameter = _max_pairwise(_edge_points(index, spacing_yx))
        if diameter > best:
            best, best_slice = diameter, int(z)
    return best, best_slice


def max_3d_diameter(mask: np.ndarray, spacing_xyz: Sequence[float]) -> float:
    """Largest distance (mm) across a (z, y, x) mask, between voxel-face centres."""
    spacing_zyx = np.array(spacing_xyz[::-1], dtype=float)
    index = np.argwhere(_boundary(mask)).astype(float)
    return _max_pairwise(_edge_points(index, spacing_zyx))


def size_group(diameter_mm: float, edges: Sequence[float] = DEFAULT_SIZE_EDGES) -> str:
    """Size group of a diameter: '<=10 mm', '10-30 mm', '>30 mm' for the default edges."""
    edges = list(edges)
    if diameter_mm <= edges[0]:
        return f"<={edges[0]:g} mm"
    for lo, hi in itertools.pairwise(edges):
        if diameter_mm <= hi:
            return f"{lo:g}-{hi:g} mm"
    return f">{edges[-1]:g} mm"


def size_group_names(edges: Sequence[float] = DEFAULT_SIZE_EDGES) -> list[str]:
    """The ordered names of the size groups for given edges."""
    edges = list(edges)
    names = [f"<={edges[0]:g} mm"]
    names += [f"{lo:g}-{hi:g} mm" for lo, hi in itertools.pairwise(edges)]
    return [*names, f">{edges[-1]:g} mm"]
