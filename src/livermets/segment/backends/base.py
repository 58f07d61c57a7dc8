"""What every segmentation backend provides (a weights check and a per-image prediction), the
backend registry, and the option parsers the backends' options models share."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import SimpleITK as sitk

from livermets._registry import Registry
from livermets.cohort import PatientRow

REGIONS = ("liver", "lesions", "primary")
NONE_WORDS = ("none", "image", "")


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


# name -> factory(model, options) of each backend, with its pydantic options model; every backend
# module registers itself (``segment/backends/__init__.py`` imports them all)
BACKENDS: Registry[Backend] = Registry("segmentation backend")


def split_list(value: Any) -> Any:
    """'1,2,3' -> ['1', '2', '3'] (other values unchanged)."""
    if isinstance(value, str) and value.strip().lower() not in NONE_WORDS:
        return [v.strip() for v in value.split(",") if v.strip()]
    return value


def parse_labels(value: Any) -> Any:
    """``'liver=1,2;lesions=2'`` -> {region: values} (other values unchanged)."""
    if isinstance(value, str):
        from livermets.segment.qa import parse_label_selection

        return parse_label_selection(value) or None
    return value


def check_regions(value: dict[str, tuple[int, ...]] | None) -> Any:
    """``labels`` may name only liver, lesions and primary."""
    if value and set(value) - set(REGIONS):
        raise ValueError(f"labels names unknown regions {sorted(set(value) - set(REGIONS))}; "
                         f"use {REGIONS}, e.g. 'liver=1,2;lesions=2'")
    return value
