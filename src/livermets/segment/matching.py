"""Lesion-wise detection: one-to-one matching of predicted to reference lesion instances."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

from livermets.errors import ConfigError, DataError
from livermets.lesions import axial_diameter, size_group, split_instances
from livermets.lesions.measure import DEFAULT_SIZE_EDGES

MATCH_METRICS = ("dice", "iou")


@dataclass(frozen=True)
class MatchSettings:
    """How a predicted lesion matches a reference lesion: overlap metric above a threshold."""

    metric: str = "dice"
    threshold: float = 0.1
    connectivity: int = 26
    size_edges: tuple[float, ...] = DEFAULT_SIZE_EDGES

    def __post_init__(self) -> None:
        """Validate the settings."""
        if self.metric not in MATCH_METRICS:
            raise ConfigError(
                f"lesion matching metric must be one of {MATCH_METRICS}, got {self.metric!r}."
            )
        if not 0.0 <= self.threshold < 1.0:
            raise ConfigError(
                f"lesion matching threshold must be in [0, 1), got {self.threshold}; a lesion "
                "matches when its overlap is strictly above it."
            )


@dataclass
class LesionMatch:
    """Matched and unmatched lesions of one patient (one row per lesion)."""

    reference: list[dict] = field(default_factory=list)
    predicted: list[dict] = field(default_factory=list)


def _pair_overlaps(ref_inst: np.ndarray, pred_inst: np.ndarray, n_ref: int, n_pred: int):
    both = (ref_inst > 0) & (pred_inst > 0)
    codes = ref_inst[both].astype(np.int64) * (n_pred + 1) + pred_inst[both].astype(np.int64)
    counts = np.bincount(codes, minlength=(n_ref + 1) * (n_pred + 1))
    return counts.reshape(n_ref + 1, n_pred + 1)[1:, 1:]


def _diameters(inst_map: np.ndarray, instances, spacing_xyz, edges) -> list[tuple[float, str]]:
    out = []
    for inst in instances:
        region = inst.crop(inst_map) == inst.instance
        diameter, _ = axial_diameter(region, spacing_xyz)
        out.append((diameter, size_group(diameter, edges)))
    return out


def match_lesions(
    patient_id: str,
    reference: np.ndarray,
    predicted: np.ndarray,
    spacing_xyz: Sequence[float],
    settings: MatchSettings | None = None,
) -> LesionMatch:
    """Match lesion instances of two (z, y, x) lesion maps one-to-one by maximal total overlap."""
    settings = settings or MatchSettings()
    if reference.shape != predicted.shape:
        raise DataError(
            f"patient {patient_id}: reference and predicted lesion masks have different shapes "
            f"{reference.shape} and {predicted.shape}."
        )
    ref_inst, ref_list = split_instances(np.asarray(reference), settings.connectivity)
    pred_inst, pred_list = split_instances(np.asarray(predicted), settings.connectivity)
    n_ref, n_pred = len(ref_list), len(pred_list)
    inter = _pair_overlaps(ref_inst, pred_inst, n_ref, n_pred).astype(float)
    ref_n = np.array([i.n_voxels for i in ref_list], dtype=float)
    pred_n = np.array([i.n_voxels for i in pred_list], dtype=float)
    sums = ref_n[:, None] + pred_n[None, :]
    dice_m = np.divide(2 * inter, sums, out=np.zeros_like(inter), where=sums > 0)
    union = sums - inter
    iou_m = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
    score = dice_m if settings.metric == "dice" else iou_m
    ref_match = np.full(n_ref, -1)
    pred_match = np.full(n_pred, -1)
    if n_ref and n_pred:
        rows, cols = linear_sum_assignment(score, maximize=True)
        for r, c in zip(rows, cols, strict=True):
            if score[r, c] > settings.threshold:
                ref_match[r], pred_match[c] = c, r
    ref_sizes = _diameters(ref_inst, ref_list, spacing_xyz, settings.size_edges)
    pred_sizes = _diameters(pred_inst, pred_list, spacing_xyz, settings.size_edges)
    voxel_ml = float(np.prod(spacing_xyz)) / 1000.0
    result = LesionMatch()
    for r, inst in enumerate(ref_list):
        c = int(ref_match[r])
        result.reference.append(
            {
                "patient_id": patient_id,
                "lesion_id": inst.instance,
                "source_label": inst.source_label,
                "diameter_mm": ref_sizes[r][0],
                "size_group": ref_sizes[r][1],
                "volume_ml": inst.n_voxels * voxel_ml,
                "detected": c >= 0,
                "matched_prediction": pred_list[c].instance if c >= 0 else None,
                "dice": float(dice_m[r, c]) if c >= 0 else 0.0,
                "iou": float(iou_m[r, c]) if c >= 0 else 0.0,
                "best_dice": float(dice_m[r].max()) if n_pred else 0.0,
            }
        )
    for c, inst in enumerate(pred_list):
        r = int(pred_match[c])
        result.predicted.append(
            {
                "patient_id": patient_id,
                "prediction_id": inst.instance,
                "source_label": inst.source_label,
                "diameter_mm": pred_sizes[c][0],
                "size_group": pred_sizes[c][1],
                "volume_ml": inst.n_voxels * voxel_ml,
                "true_positive": r >= 0,
                "matched_lesion": ref_list[r].instance if r >= 0 else None,
            }
        )
    return result
