"""Typed settings of the multi-phase, multi-class 3D segmentation network (no torch here)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from livermets.errors import ConfigError

TEMPORAL_ORDER: tuple[str, ...] = ("nc", "arterial", "venous", "delayed")
REFERENCE_PHASE = "venous"
LESION_CLASSES: tuple[str, ...] = (
    "hcc", "icc", "metastasis", "hemangioma", "fnh", "cyst", "calcification", "other",
)
N_TISSUE = 2  # voxel channels before the lesion classes: background, liver parenchyma


class _Strict(BaseModel):
    """Rejects unknown keys; immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class LossWeights(_Strict):
    """Weights of the four loss terms."""

    dice_ce: float = Field(default=1.0, ge=0)
    focal: float = Field(default=1.0, ge=0)
    contrastive: float = Field(default=0.1, ge=0)
    patient: float = Field(default=0.1, ge=0)


class MultiphaseSettings(_Strict):
    """Grid, network, loss, optimiser and inference settings (sizes (x, y, z), CPU defaults).

    The defaults train in ~7 min on one CPU thread (~0.35 s per iteration of two 32x32x16
    patches). Lesion learning on a CPU budget rests on: foreground patches 80% of the time,
    drawn class-balanced (``class_balanced``); the ``"lesion"`` loss (CE with lesion classes
    weighted ``lesion_ce_weight`` + Dice of liver, lesion-vs-rest and the lesion classes present);
    a rare-lesion prior on the voxel head's biases; lr 1e-2; and the hierarchical decision at
    inference (``lesion_threshold`` on the summed lesion probability, one class per instance from
    ``lesion_class_from``). ``seg_loss="dice_ce"`` is MONAI's DiceCE over all channels.

    Lesion classification rests on the lesion head, not the voxel head: it pools the decoder
    features *and* the per-phase mean input intensity over each lesion (``lesion_intensity``; the
    enhancement pattern across phases separates the classes), trains with the focal loss
    (``loss_weights.focal``) on every reference lesion in a patch, and names each predicted lesion
    (``lesion_class_from="head"``). ``lesion_min_confidence`` drops predicted lesions whose largest
    head probability is lower; ``patient_probs="lesion"`` makes the patient rules' voxel map
    lesion-aware (``infer`` module docstring).
    """

    phases: tuple[str, ...] = TEMPORAL_ORDER
    classes: tuple[str, ...] = LESION_CLASSES
    spacing_mm: tuple[float, float, float] = (2.5, 2.5, 5.0)
    patch: tuple[int, int, int] = (32, 32, 16)
    features: tuple[int, ...] = (8, 16, 32)
    stem_channels: int = Field(default=8, ge=1)
    embedding_size: int = Field(default=32, ge=2)
    iterations: int = Field(default=1200, ge=1)
    batch_size: int = Field(default=2, ge=1)
    lr: float = Field(default=1e-2, gt=0)
    weight_decay: float = Field(default=1e-4, ge=0)
    loss_weights: LossWeights = LossWeights()
    focal_gamma: float = Field(default=2.0, ge=0)
    contrastive_temperature: float = Field(default=0.1, gt=0)
    memory_size: int = Field(default=128, ge=0)
    other_classes: tuple[str, ...] = ("other",)
    drop_delayed_prob: float = Field(default=0.5, ge=0, le=1)
    foreground_prob: float = Field(default=0.8, ge=0, le=1)
    class_balanced: bool = True
    flip_prob: float = Field(default=0.0, ge=0, le=1)
    seg_loss: Literal["dice_ce", "lesion"] = "lesion"
    lesion_ce_weight: float = Field(default=10.0, gt=0)
    use_sam: bool = False
    sam_rho: float = Field(default=0.05, gt=0)
    seed: int = 0
    threads: int | None = Field(default=None, ge=1)
    checkpoint_every: int = Field(default=50, ge=1)
    sw_overlap: float = Field(default=0.25, ge=0, lt=1)
    sw_batch_size: int = Field(default=2, ge=1)
    min_lesion_voxels: int = Field(default=30, ge=1)
    lesion_threshold: float = Field(default=0.5, gt=0, lt=1)
    lesion_class_from: Literal["head", "voxel", "both"] = "head"
    lesion_intensity: bool = True
    lesion_min_confidence: float = Field(default=0.0, ge=0, le=1)
    patient_probs: Literal["voxel", "lesion"] = "lesion"

    @model_validator(mode="after")
    def _consistent(self) -> MultiphaseSettings:
        unknown = [p for p in self.phases if p not in TEMPORAL_ORDER]
        if unknown:
            raise ValueError(f"unknown phase(s) {unknown}; allowed: {list(TEMPORAL_ORDER)}")
        order = [TEMPORAL_ORDER.index(p) for p in self.phases]
        if order != sorted(set(order)):
            raise ValueError(f"phases must be unique and in temporal order {TEMPORAL_ORDER}, "
                             f"got {list(self.phases)}")
        if REFERENCE_PHASE not in self.phases:
            raise ValueError("phases must include 'venous' (the reference grid of every patient)")
        if not self.classes or len(set(self.classes)) != len(self.classes):
            raise ValueError(f"classes must be non-empty and unique, got {list(self.classes)}")
        missing = [c for c in self.other_classes if c not in self.classes]
        if missing:
            raise ValueError(f"other_classes {missing} are not among classes {list(self.classes)}")
        if min(self.spacing_mm) <= 0:
            raise ValueError(f"spacing_mm must be positive, got {self.spacing_mm}")
        if len(self.features) < 2 or min(self.features) < 1:
            raise ValueError(f"features must list >= 2 positive widths, got {self.features}")
        factor = 2 ** (len(self.features) - 1)
        if any(p % factor or p < factor for p in self.patch):
            raise ValueError(f"with {len(self.features)} levels every patch size must be a "
                             f"multiple of {factor}; got {self.patch}")
        return self

    @property
    def patch_zyx(self) -> tuple[int, int, int]:
        """Patch size in array order (z, y, x)."""
        x, y, z = self.patch
        return z, y, x

    @property
    def n_classes(self) -> int:
        """Number of lesion classes."""
        return len(self.classes)

    @property
    def n_outputs(self) -> int:
        """Voxel output channels: background, liver, then one per lesion class."""
        return N_TISSUE + len(self.classes)


def make_settings(values: Mapping[str, Any] | None = None, **overrides: Any) -> MultiphaseSettings:
    """Validated settings from a mapping (+ keyword overrides); a ``ConfigError`` if invalid."""
    data = {**(values or {}), **overrides}
    try:
        return MultiphaseSettings.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}"
                             for e in exc.errors())
        raise ConfigError(f"invalid multi-phase settings: {problems}. Allowed keys: "
                          f"{', '.join(MultiphaseSettings.model_fields)}.") from None
