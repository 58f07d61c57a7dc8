"""Multi-phase cases on the network grid: every phase resampled onto one grid built from the
venous phase, one CT normalisation shared by all phases, voxel labels (0 background, 1 liver,
2 + k lesion class k), reference lesion instances, and an .npz cache of the resampled volumes.

The cache holds the *raw* resampled HU volumes (not normalised), so the normalisation can be
fitted on the training patients and reused unchanged at inference without invalidating it.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from livermets._atomic import atomic_path
from livermets.cohort import Manifest, PatientRow, load_manifest, read_lesion_labels
from livermets.deep.multiphase.config import N_TISSUE, REFERENCE_PHASE, MultiphaseSettings
from livermets.errors import DataError
from livermets.io import read_image, read_mask, resample_to
from livermets.nn.grid import image_on_grid, to_grid
from livermets.nn.intensity import Intensity

CACHE_FORMAT = "livermets-multiphase-case/1"
Progress = Callable[[int, int], None]


@dataclass
class MultiphaseCase:
    """One patient on the network grid (arrays in (z, y, x) order)."""

    patient_id: str
    center: str | None
    image: np.ndarray  # float32 [P, Z, Y, X], normalised; zeros for missing phases
    present: np.ndarray  # bool [P]
    labels: np.ndarray | None  # uint8 [Z, Y, X]: 0 background, 1 liver, 2 + k lesion class k
    instances: np.ndarray | None  # int32 [Z, Y, X]: reference lesion instances, 0 = none
    instance_classes: dict[int, str]  # instance id -> class name (every lesion of the mask)
    liver: np.ndarray | None  # bool [Z, Y, X]: liver mask with its lesions
    spacing_zyx: tuple[float, float, float]
    grid: sitk.Image  # the network grid (LPS, settings.spacing_mm)
    image_grid: sitk.Image  # the venous image's own grid, to write predictions back
    intensity: Intensity = field(default_factory=lambda: Intensity("ct"))
    phases: tuple[str, ...] = ()

    @property
    def shape(self) -> tuple[int, int, int]:
        """Spatial shape (z, y, x)."""
        return tuple(self.image.shape[1:])  # type: ignore[return-value]

    @property
    def voxel_ml(self) -> float:
        """Volume of one network-grid voxel in mL."""
        return float(np.prod(self.spacing_zyx)) / 1000.0

    def class_targets(self, classes: Sequence[str]) -> np.ndarray:
        """Patient-level multi-hot target [C]: does the patient have a lesion of class k."""
        names = set(self.instance_classes.values())
        return np.array([c in names for c in classes], dtype=np.float32)


# ---------------------------------------------------------------- geometry


def _geometry(image: sitk.Image) -> np.ndarray:
    """Size, spacing, origin and direction of an image as one float64 vector."""
    return np.concatenate([image.GetSize(), image.GetSpacing(), image.GetOrigin(),
                           image.GetDirection()]).astype(np.float64)


def _blank(geometry: np.ndarray) -> sitk.Image:
    """An empty uint8 image with the geometry of ``_geometry``."""
    size = [round(float(v)) for v in geometry[:3]]
    image = sitk.Image(size, sitk.sitkUInt8)
    image.SetSpacing([float(v) for v in geometry[3:6]])
    image.SetOrigin([float(v) for v in geometry[6:9]])
    image.SetDirection([float(v) for v in geometry[9:18]])
    return image


# ---------------------------------------------------------------- reading one patient


def _phase_paths(row: PatientRow, phases: Sequence[str]) -> dict[str, Path | None]:
    """Image path of every phase (None where the patient lacks it); venous is required."""
    paths = {p: row.images.get(f"image_{p}") for p in phases}
    if paths[REFERENCE_PHASE] is None:
        raise DataError(
            f"patient {row.patient_id} has no venous-phase image (manifest column image_venous): "
            "the multi-phase model resamples every phase onto the venous grid. Add the venous "
            "image or drop the patient."
        )
    return paths


def _instance_classes(row: PatientRow, values: np.ndarray, classes: Sequence[str]
                      ) -> dict[int, str]:
    """Class of every lesion value, from the lesion-label file (checked against ``classes``)."""
    if row.lesion_labels is None:
        raise DataError(f"patient {row.patient_id} has a lesion mask but no lesion_labels file: "
                        "add a CSV with columns lesion_label,label naming each lesion's class.")
    mapping = read_lesion_labels(row.lesion_labels)
    out = {}
    for value in (int(v) for v in values if v > 0):
        if value not in mapping:
            raise DataError(f"patient {row.patient_id}: lesion value {value} has no class in "
                            f"{row.lesion_labels}. Add it to the lesion-label file.")
        if mapping[value] not in classes:
            raise DataError(f"patient {row.patient_id}: lesion {value} has class "
                            f"{mapping[value]!r}, which is not one of the allowed classes "
                            f"{list(classes)}. Fix {row.lesion_labels} or the settings' classes.")
        out[value] = mapping[value]
    return out


def _read_row(row: PatientRow, settings: MultiphaseSettings) -> dict[str, np.ndarray]:
    """Resample one patient's phases and masks onto the network grid (raw HU, no scaling)."""
    paths = _phase_paths(row, settings.phases)
    venous = read_image(paths[REFERENCE_PHASE])  # type: ignore[arg-type]
    grid = to_grid(venous, settings.spacing_mm)
    shape = tuple(reversed(grid.GetSize()))
    raw = np.zeros((len(settings.phases), *shape), dtype=np.float32)
    present = np.zeros(len(settings.phases), dtype=bool)
    for i, phase in enumerate(settings.phases):
        if paths[phase] is not None:
            image = venous if phase == REFERENCE_PHASE else read_image(paths[phase])  # type: ignore[arg-type]
            raw[i] = image_on_grid(image, grid)
            present[i] = True
    out = {"raw": raw, "present": present, "grid": _geometry(grid),
           "image_grid": _geometry(venous), "center": np.array(row.center or "")}
    liver = None
    if "liver_mask" in row.masks:
        mask = read_mask(row.masks["liver_mask"], venous, name=f"{row.patient_id} liver mask")
        liver = sitk.GetArrayFromImage(resample_to(sitk.Cast(mask, sitk.sitkUInt8), grid)) > 0
    if "lesion_mask" in row.masks:
        mask = read_mask(row.masks["lesion_mask"], venous, name=f"{row.patient_id} lesion mask")
        mask = sitk.Cast(mask, sitk.sitkUInt32)
        mapping = _instance_classes(row, np.unique(sitk.GetArrayViewFromImage(mask)),
                                    settings.classes)
        instances = sitk.GetArrayFromImage(resample_to(mask, grid)).astype(np.int32)
        labels = np.zeros(shape, dtype=np.uint8)
        if liver is not None:
            labels[liver] = 1
        for value, name in mapping.items():
            labels[instances == value] = N_TISSUE + settings.classes.index(name)
        out.update(labels=labels, instances=instances,
                   ids=np.array(list(mapping), dtype=np.int64),
                   names=np.array(list(mapping.values()), dtype=str))
        if liver is not None:
            liver = liver | (instances > 0)
    if liver is not None:
        out["liver"] = liver
    return out


# ---------------------------------------------------------------- cache


def _cache_key(row: PatientRow, settings: MultiphaseSettings) -> str:
    """Hash of the input files (path, size, mtime) and the settings the volumes depend on."""
    files = [*row.images.values(), *row.masks.values(), row.lesion_labels]
    stats = []
    for path in files:
        if path is not None and path.exists():
            st = path.stat()
            stats.append([str(path), st.st_size, st.st_mtime_ns])
    payload = [CACHE_FORMAT, list(settings.phases), list(settings.spacing_mm),
               list(settings.classes), sorted(stats), row.center]
    return hashlib.sha256(json.dumps(payload).encode()).hexdigest()[:16]


def _cache_path(cache_dir: Path, row: PatientRow, settings: MultiphaseSettings) -> Path:
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", row.patient_id)
    return cache_dir / f"{safe}-{_cache_key(row, settings)}.npz"


def _load_raw(row: PatientRow, settings: MultiphaseSettings,
              cache_dir: Path | None) -> dict[str, np.ndarray]:
    """The resampled arrays of one patient, from the cache when it holds them."""
    path = None if cache_dir is None else _cache_path(cache_dir, row, settings)
    if path is not None and path.is_file():
        try:
            with np.load(path, allow_pickle=False) as stored:
                return {k: stored[k] for k in stored.files}
        except (OSError, ValueError, KeyError):
            pass  # a damaged cache file is rebuilt below
    arrays = _read_row(row, settings)
    if path is not None:
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, **arrays)
    return arrays


# ---------------------------------------------------------------- cases


def fit_case_intensity(raws: Sequence[dict[str, np.ndarray]], ct: bool = True) -> Intensity:
    """CT clip + z-score fitted on the liver voxels of every present phase.

    The clip bounds are the 0.5 / 99.5 percentiles of the liver voxels, widened to those of the
    lesion voxels (so hyper-enhancing and calcified lesions are not clipped to the liver's
    range); mean and SD are those of the clipped liver voxels (nnU-Net's CT scheme otherwise).
    """
    if not ct:
        return Intensity("zscore")
    liver, lesion = [], []
    for arrays in raws:
        if "liver" not in arrays:
            continue
        inside = arrays["liver"].astype(bool)
        lesions = arrays["instances"] > 0 if "instances" in arrays else None
        for i in np.flatnonzero(arrays["present"]):
            liver.append(arrays["raw"][i][inside])
            if lesions is not None and lesions.any():
                lesion.append(arrays["raw"][i][lesions])
    values = np.concatenate(liver) if liver else np.empty(0)
    if not values.size:
        raise DataError("no patient has a liver mask to fit the intensity normalisation on: "
                        "give liver masks for training, or pass intensity= of a trained model "
                        "(load_multiphase_model) for new patients.")
    low, high = (float(v) for v in np.percentile(values, [0.5, 99.5]))
    if lesion:
        lo_lesion, hi_lesion = np.percentile(np.concatenate(lesion), [0.5, 99.5])
        low, high = min(low, float(lo_lesion)), max(high, float(hi_lesion))
    clipped = np.clip(values, low, high)
    return Intensity("ct", low, high, float(clipped.mean()), float(clipped.std()) or 1.0)


def _case(row: PatientRow, arrays: dict[str, np.ndarray], settings: MultiphaseSettings,
          intensity: Intensity) -> MultiphaseCase:
    """A normalised case from its raw arrays."""
    raw, present = arrays["raw"], arrays["present"].astype(bool)
    image = np.zeros_like(raw, dtype=np.float32)
    for i in np.flatnonzero(present):
        image[i] = intensity.apply(raw[i])
    grid = _blank(arrays["grid"])
    has_lesions = "labels" in arrays
    classes = (dict(zip((int(v) for v in arrays["ids"]), (str(n) for n in arrays["names"]),
                        strict=True)) if has_lesions else {})
    return MultiphaseCase(
        patient_id=row.patient_id, center=row.center, image=image, present=present,
        labels=arrays["labels"].astype(np.uint8) if has_lesions else None,
        instances=arrays["instances"].astype(np.int32) if has_lesions else None,
        instance_classes=classes,
        liver=arrays["liver"].astype(bool) if "liver" in arrays else None,
        spacing_zyx=tuple(float(v) for v in reversed(grid.GetSpacing())),  # type: ignore[arg-type]
        grid=grid, image_grid=_blank(arrays["image_grid"]), intensity=intensity,
        phases=tuple(settings.phases),
    )


def load_cases(manifest: Manifest | str | Path, settings: MultiphaseSettings, *,
               cache_dir: str | Path | None = None, intensity: Intensity | None = None,
               progress: Progress | None = None, splits: Sequence[str] | None = None
               ) -> list[MultiphaseCase]:
    """Every patient of a manifest on the network grid, normalised.

    ``intensity=None`` fits the normalisation on these patients' liver voxels (training); pass a
    trained model's intensity for new patients. ``splits`` keeps rows whose split is listed (a
    blank split counts as 'train'). ``progress(done, total)`` is called after each patient.
    """
    if not isinstance(manifest, Manifest):
        manifest = load_manifest(manifest)
    rows = manifest.rows()
    if splits:
        rows = [r for r in rows if (r.split or "train") in set(splits)]
    if not rows:
        raise DataError(f"no patient of {manifest.path} is in splits {list(splits or [])}.")
    cache = None if cache_dir is None else Path(cache_dir)
    raws = []
    for done, row in enumerate(rows, start=1):
        raws.append(_load_raw(row, settings, cache))
        if progress is not None:
            progress(done, len(rows))
    if intensity is None:
        intensity = fit_case_intensity(raws, ct=all(r.modality == "CT" for r in rows))
    return [_case(r, a, settings, intensity) for r, a in zip(rows, raws, strict=True)]
