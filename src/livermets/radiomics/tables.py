"""The features table (one row per lesion or per patient) and the errors table of a run."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from livermets.radiomics.params import RadiomicsParams
from livermets.radiomics.regions import LesionInfo, PatientPlan, ring_name
from livermets.radiomics.runner import ExtractionResult

LESION_ID_COLUMNS = ["patient_id", "lesion_id", "label", "volume_ml", "diameter_mm", "size_group"]
PATIENT_ID_COLUMNS = ["patient_id", "n_lesions"]
ERROR_COLUMNS = ["patient_id", "lesion_id", "region", "kind", "message"]


def lesion_regions(params: RadiomicsParams) -> list[str]:
    """Region names computed per lesion (the lesion and its rings)."""
    names = ["lesion"] if params.regions.lesion else []
    return names + [ring_name(w) for w in params.regions.ring_mm]


def patient_regions(result: ExtractionResult, params: RadiomicsParams) -> list[str]:
    """Region names computed once per patient, in a fixed order."""
    fixed = [n for n, on in (("liver", params.regions.liver),
                             ("parenchyma", params.regions.parenchyma),
                             ("primary", params.regions.primary)) if on]  # fmt: skip
    per_lesion = set(lesion_regions(params))
    extras = sorted({region for (_, region, _) in result.features} - per_lesion - set(fixed))
    return fixed + extras


def _prefixed(features: dict[str, float] | None, prefix: str) -> dict[str, float]:
    """Features with a region prefix."""
    return {f"{prefix}{k}": v for k, v in (features or {}).items()}


SPACING_COLUMNS = ("spacing_x_mm", "spacing_y_mm", "spacing_z_mm")


def _provenance(result: ExtractionResult, plan: PatientPlan, engine_version: str,
                params_hash: str) -> dict[str, object]:  # fmt: skip
    """Provenance columns of a row, and the image's voxel spacing as read (before any
    resampling; the out-of-distribution check of frozen models compares it with training)."""
    out: dict[str, object] = {"engine_version": engine_version, "params_hash": params_hash,
                              "image_hash": plan.image_hash}  # fmt: skip
    if plan.spacing is not None:
        out.update(zip(SPACING_COLUMNS, plan.spacing, strict=False))
    return out


def _aggregate(
    lesions: list[LesionInfo], values: list[dict[str, float] | None], rule: str
) -> dict[str, float]:
    """Patient-level values of lesion features: largest lesion, volume-weighted mean, or max."""
    if not lesions:
        return {}
    if rule == "largest":
        biggest = max(range(len(lesions)), key=lambda i: lesions[i].volume_ml)
        return dict(values[biggest] or {})
    names: list[str] = []
    for feats in values:
        for name in feats or {}:
            if name not in names:
                names.append(name)
    out = {}
    weights = np.array([les.volume_ml for les in lesions], dtype=float)
    for name in names:
        column = np.array([(f or {}).get(name, math.nan) for f in values], dtype=float)
        finite = np.isfinite(column)
        if not finite.any():
            out[name] = math.nan
        elif rule == "max":
            out[name] = float(column[finite].max())
        else:
            w = weights[finite]
            out[name] = float((column[finite] * w).sum() / w.sum()) if w.sum() > 0 else math.nan
    return out


def feature_table(
    result: ExtractionResult,
    params: RadiomicsParams,
    level: str,
    engine_version: str,
) -> pd.DataFrame:
    """One row per lesion (``level='lesion'``) or per patient (``'patient'``)."""
    per_lesion = lesion_regions(params)
    per_patient = patient_regions(result, params)
    several = len(per_lesion) + len(per_patient) > 1
    params_hash = params.params_hash()
    rows = []
    for plan in result.plans:
        pid = plan.patient_id
        shared: dict[str, float] = {}
        for region in per_patient:
            feats = result.features.get((pid, region, None))
            shared.update(_prefixed(feats, f"{region}_" if several else ""))
        provenance = _provenance(result, plan, engine_version, params_hash)
        if level == "lesion":
            for les in plan.lesions:
                row: dict[str, object] = {
                    "patient_id": pid, "lesion_id": les.lesion_id, "label": les.label,
                    "volume_ml": les.volume_ml, "diameter_mm": les.diameter_mm,
                    "size_group": les.size_group, **provenance,
                }  # fmt: skip
                for region in per_lesion:
                    feats = result.features.get((pid, region, les.lesion_id))
                    row.update(_prefixed(feats, f"{region}_" if several else ""))
                row.update(shared)
                rows.append(row)
        else:
            row = {"patient_id": pid, "label": plan.label, "n_lesions": len(plan.lesions),
                   **provenance}  # fmt: skip
            for region in per_lesion:
                values = [result.features.get((pid, region, les.lesion_id)) for les in plan.lesions]
                row.update(
                    _prefixed(
                        _aggregate(plan.lesions, values, params.aggregation),
                        f"{region}_" if several else "",
                    )
                )
            row.update(shared)
            rows.append(row)
    table = pd.DataFrame(rows)
    if table.empty:
        columns = LESION_ID_COLUMNS if level == "lesion" else ["patient_id", "label", "n_lesions"]
        return pd.DataFrame(columns=[*columns, "engine_version", "params_hash", "image_hash"])
    table["label"] = table["label"].astype("object")
    return table


def error_table(result: ExtractionResult) -> pd.DataFrame:
    """Failing regions and regions without texture, with the reason."""
    table = pd.DataFrame(result.errors, columns=ERROR_COLUMNS)
    table["lesion_id"] = table["lesion_id"].astype("Int64")
    return table.sort_values(["patient_id", "lesion_id", "region"], kind="stable").reset_index(
        drop=True
    )
