"""Pre-processing before the engine: IBSI-1's (centre-aligned resampling, mask interpolation,
rounding, bin anchoring) and pyradiomics' whole-image normalisation."""

from __future__ import annotations

import math

import numpy as np
import SimpleITK as sitk

from livermets.radiomics.params import Extraction, Normalisation

_INTERPOLATORS = {
    "bspline": sitk.sitkBSpline,
    "linear": sitk.sitkLinear,
    "nearest": sitk.sitkNearestNeighbor,
}


def ibsi_lattice(
    full_size: int, old: float, new: float, offset: float = 0.0, size: int | None = None
) -> tuple[float, int]:
    """First voxel (continuous full-image index) and voxel count of the IBSI grid along one axis.

    IBSI's grid keeps the centre of the image: ``ceil(n * old / new)`` voxels of size ``new``
    centred on the original grid. For a window (``offset``, ``size`` in full-image voxels) the
    part of that grid inside the window is returned; the whole image gets the whole grid.
    """
    ratio = new / old
    n_new = math.ceil(full_size / ratio - 1e-9)
    start = (full_size - 1) / 2 - (n_new - 1) / 2 * ratio
    size = full_size if size is None else size
    k_lo = 0 if offset <= 0 else math.ceil((offset - start) / ratio - 1e-9)
    last = offset + size - 1
    k_hi = n_new - 1 if last >= full_size - 1 else math.floor((last - start) / ratio + 1e-9)
    return start + k_lo * ratio, k_hi - k_lo + 1


def ibsi_resample(
    image: sitk.Image,
    masks: dict[str, sitk.Image],
    extraction: Extraction,
    *,
    full_origin: tuple[float, ...] | None = None,
    full_size: tuple[int, ...] | None = None,
) -> tuple[sitk.Image, dict[str, sitk.Image]]:
    """Image and masks on the IBSI grid of the full image (the image itself by default).

    The image is interpolated as the parameters say (rounded to integers with
    ``round_intensities``), each mask linearly and thresholded at 0.5.
    """
    spacing_xyz = extraction.resampling.spacing
    if spacing_xyz is None:
        return image, masks
    old = np.array(image.GetSpacing())
    new = np.array([o if n == 0 else n for n, o in zip(spacing_xyz, old, strict=True)])
    if np.allclose(old, new):
        return image, masks
    direction = np.array(image.GetDirection()).reshape(3, 3)
    full_origin = image.GetOrigin() if full_origin is None else full_origin
    full_size = image.GetSize() if full_size is None else full_size
    offset = np.linalg.solve(direction * old, np.array(image.GetOrigin()) - np.array(full_origin))
    axes = [
        ibsi_lattice(int(full_size[a]), float(old[a]), float(new[a]), round(float(offset[a])),
                     image.GetSize()[a])
        for a in range(3)
    ]  # fmt: skip
    start = np.array([a[0] for a in axes])
    size = [a[1] for a in axes]
    origin = (np.array(full_origin) + (direction * old) @ start).tolist()

    def _resample(img: sitk.Image, interpolator: int) -> sitk.Image:
        return sitk.Resample(
            img, size, sitk.Transform(), interpolator, origin, new.tolist(),
            image.GetDirection(), 0.0, sitk.sitkFloat64,
        )  # fmt: skip

    resampled = _resample(image, _INTERPOLATORS[extraction.resampling.interpolator])
    if extraction.resampling.round_intensities:
        resampled = sitk.Round(resampled)
    out = {}
    for name, mask in masks.items():
        interpolated = _resample(sitk.Cast(mask > 0, sitk.sitkFloat32), sitk.sitkLinear)
        out[name] = sitk.Cast(interpolated >= 0.5, sitk.sitkUInt8)
    return resampled, out


def ibsi_bin_lower_bound(extraction: Extraction) -> float | None:
    """IBSI's lowest fixed-bin-width edge: the re-segmentation lower bound if absolute, else None
    (then the region's minimum)."""
    reseg = extraction.resegmentation
    if reseg is None or reseg.mode != "absolute":
        return None
    return reseg.range[0]


def ibsi_discretise(values: np.ndarray, width: float, lower: float | None) -> np.ndarray:
    """IBSI fixed-bin-width grey levels: ``floor((x - lower) / width) + 1``."""
    lower = float(values.min()) if lower is None else lower
    return (np.floor((values - lower) / width) + 1).astype(int)


def pyradiomics_normalise(image: sitk.Image, normalisation: Normalisation) -> sitk.Image:
    """pyradiomics' ``normalizeImage`` of a whole image: z-score, outliers clipped, scaled."""
    image = sitk.Normalize(image)
    outliers = normalisation.remove_outliers
    if outliers is not None:
        array = sitk.GetArrayFromImage(image)
        array[array > outliers] = outliers
        array[array < -outliers] = -outliers
        clipped = sitk.GetImageFromArray(array)
        clipped.CopyInformation(image)
        image = clipped
    return image * normalisation.scale
