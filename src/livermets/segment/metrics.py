"""Overlap and surface-distance metrics of binary masks: Dice, IoU, HD95, average surface distance.

Surfaces follow MONAI's convention (a voxel of the mask whose 6-neighbourhood leaves the mask);
distances are Euclidean in millimetres between surface-voxel centres. HD95 is the larger of the two
directed 95th percentiles; the average surface distance (ASD) is the mean over both directions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

from livermets.errors import DataError


@dataclass(frozen=True)
class OverlapMetrics:
    """Agreement of one predicted mask with one reference mask."""

    dice: float
    iou: float
    hd95_mm: float
    asd_mm: float
    reference_voxels: int
    predicted_voxels: int

    def to_dict(self) -> dict[str, float | int]:
        """Plain dictionary (a table row)."""
        return {
            "dice": self.dice,
            "iou": self.iou,
            "hd95_mm": self.hd95_mm,
            "asd_mm": self.asd_mm,
            "reference_voxels": self.reference_voxels,
            "predicted_voxels": self.predicted_voxels,
        }


def _check_pair(reference: np.ndarray, predicted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ref = np.asarray(reference).astype(bool, copy=False)
    pred = np.asarray(predicted).astype(bool, copy=False)
    if ref.shape != pred.shape:
        raise DataError(
            f"masks of different shapes {ref.shape} and {pred.shape} cannot be compared; "
            "put the predicted mask on the reference grid first."
        )
    return ref, pred


def dice(reference: np.ndarray, predicted: np.ndarray) -> float:
    """Dice coefficient 2|A∩B| / (|A| + |B|); 1.0 when both masks are empty."""
    ref, pred = _check_pair(reference, predicted)
    total = int(ref.sum()) + int(pred.sum())
    if total == 0:
        return 1.0
    return 2.0 * int(np.logical_and(ref, pred).sum()) / total


def iou(reference: np.ndarray, predicted: np.ndarray) -> float:
    """Intersection over union |A∩B| / |A∪B|; 1.0 when both masks are empty."""
    ref, pred = _check_pair(reference, predicted)
    union = int(np.logical_or(ref, pred).sum())
    if union == 0:
        return 1.0
    return int(np.logical_and(ref, pred).sum()) / union


def surface(mask: np.ndarray) -> np.ndarray:
    """Surface voxels: mask voxels with a 6-neighbour outside the mask (or outside the array)."""
    mask = np.asarray(mask).astype(bool, copy=False)
    return mask & ~ndimage.binary_erosion(mask, border_value=0)


def _union_box(a: np.ndarray, b: np.ndarray) -> tuple[slice, ...]:
    nz = np.argwhere(a | b)
    lo, hi = nz.min(axis=0), nz.max(axis=0) + 1
    return tuple(slice(int(s), int(e)) for s, e in zip(lo, hi, strict=True))


def directed_surface_distances(
    source: np.ndarray, target: np.ndarray, spacing_zyx: Sequence[float]
) -> np.ndarray:
    """Distance (mm) from every surface voxel of ``source`` to the nearest surface voxel of
    ``target``; both masks must be non-empty."""
    src, tgt = _check_pair(source, target)
    if not src.any() or not tgt.any():
        raise DataError("surface distances need two non-empty masks.")
    box = _union_box(src, tgt)
    src, tgt = src[box], tgt[box]
    # outside the union box both masks are empty, so cropping changes no surface; the nearest
    # target surface voxel of each source surface voxel comes from a k-d tree (exact Euclidean)
    scale = np.asarray(spacing_zyx, dtype=float)
    target_points = np.argwhere(surface(tgt)) * scale
    source_points = np.argwhere(surface(src)) * scale
    distance, _ = cKDTree(target_points).query(source_points, k=1)
    return np.asarray(distance, dtype=float)


def surface_metrics(
    reference: np.ndarray, predicted: np.ndarray, spacing_zyx: Sequence[float]
) -> tuple[float, float]:
    """(HD95, ASD) in mm; (0, 0) when both masks are empty and (NaN, NaN) when one is."""
    ref, pred = _check_pair(reference, predicted)
    if not ref.any() and not pred.any():
        return 0.0, 0.0
    if not ref.any() or not pred.any():
        return float("nan"), float("nan")
    d_rp = directed_surface_distances(ref, pred, spacing_zyx)
    d_pr = directed_surface_distances(pred, ref, spacing_zyx)
    hd95 = max(float(np.percentile(d_rp, 95)), float(np.percentile(d_pr, 95)))
    asd = float(np.concatenate([d_rp, d_pr]).mean())
    return hd95, asd


def overlap_metrics(
    reference: np.ndarray, predicted: np.ndarray, spacing_zyx: Sequence[float]
) -> OverlapMetrics:
    """Dice, IoU, HD95 and ASD of a predicted binary mask against a reference one."""
    ref, pred = _check_pair(reference, predicted)
    hd95, asd = surface_metrics(ref, pred, spacing_zyx)
    return OverlapMetrics(
        dice=dice(ref, pred),
        iou=iou(ref, pred),
        hd95_mm=hd95,
        asd_mm=asd,
        reference_voxels=int(ref.sum()),
        predicted_voxels=int(pred.sum()),
    )
