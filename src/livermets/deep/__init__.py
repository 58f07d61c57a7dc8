"""Deep-learning lesion classifiers: MONAI CNNs on cached lesion crops (2D, 2.5D, 3D; multi-phase;
image + clinical fusion), their training, aggregation, explanations and study integration.

Importing this package is light (no torch); the submodules that need torch import it.
"""

from __future__ import annotations

from livermets.deep.config import (
    WINDOW_PRESETS,
    AugmentSettings,
    CropSettings,
    DeepModelSpec,
    EmbeddingModelSpec,
    NetworkSettings,
    TrainSettings,
)

__all__ = [
    "WINDOW_PRESETS",
    "AugmentSettings",
    "CropSettings",
    "DeepModelSpec",
    "EmbeddingModelSpec",
    "NetworkSettings",
    "TrainSettings",
]
