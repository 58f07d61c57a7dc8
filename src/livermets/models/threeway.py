"""The three-way hold-out: fit on train, choose the configuration and the cut-off on validation,
predict test once with that same model (no refit on train + validation).

Every candidate configuration (the spec itself, or each Optuna trial with ``tuning.trials`` > 0)
is fitted on the train rows and scored by its AUC on the validation rows; the best one keeps its
fit, its Youden cut-off is taken on its validation probabilities, and only then are the test rows
predicted, once. Train rows are also predicted by the same model (apparent, optimistic).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from livermets.errors import DataError
from livermets.models.grouping import fit_pipeline
from livermets.models.pipeline import PipelineSpec, build_pipeline, sample_spec, selected_features
from livermets.models.validation import (
    FeatureData,
    FitResult,
    Fold,
    FoldOutcome,
    Tuning,
    _auc,
    _predict,
    check_outcome,
    derive_seed,
    run_tpe,
    youden_threshold,
)

ROLES = ("train", "validation", "test")


@dataclass(frozen=True)
class ThreeWaySplit:
    """Row indices of the train, validation and test splits."""

    train: np.ndarray
    validation: np.ndarray
    test: np.ndarray

    def rows(self, role: str) -> np.ndarray:
        """The row indices of ``role`` (train, validation or test)."""
        return getattr(self, role)


def three_way_split(split: Sequence[Any], groups: Sequence[Any], names: dict[str, str],
                    column: str = "split") -> ThreeWaySplit:
    """The three splits from one column whose values are ``names`` (role -> value).

    Raises ``DataError`` for a missing or unknown value, an empty split, or a patient whose rows
    lie in two splits.
    """
    values = np.asarray(["" if pd.isna(s) else str(s).strip().lower() for s in split],
                        dtype=object)
    groups = np.asarray(groups).astype(str)
    wanted = {role: str(names[role]).strip().lower() for role in ROLES}
    allowed = ", ".join(f"{v!r} ({r})" for r, v in wanted.items())
    unknown = sorted(set(values) - set(wanted.values()))
    if unknown:
        bad = np.isin(values, unknown)
        first = [str(g) for g in sorted(set(groups[bad]))[:5]]
        raise DataError(
            f"the split column {column!r} has value(s) {unknown} in {int(bad.sum())} row(s) "
            f"(first patients: {first}); validation.design three_way "
            f"allows {allowed}: recode those rows or set validation.split_names."
        )
    index = {role: np.flatnonzero(values == value) for role, value in wanted.items()}
    for role, rows in index.items():
        if rows.size == 0:
            raise DataError(
                f"the split column {column!r} has no {role} rows (value {wanted[role]!r}); "
                f"validation.design three_way needs patients in each of {allowed}."
            )
    seen: dict[str, str] = {}
    for role, rows in index.items():
        for pid in map(str, np.unique(groups[rows])):
            if pid in seen:
                raise DataError(
                    f"patient {pid!r} has rows in both the {seen[pid]} and the {role} split of "
                    f"{column!r}; every lesion of a patient must be in one split: fix the "
                    "split column (one value per patient)."
                )
            seen[pid] = role
    return ThreeWaySplit(index["train"], index["validation"], index["test"])


@dataclass
class ThreeWayFit:
    """A model chosen on validation: the fit, its outcomes per split and the trials tried."""

    fit: FitResult
    outcomes: list[FoldOutcome]
    trials: pd.DataFrame


def _fit_on_train(spec: PipelineSpec, data: FeatureData, split: ThreeWaySplit,
                  seed: int) -> tuple[Any, np.ndarray]:
    """``spec`` fitted on the train rows and its probabilities on the validation rows."""
    columns = data.columns_for(spec)
    train = split.train
    pipeline = build_pipeline(spec, seed, tuple(data.clinical_columns))
    model = fit_pipeline(pipeline, data.X[columns].iloc[train], data.y[train],
                         data.patient_id[train])
    return model, _predict(model, data.X[columns].iloc[split.validation], len(data.classes))


def _candidates(spec: PipelineSpec, data: FeatureData, split: ThreeWaySplit, tuning: Tuning,
                seed: int) -> tuple[PipelineSpec, Any, np.ndarray, pd.DataFrame]:
    """The best configuration by validation AUC (ties to the earlier trial), fitted on train."""
    y_val, n_classes = data.y[split.validation], len(data.classes)
    if tuning.trials == 0:
        model, prob = _fit_on_train(spec, data, split, seed)
        trials = pd.DataFrame([{"number": 0, "value": _auc(y_val, prob, n_classes)}])
        return spec, model, prob, trials
    import optuna

    fits: dict[int, tuple[PipelineSpec, Any, np.ndarray]] = {}

    def objective(trial: optuna.Trial) -> float:
        candidate = sample_spec(spec, trial)
        model, prob = _fit_on_train(candidate, data, split, seed)
        fits[trial.number] = (candidate, model, prob)
        return _auc(y_val, prob, n_classes)

    study = run_tpe(objective, tuning, seed, f"every one of {{n}} tuning trials of model "
                    f"{spec.name!r} failed on the validation rows; check the data (too few "
                    "cases per class?) or the search space.")
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    best = min(complete, key=lambda t: (-t.value, t.number))
    chosen, model, prob = fits[best.number]
    return chosen, model, prob, study.trials_dataframe(attrs=("number", "value", "params",
                                                               "state"))


def check_split_classes(data: FeatureData, split: ThreeWaySplit) -> None:
    """Raise ``DataError`` if train lacks a class, or validation lacks one (no AUC, no cut-off)."""
    codes = np.unique(data.y)
    for role in ("train", "validation"):
        rows = split.rows(role)
        missing = np.setdiff1d(codes, data.y[rows])
        if missing.size:
            names = [str(data.classes[int(k)]) for k in missing]
            n_patients = len(np.unique(data.patient_id[rows]))
            raise DataError(
                f"validation.design three_way: the {role} split ({n_patients} patient(s)) has "
                f"no case of class {', '.join(names)}, so "
                + ("no model can be fitted" if role == "train" else
                   "no model can be chosen and no cut-off set on it")
                + ". Put patients of every class in the train and validation splits."
            )


def fit_three_way(spec: PipelineSpec, data: FeatureData, split: ThreeWaySplit, tuning: Tuning,
                  seed: int) -> ThreeWayFit:
    """Fit on train, choose on validation, then predict test once (see the module docstring)."""
    check_outcome(spec, data)
    check_split_classes(data, split)
    fit_seed = derive_seed(seed, spec.name, "three_way")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        chosen, model, val_prob, trials = _candidates(spec, data, split, tuning, fit_seed)
    threshold = (youden_threshold(data.y[split.validation], val_prob[:, 1])
                 if data.binary else None)  # fixed before the test rows are predicted
    columns = data.columns_for(chosen)
    features = selected_features(model, columns)
    val_auc = _auc(data.y[split.validation], val_prob, len(data.classes))
    fit = FitResult(chosen, model, val_prob, features, threshold, val_auc)
    params = chosen.model_dump(mode="json", exclude={"search", "name", "base"})
    X = data.X[columns]
    probs = {"train": _predict(model, X.iloc[split.train], len(data.classes)),
             "validation": val_prob,
             "test": _predict(model, X.iloc[split.test], len(data.classes))}
    outcomes = [
        FoldOutcome(spec.name, Fold(0, 0, split.train, split.rows(role), role), probs[role],
                    threshold, features, params, val_auc)
        for role in ROLES
    ]
    return ThreeWayFit(fit, outcomes, trials)


def three_way_thresholds(fits: dict[str, ThreeWayFit]) -> pd.DataFrame:
    """One row per model: the validation cut-off (used for every split) and validation AUC."""
    return pd.DataFrame([
        {"model": name, "repeat": 0, "fold": 0, "split": "three_way",
         "threshold": f.fit.threshold, "inner_auc": f.fit.inner_auc,
         "n_features": len(f.fit.features)}
        for name, f in fits.items()
    ])
