"""`livermets predict`: a frozen model on new cases (a feature table or a cohort manifest)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from livermets._atomic import write_table
from livermets.errors import ConfigError
from livermets.models.aggregate import aggregate_patients
from livermets.models.frozen import load_model, predict_table
from livermets.models.ood import (
    REFERENCE_KEY,
    SPACING,
    ood_message,
    ood_rows,
    patient_ood,
)
from livermets.study.data import read_table


def _input_table(model: Any, path: Path, workers: int) -> pd.DataFrame:
    """The input as a feature table; a manifest is extracted with the model's own parameters.

    A feature table extracted with other radiomics settings than the model's is refused.
    """
    from livermets.cohort.manifest import is_image_column
    from livermets.radiomics.provenance import check_same_extraction, table_provenance

    table = read_table(path)
    if not any(is_image_column(str(c)) for c in table.columns):
        check_same_extraction(model.card.get("radiomics"), table_provenance(table, path),
                              f"the features in {path}")
        return table
    from livermets.cohort import load_manifest
    from livermets.radiomics import params_from_dict
    from livermets.radiomics.engines import get_engine
    from livermets.radiomics.runner import extract_cohort
    from livermets.radiomics.tables import feature_table

    extraction = model.card.get("radiomics")
    if not extraction or not extraction.get("params"):
        raise ConfigError(
            f"{path} is a cohort manifest, but model {model.card['model']!r} was trained on a "
            "feature table whose extraction parameters were not saved with it (no "
            "TABLE_params.yaml beside the table), so they are unknown; pass a feature table."
        )
    params = params_from_dict(extraction["params"], source="the model's radiomics parameters")
    manifest = load_manifest(path)
    result = extract_cohort(manifest, params, workers=workers)
    features = feature_table(
        result, params, model.card["level"], get_engine(params.engine).version()
    )
    extra = [
        c
        for c in manifest.table.columns
        if c not in features.columns and c in model.card["clinical_encoding"]
    ]
    if extra:
        features = features.merge(
            manifest.table[["patient_id", *extra]], on="patient_id", how="left"
        )
    return features


def _ood(card: dict[str, Any], table: pd.DataFrame, predictions: pd.DataFrame,
         out: Path) -> dict[str, Any]:
    """The out-of-distribution check: per-row columns and ``<out stem>_ood.csv`` per patient."""
    reference = card.get(REFERENCE_KEY)
    if not reference:
        return {"table": None, "message": (
            "note: the model card has no training reference (a model saved before livermets "
            "recorded one), so the out-of-distribution check could not run; re-run the study "
            "to get it.")}
    rows = ood_rows(reference, table, card.get("selected_features"))
    patients = patient_ood(pd.concat([predictions, rows], axis=1))
    path = out.with_name(f"{out.stem}_ood.csv")
    write_table(patients, path)
    unchecked = [c for c in reference.get("acquisition", {})
                 if SPACING.search(c) and c not in table.columns]
    message = ood_message(patients, str(path))
    if unchecked:
        message += (f" Voxel spacing not checked: the input has no {unchecked} column(s) "
                    "(a table from `livermets features` has them).")
    return {"table": str(path), "rows": rows, "patients": len(patients),
            "patients_flagged": int(patients["ood_flag"].sum()),
            "patients_extreme": int(patients["extreme_prob"].sum()),
            "patients_flagged_extreme": int((patients["ood_flag"]
                                             & patients["extreme_prob"]).sum()),
            "spacing_unchecked": unchecked, "message": message}


def predict(
    model_dir: str | Path,
    input_path: str | Path,
    out: str | Path,
    aggregation: str = "max",
    workers: int = 1,
) -> dict[str, Any]:
    """Write per-case (and, for lesion models, per-patient) predictions; return a summary."""
    card = Path(model_dir) / "card.json"
    if card.is_file() and json.loads(card.read_text()).get("kind") == "deep":
        from livermets.deep.study import predict_deep

        return predict_deep(model_dir, input_path, out)
    model = load_model(model_dir)
    out = Path(out)
    table = _input_table(model, Path(input_path), workers)
    predictions = predict_table(model, table)
    ood = _ood(model.card, table, predictions, out)
    if ood["table"] is not None:
        predictions = pd.concat([predictions, ood.pop("rows")], axis=1)
    write_table(predictions, out)
    summary: dict[str, Any] = {
        "model": model.card["model"],
        "rows": len(predictions),
        "out": str(out),
        "threshold": model.card.get("threshold"),
        "ood": {k: v for k, v in ood.items() if k != "rows"},
    }
    probs = [c for c in predictions.columns if str(c).startswith("p_")]
    if model.card["level"] == "lesion" and "lesion_id" in predictions and (
        "y_prob" in predictions or probs
    ):
        frame = predictions.assign(repeat=0, fold=0, split="new", y_true="?")
        diameter = None
        if "diameter_mm" in table.columns:
            diameter = pd.DataFrame(
                {
                    "patient_id": predictions["patient_id"],
                    "lesion_id": predictions["lesion_id"],
                    "diameter_mm": table["diameter_mm"].to_numpy(),
                }
            )
        cut = model.card.get("threshold")
        cuts = pd.DataFrame(
            {
                "model": [model.card["model"]],
                "repeat": [0],
                "fold": [0],
                "threshold": [0.5 if cut is None else cut],
            }
        )
        patients = aggregate_patients(frame, aggregation, model.card["positive"], diameter, cuts)
        classes = model.card["classes"]
        if "y_prob" in predictions:
            patient_cut = 0.5 if aggregation == "vote" or cut is None else float(cut)
            patients = patients[["patient_id", "model", "y_prob"]].assign(
                aggregation=aggregation,
                y_pred=lambda d: (
                    d["y_prob"].ge(patient_cut).map({True: classes[1], False: classes[0]})
                ),
            )
        else:
            patients = patients[["patient_id", "model", *probs]].assign(
                aggregation=aggregation,
                y_pred=np.asarray(classes, dtype=object)[
                    patients[probs].to_numpy().argmax(axis=1)
                ],
            )
        patient_out = out.with_name(f"{out.stem}_patients{out.suffix}")
        write_table(patients, patient_out)
        summary["patients"] = len(patients)
        summary["patients_out"] = str(patient_out)
    return summary
