"""How a feature table was extracted: its params_hash / engine columns and a params sidecar.

``livermets features --out F.parquet`` writes ``F_params.yaml`` beside the table (the same
format as a model's ``radiomics_params.yaml``), so a model trained on the table, and a table
given to ``predict``, carry the settings that made them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from livermets._atomic import write_table, write_text
from livermets.errors import ConfigError, DataError
from livermets.radiomics.params import RadiomicsParams, params_from_dict, settings_differences

TABLE_SUFFIXES = (".csv.gz", ".tsv.gz", ".parquet", ".csv", ".tsv", ".gz")


def params_sidecar(table_path: str | Path) -> Path:
    """``F_params.yaml`` beside the table ``F.parquet`` / ``F.csv`` / ``F.csv.gz``."""
    path = Path(table_path)
    name = path.name
    for suffix in TABLE_SUFFIXES:
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
            break
    return path.with_name(f"{name}_params.yaml")


def params_record(params: RadiomicsParams, engine_version: str) -> dict[str, Any]:
    """The provenance saved with a model: engine, its version, params hash and the parameters."""
    return {"engine": params.engine, "engine_version": engine_version,
            "params_hash": params.params_hash(),
            "params": params.model_dump(mode="json", exclude_none=True)}


def write_feature_table(table: pd.DataFrame, path: str | Path, params: RadiomicsParams) -> Path:
    """Write the table and its parameter sidecar (both atomically)."""
    write_table(table, path)
    dump = params.model_dump(mode="json", exclude_none=True)
    write_text(params_sidecar(path), yaml.safe_dump(dump, sort_keys=False))
    return Path(path)


def _single(table: pd.DataFrame, column: str, path: Path) -> str | None:
    """The one value of a provenance column (None if absent); a mix of values is refused."""
    if column not in table.columns:
        return None
    values = sorted(set(table[column].dropna().astype(str)))
    if len(values) > 1:
        raise DataError(
            f"{path} mixes features extracted with {len(values)} different {column} values "
            f"{values[:5]}; extract the whole cohort with one parameter file and engine."
        )
    return values[0] if values else None


def table_provenance(table: pd.DataFrame, path: str | Path) -> dict[str, Any] | None:
    """The extraction record of a feature table; None for a table without ``params_hash``.

    ``params`` is filled from the sidecar when it exists and its hash matches the table's.
    """
    path = Path(path)
    params_hash = _single(table, "params_hash", path)
    if params_hash is None:
        return None
    record: dict[str, Any] = {"engine": None, "engine_version": _single(table, "engine_version",
                                                                        path),
                              "params_hash": params_hash, "params": None}
    sidecar = params_sidecar(path)
    if sidecar.is_file():
        try:
            params = params_from_dict(yaml.safe_load(sidecar.read_text(encoding="utf-8")) or {},
                                      source=str(sidecar))
        except (ConfigError, yaml.YAMLError):
            return record  # an unusable sidecar: the hash alone still guards predictions
        if params.params_hash() == params_hash:
            record["engine"] = params.engine
            record["params"] = params.model_dump(mode="json", exclude_none=True)
    return record


def check_same_extraction(expected: dict[str, Any] | None, found: dict[str, Any] | None,
                          what: str) -> None:
    """Refuse features extracted with other settings than a model's, naming the settings.

    Only when both parameter sets are known; a bare hash mismatch is refused by
    ``models.frozen.check_inputs``.
    """
    if not (expected and found and expected.get("params") and found.get("params")):
        return
    if found["params_hash"] == expected["params_hash"]:
        return
    differences = settings_differences(params_from_dict(found["params"]),
                                       params_from_dict(expected["params"]))
    raise DataError(
        f"{what} were extracted with other radiomics settings than the model's (input vs "
        f"model): {'; '.join(differences) or 'the engine'}. Re-extract them with the model's "
        "radiomics_params.yaml."
    )
