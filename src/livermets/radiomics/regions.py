"""Regions of one patient (lesions, peritumoral rings, liver, primary, extra masks) as tasks."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import SimpleITK as sitk
from scipy.ndimage import distance_transform_edt

from livermets.cohort.labels import read_lesion_labels
from livermets.cohort.manifest import PatientRow
from livermets.errors import DataError
from livermets.io import read_image, read_mask
from livermets.lesions import axial_diameter, size_group, split_instances
from livermets.radiomics.params import Extraction, RadiomicsParams
from livermets.radiomics.preprocessing import ibsi_resample, pyradiomics_normalise

Box = tuple[int, int, int, int, int, int]  # z0, z1, y0, y1, x0, x1 (half-open)


@dataclass
class RegionMask:
    """One region of a task: its name, its lesion, its voxels in the task window, its hash."""

    region: str
    lesion_id: int | None
    mask: np.ndarray
    mask_hash: str
    key: str = ""


@dataclass
class RegionTask:
    """A unit of work: one image window and the regions computed on it (shared pre-processing)."""

    patient_id: str
    image: np.ndarray
    spacing: tuple[float, float, float]
    origin: tuple[float, float, float]
    direction: tuple[float, ...]
    full_origin: tuple[float, float, float]
    full_size: tuple[int, int, int]
    regions: list[RegionMask]
    n_voxels: int
    is_lesion: bool
    image_hash: str = ""

    def image_sitk(self) -> sitk.Image:
        """The window as a SimpleITK image."""
        return _to_sitk(self.image, self)

    def mask_sitk(self, region: RegionMask) -> sitk.Image:
        """A region mask on the window grid (label 1)."""
        return _to_sitk(region.mask.astype(np.uint8), self)


def _to_sitk(array: np.ndarray, task: RegionTask) -> sitk.Image:
    """A SimpleITK image of an array on a task's window grid."""
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(task.spacing)
    image.SetOrigin(task.origin)
    image.SetDirection(task.direction)
    return image


@dataclass
class LesionInfo:
    """What the feature tables need about one lesion (from the lesions table)."""

    lesion_id: int
    label: object
    volume_ml: float
    diameter_mm: float
    size_group: str


@dataclass
class PatientPlan:
    """Everything prepared for one patient: lesions, image hash, tasks, region problems."""

    patient_id: str
    image_hash: str
    label: object = None
    lesions: list[LesionInfo] = field(default_factory=list)
    tasks: list[RegionTask] = field(default_factory=list)
    problems: list[dict] = field(default_factory=list)
    spacing: tuple[float, ...] | None = None  # the image's voxel spacing (x, y, z mm) as read


def array_hash(array: np.ndarray, *extra: object) -> str:
    """A content hash of an array (values, dtype, shape) and extra geometry values."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(np.ascontiguousarray(array).tobytes())
    digest.update(repr((array.dtype.str, array.shape, extra)).encode())
    return digest.hexdigest()


def image_hash(image: sitk.Image) -> str:
    """Content hash of an image: voxels and geometry (file format does not matter)."""
    return array_hash(
        sitk.GetArrayViewFromImage(image),
        image.GetSpacing(),
        image.GetOrigin(),
        image.GetDirection(),
    )


WHOLE_IMAGE = 1 << 30  # a margin that grows any window to the whole image


def margin_voxels(extraction: Extraction, spacing_xyz: tuple[float, ...]) -> np.ndarray:
    """Voxels (z, y, x) to add around a region so filters and resampling see what they need."""
    mm = 0.0
    vox = 1.0
    types = extraction.image_types
    if types.log is not None:
        mm = max(mm, 6.0 * max(types.log.sigma))
        vox += 2
    if types.wavelet is not None:
        vox += 6 * 2 ** (types.wavelet.level + types.wavelet.start_level)
    if types.gradient:
        vox += 2
    spacing = np.array(spacing_xyz[::-1], dtype=float)
    pad = extraction.resampling.pad_distance
    if extraction.crop == "pyradiomics" and extraction.resampling.spacing is None:
        if not extraction.pre_crop:  # pyradiomics filters the whole image
            return np.full(3, WHOLE_IMAGE)
        return np.full(3, pad + 1)
    if extraction.resampling.spacing is not None:
        new = np.array(extraction.resampling.spacing[::-1], dtype=float)
        new = np.where(new == 0, spacing, new)
        mm_axis = mm + (pad + 2) * new + 4 * spacing
        if extraction.crop == "pyradiomics":  # B-spline coefficients as from the whole image
            vox += 16
        return np.ceil(mm_axis / spacing + vox).astype(int)
    return np.ceil(mm / spacing + vox).astype(int)


def _box_of(mask: np.ndarray) -> Box | None:
    """Half-open bounding box of a boolean (z, y, x) array, or None if empty."""
    if not mask.any():
        return None
    out = []
    for axis in range(3):
        hit = np.flatnonzero(mask.any(axis=tuple(a for a in range(3) if a != axis)))
        out += [int(hit[0]), int(hit[-1]) + 1]
    return tuple(out)  # type: ignore[return-value]


def _grow(box: Box, by: np.ndarray, shape: tuple[int, ...]) -> Box:
    """A box grown by per-axis voxel counts, clipped to the image."""
    out = []
    for axis in range(3):
        out += [
            max(0, box[2 * axis] - int(by[axis])),
            min(shape[axis], box[2 * axis + 1] + int(by[axis])),
        ]
    return tuple(out)  # type: ignore[return-value]


def _crop(array: np.ndarray, box: Box) -> np.ndarray:
    """The crop of a (z, y, x) array to a box."""
    z0, z1, y0, y1, x0, x1 = box
    return array[z0:z1, y0:y1, x0:x1]


def ring_mask(
    lesion: np.ndarray,
    all_lesions: np.ndarray,
    liver: np.ndarray | None,
    width_mm: float,
    spacing_xyz: tuple[float, ...],
) -> np.ndarray:
    """Voxels within ``width_mm`` of a lesion, outside every lesion, inside the liver if given."""
    distance = distance_transform_edt(~lesion, sampling=spacing_xyz[::-1])
    ring = (distance <= width_mm) & ~all_lesions
    if liver is not None:
        ring &= liver
    return ring


class _PatientImage:
    """One patient's image and masks, loaded once and shared by all its regions."""

    def __init__(self, row: PatientRow, params: RadiomicsParams) -> None:
        if row.image is None:
            raise DataError(f"patient {row.patient_id} has no image; add an 'image' column.")
        self.row = row
        self.image = read_image(row.image)
        self.array = sitk.GetArrayFromImage(self.image)
        ex = params.extraction
        if ex.crop == "pyradiomics" and ex.normalisation is not None:
            # pyradiomics normalises the whole image before cutting out a region
            self.array = sitk.GetArrayFromImage(pyradiomics_normalise(self.image, ex.normalisation))
        self.spacing = self.image.GetSpacing()
        self.params = params

    def mask(self, column: str) -> np.ndarray | None:
        """A manifest mask column on the image grid as a label array, or None if blank."""
        path = self.row.masks.get(column)
        if path is None:
            return None
        mask = read_mask(path, self.image, name=f"{column} of {self.row.patient_id}")
        return sitk.GetArrayFromImage(mask)

    def _region_hash(self, crop: np.ndarray, window: Box) -> str:
        """Hash of a region's voxels and position, whatever window it was cut from."""
        tight = _box_of(crop)
        if tight is None:
            return array_hash(crop, "empty")
        absolute = tuple(t + window[2 * (i // 2)] for i, t in enumerate(tight))
        return array_hash(
            _crop(crop, tight), absolute, self.spacing, self.image.GetOrigin(),
            self.image.GetDirection(),
        )  # fmt: skip

    def task(
        self, box: Box, regions: list[tuple[str, int | None, np.ndarray]], is_lesion: bool
    ) -> RegionTask:
        """A task for regions given as boolean arrays shaped like the window ``box``."""
        z0, _, y0, _, x0, _ = box
        origin = self.image.TransformIndexToPhysicalPoint((x0, y0, z0))
        items = []
        for name, lesion_id, crop in regions:
            crop = np.ascontiguousarray(crop)
            items.append(RegionMask(name, lesion_id, crop, self._region_hash(crop, box)))
        image = np.ascontiguousarray(_crop(self.array, box))
        return RegionTask(
            patient_id=self.row.patient_id,
            image=image,
            spacing=tuple(self.spacing),
            origin=tuple(origin),
            direction=tuple(self.image.GetDirection()),
            full_origin=tuple(self.image.GetOrigin()),
            full_size=tuple(self.image.GetSize()),
            regions=items,
            n_voxels=int(sum(r.mask.sum() for r in items)),
            is_lesion=is_lesion,
        )


def extra_regions(row: PatientRow, wanted: list[str] | str) -> list[str]:
    """The extra ``mask_<region>`` names to extract for a row."""
    present = [c[len("mask_"):] for c in row.masks if c.startswith("mask_")]
    if wanted == "all":
        return present
    return [name for name in wanted if name in present]


def plan_patient(row: PatientRow, params: RadiomicsParams) -> PatientPlan:
    """Load one patient once and turn its regions into tasks (largest first)."""
    data = _PatientImage(row, params)
    regions = params.regions
    margin = margin_voxels(params.extraction, data.spacing)
    shape = data.array.shape
    plan = PatientPlan(row.patient_id, image_hash(data.image), label=row.label,
                       spacing=tuple(float(v) for v in data.image.GetSpacing()))
    needs_liver = bool(
        regions.liver or regions.parenchyma or (regions.ring_mm and regions.ring_clip_to_liver)
    )
    liver_labels = data.mask("liver_mask") if needs_liver else None
    liver = liver_labels > 0 if liver_labels is not None else None
    lesion_labels = data.mask("lesion_mask")
    keep = row.lesion_mask_label if row.lesion_mask_label is not None else regions.lesion_label
    if lesion_labels is not None and keep is not None:  # pyradiomics' label: one mask value
        lesion_labels = np.where(lesion_labels == keep, lesion_labels, 0)
    all_lesions = lesion_labels > 0 if lesion_labels is not None else np.zeros(shape, bool)
    if needs_liver and liver is None:
        plan.problems.append(
            _problem(row.patient_id, None, "liver", "no liver_mask in the manifest: liver, "
                     "parenchyma and liver-clipped rings need one (or set ring_clip_to_liver: "
                     "false)")
        )  # fmt: skip
    if lesion_labels is not None and (regions.lesion or regions.ring_mm):
        _plan_lesions(data, plan, lesion_labels, all_lesions, liver, margin)
    if liver is not None and (regions.liver or regions.parenchyma):
        box = _box_of(liver)
        if box is not None:
            window = _grow(box, margin, shape)
            liver_crop = _crop(liver, window)
            parts = []
            if regions.liver:
                parts.append(("liver", None, liver_crop))
            if regions.parenchyma:
                parts.append(("parenchyma", None, liver_crop & ~_crop(all_lesions, window)))
            plan.tasks.append(data.task(window, parts, is_lesion=False))
    if regions.primary:
        primary = data.mask("primary_mask")
        if primary is None:
            plan.problems.append(
                _problem(row.patient_id, None, "primary", "no primary_mask for this patient")
            )
        else:
            _add_single(data, plan, "primary", primary > 0, margin)
    for name in extra_regions(row, regions.extra):
        _add_single(data, plan, name, data.mask(f"mask_{name}") > 0, margin)
    plan.tasks.sort(key=lambda t: -t.n_voxels)
    for task in plan.tasks:
        task.image_hash = plan.image_hash
    return plan


def _problem(patient_id: str, lesion_id: int | None, region: str, message: str) -> dict:
    """A row of the errors table."""
    return {
        "patient_id": patient_id,
        "lesion_id": lesion_id,
        "region": region,
        "kind": "error",
        "message": message,
    }


def _add_single(
    data: _PatientImage, plan: PatientPlan, name: str, mask: np.ndarray, margin: np.ndarray
) -> None:
    """A task for one whole-mask region (primary tumour, extra mask)."""
    box = _box_of(mask)
    if box is None:
        plan.problems.append(_problem(plan.patient_id, None, name, f"the {name} mask is empty"))
        return
    window = _grow(box, margin, mask.shape)
    plan.tasks.append(data.task(window, [(name, None, _crop(mask, window))], False))


def ring_name(width_mm: float) -> str:
    """Region name of a peritumoral ring: ``ring5mm``, ``ring2.5mm``."""
    return f"ring{width_mm:g}mm"


def _plan_lesions(
    data: _PatientImage,
    plan: PatientPlan,
    labels: np.ndarray,
    all_lesions: np.ndarray,
    liver: np.ndarray | None,
    margin: np.ndarray,
) -> None:
    """Lesion (and ring) tasks; lesion ids and the small-lesion rule as in the lesions table."""
    params = data.params
    row = data.row
    classes = read_lesion_labels(row.lesion_labels) if row.lesion_labels is not None else None
    instance_map, instances = split_instances(labels, params.lesion_connectivity)
    spacing = data.spacing
    voxel_ml = float(np.prod(spacing)) / 1000.0
    ring_clip = liver if params.regions.ring_clip_to_liver else None
    max_ring = max(params.regions.ring_mm, default=0.0)
    ring_grow = np.ceil(max_ring / np.array(spacing[::-1])).astype(int) + 1
    lesion_id = 0
    for inst in instances:
        region_box = inst.crop(instance_map) == inst.instance
        diameter, _ = axial_diameter(region_box, spacing)
        if diameter < params.min_diameter_mm:  # dropped from the lesions table too
            continue
        lesion_id += 1
        label = classes.get(inst.source_label) if classes is not None else row.label
        plan.lesions.append(
            LesionInfo(lesion_id, label, inst.n_voxels * voxel_ml, diameter, size_group(diameter))
        )
        outer = _grow(inst.bbox, ring_grow, labels.shape) if max_ring else inst.bbox
        window = _grow(outer, margin, labels.shape)
        lesion = _crop(instance_map, window) == inst.instance
        parts: list[tuple[str, int | None, np.ndarray]] = []
        if params.regions.lesion:
            parts.append(("lesion", lesion_id, lesion))
        if max_ring and not (params.regions.ring_clip_to_liver and liver is None):
            for width in params.regions.ring_mm:
                ring = ring_mask(
                    lesion,
                    _crop(all_lesions, window),
                    _crop(ring_clip, window) if ring_clip is not None else None,
                    width,
                    spacing,
                )
                parts.append((ring_name(width), lesion_id, ring))
        if parts:
            plan.tasks.append(data.task(window, parts, is_lesion=True))


def resample_window(
    task: RegionTask, extraction: Extraction
) -> tuple[sitk.Image, dict[str, sitk.Image]]:
    """The task window (and its region masks) on the resampling lattice of the whole image.

    The lattice is pyradiomics' (anchored at the corner of the full image) or, with
    ``preprocessing: ibsi``, IBSI's (centred on the full image); either way a region gets the
    same grid whatever the window, and the image is resampled once for all regions of a task.
    """
    image = task.image_sitk()
    masks = {r.region: task.mask_sitk(r) for r in task.regions}
    if extraction.preprocessing == "ibsi":
        return ibsi_resample(
            image, masks, extraction, full_origin=task.full_origin, full_size=task.full_size
        )
    spacing_xyz = extraction.resampling.spacing
    if spacing_xyz is None:
        return image, masks
    old = np.array(task.spacing)
    new = np.array([o if n == 0 else n for n, o in zip(spacing_xyz, old, strict=True)])
    if np.allclose(old, new):
        return image, masks
    direction = np.array(task.direction).reshape(3, 3)
    # window corner in continuous full-image index coordinates
    offset = np.linalg.solve(direction * old, np.array(task.origin) - np.array(task.full_origin))
    size_old = np.array(image.GetSize())
    ratio = old / new
    k_lo = np.floor((offset - 0.5) * ratio)
    k_hi = np.ceil((offset + size_old - 0.5) * ratio) - 1
    start = 0.5 * (new - old) / old + k_lo / ratio  # continuous full-image index of new voxel 0
    origin = np.array(task.full_origin) + (direction * old) @ start
    size = [int(v) for v in (k_hi - k_lo + 1)]
    grid = (size, origin.tolist(), new.tolist(), list(task.direction))
    return _resample_on(image, grid, extraction), {
        name: _resample_on(mask, grid, None) for name, mask in masks.items()
    }


def _resample_on(img: sitk.Image, grid: tuple, extraction: Extraction | None) -> sitk.Image:
    """``img`` on ``grid`` (size, origin, spacing, direction): the extraction's interpolator for
    the image, nearest neighbour for a mask (``extraction`` None)."""
    interp = sitk.sitkNearestNeighbor if extraction is None else {
        "bspline": sitk.sitkBSpline,
        "linear": sitk.sitkLinear,
        "nearest": sitk.sitkNearestNeighbor,
    }[extraction.resampling.interpolator]
    size, origin, spacing, direction = grid
    return sitk.Resample(img, [int(v) for v in size], sitk.Transform(), interp, origin, spacing,
                         direction, 0, img.GetPixelID())  # fmt: skip


def pyradiomics_crop(
    task: RegionTask, region: RegionMask, extraction: Extraction
) -> tuple[sitk.Image, sitk.Image]:
    """One region's image and mask as pyradiomics' ``loadImage`` makes them from the whole image.

    With resampling: its grid (anchored at the corner of the whole image) over the region's
    bounding box plus ``pad_distance`` new voxels, clipped to the image; without, the bounding
    box plus ``pad_distance`` voxels with ``pre_crop``, else the whole image (the task window).
    """
    image, mask = task.image_sitk(), task.mask_sitk(region)
    box = _box_of(region.mask)
    if box is None:
        return image, mask
    old = np.array(task.spacing)
    direction = np.array(task.direction).reshape(3, 3)
    corner = np.linalg.solve(direction * old, np.array(task.origin) - np.array(task.full_origin))
    offset = np.rint(corner).astype(int)  # window corner, whole-image index (x, y, z)
    lo = np.array([box[4], box[2], box[0]]) + offset
    size = np.array([box[5] - box[4], box[3] - box[2], box[1] - box[0]])
    full = np.array(task.full_size)
    pad = extraction.resampling.pad_distance
    spacing = extraction.resampling.spacing
    new = old if spacing is None else np.where(np.array(spacing) == 0, old, spacing)
    new = np.where(size != 1, new, old)
    if spacing is None or np.allclose(old, new):
        if spacing is None and not extraction.pre_crop:
            return image, mask
        lower = np.maximum(lo - pad, 0) - offset
        upper = np.minimum(lo + size - 1 + pad, full - 1) - offset
        window = np.array(image.GetSize())
        crop = sitk.CropImageFilter()
        crop.SetLowerBoundaryCropSize([int(v) for v in np.maximum(lower, 0)])
        crop.SetUpperBoundaryCropSize([int(v) for v in np.maximum(window - 1 - upper, 0)])
        return crop.Execute(image), crop.Execute(mask)
    ratio = old / new
    first = np.maximum(np.floor((lo - 0.5) * ratio - pad), 0)
    last = np.minimum(np.ceil((lo + size - 0.5) * ratio + pad), np.ceil(full * ratio) - 1)
    start = 0.5 * (new - old) / old + first / ratio  # whole-image continuous index
    origin = np.array(task.full_origin) + (direction * old) @ start
    grid = (last - first + 1, origin.tolist(), new.tolist(), list(task.direction))
    return _resample_on(image, grid, extraction), _resample_on(mask, grid, None)


def iter_plans(rows: list[PatientRow], params: RadiomicsParams) -> Iterator[PatientPlan]:
    """Plans of patients one at a time (one image in memory at a time)."""
    for row in rows:
        yield plan_patient(row, params)
