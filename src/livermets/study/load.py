"""A finished study read back from its output folder, without fitting anything.

``study run`` writes ``study.json`` (the validated config and the feature table's content hash)
beside its tables; ``load_study`` rebuilds the ``StudyResult`` from that folder: the feature
table, the saved predictions / thresholds / metrics / per-fold features, the frozen final models
(``models/NAME``) and, with a multi-phase section, the saved multi-phase evaluations. The report
can then be drawn again (``livermets report study DIR``) with the same numbers.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from livermets import __version__
from livermets._atomic import write_text
from livermets.errors import DataError, InputFileError
from livermets.models import PipelineSpec
from livermets.models.validation import FitResult
from livermets.study.config import StudyConfig
from livermets.study.data import build_feature_data, read_table, table_hash

STUDY_RECORD = "study.json"


def write_study_record(out: Path, config: StudyConfig, data_key: str | None) -> Path:
    """Write ``out/study.json``: the config as run and the feature table's content hash."""
    record = {"livermets_version": __version__, "data_key": data_key,
              "config": config.model_dump(mode="json")}
    return write_text(out / STUDY_RECORD, json.dumps(record, indent=1))


def _read(folder: Path, name: str) -> Path:
    path = folder / name
    if not path.is_file():
        raise InputFileError(f"{path} is missing: {folder} is not a complete study folder "
                             "(run `livermets study run` again to write it).")
    return path


def load_study(folder: str | Path) -> Any:
    """The ``StudyResult`` of the study run into ``folder`` (nothing is refitted)."""
    from livermets.study.runner import StudyResult, make_folds, study_specs

    folder = Path(folder)
    if not (folder / STUDY_RECORD).is_file():
        raise InputFileError(
            f"{folder} has no {STUDY_RECORD}: pass a folder written by `livermets study run` "
            "(folders from before this file existed need the study run again; its caches make "
            "that quick).")
    record = json.loads((folder / STUDY_RECORD).read_text(encoding="utf-8"))
    config = StudyConfig.model_validate(record["config"])
    metrics = json.loads(_read(folder, "metrics.json").read_text(encoding="utf-8"))
    metrics.pop("tables", None)  # the report's own tables: drawn again
    multiphase = None
    if config.multiphase is not None:
        from livermets.deep.multiphase.workflow import load_workflow_result

        multiphase = load_workflow_result(folder / "multiphase")
    empty = pd.DataFrame()
    if not config.models:
        return StudyResult(config=config, out=folder, data=None, table=empty, specs=[],
                           development=np.empty(0, dtype=int), folds=[], outcomes=[],
                           predictions=empty, thresholds=empty, patient_predictions=None,
                           metrics=metrics, finals={}, multiphase=multiphase)
    source = (Path(config.data.features) if config.data.features is not None
              else folder / "features.parquet")
    table = read_table(source)
    if table_hash(table) != record["data_key"]:
        raise DataError(f"{source} has changed since the study was run (its content hash "
                        "differs): the saved models and predictions no longer belong to it. "
                        "Run the study again.")
    data = build_feature_data(table, config)
    development, folds = make_folds(config, data)
    specs = study_specs(config)
    deep_specs = [*config.deep, *(e for d in config.deep for e in d.embedding_models())]
    patients = folder / "predictions_patients.parquet"
    return StudyResult(
        config=config, out=folder, data=data, table=table, specs=[*specs, *deep_specs],
        development=development, folds=folds, outcomes=[],
        predictions=pd.read_parquet(_read(folder, "predictions.parquet")),
        thresholds=pd.read_parquet(_read(folder, "thresholds.parquet")),
        patient_predictions=pd.read_parquet(patients) if patients.is_file() else None,
        metrics=metrics, finals={s.name: _final(folder, s) for s in specs},
        multiphase=multiphase,
        fold_features=pd.read_parquet(_read(folder, "fold_features.parquet")))


def _final(folder: Path, spec: PipelineSpec) -> Any:
    """A saved final model as the runner's ``FinalModel`` (its fit as the card records it)."""
    from livermets.models.frozen import load_model
    from livermets.study.runner import FinalModel

    frozen = load_model(folder / "models" / spec.name)
    card = frozen.card
    fit = FitResult(spec=PipelineSpec.model_validate(card["params"]), pipeline=frozen.pipeline,
                    train_oof=np.empty(0), features=list(card["selected_features"]),
                    threshold=card["threshold"], inner_auc=float("nan"),
                    members=[PipelineSpec.model_validate(m) for m in card["ensemble"]])
    return FinalModel(spec=spec, fit=fit, folder=frozen.folder, card=card)
