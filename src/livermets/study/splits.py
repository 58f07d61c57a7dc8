"""The three-way design inside a study: the split column checked before any work, the splits
table, and the fits (train -> chosen on validation -> test once), cached like the CV folds."""

from __future__ import annotations

import numpy as np
import pandas as pd

from livermets.errors import DataError
from livermets.models.threeway import ROLES, ThreeWaySplit, three_way_split
from livermets.models.validation import FeatureData
from livermets.study.config import StudyConfig


def split_names(config: StudyConfig) -> dict[str, str]:
    """Role (train, validation, test) -> value of the split column."""
    return config.validation.split_names.model_dump()


def _missing_column(config: StudyConfig, where: str) -> DataError:
    return DataError(
        f"validation.design three_way needs the split column {config.data.split_column!r} in "
        f"{where} (one value per patient: {', '.join(split_names(config).values())}); add it "
        "(`livermets synth --split ...` writes one) or set data.split_column."
    )


def check_manifest_splits(config: StudyConfig) -> None:
    """Before feature extraction: the manifest's split column is a valid three-way split."""
    from livermets.cohort import load_manifest

    if config.validation.design != "three_way" or config.data.manifest is None:
        return
    table = load_manifest(config.data.manifest).table
    column = config.data.split_column
    if column not in table.columns:
        raise _missing_column(config, str(config.data.manifest))
    three_way_split(table[column].to_numpy(), table["patient_id"].astype(str).to_numpy(),
                    split_names(config), column)


def data_splits(config: StudyConfig, data: FeatureData) -> ThreeWaySplit:
    """The three splits of the study's rows (``DataError`` naming the problem)."""
    if "split" not in data.meta:
        raise _missing_column(config, "the table")
    return three_way_split(data.meta["split"].to_numpy(), data.patient_id, split_names(config),
                           config.data.split_column)


def splits_table(split: ThreeWaySplit, data: FeatureData) -> pd.DataFrame:
    """Which patient is in which split (saved as splits.parquet, like the CV folds)."""
    rows = [(0, 0, "three_way", role, pid)
            for role in ROLES for pid in np.unique(data.patient_id[split.rows(role)])]
    return pd.DataFrame(rows, columns=["repeat", "fold", "kind", "role", "patient_id"])


RULE = ("each model is fitted on the train rows; the configuration (tuning trials) and the "
        "Youden cut-off are chosen on the validation rows; the test rows are predicted once by "
        "that same model (no refit on train + validation). Train metrics are apparent "
        "(the model predicts its own training rows) and optimistic.")


def three_way_summary(config: StudyConfig, split: ThreeWaySplit, data: FeatureData
                      ) -> dict[str, object]:
    """The rule and, per split, its column value and numbers of patients and cases."""
    names = split_names(config)
    return {
        "rule": RULE,
        "split_column": config.data.split_column,
        "splits": {role: {"value": names[role], "n_cases": int(split.rows(role).size),
                          "n_patients": int(np.unique(data.patient_id[split.rows(role)]).size)}
                   for role in ROLES},
    }
