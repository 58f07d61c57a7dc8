"""One call from a cohort to a feature table, for notebooks and scripts (the CLI adds files)."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from livermets.cohort import Manifest, load_manifest
from livermets.errors import ConfigError
from livermets.radiomics.params import RadiomicsParams, resolve_params


def extract_features(
    cohort: Manifest | str | os.PathLike[str],
    params: RadiomicsParams | str | os.PathLike[str],
    *,
    level: str = "lesion",
    workers: int = 1,
    cache_dir: str | os.PathLike[str] | None = None,
) -> pd.DataFrame:
    """Radiomics of every lesion (``level='lesion'``) or patient of a cohort, as one table.

    ``cohort`` is a manifest or its CSV path (a pyradiomics batch CSV too); ``params`` a
    RadiomicsParams, a parameter YAML (livermets' or pyradiomics' schema) or a preset name.
    Regions that fail are left out (``livermets features`` also writes them).
    """
    from livermets.radiomics.engines import get_engine
    from livermets.radiomics.runner import extract_cohort
    from livermets.radiomics.tables import feature_table

    if level not in ("lesion", "patient"):
        raise ConfigError(f"level must be 'lesion' or 'patient' (got {level!r}).")
    manifest = cohort if isinstance(cohort, Manifest) else load_manifest(Path(cohort))
    settings = params if isinstance(params, RadiomicsParams) else resolve_params(params)
    result = extract_cohort(manifest, settings, cache_dir=cache_dir, workers=workers)
    return feature_table(result, settings, level, get_engine(settings.engine).version())
