"""Scanner and protocol of each centre: voxel spacing, contrast timing, resolution and CT noise."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

PHASES: tuple[str, ...] = ("nc", "arterial", "venous", "delayed")


@dataclass(frozen=True)
class CTProtocol:
    """One centre's CT protocol: grid, point-spread function, noise and contrast timing."""

    centre: str
    spacing_xy_mm: float
    slice_mm: float
    staging_slice_mm: float
    psf_sigma_mm: float
    noise_sd_hu: float
    noise_grain_mm: float
    hu_offset: float
    timing: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class MRProtocol:
    """One centre's rectal MRI protocol: grid, DWI resolution, noise and ADC calibration."""

    centre: str
    spacing_xy_mm: float
    slice_mm: float
    t2_snr: float
    dwi_snr: float
    dwi_psf_mm: float
    adc_scale: float
    signal_gain: float


# MRI: centre B has thicker slices, lower SNR, blurrier DWI, a different signal gain (arbitrary
# units) and a 6 % ADC calibration bias.
# Centre A: thin-slice scanner, late portal-venous timing (70 s), smooth kernel, low noise.
# Centre B: thicker slices, earlier portal-venous timing (60 s: less parenchymal enhancement),
# sharper kernel with more and finer-grained noise and a small HU calibration offset.
CT_PROTOCOLS: dict[str, CTProtocol] = {
    "A": CTProtocol(
        "A", 0.78, 2.5, 5.0, 0.55, 12.0, 1.1, 0.0,
        {"nc": 1.0, "arterial": 1.0, "venous": 1.0, "delayed": 1.0},
    ),
    "B": CTProtocol(
        "B", 0.70, 5.0, 5.0, 0.45, 17.0, 0.7, 4.0,
        {"nc": 1.0, "arterial": 0.85, "venous": 0.88, "delayed": 0.95},
    ),
}

MR_PROTOCOLS: dict[str, MRProtocol] = {
    "A": MRProtocol("A", 0.70, 3.0, 28.0, 11.0, 1.6, 1.0, 1.0),
    "B": MRProtocol("B", 0.80, 4.0, 20.0, 8.0, 2.0, 1.06, 1.3),
}


def ct_noise(shape: tuple[int, int, int], sd_hu: float, grain_vox: float,
             rng: np.random.Generator) -> np.ndarray:
    """Correlated CT noise: white noise band-passed in-plane (difference of Gaussians)."""
    white = rng.standard_normal(shape, dtype=np.float32)
    low = ndimage.gaussian_filter(white, (0.0, grain_vox, grain_vox), truncate=3.0)
    lower = ndimage.gaussian_filter(low, (0.0, 2.0 * grain_vox, 2.0 * grain_vox), truncate=3.0)
    noise = low - 0.55 * lower
    noise *= sd_hu / max(float(noise.std()), 1e-6)
    return noise


def blur(volume: np.ndarray, sigma_mm_xyz: tuple[float, float, float],
         spacing_xyz: tuple[float, float, float]) -> np.ndarray:
    """Point-spread / slice-profile blur (Gaussian, sigmas in mm) of a (z, y, x) volume."""
    sigma = tuple(sigma_mm_xyz[a] / spacing_xyz[a] for a in (2, 1, 0))
    return ndimage.gaussian_filter(volume, sigma, truncate=2.5)


def smooth_field(shape: tuple[int, int, int], corr_vox: tuple[float, float, float],
                 rng: np.random.Generator, factor: int = 4) -> np.ndarray:
    """A smooth random field of unit SD, drawn on a coarse grid and interpolated to ``shape``."""
    coarse = tuple(max(2, -(-s // factor) + 1) for s in shape)
    white = rng.standard_normal(coarse, dtype=np.float32)
    sig = tuple(max(c / factor, 0.5) for c in corr_vox)
    field_ = ndimage.gaussian_filter(white, sig, mode="wrap")
    field_ /= max(float(field_.std()), 1e-6)
    zoom = tuple((s + factor - 1) / c for s, c in zip(shape, coarse, strict=True))
    fine = ndimage.zoom(field_, zoom, order=1, prefilter=False, grid_mode=False)
    return np.ascontiguousarray(fine[: shape[0], : shape[1], : shape[2]])
