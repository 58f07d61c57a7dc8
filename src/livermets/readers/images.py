"""The region a reader sees (liver box at native resolution), as a compact stack the browser
windows itself, or as PNG slices at a preset window; lesion marker; no AI heat map."""

from __future__ import annotations

import gzip
import io
import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from livermets.errors import ConfigError

WINDOWS: dict[str, tuple[float, float]] = {  # name -> (level, width) in HU
    "liver": (60.0, 160.0),
    "soft-tissue": (40.0, 400.0),
    "wide": (50.0, 1000.0),
}
LIVER_MARGIN_MM = 10.0  # around the liver box, in plane and along z
LESION_MARGIN_MM = 60.0  # around the lesion when the cohort has no liver mask
HU_RANGE = (-1024, 3071)  # the stack's int16 values are clipped to this
DISPLAY_PX = 320

Box = tuple[slice, slice, slice]


@dataclass(frozen=True)
class Region:
    """The region of one case: HU image (int16) and lesion mask (z, y, x), voxel spacing."""

    image: np.ndarray
    mask: np.ndarray
    spacing: tuple[float, float, float] = (1.0, 1.0, 1.0)  # x, y, z in mm
    _payload: list[bytes] = field(default_factory=list, repr=False, compare=False)

    @property
    def n_slices(self) -> int:
        """Number of axial slices in the region."""
        return int(self.image.shape[0])

    @property
    def shape(self) -> list[int]:
        """(z, y, x) of the region."""
        return [int(n) for n in self.image.shape]

    @property
    def start_slice(self) -> int:
        """The slice where the lesion is largest."""
        return int(self.mask.reshape(self.n_slices, -1).sum(1).argmax())

    def payload(self) -> bytes:
        """Gzipped little-endian int16 HU stack followed by the uint8 lesion mask (z, y, x)."""
        if not self._payload:
            raw = (np.ascontiguousarray(self.image, dtype="<i2").tobytes()
                   + np.ascontiguousarray(self.mask, dtype=np.uint8).tobytes())
            self._payload.append(gzip.compress(raw, compresslevel=3, mtime=0))
        return self._payload[0]


class RegionCache:
    """A small thread-safe LRU cache of regions keyed by case id; a region being loaded is
    loaded once however many requests ask for it, and the next case can be loaded ahead."""

    def __init__(self, size: int = 16, prefetch_queue: int = 4) -> None:
        """Keep at most ``size`` regions; at most ``prefetch_queue`` loads waiting ahead."""
        self.size = size
        self.prefetch_queue = prefetch_queue
        self.loads = 0  # regions read from disk (tests and benchmarks read it)
        self._items: OrderedDict[int, Region] = OrderedDict()
        self._loading: dict[int, Future[Region]] = {}
        self._queued = 0
        self._lock = threading.Lock()
        self._ahead = ThreadPoolExecutor(max_workers=1, thread_name_prefix="prefetch")

    def get(self, case_id: int, load: Callable[[], Region]) -> Region:
        """The region of ``case_id``, loaded with ``load()`` on a miss."""
        with self._lock:
            if case_id in self._items:
                self._items.move_to_end(case_id)
                return self._items[case_id]
            future = self._loading.get(case_id)
            owner = future is None
            if future is None:
                future = self._loading[case_id] = Future()
        if not owner:
            return future.result()
        try:
            region = load()
        except BaseException as exc:
            future.set_exception(exc)
            raise
        finally:
            with self._lock:
                self._loading.pop(case_id, None)
        with self._lock:
            self.loads += 1
            self._items[case_id] = region
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        future.set_result(region)
        return region

    def prefetch(self, case_id: int, load: Callable[[], Region]) -> Future[Region] | None:
        """Load ``case_id`` in the background unless cached, loading or the queue is full."""
        with self._lock:
            if (case_id in self._items or case_id in self._loading
                    or self._queued >= self.prefetch_queue):
                return None
            self._queued += 1

        def run() -> Region:
            with self._lock:
                self._queued -= 1
            return self.get(case_id, load)

        return self._ahead.submit(run)

    def close(self) -> None:
        """Stop the background loader (waiting loads are dropped)."""
        self._ahead.shutdown(wait=False, cancel_futures=True)


def _box(lo: np.ndarray, hi: np.ndarray, margin: np.ndarray, shape: tuple[int, ...]) -> Box:
    """Slices (z, y, x) of the inclusive box ``lo..hi`` grown by ``margin`` voxels, clipped."""
    start = np.maximum(lo - margin, 0)
    stop = np.minimum(hi + margin + 1, np.asarray(shape))
    return tuple(slice(int(a), int(b)) for a, b in zip(start, stop, strict=True))  # type: ignore


def region_box(shape: tuple[int, ...], spacing: tuple[float, float, float],
               bbox: tuple[int, int, int, int, int, int], liver: np.ndarray | None) -> Box:
    """The liver's box plus a margin (holding the lesion too), else a wide box round the lesion."""
    sx, sy, sz = spacing
    k0, k1, j0, j1, i0, i1 = bbox
    lesion_lo, lesion_hi = np.array([k0, j0, i0]), np.array([k1, j1, i1])
    per_mm = 1.0 / np.array([sz, sy, sx])
    if liver is not None and liver.any():
        where = np.nonzero(liver)
        lo = np.minimum([int(w.min()) for w in where], lesion_lo)
        hi = np.maximum([int(w.max()) for w in where], lesion_hi)
        return _box(lo, hi, np.ceil(LIVER_MARGIN_MM * per_mm).astype(int), shape)
    return _box(lesion_lo, lesion_hi, np.ceil(LESION_MARGIN_MM * per_mm).astype(int), shape)


def load_region(image_path: str, mask_path: str, source_label: int,
                bbox: tuple[int, int, int, int, int, int],
                liver_path: str | None = None) -> Region:
    """Crop image and lesion mask to the region of a lesion (bbox k0, k1, j0, j1, i0, i1)."""
    import SimpleITK as sitk

    from livermets.io import read_image, read_mask

    image = read_image(image_path)
    arr = sitk.GetArrayFromImage(image)
    lab = sitk.GetArrayFromImage(read_mask(mask_path, image))
    liver = None
    if liver_path is not None:
        liver = sitk.GetArrayFromImage(read_mask(liver_path, image)) > 0
    spacing = tuple(float(s) for s in image.GetSpacing())
    box = region_box(arr.shape, spacing, bbox, liver)
    hu = np.clip(np.rint(arr[box]), *HU_RANGE).astype(np.int16)
    return Region(image=hu, mask=(lab[box] == source_label), spacing=spacing)  # type: ignore


def _outline(mask: np.ndarray) -> np.ndarray:
    """The boundary pixels of a 2D mask."""
    inner = mask.copy()
    inner[1:, :] &= mask[:-1, :]
    inner[:-1, :] &= mask[1:, :]
    inner[:, 1:] &= mask[:, :-1]
    inner[:, :-1] &= mask[:, 1:]
    return mask & ~inner


def render_slice(region: Region, index: int, window: str = "liver", marker: bool = True) -> bytes:
    """PNG bytes of axial slice ``index`` at a preset window, with the lesion outlined."""
    if window not in WINDOWS:
        raise ConfigError(f"window must be one of {sorted(WINDOWS)}, got {window!r}.")
    if not 0 <= index < region.n_slices:
        raise ConfigError(f"slice {index} is outside 0..{region.n_slices - 1}.")
    level, width = WINDOWS[window]
    plane = region.image[index].astype(np.float32)
    grey = np.clip((plane - (level - width / 2)) / width, 0, 1)
    rgb8 = np.repeat((grey * 255).astype(np.uint8)[..., None], 3, axis=2)
    lesion = region.mask[index]
    if marker and lesion.any():
        rgb8[_outline(lesion)] = (255, 215, 0)
    buffer = io.BytesIO()
    Image.fromarray(rgb8, mode="RGB").save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()
