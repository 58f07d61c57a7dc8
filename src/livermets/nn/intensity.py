"""Intensity normalisation of images before a network sees them (no torch)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Intensity:
    """Intensity normalisation: CT clips to foreground percentiles and uses foreground mean and
    SD (nnU-Net's CT scheme); other modalities use each image's own mean and SD."""

    mode: str
    low: float = 0.0
    high: float = 0.0
    mean: float = 0.0
    std: float = 1.0

    def apply(self, volume: np.ndarray) -> np.ndarray:
        """Normalised float32 copy of a volume."""
        if self.mode == "ct":
            out = (np.clip(volume, self.low, self.high) - self.mean) / self.std
        else:
            sd = float(volume.std()) or 1.0
            out = (volume - float(volume.mean())) / sd
        return out.astype(np.float32)
