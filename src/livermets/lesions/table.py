"""The lesions table (one row per lesion) and the patients table, from a cohort manifest."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import SimpleITK as sitk

from livermets._progress import PatientProgress
from livermets.cohort.labels import read_lesion_labels
from livermets.cohort.manifest import Manifest, PatientRow
from livermets.errors import ConfigError, DataError, ManifestError
from livermets.io import read_image, read_mask
from livermets.io.instances import split_instances
from livermets.lesions.measure import (
    DEFAULT_SIZE_EDGES,
    axial_diameter,
    max_3d_diameter,
    size_group,
)

LESION_COLUMNS = [
    "patient_id", "lesion_id", "label", "source_label", "volume_ml", "diameter_mm",
    "diameter_slice", "max_diameter_3d_mm", "size_group", "n_voxels",
    "centroid_x_mm", "centroid_y_mm", "centroid_z_mm", "centroid_i", "centroid_j", "centroid_k",
    "bbox_i_min", "bbox_i_max", "bbox_j_min", "bbox_j_max", "bbox_k_min", "bbox_k_max",
    "mean_hu", "sd_hu", "fraction_in_liver",
]  # fmt: skip
PATIENT_COLUMNS = [
    "patient_id", "n_lesions", "n_excluded_small", "liver_volume_ml", "lesion_volume_ml",
    "tumour_burden", "largest_diameter_mm",
]  # fmt: skip


@dataclass(frozen=True)
class LesionSettings:
    """How lesions are split and filtered, and how sizes are grouped."""

    connectivity: int = 26
    min_diameter_mm: float = 5.0
    size_edges: tuple[float, ...] = DEFAULT_SIZE_EDGES
    resample_masks: bool = False

    def __post_init__(self) -> None:
        if self.min_diameter_mm < 0:
            raise ConfigError("--min-diameter must be >= 0 mm.")
        edges = list(self.size_edges)
        if not edges or edges != sorted(edges) or len(set(edges)) != len(edges) or edges[0] <= 0:
            raise ConfigError(
                f"size-group edges must be positive and increasing (got {self.size_edges})."
            )


@dataclass
class PatientLesions:
    """Measured lesions and the patient summary of one patient.

    ``instance_map`` (when asked for) holds each kept lesion's ``lesion_id`` on the lesion mask's
    grid; background and dropped lesions are 0.
    """

    lesions: list[dict] = field(default_factory=list)
    summary: dict = field(default_factory=dict)
    instance_map: sitk.Image | None = None


def measure_lesions(
    patient_id: str,
    lesion_mask: sitk.Image,
    *,
    image: sitk.Image | None = None,
    liver_mask: sitk.Image | None = None,
    lesion_classes: dict[int, str] | None = None,
    patient_label: object = None,
    settings: LesionSettings | None = None,
    with_instance_map: bool = False,
) -> PatientLesions:
    """Split, measure and filter the lesions of one patient (all inputs on one grid)."""
    settings = settings or LesionSettings()
    labels = sitk.GetArrayFromImage(lesion_mask)
    instance_map, instances = split_instances(labels, settings.connectivity)
    spacing = lesion_mask.GetSpacing()
    voxel_ml = float(np.prod(spacing)) / 1000.0
    hu = sitk.GetArrayViewFromImage(image) if image is not None else None
    liver = sitk.GetArrayViewFromImage(liver_mask) > 0 if liver_mask is not None else None
    result = PatientLesions()
    excluded = 0
    kept_id = 0
    remap = np.zeros(len(instances) + 1, dtype=np.uint16 if len(instances) < 65535 else np.uint32)
    for inst in instances:
        region = inst.crop(instance_map) == inst.instance
        diameter, dslice = axial_diameter(region, spacing)
        if diameter < settings.min_diameter_mm:
            excluded += 1
            continue
        kept_id += 1
        remap[inst.instance] = kept_id
        z0, z1, y0, y1, x0, x1 = inst.bbox
        idx = np.argwhere(region).mean(axis=0) + np.array([z0, y0, x0])
        k, j, i = (float(v) for v in idx)
        phys = lesion_mask.TransformContinuousIndexToPhysicalPoint((i, j, k))
        values = inst.crop(hu)[region] if hu is not None else None
        label = (
            lesion_classes.get(inst.source_label) if lesion_classes is not None else patient_label
        )
        result.lesions.append(
            {
                "patient_id": patient_id,
                "lesion_id": kept_id,
                "label": label,
                "source_label": inst.source_label,
                "volume_ml": inst.n_voxels * voxel_ml,
                "diameter_mm": diameter,
                "diameter_slice": z0 + dslice,
                "max_diameter_3d_mm": max_3d_diameter(region, spacing),
                "size_group": size_group(diameter, settings.size_edges),
                "n_voxels": inst.n_voxels,
                "centroid_x_mm": phys[0],
                "centroid_y_mm": phys[1],
                "centroid_z_mm": phys[2],
                "centroid_i": i,
                "centroid_j": j,
                "centroid_k": k,
                "bbox_i_min": x0, "bbox_i_max": x1 - 1,
                "bbox_j_min": y0, "bbox_j_max": y1 - 1,
                "bbox_k_min": z0, "bbox_k_max": z1 - 1,
                "mean_hu": float(values.mean()) if values is not None else np.nan,
                "sd_hu": float(values.std(ddof=1)) if values is not None and values.size > 1
                else np.nan,
                "fraction_in_liver": float(inst.crop(liver)[region].mean())
                if liver is not None else np.nan,
            }
        )  # fmt: skip
    lesion_ml = sum(les["volume_ml"] for les in result.lesions)
    liver_ml = float(liver.sum()) * voxel_ml if liver is not None else np.nan
    result.summary = {
        "patient_id": patient_id,
        "n_lesions": len(result.lesions),
        "n_excluded_small": excluded,
        "liver_volume_ml": liver_ml,
        "lesion_volume_ml": lesion_ml,
        "tumour_burden": lesion_ml / liver_ml if liver_ml and liver_ml > 0 else np.nan,
        "largest_diameter_mm": max((les["diameter_mm"] for les in result.lesions), default=0.0),
    }
    if with_instance_map:
        result.instance_map = sitk.GetImageFromArray(remap[instance_map])
        result.instance_map.CopyInformation(lesion_mask)
    return result


def measure_patient(
    row: PatientRow, settings: LesionSettings | None = None, with_instance_map: bool = False
) -> PatientLesions:
    """Read one manifest row's image and masks and measure its lesions."""
    settings = settings or LesionSettings()
    image = read_image(row.image) if row.image is not None else None
    lesion_path = row.masks.get("lesion_mask")
    liver_path = row.masks.get("liver_mask")
    reference = image
    liver = None
    if liver_path is not None:
        liver = read_mask(
            liver_path,
            reference,
            resample=settings.resample_masks,
            name=f"liver mask of {row.patient_id}",
        )
        reference = reference or liver
    if lesion_path is None:  # a blank lesion_mask cell: a patient without lesions
        if reference is None:
            raise DataError(
                f"patient {row.patient_id} has neither an image, a liver mask nor a lesion mask."
            )
        empty = sitk.Image(reference.GetSize(), sitk.sitkUInt8)
        empty.CopyInformation(reference)
        return measure_lesions(
            row.patient_id, empty, image=image, liver_mask=liver, settings=settings,
            with_instance_map=with_instance_map,
        )  # fmt: skip
    lesions = read_mask(
        lesion_path,
        reference,
        resample=settings.resample_masks,
        name=f"lesion mask of {row.patient_id}",
    )
    if row.lesion_mask_label is not None:  # only this mask value is lesion (pyradiomics' label)
        keep = sitk.Cast(lesions == row.lesion_mask_label, lesions.GetPixelID())
        lesions = sitk.Multiply(lesions, keep)
    classes = read_lesion_labels(row.lesion_labels) if row.lesion_labels is not None else None
    return measure_lesions(
        row.patient_id,
        lesions,
        image=image,
        liver_mask=liver,
        lesion_classes=classes,
        patient_label=row.label,
        settings=settings,
        with_instance_map=with_instance_map,
    )


def build_lesion_tables(
    manifest: Manifest,
    settings: LesionSettings | None = None,
    progress: PatientProgress | None = None,
    patients: Sequence[str] | None = None,
    on_patient: Callable[[PatientRow, PatientLesions], None] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The lesions table and the patients table of a whole cohort.

    ``on_patient`` is called with each patient's measurements and lesion instance map (which
    are not kept: one volume in memory at a time), e.g. to write the maps.
    """
    ids = manifest.table["patient_id"]
    duplicated = sorted(set(ids[ids.duplicated()].astype(str)))
    if duplicated:
        raise ManifestError(
            f"patient IDs {duplicated} appear more than once in {manifest.path}; run "
            "`livermets validate` and fix the manifest."
        )
    lesion_rows: list[dict] = []
    patient_rows: list[dict] = []
    for row in manifest.rows():
        if patients is not None and row.patient_id not in patients:
            continue
        measured = measure_patient(row, settings, with_instance_map=on_patient is not None)
        if on_patient is not None:
            on_patient(row, measured)
            measured.instance_map = None
        lesion_rows.extend(measured.lesions)
        patient_rows.append(measured.summary)
        if progress is not None:
            progress(row.patient_id)
    lesions = pd.DataFrame(lesion_rows, columns=LESION_COLUMNS)
    lesions["label"] = lesions["label"].astype("object")
    return lesions, pd.DataFrame(patient_rows, columns=PATIENT_COLUMNS)
