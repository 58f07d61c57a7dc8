"""Before any fitting: can every fit of a study's design see every class?

Cross-validation, the inner folds of every outer fold, the final refit's inner folds and the
combined model's own inner folds (its out-of-fold rad-score) all split the development patients
further; a class with few development patients (an external design with one small centre) leaves
some of them with a single class. The message states the development counts and what to do.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from livermets.errors import DataError
from livermets.models import grouping
from livermets.models.pipeline import PipelineSpec
from livermets.models.validation import (
    FeatureData,
    Fold,
    check_inner_folds,
    derive_seed,
    fold_seed,
    inner_folds,
)
from livermets.study.config import StudyConfig

COMBINED_INNER_FOLDS = 3  # CombinedModel's default inner folds for the out-of-fold rad-score


def class_patients(data: FeatureData, rows: np.ndarray) -> dict[str, int]:
    """Patients per class among ``rows`` (every class, zeros included)."""
    y, groups = data.y[rows], data.patient_id[rows]
    return {str(c): len(np.unique(groups[y == k])) for k, c in enumerate(data.classes)}


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{name}: {n} patient(s)" for name, n in counts.items())


def _combined_ok(train: FeatureData, seed: int) -> bool:
    """Whether the combined model's rad-score inner folds on ``train`` hold both classes."""
    splits = grouping.grouped_splits(train.y, train.patient_id, COMBINED_INNER_FOLDS, seed)
    return len(grouping.complete_splits(splits, train.y)) == len(splits)


def _check_combined(spec: PipelineSpec, data: FeatureData, fold_train: np.ndarray, seed: int,
                    tuning_folds: int, label: str) -> None:
    """The combined model's inner folds inside one training set and its own inner folds."""
    train = data.subset(fold_train)
    parts = [("its training rows", train)]
    parts += [(f"inner fold {f.fold}", train.subset(f.train))
              for f in inner_folds(train, seed, tuning_folds)]
    for where, part in parts:
        if not _combined_ok(part, seed):
            raise DataError(
                f"model {spec.name!r}, {label}, {where}: the out-of-fold rad-score needs at "
                f"least 2 patients of every class, but these rows hold "
                f"{_counts(class_patients(part, np.arange(len(part.y))))}."
            )


def _design(config: StudyConfig, data: FeatureData, development: np.ndarray) -> str:
    """'validation.design external (development: centres A)' and the like."""
    v = config.validation
    if v.design == "external" and "centre" in data.meta:
        centres = sorted(set(data.meta["centre"].astype(str).to_numpy()[development]))
        return (f"validation.design external (development centres {centres}, test centres "
                f"{list(v.test_centres)})")
    return f"validation.design {v.design}"


def _advice(config: StudyConfig, specs: Sequence[PipelineSpec]) -> str:
    """What to change, for this design."""
    v = config.validation
    steps = []
    if v.design in ("external", "fixed_split"):
        steps.append("pool the centres (design: cv over all patients) or move a centre with "
                     "more positives into the development set")
    steps.append(f"lower validation.folds (now {v.folds}) and validation.tuning.inner_folds "
                 f"(now {v.tuning.inner_folds}; 2 is the least)")
    if any(s.inputs == "combined" for s in specs):
        steps.append("drop the combined model (clinical.combined: false)")
    steps.append("or add patients of the rare class")
    return "What to do: " + "; ".join(steps) + "."


def check_design(config: StudyConfig, data: FeatureData, development: np.ndarray,
                 folds: Sequence[Fold], specs: Sequence[PipelineSpec]) -> None:
    """Raise one ``DataError`` with counts and advice if some fit of the design lacks a class."""
    tuning = config.validation.tuning
    dev = data.subset(development)
    try:
        check_inner_folds(specs, data, folds, tuning, config.seed)
        for spec in specs:
            final_seed = derive_seed(config.seed, spec.name, "final")
            try:
                inner_folds(dev, final_seed, tuning.inner_folds)
            except DataError as exc:
                raise DataError(f"model {spec.name!r}, final refit on the development rows: "
                                f"{exc}") from None
            if spec.inputs != "combined":
                continue
            for fold in folds:
                _check_combined(spec, data, fold.train, fold_seed(spec, fold, config.seed),
                                tuning.inner_folds,
                                f"outer repeat {fold.repeat} fold {fold.fold} ({fold.split})")
            _check_combined(spec, data, development, final_seed, tuning.inner_folds,
                            "final refit")
    except DataError as exc:
        counts = class_patients(data, development)
        raise DataError(
            f"{_design(config, data, development)}: too few development patients of a class "
            f"for this design. The development set holds {_counts(counts)} "
            f"({len(np.unique(dev.patient_id))} patients, {len(dev.y)} rows). {exc} "
            f"{_advice(config, specs)}"
        ) from None
