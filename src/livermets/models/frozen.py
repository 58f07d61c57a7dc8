"""Frozen models: the final pipeline saved with a model card, and prediction on new cases."""

from __future__ import annotations

import json
import platform
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd

from livermets import __version__
from livermets._atomic import atomic_path, write_text
from livermets._hashing import file_sha256
from livermets.errors import DataError, InputFileError

CARD = "card.json"
MODEL = "model.skops"  # skops: loading cannot run code, unlike a pickle
LEGACY_MODEL = "model.joblib"  # folders written before skops (a pickle: trusted sources only)
# types a model file may ask to build: livermets' own steps and the libraries they wrap
TRUSTED_MODULES = ("livermets", "sklearn", "imblearn", "numpy", "scipy", "xgboost", "lightgbm",
                   "pandas", "statsmodels", "builtins", "collections", "functools", "copyreg")
PACKAGES = ("numpy", "pandas", "scikit-learn", "imbalanced-learn", "xgboost-cpu", "lightgbm",
            "statsmodels", "optuna", "shap")


def package_versions() -> dict[str, str]:
    """Versions of Python and the packages a saved model depends on."""
    out = {"python": platform.python_version(), "livermets": __version__}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def save_model(folder: Path, pipeline: Any, card: dict[str, Any]) -> Path:
    """Write ``model.skops`` and ``card.json`` (with the model file's hash) atomically."""
    import skops.io as sio

    folder.mkdir(parents=True, exist_ok=True)
    with atomic_path(folder / MODEL) as tmp:
        sio.dump(pipeline, tmp)
    card = {**card, "model_file": MODEL, "model_format": "skops",
            "model_sha256": file_sha256(folder / MODEL), "versions": package_versions()}
    write_text(folder / CARD, json.dumps(card, indent=2, default=str, allow_nan=False))
    return folder


@dataclass
class FrozenModel:
    """A loaded model and its card."""

    folder: Path
    card: dict[str, Any]
    pipeline: Any


def model_folders(folder: Path) -> list[Path]:
    """Sub-folders of ``folder`` that hold a saved model."""
    return sorted(p for p in folder.iterdir() if (p / CARD).is_file()) if folder.is_dir() else []


def load_model(folder: str | Path) -> FrozenModel:
    """Load a saved model after checking the model file against the card's hash."""
    folder = Path(folder)
    if not (folder / CARD).is_file():
        choices = model_folders(folder)
        hint = (f" It holds models {[p.name for p in choices]}: pass one of those folders."
                if choices
                else " Pass a folder written by `livermets study run` (DIR/models/NAME).")
        raise InputFileError(f"{folder} has no {CARD}.{hint}")
    card = json.loads((folder / CARD).read_text(encoding="utf-8"))
    path = folder / card.get("model_file", MODEL)
    if not path.is_file():
        raise InputFileError(f"{path} is missing; the model folder is incomplete.")
    if file_sha256(path) != card.get("model_sha256"):
        raise DataError(
            f"{path} does not match the hash in its card (edited or corrupted); re-run the study."
        )
    if path.suffix == ".skops":
        return FrozenModel(folder, card, _load_skops(path))
    return FrozenModel(folder, card, joblib.load(path))  # a legacy pickle whose hash matched


def untrusted_types(path: Path) -> list[str]:
    """Types in a skops file outside livermets and the libraries its models are made of."""
    import skops.io as sio

    return [name for name in sio.get_untrusted_types(file=path)
            if name.split(".", 1)[0] not in TRUSTED_MODULES]


def _load_skops(path: Path) -> Any:
    """Load a skops model file, refusing types no livermets model is made of."""
    import skops.io as sio

    foreign = untrusted_types(path)
    if foreign:
        raise DataError(
            f"{path} asks to build types that no livermets model uses: {foreign[:10]}. It was "
            "not written by livermets; it is not loaded."
        )
    return sio.load(path, trusted=sio.get_untrusted_types(file=path))


def encode_clinical(table: pd.DataFrame, encoding: dict[str, list[str]]) -> pd.DataFrame:
    """Clinical columns encoded as at training: numeric as is, text as the saved indicators."""
    out = {}
    for name, levels in encoding.items():
        column = table[name]
        if not levels:
            out[name] = pd.to_numeric(column, errors="coerce").astype(float)
            continue
        text = column.astype("string")
        for level in levels:
            values = (text == level).astype(float)
            values[column.isna().to_numpy()] = np.nan
            out[f"{name}_{level}"] = values
    return pd.DataFrame(out, index=table.index)


def check_inputs(card: dict[str, Any], table: pd.DataFrame) -> None:
    """Refuse a table whose features or extraction parameters differ from the model's."""
    needed = [c for c in card["radiomics_features"] if c not in table.columns]
    needed += [c for c in card["clinical_encoding"] if c not in table.columns]
    if needed:
        raise DataError(
            f"the input lacks {len(needed)} feature(s) the model was trained on: "
            f"{needed[:10]}{' ...' if len(needed) > 10 else ''}. Extract them with the model's "
            "radiomics parameters (radiomics_params.yaml in the model folder)."
        )
    extraction = card.get("radiomics") or {}
    for key in ("params_hash", "engine_version"):
        expected = extraction.get(key)
        if expected is None or key not in table.columns:
            continue
        found = sorted(set(table[key].dropna().astype(str)) - {str(expected)})
        if found:
            raise DataError(
                f"the input's features were extracted with {key} {found} but the model expects "
                f"{expected}; re-extract them with the model's radiomics_params.yaml."
            )
    if extraction.get("params_hash") and "params_hash" not in table.columns:
        raise DataError(
            "the input has no params_hash column, so its extraction parameters cannot be checked "
            f"against the model's ({extraction['params_hash']}); use a table written by "
            "`livermets features` with the model's radiomics_params.yaml."
        )


def predict_table(model: FrozenModel, table: pd.DataFrame) -> pd.DataFrame:
    """Per-row probabilities and the class at the saved cut-off."""
    card = model.card
    check_inputs(card, table)
    X = pd.concat([table[card["radiomics_features"]].astype(float),
                   encode_clinical(table, card["clinical_encoding"])], axis=1)
    X = X[card["input_columns"]]
    prob = model.pipeline.predict_proba(X)
    seen = np.asarray(model.pipeline.classes_, dtype=int)
    classes = card["classes"]
    full = np.zeros((len(X), len(classes)))
    full[:, seen] = prob
    ids = [c for c in (card["patient_column"], card.get("id_column")) if c and c in table]
    out = table[ids].reset_index(drop=True).copy()
    out.columns = ["patient_id", "lesion_id"][: len(ids)]
    out["model"] = card["model"]
    if len(classes) == 2:
        out["y_prob"] = full[:, 1]
        cut = card.get("threshold")
        cut = 0.5 if cut is None else float(cut)
        out["threshold"] = cut
        out["y_pred"] = np.where(full[:, 1] >= cut, classes[1], classes[0])
    else:
        for k, name in enumerate(classes):
            out[f"p_{name}"] = full[:, k]
        out["y_pred"] = np.asarray(classes, dtype=object)[full.argmax(axis=1)]
    return out
