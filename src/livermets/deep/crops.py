"""Lesion crops (2D slices, 2.5D stacks, 3D cubes; one or more phases), built once and cached."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from io import StringIO
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.ndimage import map_coordinates

from livermets._atomic import atomic_path
from livermets._progress import PatientProgress
from livermets.cohort.manifest import Manifest, PatientRow
from livermets.deep.config import CropSettings
from livermets.errors import ConfigError, DataError

PHASE_ORDER: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("nc", ("nc", "native", "noncontrast", "non_contrast", "plain", "pre", "unenhanced")),
    ("arterial", ("arterial", "art", "hap", "late_arterial")),
    ("venous", ("venous", "portal", "pv", "pvp")),
    ("delayed", ("delayed", "equilibrium", "transitional", "late")),
)
CACHE_VERSION = 1


@dataclass
class CropSet:
    """Crops of many lesions: ``images`` [N, phases*channels, (D,) H, W] float32 in [0, 1]."""

    images: np.ndarray
    present: np.ndarray
    meta: pd.DataFrame
    phases: list[str]
    channels_per_phase: int
    settings: CropSettings

    def __len__(self) -> int:
        """Number of crops."""
        return len(self.images)

    def subset(self, index: np.ndarray) -> CropSet:
        """The crops at ``index``."""
        return CropSet(self.images[index], self.present[index],
                       self.meta.iloc[index].reset_index(drop=True), self.phases,
                       self.channels_per_phase, self.settings)

    def digest(self) -> str:
        """A hash of the crops' pixels, phase masks and metadata (for caches of fits on them)."""
        digest = hashlib.sha256(np.ascontiguousarray(self.images).tobytes())
        digest.update(np.ascontiguousarray(self.present).tobytes())
        digest.update(pd.util.hash_pandas_object(self.meta.astype(str), index=False)
                      .to_numpy().tobytes())
        digest.update(json.dumps(self.phases).encode())
        return digest.hexdigest()[:16]

    def rows_of(self, keys: pd.DataFrame) -> np.ndarray:
        """Crop indices whose (patient_id, lesion_id) is in ``keys``."""
        wanted = set(zip(keys["patient_id"].astype(str), keys["lesion_id"].astype(str),
                         strict=True))
        pairs = zip(self.meta["patient_id"], self.meta["lesion_id"], strict=True)
        return np.flatnonzero([p in wanted for p in pairs])


def canonical_phase(name: str) -> tuple[int, str]:
    """(temporal rank, canonical name) of an image column or phase name such as ``image_pv``."""
    key = name.lower().removeprefix("image_").removeprefix("ct_").strip()
    for rank, (canon, aliases) in enumerate(PHASE_ORDER):
        if key in aliases or key == canon:
            return rank, canon
    return len(PHASE_ORDER), key


def manifest_phases(manifest: Manifest, wanted: list[str] | None) -> list[str]:
    """The image keys (``image`` or ``image_<phase>``) to crop, in temporal order."""
    columns = manifest.image_columns
    if wanted is None:
        keys = [c for c in columns if c != "image"] or columns
    else:
        keys = []
        for phase in wanted:
            match = [c for c in columns if c == phase or canonical_phase(c)[1]
                     == canonical_phase(phase)[1]]
            if not match:
                raise ConfigError(
                    f"crops.phases names {phase!r}, but the manifest has image columns {columns}."
                )
            keys.append(match[0])
    return sorted(keys, key=lambda c: canonical_phase(c)[0])


def _window(array: np.ndarray, bounds: tuple[float, float] | None) -> np.ndarray:
    """Intensities clipped to the window and scaled to [0, 1] (min-max without a window)."""
    if bounds is None:
        low, high = float(np.percentile(array, 0.5)), float(np.percentile(array, 99.5))
    else:
        low, high = bounds
    scale = max(high - low, 1e-6)
    return np.clip((array.astype(np.float32) - low) / scale, 0.0, 1.0)


def _grid(center: float, half: float, n: int) -> np.ndarray:
    """``n`` sample positions (voxel units) covering ``center`` +/- ``half``."""
    return center - half + (np.arange(n) + 0.5) * (2.0 * half / n)


def _slices_of(lesion: pd.Series, mask: np.ndarray, settings: CropSettings) -> list[int]:
    """Axial slice indices to crop for one lesion (all its slices, or the largest)."""
    k0, k1 = int(lesion["bbox_k_min"]), int(lesion["bbox_k_max"])
    ks = list(range(k0, k1 + 1))
    areas = np.array([int(mask[k].sum()) for k in ks])
    if settings.slices == "largest":
        return [ks[int(np.argmax(areas))]]
    keep = [k for k, a in zip(ks, areas, strict=True) if a > 0]
    if settings.max_slices is not None and len(keep) > settings.max_slices:
        order = np.argsort(-areas[[ks.index(k) for k in keep]], kind="stable")
        keep = sorted(keep[i] for i in order[: settings.max_slices])
    return keep


def _lesion_crops(volumes: list[np.ndarray | None], mask: np.ndarray, lesion: pd.Series,
                  spacing: tuple[float, float, float], settings: CropSettings
                  ) -> tuple[np.ndarray, list[int]]:
    """Crops of one lesion: [n, phases*channels, (D,) H, W] and the slice index of each."""
    sx, sy, sz = spacing
    ci = (lesion["bbox_i_min"] + lesion["bbox_i_max"]) / 2.0
    cj = (lesion["bbox_j_min"] + lesion["bbox_j_max"]) / 2.0
    ext_mm = max((lesion["bbox_i_max"] - lesion["bbox_i_min"] + 1) * sx,
                 (lesion["bbox_j_max"] - lesion["bbox_j_min"] + 1) * sy, 4.0 * max(sx, sy))
    n = settings.size
    if settings.spacing is None:  # the lesion's extent plus margin, whatever its size
        half_x = half_y = half_z = ext_mm * (1.0 + 2.0 * settings.margin) / 2.0
    else:  # fixed voxels of the given spacing
        tx, ty, tz = settings.spacing
        half_x, half_y, half_z = n * tx / 2.0, n * ty / 2.0, settings.depth * tz / 2.0
    ii = _grid(ci, half_x / sx, n)
    jj = _grid(cj, half_y / sy, n)
    out: list[np.ndarray] = []
    if settings.mode == "3d":
        ck = (lesion["bbox_k_min"] + lesion["bbox_k_max"]) / 2.0
        kk = _grid(ck, half_z / sz, settings.depth)
        coords = np.stack(np.meshgrid(kk, jj, ii, indexing="ij"))
        channels = []
        lesion_mask = map_coordinates(mask.astype(np.float32), coords, order=0, cval=0.0)
        for vol in volumes:
            if vol is None:
                channels.append(np.zeros_like(lesion_mask))
                continue
            crop = map_coordinates(vol, coords, order=1, cval=0.0)
            channels.append(crop * lesion_mask if settings.mask_outside else crop)
        return np.stack(channels)[None].astype(np.float32), [round(ck)]
    ks = _slices_of(lesion, mask, settings)
    plane = np.stack(np.meshgrid(jj, ii, indexing="ij"))
    offsets = (range(-((settings.context - 1) // 2), settings.context // 2 + 1)
               if settings.mode == "2.5d" else range(1))
    for k in ks:
        m = map_coordinates(mask[k].astype(np.float32), plane, order=0, cval=0.0)
        channels = []
        for vol in volumes:
            for off in offsets:
                if vol is None:
                    channels.append(np.zeros((n, n), np.float32))
                    continue
                kk = int(np.clip(k + off, 0, vol.shape[0] - 1))
                crop = map_coordinates(vol[kk], plane, order=1, cval=0.0)
                channels.append(crop * m if settings.mask_outside else crop)
        out.append(np.stack(channels))
    return np.stack(out).astype(np.float32), ks


def _patient_crops(row: PatientRow, lesions: pd.DataFrame, keys: list[str],
                   settings: CropSettings) -> tuple[np.ndarray, np.ndarray, list[dict]]:
    """Crops of every lesion of one patient."""
    import SimpleITK as sitk

    from livermets.io import read_image, read_mask

    if "lesion_mask" not in row.masks:
        raise DataError(f"patient {row.patient_id} has no lesion_mask; deep crops need one.")
    reference = None
    volumes: list[np.ndarray | None] = []
    for key in keys:
        path = row.images.get(key)
        if path is None or (isinstance(path, float) and np.isnan(path)):
            volumes.append(None)
            continue
        image = read_image(path)
        reference = reference or image
        volumes.append(_window(sitk.GetArrayFromImage(image), settings.window_bounds()))
    if reference is None:
        raise DataError(f"patient {row.patient_id} has none of the image columns {keys}.")
    labels = sitk.GetArrayFromImage(read_mask(row.masks["lesion_mask"], reference,
                                              resample=True))
    for vol, key in zip(volumes, keys, strict=True):
        if vol is not None and vol.shape != labels.shape:
            raise DataError(
                f"patient {row.patient_id}: image {key} has shape {vol.shape[::-1]} but the "
                f"lesion mask {labels.shape[::-1]}; resample the phases onto one grid."
            )
    present = np.array([v is not None for v in volumes])
    crops, meta = [], []
    for _, lesion in lesions.iterrows():
        inside = np.zeros(labels.shape, bool)
        k0, k1 = int(lesion["bbox_k_min"]), int(lesion["bbox_k_max"]) + 1
        j0, j1 = int(lesion["bbox_j_min"]), int(lesion["bbox_j_max"]) + 1
        i0, i1 = int(lesion["bbox_i_min"]), int(lesion["bbox_i_max"]) + 1
        inside[k0:k1, j0:j1, i0:i1] = labels[k0:k1, j0:j1, i0:i1] == lesion["source_label"]
        array, ks = _lesion_crops(volumes, inside, lesion, reference.GetSpacing(), settings)
        crops.append(array)
        for k in ks:
            meta.append({"patient_id": str(row.patient_id), "lesion_id": str(lesion["lesion_id"]),
                         "label": lesion["label"], "slice": k,
                         "diameter_mm": float(lesion["diameter_mm"])})
    if not crops:
        return np.zeros((0,)), np.zeros((0, len(keys)), bool), []
    images = np.concatenate(crops)
    return images, np.repeat(present[None], len(images), axis=0), meta


def crop_key(manifest: Manifest, lesions: pd.DataFrame, settings: CropSettings) -> str:
    """Cache key: crop settings, the lesions table and every image/mask file's size and mtime."""
    # a crop spacing joins the key only when set, so caches of extent-scaled crops stay valid
    defaults = {k for k in ("spacing", "region") if getattr(settings, k) == CropSettings()
                .model_dump()[k]}  # new keys join only when set: older caches stay valid
    dumped = settings.model_dump(mode="json", exclude=defaults)
    digest = hashlib.sha256(json.dumps([CACHE_VERSION, dumped], sort_keys=True).encode())
    digest.update(pd.util.hash_pandas_object(lesions.astype(str), index=False).to_numpy()
                  .tobytes())
    for row in manifest.rows():
        for path in [*row.images.values(), *row.masks.values()]:
            p = Path(path)
            stat = p.stat() if p.exists() else None
            digest.update(f"{p}:{stat.st_size if stat else -1}:{stat.st_mtime_ns if stat else -1}"
                          .encode())
    return digest.hexdigest()[:16]


def build_crops(manifest: Manifest, lesions: pd.DataFrame, settings: CropSettings,
                cache_dir: str | Path | None = None,
                progress: PatientProgress | None = None) -> CropSet:
    """Crops of every lesion in ``lesions`` (read from ``cache_dir`` when built before)."""
    if lesions.empty:
        raise DataError("the lesions table is empty: there is nothing to crop.")
    keys = manifest_phases(manifest, settings.phases)
    if not keys:
        raise DataError(f"{manifest.path} has no image column (image or image_<phase>).")
    path = None
    if cache_dir is not None:
        path = Path(cache_dir) / f"crops-{crop_key(manifest, lesions, settings)}.npz"
        if path.is_file():
            return load_crops(path, settings)
    by_patient = {pid: g for pid, g in lesions.groupby(lesions["patient_id"].astype(str))}
    images, present, meta = [], [], []
    for row in manifest.rows():
        group = by_patient.get(str(row.patient_id))
        if group is None:
            continue
        a, p, m = _patient_crops(row, group, keys, settings)
        if m:
            images.append(a)
            present.append(p)
            meta.extend(m)
        if progress is not None:
            progress(str(row.patient_id))
    if not meta:
        raise DataError("no lesion produced a crop; check the lesion masks and bounding boxes.")
    table = pd.DataFrame(meta).astype({"label": str})
    crops = CropSet(np.concatenate(images), np.concatenate(present), table,
                    [canonical_phase(k)[1] for k in keys],
                    1 if settings.mode in ("2d", "3d") else settings.context, settings)
    if path is not None:
        return load_crops(save_crops(crops, path), settings)
    return crops


def save_crops(crops: CropSet, path: Path) -> Path:
    """Write crops to one ``.npz`` atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = crops.meta.astype({"label": str}).to_json(orient="records", double_precision=15)
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, images=crops.images, present=crops.present,
                 meta=np.frombuffer(meta.encode(), np.uint8),
                 phases=np.array(crops.phases), cpp=np.array(crops.channels_per_phase))
    return path


def load_crops(path: str | Path, settings: CropSettings) -> CropSet:
    """Read crops written by ``save_crops``."""
    with np.load(path) as data:
        meta = pd.read_json(StringIO(data["meta"].tobytes().decode()),
                            orient="records", dtype={"patient_id": str, "lesion_id": str,
                                                     "label": str})
        return CropSet(data["images"], data["present"], meta, [str(p) for p in data["phases"]],
                       int(data["cpp"]), settings)
