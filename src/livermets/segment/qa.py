"""Segmentation QA of a cohort: per-structure Dice / HD95 / ASD and lesion-wise detection by size.

Predicted masks are compared on the reference masks' voxel grid. Lesion detection uses one-to-one
matching at an overlap threshold (see ``matching``); sensitivities carry Wilson CIs, false
positives per patient exact Poisson CIs, mean Dice t-intervals.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import SimpleITK as sitk
from scipy import stats as sps

from livermets._atomic import write_table, write_text
from livermets._progress import PatientProgress
from livermets.cohort import Manifest, PatientRow, load_manifest
from livermets.errors import ConfigError, DataError, ManifestError
from livermets.io import read_mask
from livermets.lesions import size_group_names
from livermets.segment.matching import MatchSettings, match_lesions
from livermets.segment.metrics import overlap_metrics
from livermets.stats import proportion_ci
from livermets.stats.intervals import t_interval

STRUCTURES = {"liver": "liver_mask", "lesions": "lesion_mask", "primary": "primary_mask"}
ALL_GROUPS = "all"


@dataclass(frozen=True)
class QASettings:
    """What to compare and how: label values per structure, lesion matching, CI level."""

    match: MatchSettings = field(default_factory=MatchSettings)
    reference_labels: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    predicted_labels: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    resample: bool = True
    level: float = 0.95

    def __post_init__(self) -> None:
        """Validate the structure names."""
        for labels in (self.reference_labels, self.predicted_labels):
            unknown = set(labels) - set(STRUCTURES)
            if unknown:
                raise ConfigError(
                    f"unknown structure(s) {sorted(unknown)} in a label selection; use "
                    f"{sorted(STRUCTURES)}, e.g. liver=5."
                )


@dataclass(frozen=True)
class SegmentationQA:
    """QA tables of one predicted cohort against its reference."""

    structures: pd.DataFrame
    lesions: pd.DataFrame
    predictions: pd.DataFrame
    structure_summary: pd.DataFrame
    detection: pd.DataFrame
    n_patients: int
    settings: QASettings

    def to_dict(self) -> dict:
        """JSON-ready summary (summary tables and settings)."""
        return {
            "n_patients": self.n_patients,
            "match": asdict(self.settings.match),
            "level": self.settings.level,
            "structures": self.structure_summary.to_dict(orient="records"),
            "detection": self.detection.to_dict(orient="records"),
        }

    def write(self, out: str | Path) -> list[Path]:
        """Write every table (CSV) and ``qa.json`` into a folder, atomically."""
        out = Path(out)
        written = [
            write_table(self.structures, out / "qa_structures.csv"),
            write_table(self.structure_summary, out / "qa_structure_summary.csv"),
            write_table(self.lesions, out / "qa_lesions.csv"),
            write_table(self.predictions, out / "qa_predicted_lesions.csv"),
            write_table(self.detection, out / "qa_detection.csv"),
        ]
        payload = json.dumps(_clean(self.to_dict()), indent=2)
        written.append(write_text(out / "qa.json", payload + "\n"))
        return written


def _clean(value: object) -> object:
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def parse_label_selection(text: str | None) -> dict[str, tuple[int, ...]]:
    """Parse ``liver=5;lesions=1,2`` into {structure: label values}."""
    if not text:
        return {}
    out: dict[str, tuple[int, ...]] = {}
    for part in text.replace(";", " ").split():
        name, sep, values = part.partition("=")
        try:
            if not sep:
                raise ValueError(part)
            out[name.strip()] = tuple(int(v) for v in values.split(",") if v.strip())
        except ValueError as exc:
            raise ConfigError(
                f"cannot read label selection {text!r}: write structure=values pairs separated "
                "by ';', e.g. 'liver=5;lesions=1,2'."
            ) from exc
    return out


def load_predicted(path: str | Path) -> Manifest:
    """The manifest of predicted masks: a CSV, or a ``segment`` output folder's manifest.csv."""
    path = Path(path)
    if path.is_dir():
        candidate = path / "manifest.csv"
        if not candidate.is_file():
            raise ManifestError(
                f"{path} holds no manifest.csv. Give the --out folder of `livermets segment` or "
                "a manifest CSV of predicted masks."
            )
        path = candidate
    return load_manifest(path)


def _binary(mask: sitk.Image, labels: tuple[int, ...] | None) -> np.ndarray:
    array = sitk.GetArrayViewFromImage(mask)
    return np.isin(array, labels) if labels else array > 0


def _lesion_map(mask: sitk.Image, labels: tuple[int, ...] | None) -> np.ndarray:
    array = sitk.GetArrayFromImage(mask)
    if labels:
        array = np.where(np.isin(array, labels), array, 0)
    return array


def evaluate_patient(
    reference: PatientRow, predicted: PatientRow, settings: QASettings
) -> tuple[list[dict], list[dict], list[dict]]:
    """Structure rows, reference-lesion rows and predicted-lesion rows of one patient."""
    pid = reference.patient_id
    structure_rows: list[dict] = []
    lesion_rows: list[dict] = []
    pred_rows: list[dict] = []
    for structure, column in STRUCTURES.items():
        ref_path = reference.masks.get(column)
        if ref_path is None:
            continue
        pred_path = predicted.masks.get(column)
        if pred_path is None:
            raise DataError(
                f"patient {pid}: the reference has a {column} but the prediction has none. "
                "Segment that structure, or compare a cohort without it."
            )
        ref_img = read_mask(ref_path, name=f"reference {column} of {pid}")
        pred_img = read_mask(
            pred_path, ref_img, resample=settings.resample, name=f"predicted {column} of {pid}"
        )
        spacing_xyz = ref_img.GetSpacing()
        ref_sel = settings.reference_labels.get(structure)
        pred_sel = settings.predicted_labels.get(structure)
        metrics = overlap_metrics(
            _binary(ref_img, ref_sel), _binary(pred_img, pred_sel), spacing_xyz[::-1]
        )
        voxel_ml = float(np.prod(spacing_xyz)) / 1000.0
        structure_rows.append(
            {
                "patient_id": pid,
                "structure": structure,
                **metrics.to_dict(),
                "reference_ml": metrics.reference_voxels * voxel_ml,
                "predicted_ml": metrics.predicted_voxels * voxel_ml,
            }
        )
        if structure == "lesions":
            match = match_lesions(
                pid,
                _lesion_map(ref_img, ref_sel),
                _lesion_map(pred_img, pred_sel),
                spacing_xyz,
                settings.match,
            )
            lesion_rows += match.reference
            pred_rows += match.predicted
    return structure_rows, lesion_rows, pred_rows


def poisson_rate_ci(count: int, exposure: int, level: float = 0.95) -> tuple[float, float]:
    """Exact (Garwood) CI of a Poisson rate count / exposure."""
    if exposure <= 0:
        return float("nan"), float("nan")
    alpha = 1 - level
    lo = 0.0 if count == 0 else sps.chi2.ppf(alpha / 2, 2 * count) / 2
    hi = sps.chi2.ppf(1 - alpha / 2, 2 * count + 2) / 2
    return float(lo / exposure), float(hi / exposure)


def summarise_structures(structures: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """Per structure: Dice mean (t CI), median; HD95 and ASD median and mean."""
    rows = []
    for name in STRUCTURES:
        part = structures[structures["structure"] == name] if len(structures) else structures
        if part.empty:
            continue
        d = part["dice"].to_numpy(float)
        lo, hi = t_interval(d, level)
        rows.append(
            {
                "structure": name,
                "n_patients": len(part),
                "dice_mean": float(np.nanmean(d)),
                "dice_ci_low": lo,
                "dice_ci_high": hi,
                "dice_median": float(np.nanmedian(d)),
                "dice_min": float(np.nanmin(d)),
                "hd95_median_mm": _nan_stat(np.nanmedian, part["hd95_mm"]),
                "hd95_mean_mm": _nan_stat(np.nanmean, part["hd95_mm"]),
                "asd_median_mm": _nan_stat(np.nanmedian, part["asd_mm"]),
                "asd_mean_mm": _nan_stat(np.nanmean, part["asd_mm"]),
                "n_undefined_distance": int(part["hd95_mm"].isna().sum()),
            }
        )
    return pd.DataFrame(rows)


def _nan_stat(func: Callable, values: pd.Series) -> float:
    arr = values.to_numpy(float)
    return float(func(arr)) if np.isfinite(arr).any() else float("nan")


def summarise_detection(
    lesions: pd.DataFrame,
    predictions: pd.DataFrame,
    n_patients: int,
    size_edges: Sequence[float],
    level: float = 0.95,
) -> pd.DataFrame:
    """Sensitivity (Wilson CI), false positives per patient (Poisson CI) and per-lesion Dice,
    by size group of the reference (sensitivity, Dice) or predicted (false positives) lesion."""
    rows = []
    for group in [*size_group_names(size_edges), ALL_GROUPS]:
        ref = (
            lesions
            if group == ALL_GROUPS or lesions.empty
            else (lesions[lesions["size_group"] == group])
        )
        pred = (
            predictions
            if group == ALL_GROUPS or predictions.empty
            else (predictions[predictions["size_group"] == group])
        )
        n = len(ref)
        k = int(ref["detected"].sum()) if n else 0
        fp = int((~pred["true_positive"].astype(bool)).sum()) if len(pred) else 0
        sens_lo, sens_hi = proportion_ci(k, n, "wilson", level)
        fp_lo, fp_hi = poisson_rate_ci(fp, n_patients, level)
        dice = ref["dice"].to_numpy(float) if n else np.array([])
        dice_lo, dice_hi = t_interval(dice, level)
        detected_dice = ref.loc[ref["detected"].astype(bool), "dice"] if n else pd.Series([])
        rows.append(
            {
                "size_group": group,
                "n_lesions": n,
                "detected": k,
                "sensitivity": k / n if n else float("nan"),
                "sensitivity_ci_low": sens_lo,
                "sensitivity_ci_high": sens_hi,
                "false_positives": fp,
                "fp_per_patient": fp / n_patients if n_patients else float("nan"),
                "fp_per_patient_ci_low": fp_lo,
                "fp_per_patient_ci_high": fp_hi,
                "lesion_dice_mean": float(dice.mean()) if n else float("nan"),
                "lesion_dice_ci_low": dice_lo,
                "lesion_dice_ci_high": dice_hi,
                "lesion_dice_median": float(np.median(dice)) if n else float("nan"),
                "detected_dice_mean": float(detected_dice.mean())
                if len(detected_dice)
                else float("nan"),
            }
        )
    return pd.DataFrame(rows)


LESION_COLUMNS = [
    "patient_id", "lesion_id", "source_label", "diameter_mm", "size_group", "volume_ml",
    "detected", "matched_prediction", "dice", "iou", "best_dice",
]  # fmt: skip
PREDICTION_COLUMNS = [
    "patient_id", "prediction_id", "source_label", "diameter_mm", "size_group", "volume_ml",
    "true_positive", "matched_lesion",
]  # fmt: skip
STRUCTURE_COLUMNS = [
    "patient_id", "structure", "dice", "iou", "hd95_mm", "asd_mm", "reference_voxels",
    "predicted_voxels", "reference_ml", "predicted_ml",
]  # fmt: skip


def run_qa(
    reference: Manifest,
    predicted: Manifest,
    settings: QASettings | None = None,
    progress: PatientProgress | None = None,
) -> SegmentationQA:
    """Compare every reference patient's masks with its predicted masks."""
    settings = settings or QASettings()
    ref_rows = reference.rows()
    pred_rows = {row.patient_id: row for row in predicted.rows()}
    missing = [row.patient_id for row in ref_rows if row.patient_id not in pred_rows]
    if missing:
        raise DataError(
            f"the predicted cohort {predicted.path} has no rows for patients {missing[:10]}"
            f"{' ...' if len(missing) > 10 else ''}. Run `livermets segment` on them (it resumes) "
            "or give a reference manifest with only the segmented patients."
        )
    if not any(STRUCTURES[s] in reference.table.columns for s in STRUCTURES):
        raise ManifestError(
            f"the reference manifest {reference.path} has no liver_mask, lesion_mask or "
            "primary_mask column: there is nothing to compare."
        )
    structures: list[dict] = []
    lesions: list[dict] = []
    preds: list[dict] = []
    for row in ref_rows:
        s, les, p = evaluate_patient(row, pred_rows[row.patient_id], settings)
        structures += s
        lesions += les
        preds += p
        if progress is not None:
            progress(row.patient_id)
    structure_df = pd.DataFrame(structures, columns=STRUCTURE_COLUMNS)
    lesion_df = pd.DataFrame(lesions, columns=LESION_COLUMNS)
    pred_df = pd.DataFrame(preds, columns=PREDICTION_COLUMNS)
    has_lesions = (structure_df["structure"] == "lesions").any()
    detection = (
        summarise_detection(
            lesion_df, pred_df, len(ref_rows), settings.match.size_edges, settings.level
        )
        if has_lesions
        else pd.DataFrame()
    )
    return SegmentationQA(
        structures=structure_df,
        lesions=lesion_df,
        predictions=pred_df,
        structure_summary=summarise_structures(structure_df, settings.level),
        detection=detection,
        n_patients=len(ref_rows),
        settings=settings,
    )
