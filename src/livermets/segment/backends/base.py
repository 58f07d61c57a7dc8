"""What every segmentation backend provides: a weights check and a per-image prediction."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import SimpleITK as sitk

from livermets.cohort import PatientRow


@dataclass
class RawSegmentation:
    """A backend's output on the image's voxel grid, (z, y, x) arrays before post-processing.

    ``lesions`` holds class values 1..K whose names are ``lesion_classes`` (K = 1: one class).
    """

    liver: np.ndarray | None
    lesions: np.ndarray | None
    lesion_classes: list[str] = field(default_factory=lambda: ["lesion"])
    primary: np.ndarray | None = None


class Backend(Protocol):
    """A segmentation backend (TotalSegmentator, nnU-Net, livermets' own MONAI model)."""

    name: str

    def signature(self) -> dict[str, Any]:
        """What identifies this backend's output (model, task, settings), for resuming."""
        ...

    def check(self) -> None:
        """Raise a ``LivermetsError`` before anything is written when the backend cannot run."""
        ...

    def predict(self, image: sitk.Image, row: PatientRow) -> RawSegmentation:
        """Segment one patient's image."""
        ...
