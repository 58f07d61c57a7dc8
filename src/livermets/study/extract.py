"""Radiomics features for a study that names a cohort manifest (cached by the radiomics stage)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from livermets.study.config import StudyConfig

DEFAULT_PARAMS = "pyradiomics-default"


def resolve_params(spec: str | None) -> Any:
    """Radiomics parameters from a preset name or a YAML file path."""
    from livermets.radiomics import load_params, preset_params

    if spec is None:
        return preset_params(DEFAULT_PARAMS)
    if spec.endswith((".yaml", ".yml")):
        return load_params(spec)
    return preset_params(spec)


def extract_features(config: StudyConfig, out: Path, workers: int = 1, client: Any = None
                     ) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Features of every lesion (or patient) of the manifest; on the study's Dask ``client``."""
    from livermets.cohort import load_manifest
    from livermets.radiomics.engines import get_engine
    from livermets.radiomics.provenance import params_record, write_feature_table
    from livermets.radiomics.runner import extract_cohort
    from livermets.radiomics.tables import feature_table

    assert config.data.manifest is not None
    params = resolve_params(config.data.radiomics_params)
    manifest = load_manifest(config.data.manifest)
    if config.segmentation is not None:  # masks from a backend instead of the given files
        from livermets.study.segmentation import segmented_manifest

        manifest = segmented_manifest(
            config.segmentation, manifest, out / "segmentation", config.data.level
        )
    result = extract_cohort(manifest, params, cache_dir=out / "cache" / "radiomics",
                            workers=workers,
                            scheduler=client if client is not None else params.compute.scheduler)
    engine_version = get_engine(params.engine).version()
    table = feature_table(result, params, config.data.level, engine_version)
    extra = [c for c in manifest.table.columns
             if c not in table.columns and c in _manifest_columns(config, manifest.table)]
    if extra:
        clinical = manifest.table[["patient_id", *extra]].copy()
        clinical["patient_id"] = clinical["patient_id"].astype(str)
        table["patient_id"] = table["patient_id"].astype(str)
        table = table.merge(clinical, on="patient_id", how="left")
    path = write_feature_table(table, out / "features.parquet", params)
    # the study runs on the table as saved (same dtypes), so the saved folder reproduces it
    return pd.read_parquet(path), params_record(params, engine_version)


def _manifest_columns(config: StudyConfig, manifest: pd.DataFrame) -> list[str]:
    """Manifest columns the study uses besides the features (centre, split, clinical, outcome)."""
    d = config.data
    wanted = [d.centre_column, d.split_column, *d.clinical, d.time_column, d.event_column]
    if d.level == "patient":
        wanted.append(d.label_column)
    return [c for c in wanted if c and c in manifest.columns]
