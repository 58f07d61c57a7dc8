"""Multi-phase, multi-class 3D segmentation of liver lesions (NC -> arterial -> venous ->
[delayed] CT): data on one grid, the network, its training, inference and patient-level rules.

Names are imported lazily (``import livermets.deep.multiphase`` does not import torch).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "LESION_CLASSES": "config", "TEMPORAL_ORDER": "config", "LossWeights": "config",
    "MultiphaseSettings": "config", "make_settings": "config",
    "MultiphaseCase": "data", "load_cases": "data", "fit_case_intensity": "data",
    "MultiPhaseSegNet": "network", "MultiPhaseOutput": "network", "LesionOutput": "network",
    "instance_means": "network",
    "TrainResult": "train", "train_multiphase": "train", "load_multiphase_model": "train",
    "RULES": "infer", "CasePrediction": "infer", "MultiphasePredictions": "infer",
    "extract_instances": "infer", "predict_case": "infer", "predict_cohort": "infer",
    "write_predictions": "infer",
    "MALIGNANT": "patient", "max_inside_liver": "patient", "predicted_volume": "patient",
    "malignant_probability": "patient", "group_score": "patient",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    """Import a public name from its submodule on first use."""
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = importlib.import_module(f"{__name__}.{_EXPORTS[name]}")
    return getattr(module, name)
