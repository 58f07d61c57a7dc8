"""Axial slices of a lesion region as PNG: window presets, lesion marker, AI probability overlay."""

from __future__ import annotations

import io
import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
from PIL import Image

from livermets.errors import ConfigError

WINDOWS: dict[str, tuple[float, float]] = {  # name -> (level, width) in HU
    "liver": (60.0, 160.0),
    "soft-tissue": (40.0, 400.0),
    "wide": (50.0, 1000.0),
}
MARGIN_SLICES = 3
MARGIN_MM = 25.0
DISPLAY_PX = 320


@dataclass(frozen=True)
class Region:
    """The lesion region of one case: image and lesion mask crops (z, y, x)."""

    image: np.ndarray
    mask: np.ndarray

    @property
    def n_slices(self) -> int:
        """Number of axial slices in the region."""
        return int(self.image.shape[0])


class RegionCache:
    """A small thread-safe LRU cache of lesion regions keyed by case id."""

    def __init__(self, size: int = 128) -> None:
        """Keep at most ``size`` regions."""
        self.size = size
        self._items: OrderedDict[int, Region] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, case_id: int, load: object) -> Region:
        """The region of ``case_id``, loaded with ``load()`` on a miss."""
        with self._lock:
            if case_id in self._items:
                self._items.move_to_end(case_id)
                return self._items[case_id]
        region = load()  # type: ignore[operator]
        with self._lock:
            self._items[case_id] = region
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return region


def load_region(image_path: str, mask_path: str, source_label: int,
                bbox: tuple[int, int, int, int, int, int]) -> Region:
    """Crop the image and the lesion's mask around its bbox (k0, k1, j0, j1, i0, i1, inclusive)."""
    import SimpleITK as sitk

    from livermets.io import read_image, read_mask

    image = read_image(image_path)
    mask = read_mask(mask_path, image)
    arr = sitk.GetArrayFromImage(image).astype(np.float32)
    lab = sitk.GetArrayFromImage(mask)
    sx, sy, _ = image.GetSpacing()
    k0, k1, j0, j1, i0, i1 = bbox
    mj, mi = int(np.ceil(MARGIN_MM / sy)), int(np.ceil(MARGIN_MM / sx))
    half = max(j1 - j0 + 1 + 2 * mj, i1 - i0 + 1 + 2 * mi) // 2
    cj, ci = (j0 + j1) // 2, (i0 + i1) // 2
    zs = slice(max(k0 - MARGIN_SLICES, 0), min(k1 + MARGIN_SLICES + 1, arr.shape[0]))
    ys = slice(max(cj - half, 0), min(cj + half + 1, arr.shape[1]))
    xs = slice(max(ci - half, 0), min(ci + half + 1, arr.shape[2]))
    return Region(image=arr[zs, ys, xs].copy(), mask=(lab[zs, ys, xs] == source_label))


def _outline(mask: np.ndarray) -> np.ndarray:
    """The boundary pixels of a 2D mask."""
    inner = mask.copy()
    inner[1:, :] &= mask[:-1, :]
    inner[:-1, :] &= mask[1:, :]
    inner[:, 1:] &= mask[:, :-1]
    inner[:, :-1] &= mask[:, 1:]
    return mask & ~inner


def _blur(mask: np.ndarray, sigma: float) -> np.ndarray:
    """A Gaussian-blurred float copy of a 2D mask."""
    from scipy.ndimage import gaussian_filter

    return gaussian_filter(mask.astype(np.float32), sigma)


def render_slice(region: Region, index: int, window: str = "liver", marker: bool = True,
                 ai_probability: float | None = None) -> bytes:
    """PNG bytes of axial slice ``index``; with ``ai_probability`` a probability heatmap overlay."""
    if window not in WINDOWS:
        raise ConfigError(f"window must be one of {sorted(WINDOWS)}, got {window!r}.")
    if not 0 <= index < region.n_slices:
        raise ConfigError(f"slice {index} is outside 0..{region.n_slices - 1}.")
    level, width = WINDOWS[window]
    plane = region.image[index]
    grey = np.clip((plane - (level - width / 2)) / width, 0, 1)
    rgb = np.repeat((grey * 255)[..., None], 3, axis=2)
    lesion = region.mask[index]
    if ai_probability is not None and lesion.any():
        heat = _blur(lesion, sigma=max(lesion.shape) / 25) * 1.0
        heat = heat / max(float(heat.max()), 1e-6) * float(ai_probability)
        alpha = (0.6 * heat)[..., None]
        colour = np.stack([255 * heat, 255 * (1 - np.abs(heat - 0.5) * 2), 255 * (1 - heat)],
                          axis=2)
        rgb = rgb * (1 - alpha) + colour * alpha
    scale = max(1, DISPLAY_PX // max(plane.shape))
    rgb8 = np.kron(rgb.astype(np.uint8), np.ones((scale, scale, 1), dtype=np.uint8))
    if marker and lesion.any():
        big = np.kron(lesion, np.ones((scale, scale), dtype=bool))
        rgb8[_outline(big)] = (255, 215, 0)
    buffer = io.BytesIO()
    Image.fromarray(rgb8, mode="RGB").save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()
