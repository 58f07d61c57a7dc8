"""Evaluation of multi-phase lesion diagnosis: patient-wise AUCs, lesion-wise detection and
classification, voxel-wise Dice, each with a confidence interval.

Definitions
-----------
- A patient is **positive for class k** when they have at least one reference lesion of class k,
  and **malignant** when they have at least one lesion of a malignant class; a patient can be
  positive for several classes (``patient_truth``). Patients without lesions are negative for all.
- **Per-class AUC**: one-vs-rest AUC of the patient score ``p_<k>`` (higher = class k) against
  that truth, with DeLong's CI. A class without positive or without negative patients has no AUC
  (NaN, with the reason); with one positive or one negative patient the AUC has no DeLong CI.
- **AUC-8** (AUC-C for C classes): the unweighted mean of the per-class AUCs over the classes
  whose AUC is estimable (their number is reported). Its CI is a percentile bootstrap that
  resamples patients (the same resamples for every class, so their correlation is kept) and
  recomputes the mean over the same classes; resamples in which one of these classes has no
  positive or no negative patient are discarded (``n_boot_valid`` counts those kept).
- **AUC-2**: malignant vs benign patients scored by ``p_malignant``, with DeLong's CI.
- **Lesion-wise**: a predicted lesion detects a reference lesion when their Dice exceeds
  ``min_dice`` in a one-to-one matching that maximises total Dice (``match_case``; the criterion
  of ``segment.matching``). Sensitivity = TP / (TP + FN), precision = TP / (TP + FP),
  classification accuracy = correctly classified / detected reference lesions; Wilson CIs
  (lesions are treated as independent, so the CIs are too narrow when patients have many).
  By size group, sensitivity and accuracy use the reference lesion's diameter, precision the
  predicted lesion's; by class, the reference class and the predicted class respectively.
- **Dice** per patient: lesion foreground (any lesion class vs none), per class and liver
  (labels >= 1), NaN when both maps lack the structure; mean over patients with a t CI.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment

from livermets.deep.multiphase.patient import MALIGNANT, malignant_mask
from livermets.errors import ConfigError, DataError
from livermets.lesions import axial_diameter, size_group, size_group_names
from livermets.lesions.measure import DEFAULT_SIZE_EDGES
from livermets.segment.matching import MatchSettings
from livermets.segment.metrics import dice as mask_dice
from livermets.segment.qa import poisson_rate_ci
from livermets.stats import proportion_ci, roc_auc, roc_curve
from livermets.stats._validate import check_level, require_columns
from livermets.stats.bootstrap import block_size, percentile_ci, resample_counts, weighted_aucs
from livermets.stats.intervals import t_interval
from livermets.stats.roc import auc_from_scores

ALL = "All"
MATCH_COLUMNS = ["ref_id", "ref_class", "pred_id", "pred_class", "dice", "detected", "correct",
                 "outcome", "diameter_mm", "pred_diameter_mm"]  # fmt: skip


@dataclass(frozen=True)
class MultiphaseEvaluation:
    """The evaluation tables of one cohort (see the module docstring for the definitions)."""

    class_auc: pd.DataFrame  # rule, class, n_pos, n_neg, auc, ci_low, ci_high, note
    summary: pd.DataFrame  # rule: mean per-class AUC (bootstrap CI), AUC-2 (DeLong CI)
    lesions: pd.DataFrame  # by, stratum: sensitivity, precision, accuracy (Wilson CIs)
    dice: pd.DataFrame  # measure: mean Dice over patients (t CI), median
    roc: pd.DataFrame  # rule, class, fpr, tpr: ROC points per class and for malignancy
    classes: tuple[str, ...]
    n_patients: int
    level: float
    confusion: pd.DataFrame = field(default_factory=pd.DataFrame)  # reference x predicted class

    def tables(self) -> dict[str, pd.DataFrame]:
        """The tables by name, e.g. to write each as a CSV."""
        return {"class_auc": self.class_auc, "summary": self.summary, "lesions": self.lesions,
                "dice": self.dice, "roc": self.roc,
                "lesion_confusion": self.confusion.reset_index(names="reference")}


def lesion_confusion(matches: pd.DataFrame, classes: Sequence[str]) -> pd.DataFrame:
    """Lesions by reference class (rows, plus ``none`` for false positives) and predicted class
    of the matched lesion (columns, plus ``missed`` for undetected reference lesions)."""
    names = [str(c) for c in classes]
    table = pd.DataFrame(0, index=[*names, "none"], columns=[*names, "missed"])
    for ref, pred, detected in matches[["ref_class", "pred_class", "detected"]].itertuples(
            index=False):
        if pd.isna(ref):  # a predicted lesion matching no reference lesion
            table.loc["none", str(pred)] += 1
        else:
            table.loc[str(ref), str(pred) if detected else "missed"] += 1
    return table


def _ids(values: pd.Series) -> pd.Series:
    return values.astype(str)


def _check_classes(classes: Sequence[str]) -> tuple[str, ...]:
    names = tuple(str(c) for c in classes)
    if not names or len(set(names)) != len(names):
        raise ConfigError(f"classes must be non-empty and unique, got {list(names)}.")
    reserved = {"patient_id", "malignant", "center", "rule"} & set(names)
    if reserved:
        raise ConfigError(f"{sorted(reserved)} cannot be a lesion class name (reserved column).")
    return names


def patient_truth(
    lesions: pd.DataFrame,
    classes: Sequence[str],
    malignant: Sequence[str] = MALIGNANT,
    *,
    patients: Sequence[Any] | None = None,
) -> pd.DataFrame:
    """One row per patient: 0/1 per class (>= 1 reference lesion of it) and ``malignant``.

    ``lesions`` has ``patient_id`` and ``class`` (or ``label``), one row per reference lesion.
    Patients without lesions have no rows there: list every patient in ``patients`` so that
    they enter as negatives for every class.
    """
    names = _check_classes(classes)
    is_malignant = dict(zip(names, malignant_mask(names, malignant), strict=True))
    column = "class" if "class" in lesions.columns else "label"
    require_columns(lesions, ["patient_id", column], "the lesion table")
    if lesions[column].isna().any():
        raise DataError(f"{int(lesions[column].isna().sum())} lesion(s) have no class; give every "
                        "reference lesion a class (list lesion-free patients via patients=).")
    found = lesions[column].astype(str)
    unknown = sorted(set(found) - set(names))
    if unknown:
        raise DataError(f"lesion class(es) {unknown} are not among the classes {list(names)}.")
    ids = _ids(lesions["patient_id"])
    order = list(dict.fromkeys([*(str(p) for p in (patients or [])), *ids]))
    table = pd.DataFrame({"patient_id": order})
    for name in names:
        table[name] = table["patient_id"].isin(ids[found == name]).astype(int)
    chosen = [n for n in names if is_malignant[n]]
    table["malignant"] = table[chosen].max(axis=1).astype(int)
    return table


def _instance_map(values: np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.dtype.kind not in "iub":
        raise DataError(f"{name} must be an integer instance map (0 = no lesion), got dtype "
                        f"{arr.dtype}.")
    if arr.size and arr.min() < 0:
        raise DataError(f"{name} has negative labels; instance ids must be >= 1 (0 = no lesion).")
    return arr


def _instance_classes(ids: np.ndarray, mapping: Mapping[Any, str], name: str) -> dict[int, str]:
    try:
        classes = {int(k): str(v) for k, v in mapping.items()}
    except (TypeError, ValueError):
        raise DataError(f"{name} must map integer instance ids to class names.") from None
    missing = [int(i) for i in ids if int(i) not in classes]
    if missing:
        raise DataError(f"instance id(s) {missing[:10]} of the map have no class in {name}; "
                        "give every instance in the map a class.")
    return classes


def _diameters(arr: np.ndarray, ids: np.ndarray, spacing_zyx: Sequence[float] | None
               ) -> dict[int, float]:
    """Longest axial diameter (mm) of each instance; NaN without a spacing."""
    if spacing_zyx is None:
        return {int(i): float("nan") for i in ids}
    if arr.ndim != 3 or len(spacing_zyx) != 3:
        raise DataError(f"diameters need (z, y, x) maps and a 3-value spacing_zyx, got shape "
                        f"{arr.shape} and spacing {tuple(spacing_zyx)}.")
    from scipy import ndimage

    boxes = ndimage.find_objects(arr)
    xyz = tuple(float(s) for s in spacing_zyx[::-1])
    return {int(i): axial_diameter(arr[boxes[int(i) - 1]] == i, xyz)[0] for i in ids}


def match_case(
    ref_instances: np.ndarray,
    ref_classes: Mapping[int, str],
    pred_instances: np.ndarray,
    pred_classes: Mapping[int, str],
    *,
    min_dice: float = MatchSettings.threshold,
    spacing_zyx: Sequence[float] | None = None,
    patient_id: str | None = None,
) -> pd.DataFrame:
    """Lesion matching of one patient: a row per reference lesion, then per false positive.

    Instances are the ids of the maps (not re-split into connected components); a pair matches
    when Dice > ``min_dice`` in the one-to-one matching that maximises total Dice. ``outcome``
    is TP, FN or FP; ``dice`` is 0 for missed lesions; ``correct`` (TP rows) says whether the
    predicted class equals the reference class. Diameters (mm) need ``spacing_zyx``.
    """
    criterion = MatchSettings(metric="dice", threshold=float(min_dice))
    ref = _instance_map(ref_instances, "ref_instances")
    pred = _instance_map(pred_instances, "pred_instances")
    if ref.shape != pred.shape:
        raise DataError(f"reference and predicted instance maps have shapes {ref.shape} and "
                        f"{pred.shape}; resample the prediction onto the reference grid.")
    ref_ids, ref_n = np.unique(ref[ref > 0], return_counts=True)
    pred_ids, pred_n = np.unique(pred[pred > 0], return_counts=True)
    ref_cls = _instance_classes(ref_ids, ref_classes, "ref_classes")
    pred_cls = _instance_classes(pred_ids, pred_classes, "pred_classes")
    both = (ref > 0) & (pred > 0)
    codes = (np.searchsorted(ref_ids, ref[both]) * pred_ids.size
             + np.searchsorted(pred_ids, pred[both]))
    inter = np.bincount(codes, minlength=ref_ids.size * pred_ids.size).astype(float)
    inter = inter.reshape(ref_ids.size, pred_ids.size)
    dice_m = 2 * inter / (ref_n[:, None] + pred_n[None, :])
    ref_match = np.full(ref_ids.size, -1)
    if ref_ids.size and pred_ids.size:
        for r, c in zip(*linear_sum_assignment(dice_m, maximize=True), strict=True):
            if dice_m[r, c] > criterion.threshold:
                ref_match[r] = c
    ref_d = _diameters(ref, ref_ids, spacing_zyx)
    pred_d = _diameters(pred, pred_ids, spacing_zyx)
    rows = []
    for r, rid in enumerate(ref_ids.tolist()):
        c = int(ref_match[r])
        pid = int(pred_ids[c]) if c >= 0 else None
        rows.append({
            "ref_id": rid, "ref_class": ref_cls[rid],
            "pred_id": pid, "pred_class": pred_cls[pid] if pid is not None else None,
            "dice": float(dice_m[r, c]) if c >= 0 else 0.0, "detected": c >= 0,
            "correct": (pred_cls[pid] == ref_cls[rid]) if pid is not None else None,
            "outcome": "TP" if c >= 0 else "FN",
            "diameter_mm": ref_d[rid], "pred_diameter_mm": pred_d.get(pid, np.nan),
        })  # fmt: skip
    matched = set(ref_match[ref_match >= 0].tolist())
    for c, pid in enumerate(pred_ids.tolist()):
        if c not in matched:
            rows.append({
                "ref_id": None, "ref_class": None, "pred_id": pid, "pred_class": pred_cls[pid],
                "dice": np.nan, "detected": False, "correct": None, "outcome": "FP",
                "diameter_mm": np.nan, "pred_diameter_mm": pred_d[pid],
            })  # fmt: skip
    table = pd.DataFrame(rows, columns=MATCH_COLUMNS)
    table = table.astype({"ref_id": "Int64", "pred_id": "Int64", "dice": float,
                          "detected": bool, "correct": "boolean", "diameter_mm": float,
                          "pred_diameter_mm": float})  # fmt: skip
    if patient_id is not None:
        table.insert(0, "patient_id", str(patient_id))
    return table


def _dice_or_nan(ref: np.ndarray, pred: np.ndarray) -> float:
    return float("nan") if not (ref.any() or pred.any()) else mask_dice(ref, pred)


def voxel_dice(
    ref_labels: np.ndarray,
    pred_labels: np.ndarray,
    n_classes: int,
    offset: int = 2,
    *,
    classes: Sequence[str] | None = None,
) -> dict[str, float]:
    """Dice of lesions (any class), of each class (``dice_<class>``) and of the liver (>= 1)."""
    ref = _instance_map(ref_labels, "ref_labels")
    pred = _instance_map(pred_labels, "pred_labels")
    if ref.shape != pred.shape:
        raise DataError(f"reference and predicted label maps have shapes {ref.shape} and "
                        f"{pred.shape}; resample the prediction onto the reference grid.")
    names = [str(k) for k in range(n_classes)] if classes is None else list(classes)
    if len(names) != n_classes:
        raise ConfigError(f"{len(names)} class names given for n_classes={n_classes}.")
    out = {"lesion_dice": _dice_or_nan(ref >= offset, pred >= offset),
           "liver_dice": _dice_or_nan(ref >= 1, pred >= 1)}
    for k, name in enumerate(names):
        out[f"dice_{name}"] = _dice_or_nan(ref == offset + k, pred == offset + k)
    return out


def _auc_row(y: np.ndarray, score: np.ndarray, level: float) -> dict[str, Any]:
    """AUC with DeLong CI of one 0/1 truth against one score, or NaN and the reason."""
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    row: dict[str, Any] = {"n_pos": n_pos, "n_neg": n_neg, "auc": np.nan, "ci_low": np.nan,
                           "ci_high": np.nan, "note": ""}  # fmt: skip
    if np.isnan(score).all():
        return {**row, "note": "no scores for this rule"}
    if np.isnan(score).any():
        raise DataError(f"{int(np.isnan(score).sum())} patient score(s) are missing; every "
                        "patient of a rule needs every score.")
    if n_pos == 0 or n_neg == 0:
        return {**row, "note": "no positive patients" if n_pos == 0 else "no negative patients"}
    if n_pos < 2 or n_neg < 2:
        return {**row, "auc": auc_from_scores(score[y], score[~y]),
                "note": "no CI: needs >= 2 positive and >= 2 negative patients"}
    result = roc_auc(y, score, direction="<", level=level)
    return {**row, "auc": result.auc, "ci_low": result.ci[0], "ci_high": result.ci[1]}


def _mean_auc_ci(
    truth: np.ndarray, score: np.ndarray, n_boot: int, seed: int, level: float
) -> tuple[float, float, int]:
    """Patient-bootstrap percentile CI of the mean one-vs-rest AUC of the columns."""
    rng = np.random.default_rng(seed)
    n = truth.shape[0]
    reps = np.empty(n_boot)
    block = block_size(n)
    for start in range(0, n_boot, block):
        b = min(block, n_boot - start)
        w = resample_counts(rng, n, b)
        aucs = [weighted_aucs(score[y, k], score[~y, k], w[:, y], w[:, ~y])
                for k, y in enumerate(truth.T)]
        reps[start:start + b] = np.mean(aucs, axis=0)
    valid = int(np.isfinite(reps).sum())
    if valid == 0:
        return float("nan"), float("nan"), 0
    return (*percentile_ci(reps, level), valid)


def _patients(patients: pd.DataFrame, truth: pd.DataFrame, classes: tuple[str, ...]
              ) -> pd.DataFrame:
    """Scores and truth merged: one row per (rule, patient), patients sorted by id."""
    scores = [f"p_{c}" for c in classes]
    require_columns(patients, ["patient_id", "rule", *scores, "p_malignant"], "the patient table")
    require_columns(truth, ["patient_id", *classes, "malignant"], "the truth table")
    table = patients.assign(patient_id=_ids(patients["patient_id"]),
                            rule=patients["rule"].astype(str))
    if table.empty:
        raise DataError("the patient table has no rows; score at least one patient.")
    if table.duplicated(["rule", "patient_id"]).any():
        raise DataError("the patient table has repeated (rule, patient_id) rows; one per pair.")
    known = truth.assign(patient_id=_ids(truth["patient_id"]))
    if known["patient_id"].duplicated().any():
        raise DataError("the truth table has repeated patient_id rows; one row per patient.")
    labels = known[[*classes, "malignant"]]
    if not labels.isin([0, 1]).all().all():
        raise DataError("truth columns must hold 0/1 (use patient_truth to build them).")
    missing = sorted(set(table["patient_id"]) - set(known["patient_id"]))
    if missing:
        raise DataError(f"{len(missing)} patient(s) have scores but no truth, e.g. {missing[:5]}.")
    sets = {r: frozenset(g["patient_id"]) for r, g in table.groupby("rule", sort=False)}
    if len(set(sets.values())) > 1:
        sizes = {r: len(s) for r, s in sets.items()}
        raise DataError(f"rules score different patients {sizes}; compare rules on the same "
                        "patients (score every patient by every rule).")
    truth_cols = known[["patient_id", *classes, "malignant"]].rename(
        columns={c: f"y_{c}" for c in [*classes, "malignant"]})
    merged = table.merge(truth_cols, on="patient_id", how="left", validate="many_to_one")
    merged["_order"] = merged["rule"].map({r: i for i, r in enumerate(sets)})
    merged = merged.sort_values(["_order", "patient_id"], kind="stable")
    return merged.drop(columns="_order").reset_index(drop=True)


def _patient_tables(merged: pd.DataFrame, classes: tuple[str, ...], level: float, n_boot: int,
                    seed: int) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Per-class AUCs, the summary and ROC points of every rule."""
    auc_rows, summary_rows, roc_rows = [], [], []
    for rule, g in merged.groupby("rule", sort=False):
        rows = []
        for name in [*classes, "malignant"]:
            y = g[f"y_{name}"].to_numpy(int) == 1
            score = g[f"p_{name}"].to_numpy(float)
            row = {"rule": rule, "class": name, **_auc_row(y, score, level)}
            rows.append(row)
            if np.isfinite(row["auc"]):
                curve = roc_curve(y, score, direction="<")
                roc_rows.append(pd.DataFrame({"rule": rule, "class": name, "auc": row["auc"],
                                              "fpr": 1 - curve.specificity,
                                              "tpr": curve.sensitivity}))
        per_class, mal = rows[:-1], rows[-1]
        auc_rows += per_class
        used = [k for k, r in enumerate(per_class) if np.isfinite(r["auc"])]
        mean = float(np.mean([per_class[k]["auc"] for k in used])) if used else float("nan")
        lo = hi = float("nan")
        valid = 0
        if used and n_boot > 0:
            y_all = np.column_stack([g[f"y_{classes[k]}"].to_numpy(int) == 1 for k in used])
            s_all = np.column_stack([g[f"p_{classes[k]}"].to_numpy(float) for k in used])
            lo, hi, valid = _mean_auc_ci(y_all, s_all, n_boot, seed, level)
        summary_rows.append({
            "rule": rule, "n_patients": len(g), "auc_mean": mean, "auc_mean_ci_low": lo,
            "auc_mean_ci_high": hi, "n_classes_estimable": len(used), "n_classes": len(classes),
            "n_boot_valid": valid, "auc_malignant": mal["auc"], "auc_malignant_ci_low":
            mal["ci_low"], "auc_malignant_ci_high": mal["ci_high"], "n_malignant": mal["n_pos"],
            "n_benign": mal["n_neg"], "note": mal["note"],
        })  # fmt: skip
    roc = (pd.concat(roc_rows, ignore_index=True) if roc_rows else
           pd.DataFrame(columns=["rule", "class", "auc", "fpr", "tpr"]))
    return pd.DataFrame(auc_rows), pd.DataFrame(summary_rows), roc


def _rate(k: int, n: int, level: float) -> tuple[float, float, float]:
    lo, hi = proportion_ci(k, n, "wilson", level)
    return (k / n if n else float("nan")), lo, hi


def _lesion_row(by: str, stratum: str, ref: pd.DataFrame, pred: pd.DataFrame, n_patients: int,
                level: float) -> dict[str, Any]:
    """Sensitivity, precision and accuracy of one stratum (reference rows, predicted rows)."""
    detected = ref[ref["detected"]]
    n_tp, n_fp = int(pred["ref_id"].notna().sum()), int(pred["ref_id"].isna().sum())
    n_correct = int(detected["correct"].eq(True).sum())
    sens, prec, acc = (_rate(len(detected), len(ref), level), _rate(n_tp, len(pred), level),
                       _rate(n_correct, len(detected), level))
    fp_lo, fp_hi = poisson_rate_ci(n_fp, n_patients, level)
    return {
        "by": by, "stratum": stratum, "n_reference": len(ref), "n_detected": len(detected),
        "sensitivity": sens[0], "sensitivity_ci_low": sens[1], "sensitivity_ci_high": sens[2],
        "n_predicted": len(pred), "n_true_positive": n_tp, "n_false_positive": n_fp,
        "precision": prec[0], "precision_ci_low": prec[1], "precision_ci_high": prec[2],
        "fp_per_patient": n_fp / n_patients if n_patients else float("nan"),
        "fp_per_patient_ci_low": fp_lo, "fp_per_patient_ci_high": fp_hi,
        "n_correct": n_correct, "accuracy": acc[0], "accuracy_ci_low": acc[1],
        "accuracy_ci_high": acc[2],
    }  # fmt: skip


def lesion_metrics(matches: pd.DataFrame, classes: Sequence[str], n_patients: int, *,
                   level: float = 0.95, size_edges: Sequence[float] = DEFAULT_SIZE_EDGES
                   ) -> pd.DataFrame:
    """Detection and classification, overall, by size group (if diameters) and by class."""
    if matches.empty:
        matches = pd.DataFrame(columns=MATCH_COLUMNS)  # no lesion in any patient
    require_columns(matches, ["ref_id", "ref_class", "pred_id", "pred_class", "detected"],
                    "the lesion matches")
    table = matches.assign(detected=matches["detected"].astype("boolean").fillna(False)
                           .astype(bool))
    if "correct" not in table.columns:
        table["correct"] = table["pred_class"].astype(str) == table["ref_class"].astype(str)
    is_ref = table["ref_id"].notna()
    if (table.loc[is_ref, "detected"] != table.loc[is_ref, "pred_id"].notna()).any():
        raise DataError("lesion matches: detected must be True exactly where pred_id is set.")
    ref, pred = table[is_ref], table[table["pred_id"].notna()]
    rows = [_lesion_row("all", ALL, ref, pred, n_patients, level)]
    if "diameter_mm" in table.columns and table["diameter_mm"].astype(float).notna().any():
        def group(values: pd.Series) -> pd.Series:
            return values.map(lambda d: size_group(d, size_edges) if np.isfinite(d) else "")

        ref_g = group(ref["diameter_mm"].astype(float))
        pred_g = (group(pred["pred_diameter_mm"].astype(float))
                  if "pred_diameter_mm" in pred.columns else pd.Series("", index=pred.index))
        for name in size_group_names(size_edges):
            rows.append(_lesion_row("size_group", name, ref[ref_g == name], pred[pred_g == name],
                                    n_patients, level))
    for name in classes:
        rows.append(_lesion_row("class", name, ref[ref["ref_class"].astype(str) == name],
                                pred[pred["pred_class"].astype(str) == name], n_patients, level))
    return pd.DataFrame(rows)


def dice_summary(dice: pd.DataFrame, classes: Sequence[str], level: float = 0.95
                 ) -> pd.DataFrame:
    """Mean Dice over patients (t CI clipped to [0, 1]) and median, per measure."""
    measures = {"lesion": "lesion_dice", "liver": "liver_dice",
                **{c: f"dice_{c}" for c in classes}}
    rows = []
    for measure, column in measures.items():
        if column not in dice.columns:
            continue
        values = dice[column].to_numpy(float)
        values = values[np.isfinite(values)]
        lo, hi = t_interval(values, level)
        rows.append({"measure": measure, "n_patients": values.size,
                     "mean": float(values.mean()) if values.size else float("nan"),
                     "ci_low": lo, "ci_high": hi,
                     "median": float(np.median(values)) if values.size else float("nan")})
    return pd.DataFrame(rows, columns=["measure", "n_patients", "mean", "ci_low", "ci_high",
                                       "median"])


def evaluate_multiphase(
    patients: pd.DataFrame,
    truth: pd.DataFrame,
    matches: pd.DataFrame,
    dice: pd.DataFrame,
    classes: Sequence[str],
    *,
    level: float = 0.95,
    n_boot: int = 2000,
    seed: int = 0,
    size_edges: Sequence[float] = DEFAULT_SIZE_EDGES,
) -> MultiphaseEvaluation:
    """Patient-, lesion- and voxel-wise evaluation of one cohort (definitions: module docstring).

    ``patients``: patient_id, rule, p_<class>..., p_malignant (one row per patient and rule);
    ``truth``: from ``patient_truth``; ``matches``: ``match_case`` outputs with patient_id;
    ``dice``: ``voxel_dice`` outputs with patient_id. Truth rows of other patients are ignored;
    lesion and Dice rows of patients not in ``patients`` are an error (one cohort per call).
    """
    names = _check_classes(classes)
    level = check_level(level)
    if n_boot < 0:
        raise ConfigError(f"n_boot must be >= 0 (0: no bootstrap CI), got {n_boot}.")
    merged = _patients(patients, truth, names)
    ids = set(merged["patient_id"])
    for name, table in (("lesion matches", matches), ("Dice table", dice)):
        if table.empty:
            continue
        require_columns(table, ["patient_id"], f"the {name}")
        extra = sorted(set(_ids(table["patient_id"])) - ids)
        if extra:
            raise DataError(f"the {name} has {len(extra)} patient(s) without patient scores, "
                            f"e.g. {extra[:5]}; pass the tables of one cohort.")
    class_auc, summary, roc = _patient_tables(merged, names, level, n_boot, seed)
    return MultiphaseEvaluation(
        class_auc=class_auc,
        summary=summary,
        lesions=lesion_metrics(matches, names, len(ids), level=level, size_edges=size_edges),
        dice=dice_summary(dice, names, level),
        roc=roc,
        classes=names,
        n_patients=len(ids),
        level=level,
        confusion=lesion_confusion(matches, names) if not matches.empty else lesion_confusion(
            pd.DataFrame(columns=["ref_class", "pred_class", "detected"]), names),
    )


def evaluate_by_center(
    patients: pd.DataFrame,
    truth: pd.DataFrame,
    matches: pd.DataFrame,
    dice: pd.DataFrame,
    classes: Sequence[str],
    *,
    column: str = "center",
    **options: Any,
) -> dict[str, MultiphaseEvaluation]:
    """``evaluate_multiphase`` per centre (e.g. internal vs external cohort), in order of first
    appearance; ``options`` are passed on (level, n_boot, seed, size_edges)."""
    require_columns(patients, ["patient_id", column], "the patient table")
    centre = patients.assign(patient_id=_ids(patients["patient_id"]))
    per_patient = centre.groupby("patient_id")[column].nunique(dropna=False)
    if (per_patient > 1).any():
        raise DataError(f"patient(s) {list(per_patient.index[per_patient > 1][:5])} have more "
                        f"than one {column}.")
    out = {}
    for name, part in centre.groupby(centre[column].astype(str), sort=False):
        keep = set(part["patient_id"])

        def subset(table: pd.DataFrame, keep: set[str] = keep) -> pd.DataFrame:
            return table if table.empty else table[_ids(table["patient_id"]).isin(keep)]

        out[str(name)] = evaluate_multiphase(part, subset(truth), subset(matches), subset(dice),
                                             classes, **options)
    return out
