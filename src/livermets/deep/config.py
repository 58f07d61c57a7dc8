"""Typed settings of the deep models (crops, network, loss, optimiser, training); no torch here."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

WINDOW_PRESETS: dict[str, tuple[float, float]] = {
    "seed": (10.0, 330.0),  # level, width: W330/L10 as in the metastasis-vs-hemangioma papers
    "abdomen": (50.0, 400.0),  # W400/L50
    "liver": (60.0, 160.0),
}
BACKBONES = (
    "densenet121", "densenet169", "densenet201", "densenet_tiny",
    "resnet10", "resnet18", "resnet34", "resnet50", "resnet101", "resnet152",
)


class _Strict(BaseModel):
    """Rejects unknown keys."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class CropSettings(_Strict):
    """How lesion crops are cut from the images."""

    mode: Literal["2d", "2.5d", "3d"] = "2d"
    size: int = Field(default=64, ge=8, le=512)
    depth: int = Field(default=16, ge=2, le=256)
    slices: Literal["all", "largest"] = "all"
    max_slices: int | None = Field(default=None, ge=1)
    context: int = Field(default=1, ge=1, le=8)
    margin: float = Field(default=0.25, ge=0.0, le=3.0)
    window: Literal["seed", "abdomen", "liver", "none"] | tuple[float, float] = "seed"
    mask_outside: bool = False
    phases: list[str] | None = None

    def window_bounds(self) -> tuple[float, float] | None:
        """(low, high) intensity bounds of the window, or None to min-max scale."""
        if self.window == "none":
            return None
        level, width = (WINDOW_PRESETS[self.window] if isinstance(self.window, str)
                        else self.window)
        return level - width / 2.0, level + width / 2.0


class AugmentSettings(_Strict):
    """Random augmentation applied on the fly to cached crops (training only)."""

    enabled: bool = True
    rotate_deg: float = Field(default=15.0, ge=0.0, le=180.0)
    zoom: float = Field(default=0.1, ge=0.0, le=0.5)
    shear: float = Field(default=0.05, ge=0.0, le=0.5)
    shift: float = Field(default=0.05, ge=0.0, le=0.5)
    flip: bool = True
    intensity: float = Field(default=0.05, ge=0.0, le=0.5)


class TrainSettings(_Strict):
    """Optimisation, early stopping and schedule."""

    epochs: int = Field(default=20, ge=1)
    batch_size: int = Field(default=32, ge=2)
    lr: float = Field(default=1e-3, gt=0)
    weight_decay: float = Field(default=1e-4, ge=0)
    optimizer: Literal["adamw", "sam"] = "adamw"
    sam_rho: float = Field(default=0.05, gt=0)
    loss: Literal["ce", "focal", "ce+supcon"] = "ce"
    class_weights: Literal["balanced", "none"] = "balanced"
    focal_gamma: float = Field(default=2.0, ge=0)
    supcon_weight: float = Field(default=0.1, ge=0)
    supcon_temperature: float = Field(default=0.1, gt=0)
    memory_size: int = Field(default=256, ge=0)
    other_class: str | None = None
    val_fraction: float = Field(default=0.25, gt=0.05, lt=0.6)
    patience: int = Field(default=5, ge=1)
    schedule: Literal["cosine", "constant"] = "cosine"
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"
    amp: bool = True
    threads: int | None = Field(default=None, ge=1)


class NetworkSettings(_Strict):
    """Backbone, input and head."""

    backbone: str = "densenet121"
    weights: Path | None = None
    fusion: Literal["early", "iterative"] = "early"
    clinical_hidden: int = Field(default=32, ge=4)
    dropout: float = Field(default=0.2, ge=0.0, lt=1.0)

    @model_validator(mode="after")
    def _known(self) -> NetworkSettings:
        if self.backbone not in BACKBONES:
            raise ValueError(f"backbone {self.backbone!r} is not known; allowed: {BACKBONES}")
        return self


class DeepModelSpec(_Strict):
    """One deep model of a study (named in the study YAML under ``deep:``)."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.\-]+$")
    inputs: Literal["image", "image+clinical"] = "image"
    crops: CropSettings = CropSettings()
    network: NetworkSettings = NetworkSettings()
    train: TrainSettings = TrainSettings()
    augment: AugmentSettings = AugmentSettings()
    lesion_aggregation: Literal["mean", "max"] = "mean"
    manifest: Path | None = None
    final_model: bool = True

    @model_validator(mode="after")
    def _consistent(self) -> DeepModelSpec:
        if self.network.fusion == "iterative" and self.crops.mode == "3d":
            raise ValueError("network.fusion iterative works on 2d / 2.5d crops; use early for 3d")
        return self
