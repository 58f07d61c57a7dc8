"""Study metrics from the predictions table: AUC (DeLong and bootstrap CIs), Youden operating
points chosen on training folds, per split, per size subgroup and per patient."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from livermets.stats import (
    comparison_table,
    multiclass_auc,
    proportion_ci,
    roc_auc,
)
from livermets.stats.predictions import averaged, case_keys


def _with_thresholds(predictions: pd.DataFrame, thresholds: pd.DataFrame) -> pd.DataFrame:
    cut = thresholds.assign(_cv=thresholds["split"] == "cv")[
        ["model", "repeat", "fold", "_cv", "threshold"]]
    table = predictions.assign(_cv=predictions["split"] == "cv")
    return table.merge(cut, on=["model", "repeat", "fold", "_cv"], how="left")


def _binary(rows: pd.DataFrame, positive: Any, n_boot: int, seed: int) -> dict[str, Any]:
    """AUC with CIs and the Youden operating point for one model and split (binary task)."""
    avg = averaged(rows)
    truth = (avg["y_true"].astype(str) == str(positive)).astype(int).to_numpy()
    out: dict[str, Any] = {"n_cases": len(avg), "n_positive": int(truth.sum()),
                           "n_repeats": int(rows["repeat"].nunique())}
    if min(truth.sum(), len(truth) - truth.sum()) < 2:
        out["note"] = "fewer than 2 cases of a class: no AUC"
        return out
    score = avg["y_prob"].to_numpy()
    out["auc"] = roc_auc(truth, score, positive=1, direction="<").to_dict()
    out["auc_bootstrap"] = roc_auc(truth, score, positive=1, direction="<", ci="bootstrap",
                                   n_boot=n_boot, seed=seed).to_dict()
    per_repeat = [
        roc_auc((g["y_true"].astype(str) == str(positive)).astype(int), g["y_prob"],
                positive=1, direction="<").auc
        for _, g in rows.groupby("repeat") if g["y_true"].astype(str).nunique() == 2
    ]
    out["auc_per_repeat"] = {"mean": float(np.mean(per_repeat)), "sd": float(np.std(per_repeat)),
                             "values": per_repeat}
    if rows["threshold"].notna().all():
        out["youden"] = _operating(rows, positive, len(avg))
    return out


def _operating(rows: pd.DataFrame, positive: Any, n_cases: int) -> dict[str, Any]:
    """Sensitivity, specificity, accuracy at each fold's training cut-off, pooled over repeats.

    CIs (Wilson) use the number of distinct cases, not cases x repeats.
    """
    truth = rows["y_true"].astype(str) == str(positive)
    called = rows["y_prob"] >= rows["threshold"]
    pairs = {
        "sensitivity": (called & truth, truth),
        "specificity": (~called & ~truth, ~truth),
        "accuracy": (called == truth, pd.Series(True, index=rows.index)),
    }
    repeats = rows["repeat"].nunique()
    out: dict[str, Any] = {"threshold_mean": float(rows["threshold"].mean()),
                           "threshold_sd": float(rows.groupby(["repeat", "fold"])["threshold"]
                                                 .first().std(ddof=0))}
    for name, (hit, base) in pairs.items():
        k, n = int(hit.sum()), int(base.sum())
        value = k / n if n else float("nan")
        n_eff = round(n / repeats)
        ci = proportion_ci(round(value * n_eff), n_eff) if n_eff else (float("nan"),) * 2
        out[name] = {"value": value, "ci": list(ci)}
    # the 2 x 2 table at the cut-off, cases per repeat (every case is tested once per repeat)
    out["confusion"] = {key: float(((called == c) & (truth == t)).sum() / repeats)
                        for key, (c, t) in {"tp": (True, True), "fn": (False, True),
                                            "fp": (True, False), "tn": (False, False)}.items()}
    return out


def _multiclass(rows: pd.DataFrame, classes: list[str]) -> dict[str, Any]:
    """Macro and per-class AUC (DeLong) and accuracy of the most probable class."""
    avg = averaged(rows)
    cols = [f"p_{c}" for c in classes]
    counts = avg["y_true"].astype(str).value_counts()
    if any(counts.get(c, 0) < 2 for c in classes):
        return {"n_cases": len(avg), "note": "fewer than 2 cases of a class: no AUC"}
    result = multiclass_auc(avg["y_true"].astype(str), avg[cols], [str(c) for c in classes])
    predicted = np.asarray([str(c) for c in classes])[avg[cols].to_numpy().argmax(axis=1)]
    correct = int((predicted == avg["y_true"].astype(str).to_numpy()).sum())
    truth = avg["y_true"].astype(str).to_numpy()
    confusion = pd.crosstab(pd.Categorical(truth, [str(c) for c in classes]),
                            pd.Categorical(predicted, [str(c) for c in classes]), dropna=False)
    return {"n_cases": len(avg), **result.to_dict(), "n_classes": len(classes),
            "accuracy": {"value": correct / len(avg), "ci": list(proportion_ci(correct, len(avg)))},
            # rows: true class, columns: most probable class (averaged over repeats)
            "confusion": {"classes": [str(c) for c in classes],
                          "counts": confusion.to_numpy().astype(int).tolist()}}


def model_metrics(
    predictions: pd.DataFrame,
    thresholds: pd.DataFrame,
    classes: list[Any],
    subgroups: dict[str, pd.DataFrame] | None = None,
    patient_predictions: pd.DataFrame | None = None,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Per model: metrics per split, per subgroup level and (lesion tasks) per patient."""
    binary = "y_prob" in predictions.columns
    positive = classes[-1]
    table = _with_thresholds(predictions, thresholds) if binary else predictions

    def block(rows: pd.DataFrame) -> dict[str, Any]:
        return (_binary(rows, positive, n_boot, seed) if binary
                else _multiclass(rows, [str(c) for c in classes]))

    out: dict[str, Any] = {}
    for model, rows in table.groupby("model", sort=False):
        entry: dict[str, Any] = {"splits": {s: block(g) for s, g in rows.groupby("split")}}
        for name, mapping in (subgroups or {}).items():
            joined = rows.merge(mapping, on=case_keys(rows), how="left")
            entry.setdefault("subgroups", {})[name] = {
                str(level): {s: block(gg) for s, gg in g.groupby("split")}
                for level, g in joined.groupby(name, dropna=True)
            }
        if patient_predictions is not None:
            prows = patient_predictions[patient_predictions["model"] == model]
            entry["patient_level"] = {
                s: _patient_block(g, binary, classes, positive, n_boot, seed)
                for s, g in prows.groupby("split")
            }
        flags = operating_warnings(str(model), entry["splits"])
        if flags:
            entry["warnings"] = flags
        out[str(model)] = entry
    return out


def operating_warnings(model: str, splits: dict[str, dict[str, Any]]) -> list[str]:
    """A line for every held-out split where the training cut-off calls no case positive
    (sensitivity 0) or every case positive (specificity 0)."""
    out = []
    for split, block in splits.items():
        youden = block.get("youden")
        if split == "cv" or not youden:
            continue
        for name, other in (("sensitivity", "specificity"), ("specificity", "sensitivity")):
            value = youden[name]["value"]
            if value == 0:
                out.append(
                    f"model {model}, {split} split: the cut-off chosen on the development data "
                    f"({youden['threshold_mean']:.3g}) gives {name} 0 ({other} "
                    f"{youden[other]['value']:.2f}): the cut-off does not transfer (a shift of "
                    "scanner or case mix?); recalibrate or choose the cut-off on local data "
                    "before using it."
                )
    return out


def _patient_block(rows: pd.DataFrame, binary: bool, classes: list[Any], positive: Any,
                   n_boot: int, seed: int) -> dict[str, Any]:
    """Patient-level metrics of one model and split; multi-class patients whose lesions have
    different classes (no single true class) are left out and counted."""
    if binary:
        return _binary(rows.assign(threshold=np.nan), positive, n_boot, seed)
    mixed = rows["y_true"].isna()
    n_mixed = int(rows.loc[mixed, "patient_id"].nunique())
    return {**_multiclass(rows[~mixed], [str(c) for c in classes]), "n_mixed_excluded": n_mixed}


def comparisons(predictions: pd.DataFrame, classes: list[Any]) -> list[dict[str, Any]]:
    """Paired DeLong comparison of every pair of models on the CV (or test) cases, Holm p."""
    if "y_prob" not in predictions.columns or predictions["model"].nunique() < 2:
        return []
    out = []
    for split, rows in averaged(predictions).groupby("split"):
        wide = rows.pivot_table(index=case_keys(rows), columns="model", values="y_prob")
        truth = rows.groupby(case_keys(rows))["y_true"].first().loc[wide.index]
        wide = wide.dropna()
        if len(wide) < 4 or truth.astype(str).nunique() < 2:
            continue
        table = comparison_table(truth.loc[wide.index].astype(str).to_numpy(),
                                 {m: wide[m].to_numpy() for m in wide.columns},
                                 positive=str(classes[-1]), direction="<")
        out.extend({"split": split, **rec} for rec in table.to_dict(orient="records"))
    return out
