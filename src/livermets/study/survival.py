"""Survival variant: Cox model on clinical covariates + rad-score, risk groups at a training
cut-off, C-index and Kaplan-Meier / log-rank per group (statistics; ``report.survival`` draws
them)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from livermets.errors import ConfigError
from livermets.models.clinical import rad_score
from livermets.stats.predictions import averaged

if TYPE_CHECKING:
    from livermets.study.runner import StudyResult


def _covariates(result: StudyResult) -> list[str]:
    """Encoded clinical columns for the configured covariates (text variables -> indicators)."""
    out = []
    for name in result.config.survival.covariates:
        cols = [c for c in result.data.clinical_columns if c == name or c.startswith(f"{name}_")]
        if not cols:
            raise ConfigError(
                f"survival.covariates: {name!r} is not a clinical variable; list it in "
                f"data.clinical (clinical columns: {result.data.clinical_columns})"
            )
        out.extend(cols)
    return out


def survival_frame(result: StudyResult) -> pd.DataFrame:
    """One row per case: time, event, covariates, out-of-sample rad-score and split."""
    data = result.data
    names = [s.name for s in result.specs if s.inputs == "radiomics"]
    chosen = (result.config.clinical.radiomics_model if result.config.clinical else None)
    model = chosen or names[0]
    preds = averaged(result.predictions[result.predictions["model"] == model])
    frame = pd.DataFrame({"patient_id": data.patient_id, "time": data.meta["time"].to_numpy(),
                          "event": data.meta["event"].to_numpy()})
    covariates = _covariates(result)
    for c in covariates:
        frame[c] = data.X[c].to_numpy()
    scores = preds.groupby("patient_id").agg(y_prob=("y_prob", "mean"), split=("split", "first"))
    frame = frame.join(scores, on="patient_id")
    frame["rad_score"] = rad_score(frame["y_prob"].to_numpy())
    return frame.dropna(subset=["time", "event", "rad_score", *covariates])


@dataclass(frozen=True)
class SurvivalAnalysis:
    """The survival variant's results: Cox table (development fit), risk-group cut-off, per
    split the cases, events, C-index, log-rank test and Kaplan-Meier curves, the per-case frame,
    and the C-index of every model's out-of-fold probability."""

    cox: pd.DataFrame
    cutoff: float
    splits: dict[str, dict[str, Any]]
    frame: pd.DataFrame
    c_index_models: pd.DataFrame


def survival_analysis(result: StudyResult) -> SurvivalAnalysis:
    """Cox fit on development cases, linear predictor, risk groups, C-index, log-rank per split."""
    from livermets.stats import cox_model, harrell_c, kaplan_meier, logrank_test

    frame = survival_frame(result)
    covariates = [*_covariates(result), "rad_score"]
    dev = frame[frame["split"] == "cv"]
    cox = cox_model(dev, time="time", event="event", covariates=covariates)
    lp = frame[covariates].to_numpy(dtype=float) @ cox.loc[covariates, "coef"].to_numpy()
    frame = frame.assign(lp=lp)
    cut = result.config.survival.cutoff
    cutoff = float(np.median(frame.loc[frame["split"] == "cv", "lp"])) if cut == "median" \
        else float(cut)
    frame["risk"] = np.where(frame["lp"] >= cutoff, "high", "low")
    per_split = {}
    for split, g in frame.groupby("split"):
        entry: dict[str, Any] = {"n": len(g), "events": int(g["event"].sum()),
                                 "c_index": harrell_c(g["time"], g["event"], g["lp"]).c_index}
        if g["risk"].nunique() == 2:
            entry["logrank"] = logrank_test(g["time"], g["event"], g["risk"]).to_dict()
        entry["km"] = {r: kaplan_meier(gg["time"], gg["event"]) for r, gg in g.groupby("risk")}
        per_split[str(split)] = entry
    return SurvivalAnalysis(cox=cox, cutoff=cutoff, splits=per_split, frame=frame,
                            c_index_models=model_c_index(result, frame))


def model_c_index(result: StudyResult, frame: pd.DataFrame) -> pd.DataFrame:
    """C-index (and cases) of each model's averaged out-of-fold probability, per split."""
    from livermets.stats import harrell_c

    outcome = frame[["patient_id", "time", "event"]]
    rows = []
    for model, preds in result.predictions.groupby("model", sort=False):
        if "y_prob" not in preds or preds["y_prob"].isna().all():
            continue
        scores = averaged(preds).groupby("patient_id").agg(
            score=("y_prob", "mean"), split=("split", "first"))
        joined = outcome.join(scores, on="patient_id").dropna(subset=["score"])
        for split, g in joined.groupby("split"):
            if g["event"].sum() == 0:
                continue
            rows.append({"model": model, "split": split, "cases": len(g),
                         "events": int(g["event"].sum()),
                         "C-index": harrell_c(g["time"], g["event"], g["score"]).c_index})
    return pd.DataFrame(rows)
