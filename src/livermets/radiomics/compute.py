"""The worker side: features of the regions of one task (runs in worker processes or on Dask)."""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from livermets.radiomics.engines import get_engine
from livermets.radiomics.params import TEXTURE_CLASSES, Extraction
from livermets.radiomics.regions import RegionTask, pyradiomics_crop, resample_window


def _dimensions(mask: np.ndarray) -> int:
    """How many axes the region extends along (0 for one voxel)."""
    return sum(int(np.any(mask, axis=tuple(a for a in range(3) if a != ax)).sum() > 1)
               for ax in range(3))  # fmt: skip


def texture_reason(n_voxels: int, dims: int, extraction: Extraction) -> str | None:
    """Why texture features cannot be computed for a region, or None if they can."""
    wanted = [c for c in extraction.feature_classes if c in TEXTURE_CLASSES]
    if not wanted:
        return None
    needed_dims = 2
    if n_voxels < extraction.texture_min_voxels:
        return (
            f"{n_voxels} voxel(s) < texture_min_voxels={extraction.texture_min_voxels}: "
            f"{', '.join(wanted)} not computed (only shape and first order)"
        )
    if dims < needed_dims:
        return (
            f"region extends along {dims} axis/axes (a line or a voxel): "
            f"{', '.join(wanted)} not computed (only shape and first order)"
        )
    return None


def run_task(task: RegionTask, engine_name: str, extraction_json: str) -> list[dict]:
    """Features of every region of a task; failures become error results, never exceptions."""
    extraction = Extraction.model_validate_json(extraction_json)
    engine = get_engine(engine_name)
    own_crop = extraction.crop == "pyradiomics"  # each region cut and resampled on its own
    try:
        image, masks = (None, {}) if own_crop else resample_window(task, extraction)
    except (RuntimeError, ValueError) as exc:
        return [_error(task, r.region, r.lesion_id, f"resampling failed: {exc}")
                for r in task.regions]  # fmt: skip
    unresampled = extraction.resampling.model_copy(update={"spacing": None})
    inner = extraction.model_copy(update={"resampling": unresampled, "pre_crop": False})
    if own_crop:  # the patient's whole image was normalised when planned
        inner = inner.model_copy(update={"normalisation": None})
    out = []
    for region in task.regions:
        if own_crop:
            try:
                image, mask = pyradiomics_crop(task, region, extraction)
            except (RuntimeError, ValueError) as exc:
                out.append(_error(task, region.region, region.lesion_id,
                                  f"resampling failed: {exc}"))  # fmt: skip
                continue
        else:
            mask = masks[region.region]
        array = sitk.GetArrayViewFromImage(mask)
        n_voxels = int(np.count_nonzero(array))
        base = {
            "patient_id": task.patient_id,
            "region": region.region,
            "lesion_id": region.lesion_id,
            "key": region.key,
            "mask_hash": region.mask_hash,
            "n_voxels": n_voxels,
        }
        if n_voxels == 0:
            out.append({**base, "status": "error", "message": "the region is empty"})
            continue
        reason = texture_reason(n_voxels, _dimensions(array), extraction)
        try:
            features = engine.extract(image, mask, inner, texture=reason is None)
        except Exception as exc:  # an engine failure must not stop the run: it is reported
            out.append({**base, "status": "error", "message": f"{type(exc).__name__}: {exc}"})
            continue
        out.append(
            {
                **base,
                "status": "ok",
                "texture": "skipped" if reason else "yes",
                "note": reason or "",
                "features": features,
            }
        )
    return out


def _error(task: RegionTask, region: str, lesion_id: int | None, message: str) -> dict:
    """An error result of one region."""
    return {
        "patient_id": task.patient_id,
        "region": region,
        "lesion_id": lesion_id,
        "status": "error",
        "message": message,
    }
