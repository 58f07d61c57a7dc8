"""livermets: liver-lesion and liver-metastasis diagnosis studies.

The main stages for notebooks and scripts (docs/api.md); each name is imported on first use, so
``import livermets`` stays quick::

    import livermets as lm
    cohort = lm.load_manifest("cohort/manifest.csv")
    lesions, patients = lm.build_lesion_tables(cohort)
    features = lm.extract_features(cohort, "seed-ct-liver")
    result = lm.run_study(lm.load_config("study.yaml"), "results/study")
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> the module that owns it
_API: dict[str, str] = {
    "LivermetsError": "livermets.errors",
    "generate_cohort": "livermets.synth",
    "make_config": "livermets.synth",
    "load_manifest": "livermets.cohort",
    "validate_cohort": "livermets.cohort",
    "read_image": "livermets.io",
    "read_mask": "livermets.io",
    "LesionSettings": "livermets.lesions",
    "build_lesion_tables": "livermets.lesions",
    "RadiomicsParams": "livermets.radiomics",
    "load_params": "livermets.radiomics",
    "preset_names": "livermets.radiomics",
    "preset_params": "livermets.radiomics",
    "extract_features": "livermets.radiomics.extract",
    "StudyConfig": "livermets.study",
    "StudyResult": "livermets.study",
    "config_from_dict": "livermets.study",
    "load_config": "livermets.study",
    "run_study": "livermets.pipeline",
    "analyse_study": "livermets.study",
    "load_study": "livermets.study",
    "predict": "livermets.study",
    "load_model": "livermets.models",
    "predict_table": "livermets.models",
    "Report": "livermets.report",
}
_MODULES = ("stats", "cohort", "lesions", "radiomics", "models", "study", "report", "synth",
            "segment", "deep", "readers", "io", "datasets")

__all__ = ["__version__", *_API, *_MODULES]


def __getattr__(name: str) -> Any:
    """Import a public name (or stage module) on first use."""
    if name in _API:
        value = getattr(importlib.import_module(_API[name]), name)
    elif name in _MODULES:
        value = importlib.import_module(f"livermets.{name}")
    else:
        raise AttributeError(f"module 'livermets' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
