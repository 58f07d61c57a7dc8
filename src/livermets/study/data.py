"""Load a study's cases: a feature table (CSV, Parquet, gzip CSV) or radiomics from a manifest."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pandas as pd

from livermets.errors import DataError, InputFileError
from livermets.models.frozen import encode_clinical
from livermets.models.validation import FeatureData
from livermets.study.config import StudyConfig

PROVENANCE = ("engine_version", "params_hash", "image_hash")
SPACING = ("spacing_x_mm", "spacing_y_mm", "spacing_z_mm")  # acquisition, not features
METADATA = ("volume_ml", "diameter_mm", "n_lesions", *PROVENANCE, *SPACING)


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a CSV, gzip CSV (.csv.gz or .gz) or Parquet table."""
    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"feature table {path} does not exist; check data.features.")
    try:
        if path.suffix == ".parquet":
            return pd.read_parquet(path)
        if path.suffix in {".csv", ".gz", ".tsv"}:
            sep = "\t" if path.name.endswith((".tsv", ".tsv.gz")) else ","
            return pd.read_csv(path, sep=sep, compression="infer")
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise InputFileError(f"cannot read {path}: {exc}") from None
    raise InputFileError(
        f"{path}: unsupported table format {path.suffix!r}; use .csv, .csv.gz, .gz or .parquet."
    )


def table_hash(table: pd.DataFrame) -> str:
    """A content hash of a table (values, column names and order)."""
    digest = hashlib.sha256(",".join(map(str, table.columns)).encode())
    digest.update(pd.util.hash_pandas_object(table, index=False).to_numpy().tobytes())
    return digest.hexdigest()[:16]


def _require(table: pd.DataFrame, column: str, key: str) -> None:
    if column not in table.columns:
        shown = ", ".join(map(str, table.columns[:12])) + (" ..." if table.shape[1] > 12 else "")
        raise DataError(
            f"column {column!r} (data.{key}) is not in the feature table; its columns are: "
            f"{shown}. Set data.{key} to the right column name."
        )


def _order_classes(values: pd.Series, config: StudyConfig) -> list[Any]:
    """Sorted classes, with the positive class last for binary tasks."""
    classes = sorted(values.unique().tolist(), key=lambda v: (str(type(v)), v))
    if config.task == "binary":
        if len(classes) != 2:
            raise DataError(
                f"task binary needs 2 classes in {config.data.label_column!r}, found "
                f"{len(classes)}: {classes[:10]}. Set task: multiclass or recode the labels."
            )
        positive = config.data.positive
        if positive is not None:
            match = [c for c in classes if str(c) == str(positive)]
            if not match:
                raise DataError(
                    f"data.positive {positive!r} is not a class of {config.data.label_column!r}; "
                    f"classes: {classes}."
                )
            classes = [c for c in classes if c != match[0]] + match
    elif len(classes) < 3:
        raise DataError(f"task multiclass needs 3 or more classes, found {classes}; use binary.")
    return classes


def feature_columns(table: pd.DataFrame, config: StudyConfig) -> list[str]:
    """The radiomics feature columns: explicit, or every numeric non-reserved column."""
    d = config.data
    if d.feature_columns is not None:
        missing = [c for c in d.feature_columns if c not in table.columns]
        if missing:
            raise DataError(f"data.feature_columns not in the table: {missing[:10]}")
        return list(d.feature_columns)
    reserved = {d.patient_column, d.id_column, d.label_column, d.centre_column, d.split_column,
                d.size_column, d.time_column, d.event_column, "patient_id", "lesion_id",
                *METADATA, *d.exclude, *d.clinical}
    return [
        c for c in table.columns
        if c not in reserved and not str(c).startswith("diagnostics_")
        and pd.api.types.is_numeric_dtype(table[c]) and not pd.api.types.is_bool_dtype(table[c])
    ]


def clinical_encoding(table: pd.DataFrame, names: list[str]) -> dict[str, list[str]]:
    """Per clinical variable: [] if numeric, else its indicator levels (first level dropped)."""
    out: dict[str, list[str]] = {}
    for name in names:
        _require(table, name, "clinical")
        column = table[name]
        if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
            out[name] = []
        else:
            levels = sorted(column.dropna().astype(str).unique().tolist())
            if len(levels) < 2:
                raise DataError(f"clinical variable {name!r} has a single value {levels}; drop it.")
            out[name] = levels[1:]
    return out


def build_feature_data(table: pd.DataFrame, config: StudyConfig) -> FeatureData:
    """Validated ``FeatureData`` from a feature table and the config's column roles."""
    d = config.data
    _require(table, d.label_column, "label_column")
    patient_column = d.patient_column
    if patient_column not in table.columns and d.level == "patient" and d.id_column:
        patient_column = d.id_column
    _require(table, patient_column, "patient_column")
    missing = table[d.label_column].isna()
    if missing.any():
        raise DataError(
            f"{int(missing.sum())} rows have no label in {d.label_column!r} (first ids: "
            f"{table.loc[missing, patient_column].astype(str).tolist()[:5]}); drop or label them."
        )
    table = table.reset_index(drop=True)
    lesion_id = None
    if d.level == "lesion":
        id_column = d.id_column or "lesion_id"
        _require(table, id_column, "id_column")
        lesion_id = table[id_column].astype(str).to_numpy()
        keys = table[patient_column].astype(str) + "\x00" + table[id_column].astype(str)
        if keys.duplicated().any():
            raise DataError(
                f"rows repeat a ({patient_column}, {id_column}) pair; ids must be unique."
            )
    elif table[patient_column].astype(str).duplicated().any():
        raise DataError(
            f"data.level is patient but {patient_column!r} repeats; use level: lesion with an "
            "id_column, or aggregate to one row per patient."
        )
    classes = _order_classes(table[d.label_column], config)
    lookup = {c: k for k, c in enumerate(classes)}
    y = table[d.label_column].map(lookup).to_numpy(dtype=int)
    radiomics = feature_columns(table, config)
    clinical = encode_clinical(table, clinical_encoding(table, d.clinical))
    if not radiomics and clinical.empty:
        raise DataError("the table has no numeric feature columns and no clinical columns.")
    X = pd.concat([table[radiomics].astype(float), clinical], axis=1)
    meta = pd.DataFrame(index=table.index)
    for role, column in (("split", d.split_column), ("centre", d.centre_column),
                         ("size_group", d.size_column), ("diameter_mm", d.diameter_column),
                         ("time", d.time_column), ("event", d.event_column)):
        if column and column in table.columns:
            meta[role] = table[column].to_numpy()
    return FeatureData(X, y, classes, table[patient_column].astype(str).to_numpy(), lesion_id,
                       meta, list(clinical.columns))
