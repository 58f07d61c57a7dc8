"""The demo's model comparison: radiomics from the synthetic manifest and a small model set."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from livermets.study.config import StudyConfig, config_from_dict

DEMO_MODELS: list[dict[str, Any]] = [
    {"name": "lasso_logistic", "select": "lasso", "classifier": "logistic"},
    {"name": "random_forest", "select": "anova", "select_params": {"k": 8},
     "classifier": "random_forest", "classifier_params": {"n_estimators": 100}},
    {"name": "xgboost", "select": "mrmr", "select_params": {"k": 8}, "classifier": "xgboost"},
]


def demo_config(manifest: str | Path, seed: int = 0, workers: int = 1,
                radiomics_params: str = "pyradiomics-default") -> StudyConfig:
    """A lesion-level metastasis vs hemangioma study over a synthetic cohort manifest."""
    return config_from_dict({
        "name": "demo_crlm_vs_hemangioma",
        "seed": seed,
        "synthetic": True,
        "data": {"manifest": str(Path(manifest).resolve()), "radiomics_params": radiomics_params,
                 "level": "lesion", "positive": "metastasis"},
        "models": DEMO_MODELS,
        "validation": {"design": "cv", "folds": 5, "repeats": 1, "bootstrap": 500},
        "subgroups": ["size_group"],
        "explain": {"max_rows": 100},
        "compute": {"workers": workers},
    }, source="demo study")
