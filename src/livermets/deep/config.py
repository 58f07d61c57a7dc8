"""Typed settings of the deep models (crops, network, loss, optimiser, training); no torch here."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

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
    """How lesion (or primary tumour, or liver) crops are cut from the images.

    Without ``spacing`` a crop spans the lesion's bounding box plus ``margin`` (``size`` pixels
    across, whatever the lesion's size); with ``spacing`` (x, y, z mm) it is ``size`` x ``size``
    (x ``depth``) voxels of that spacing centred on the lesion (fixed physical size).
    """

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
    spacing: tuple[float, float, float] | None = None
    # what is cropped: each lesion, or (patient level) the primary tumour or the liver; the
    # region's connected components are its "lesions" (largest first), from <region>_mask
    region: Literal["lesion", "primary", "liver"] = "lesion"

    @model_validator(mode="after")
    def _spacing(self) -> CropSettings:
        if self.spacing is not None and min(self.spacing) <= 0:
            raise ValueError(f"crops.spacing must be 3 positive values (x, y, z mm), got "
                             f"{self.spacing}")
        return self

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
    """Optimisation, early stopping, schedule and numerics.

    ``precision``: ``auto`` is bfloat16 autocast on CUDA and on CPUs with native bfloat16
    (AVX512-BF16 or AMX), else float32; ``amp: false`` turns ``auto`` into float32 (older
    configs). ``channels_last``: NHWC memory format for 2D models on CPU and CUDA (faster oneDNN /
    cuDNN kernels).
    """

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
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    amp: bool = True
    channels_last: bool = True
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
    gradcam: int = Field(default=3, ge=0, le=10)
    embeddings_for: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> DeepModelSpec:
        if self.network.fusion == "iterative" and self.crops.mode == "3d":
            raise ValueError("network.fusion iterative works on 2d / 2.5d crops; use early for 3d")
        if self.embeddings_for and self.inputs != "image":
            raise ValueError(
                f"deep model {self.name!r}: embeddings_for needs inputs: image (the embedding of "
                "an image + clinical model mixes in the clinical vector)"
            )
        return self

    def embedding_models(self) -> list[EmbeddingModelSpec]:
        """The classical models refit on this model's embeddings (``embeddings_for``)."""
        return [EmbeddingModelSpec(name=f"{name}_on_{self.name}", deep=self.name, classical=name)
                for name in self.embeddings_for]


class EmbeddingModelSpec(_Strict):
    """A classical model of the study refit, per outer fold, on the penultimate-layer embeddings
    of the CNN trained on that fold's training patients (its name: ``CLASSICAL_on_DEEP``)."""

    name: str
    deep: str
    classical: str
    inputs: Literal["deep_embedding"] = "deep_embedding"


def check_embedding_models(deep: list[DeepModelSpec], models: list[Any]) -> None:
    """``deep[].embeddings_for`` must name radiomics-input models of the study's ``models``, and
    the generated names must be new; raises ``ValueError`` (the study config reports it)."""
    known = {m.name: m for m in models}
    taken = {m.name for m in [*models, *deep]}
    for spec in deep:
        for name in spec.embeddings_for:
            if name not in known:
                raise ValueError(f"deep model {spec.name!r}: embeddings_for names {name!r}, which "
                                 f"is not one of the models: {sorted(known)}")
            if known[name].inputs != "radiomics":
                raise ValueError(f"deep model {spec.name!r}: embeddings_for model {name!r} has "
                                 f"inputs {known[name].inputs}; the embeddings replace the "
                                 "radiomics features, so use a model with inputs: radiomics")
        for generated in spec.embedding_models():
            if generated.name in taken:
                raise ValueError(f"model name {generated.name!r} (a model on the embeddings of "
                                 f"{spec.name!r}) is already taken; rename one of them")
            taken.add(generated.name)
