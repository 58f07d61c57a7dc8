"""Post-processing of predicted masks: one liver, lesions inside it, no specks.

The liver is the largest 26-connected component of (liver ∪ lesions) with its enclosed holes filled.
A lesion component is kept when at least ``min_inside`` of its voxels lie in that liver and its
volume reaches ``min_lesion_ml``; a component of several predicted classes takes the class with
the most voxels, so a network that segments and classifies lesions gives one class per lesion.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cc3d
import numpy as np
from scipy import ndimage

from livermets.errors import ConfigError


@dataclass(frozen=True)
class PostprocessSettings:
    """Thresholds of the post-processing."""

    min_lesion_ml: float = 0.02
    min_inside: float = 0.5
    keep_largest_liver: bool = True
    lesions_in_liver: bool = True

    def __post_init__(self) -> None:
        """Validate the thresholds."""
        if self.min_lesion_ml < 0:
            raise ConfigError(f"minimum lesion volume must be >= 0 ml, got {self.min_lesion_ml}.")
        if not 0.0 <= self.min_inside <= 1.0:
            raise ConfigError(
                f"the fraction of a lesion inside the liver must be in [0, 1], got "
                f"{self.min_inside}."
            )


@dataclass
class CleanMasks:
    """Post-processed masks: liver (bool) and lesions (class values, 0 = background)."""

    liver: np.ndarray | None
    lesions: np.ndarray | None
    removed_small: int = 0
    removed_outside: int = 0


def largest_component(mask: np.ndarray) -> np.ndarray:
    """The largest 26-connected component of a boolean mask (empty stays empty)."""
    labels = cc3d.connected_components(mask.astype(np.uint8), connectivity=26)
    if labels.max() == 0:
        return mask.astype(bool)
    counts = np.bincount(labels.ravel())
    counts[0] = 0
    return labels == int(counts.argmax())


def postprocess(
    liver: np.ndarray | None,
    lesions: np.ndarray | None,
    spacing_xyz: Sequence[float],
    settings: PostprocessSettings | None = None,
) -> CleanMasks:
    """Clean a predicted liver (bool) and lesion class map (z, y, x) as described above."""
    settings = settings or PostprocessSettings()
    voxel_ml = float(np.prod(spacing_xyz)) / 1000.0
    lesion_any = lesions > 0 if lesions is not None else None
    liver_out = None
    if liver is not None:
        liver_out = liver.astype(bool)
        if lesion_any is not None:
            liver_out = liver_out | lesion_any
        if settings.keep_largest_liver:
            liver_out = largest_component(liver_out)
        liver_out = ndimage.binary_fill_holes(liver_out)
    if lesions is None:
        return CleanMasks(liver_out, None)
    components = cc3d.connected_components(lesion_any.astype(np.uint8), connectivity=26)
    n = int(components.max())
    out = np.zeros(lesions.shape, dtype=np.uint8 if lesions.max() < 256 else np.uint16)
    removed_small = removed_outside = 0
    if n:
        flat = components.ravel()
        sizes = np.bincount(flat, minlength=n + 1)
        inside = (
            np.bincount(flat, weights=liver_out.ravel().astype(float), minlength=n + 1)
            if liver_out is not None
            else sizes.astype(float)
        )
        n_classes = int(lesions.max()) + 1
        votes = np.bincount(
            flat.astype(np.int64) * n_classes + lesions.ravel().astype(np.int64),
            minlength=(n + 1) * n_classes,
        ).reshape(n + 1, n_classes)
        votes[:, 0] = 0
        classes = votes.argmax(axis=1).astype(out.dtype)
        keep = np.zeros(n + 1, dtype=bool)
        for cid in range(1, n + 1):
            if sizes[cid] * voxel_ml < settings.min_lesion_ml:
                removed_small += 1
            elif settings.lesions_in_liver and inside[cid] / sizes[cid] < settings.min_inside:
                removed_outside += 1
            else:
                keep[cid] = True
        classes[~keep] = 0
        classes[0] = 0
        out = classes[components]
    return CleanMasks(liver_out, out, removed_small, removed_outside)
