"""The ``nnunet`` backend: inference with an nnU-Net v2 trained model folder (any dataset the user
trained: liver, lesions, colorectal primary), with its labels mapped to livermets' regions.

The model folder is the one holding ``dataset.json``, ``plans.json`` and ``fold_N/<checkpoint>``
(e.g. ``nnUNet_results/Dataset123_Liver/nnUNetTrainer__nnUNetPlans__3d_fullres``). Images are read
by the model's own image reader from a NIfTI that SimpleITK wrote, and the segmentation is written
by the same reader and put back on the image grid, so the axis order the model was trained with
is kept and the masks lie on the image grid.
"""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path
from typing import Any, Literal

import numpy as np
import SimpleITK as sitk
from pydantic import BaseModel, ConfigDict, Field, field_validator

from livermets._hashing import file_sha256
from livermets.cohort import PatientRow
from livermets.errors import ConfigError, InputFileError
from livermets.io import geometry_differences, read_image, resample_to
from livermets.segment.backends.base import (
    BACKENDS,
    REGIONS,
    RawSegmentation,
    check_regions,
    parse_labels,
    split_list,
)
from livermets.segment.backends.totalseg import (
    INSTALL_HINT,
    MissingWeightsError,
    stdout_to_stderr,
)

LESION_NAMES = re.compile(r"tumou?r|lesion|metasta|hcc|icc|cyst|hemangioma|haemangioma|cancer")
PRIMARY_NAMES = re.compile(r"primary|colon|rect|colorectal|sigmoid")


def label_values(dataset: dict[str, Any]) -> dict[str, int]:
    """Output value of each label name (region-based datasets use ``regions_class_order``)."""
    labels = {k: v for k, v in dataset.get("labels", {}).items() if k != "background"}
    if "regions_class_order" in dataset:
        return dict(zip(labels, (int(v) for v in dataset["regions_class_order"]), strict=False))
    return {name: int(value) for name, value in labels.items()}


def default_label_map(dataset: dict[str, Any]) -> dict[str, tuple[int, ...]]:
    """Map label names to regions: lesion-like names to lesions, liver to liver (plus lesions,
    which lie in the liver), primary-tumour names to primary."""
    values = label_values(dataset)
    primary = [v for n, v in values.items() if PRIMARY_NAMES.search(n.lower())]
    lesions = [v for n, v in values.items() if LESION_NAMES.search(n.lower()) and v not in primary]
    liver = [
        v for n, v in values.items()
        if "liver" in n.lower() and "vessel" not in n.lower() and v not in lesions
    ]  # fmt: skip
    mapping: dict[str, tuple[int, ...]] = {}
    if liver:
        mapping["liver"] = tuple(liver + lesions)
    if lesions:
        mapping["lesions"] = tuple(lesions)
    if primary:
        mapping["primary"] = tuple(primary)
    return mapping


class NnUNetOptions(BaseModel):
    """Options of the ``nnunet`` backend: ``folds`` (numbers or ``all``; default every
    ``fold_N`` folder), the ``checkpoint`` file name, ``labels`` (model values per region, e.g.
    ``liver=1,2;lesions=2``; default from dataset.json), ``channels`` (manifest image columns,
    one per model input channel), the torch ``device`` and CPU ``threads``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    folds: tuple[int | Literal["all"], ...] | None = None
    checkpoint: str = "checkpoint_final.pth"
    labels: dict[str, tuple[int, ...]] | None = None
    channels: tuple[str, ...] | None = None
    device: str = "cpu"
    threads: int | None = Field(default=None, ge=1)

    _lists = field_validator("channels", mode="before")(split_list)
    _labels = field_validator("labels", mode="before")(parse_labels)
    _regions = field_validator("labels")(check_regions)

    @field_validator("folds", mode="before")
    @classmethod
    def _folds(cls, value: Any) -> Any:
        """'0,1,2' / [0, 1] / 'all' -> fold numbers or 'all'."""
        value = split_list(value)
        if value is None:
            return None
        if isinstance(value, str | int):
            value = [value]
        try:
            return tuple("all" if str(f).strip() == "all" else int(str(f).strip()) for f in value)
        except ValueError:
            raise ValueError(f"folds must be fold numbers such as 0,1,2 or 'all', got {value!r}") \
                from None


def missing_checkpoint_message(model: Path, checkpoint: str, looked: list[Path]) -> str:
    """The error text when an nnU-Net model folder holds no weights for the requested folds."""
    where = ", ".join(str(p) for p in looked) if looked else f"{model}/fold_*/{checkpoint}"
    return (
        f"nnU-Net model weights are missing in {model}: no {checkpoint} found ({where}); "
        "nothing was written. Give the trained model folder that holds dataset.json, plans.json "
        "and fold_N/checkpoint_final.pth (e.g. nnUNet_results/Dataset123_Liver/"
        "nnUNetTrainer__nnUNetPlans__3d_fullres); to install a model shared as a zip offline, "
        "run `nnUNetv2_install_pretrained_model_from_zip MODEL.zip` (it unpacks into "
        "$nnUNet_results) and give the unpacked folder; pass --folds for the folds that exist, "
        "or --checkpoint checkpoint_best.pth if only that was saved."
    )


class NnUNetBackend:
    """nnU-Net v2 inference from a trained model folder."""

    name = "nnunet"

    def __init__(
        self,
        model: str | Path | None,
        folds: tuple[int | str, ...] | None = None,
        checkpoint: str = "checkpoint_final.pth",
        labels: dict[str, tuple[int, ...]] | None = None,
        channels: tuple[str, ...] | None = None,
        device: str = "cpu",
        threads: int | None = None,
    ) -> None:
        """Remember the options; the folder is checked by ``check``."""
        if model is None:
            raise InputFileError(
                "the nnunet backend needs --model DIR, an nnU-Net v2 trained model folder "
                "(with dataset.json, plans.json and fold_N/checkpoint_final.pth)."
            )
        if labels and set(labels) - set(REGIONS):
            raise ConfigError(
                f"--labels names unknown regions {sorted(set(labels) - set(REGIONS))}; use "
                f"{REGIONS}, e.g. 'liver=1,2;lesions=2'."
            )
        self.model = Path(model).expanduser().resolve()
        self.folds = folds
        self.checkpoint = checkpoint
        self.labels = labels
        self.channels = channels
        self.device = device
        self.threads = threads
        self.dataset: dict[str, Any] = {}
        self.mapping: dict[str, tuple[int, ...]] = {}
        self.lesion_classes: list[str] = ["lesion"]
        self._predictor: Any = None

    def _checkpoints(self) -> list[Path]:
        if self.folds:
            return [self.model / f"fold_{f}" / self.checkpoint for f in self.folds]
        return sorted(self.model.glob(f"fold_*/{self.checkpoint}"))

    def check(self) -> None:
        """Check the folder, weights, channels and label mapping before anything is written."""
        if not self.model.is_dir():
            raise InputFileError(f"nnU-Net model folder {self.model} does not exist.")
        absent = [n for n in ("dataset.json", "plans.json") if not (self.model / n).is_file()]
        if absent:
            raise InputFileError(
                f"{self.model} is not an nnU-Net v2 trained model folder: {', '.join(absent)} "
                "missing. Give the folder nnUNet_results/Dataset<ID>_<Name>/"
                "<trainer>__<plans>__<configuration> (e.g. Dataset500_Liver/"
                "nnUNetTrainer__nnUNetPlans__3d_fullres)."
            )
        looked = self._checkpoints()
        missing = [p for p in looked if not p.is_file()]
        if not looked or missing:
            raise MissingWeightsError(
                missing_checkpoint_message(self.model, self.checkpoint, missing)
            )
        self.dataset = json.loads((self.model / "dataset.json").read_text())
        n_channels = len(self.dataset.get("channel_names", self.dataset.get("modality", {})))
        channels = self.channels or ("image",)
        if len(channels) != n_channels:
            raise ConfigError(
                f"the nnU-Net model expects {n_channels} input channel(s) "
                f"({self.dataset.get('channel_names')}); give as many manifest image columns "
                f"with --channels (got {list(channels)})."
            )
        self.mapping = self.labels or default_label_map(self.dataset)
        if not self.mapping:
            raise ConfigError(
                f"cannot tell which labels of {self.model}/dataset.json "
                f"({self.dataset.get('labels')}) are liver, lesions or primary; give --labels, "
                "e.g. 'liver=1,2;lesions=2'."
            )
        names = {v: n for n, v in label_values(self.dataset).items()}
        lesion_values = self.mapping.get("lesions", ())
        if len(lesion_values) > 1:
            self.lesion_classes = [names.get(v, f"label_{v}") for v in lesion_values]
        try:
            with stdout_to_stderr():
                import nnunetv2  # noqa: F401
        except ImportError as exc:
            raise ConfigError(f"nnU-Net v2 is not installed ({exc}). {INSTALL_HINT}") from exc

    def signature(self) -> dict[str, Any]:
        """Model folder, weights hashes, folds and label mapping."""
        return {
            "backend": self.name,
            "model": str(self.model),
            "checkpoints": {
                str(p.relative_to(self.model)): file_sha256(p)
                for p in self._checkpoints()
                if p.is_file()
            },
            "labels": {k: list(v) for k, v in (self.labels or {}).items()},
            "channels": list(self.channels or ("image",)),
        }

    def _load(self) -> Any:
        if self._predictor is None:
            import torch

            with stdout_to_stderr():
                from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor

                if self.threads:
                    torch.set_num_threads(self.threads)
                predictor = nnUNetPredictor(
                    tile_step_size=0.5, use_gaussian=True, use_mirroring=True,
                    device=torch.device(self.device), verbose=False, allow_tqdm=False,
                )  # fmt: skip
                folds = tuple(self.folds) if self.folds else None
                predictor.initialize_from_trained_model_folder(
                    str(self.model), folds, checkpoint_name=self.checkpoint
                )
            self._predictor = predictor
        return self._predictor

    def _channel_images(self, image: sitk.Image, row: PatientRow) -> list[sitk.Image]:
        out = []
        for column in self.channels or ("image",):
            if column == "image" or row.images.get(column) == row.image:
                out.append(image)
                continue
            path = row.images.get(column)
            if path is None:
                raise InputFileError(
                    f"patient {row.patient_id} has no {column} image, an input channel of the "
                    "nnU-Net model."
                )
            other = read_image(path)
            if geometry_differences(other, image):
                other = sitk.Resample(other, image, sitk.Transform(), sitk.sitkLinear)
            out.append(other)
        return out

    def predict(self, image: sitk.Image, row: PatientRow) -> RawSegmentation:
        """Segment one patient and map the labels to liver, lesions and primary."""
        predictor = self._load()
        ending = self.dataset.get("file_ending", ".nii.gz")
        if ending not in (".nii.gz", ".nii", ".mha", ".nrrd"):
            ending = ".nii.gz"
        reader = predictor.plans_manager.image_reader_writer_class()
        with tempfile.TemporaryDirectory(prefix="livermets-nnunet-") as tmp:
            files = []
            for k, channel in enumerate(self._channel_images(image, row)):
                path = Path(tmp) / f"case_{k:04d}{ending}"
                sitk.WriteImage(channel, str(path))
                files.append(str(path))
            with stdout_to_stderr():
                data, props = reader.read_images(files)
                seg = predictor.predict_single_npy_array(data, props, None, None, False)
                out = Path(tmp) / f"seg{ending}"
                reader.write_seg(np.asarray(seg), str(out), props)
            seg_img = sitk.ReadImage(str(out))
        if geometry_differences(seg_img, image):
            seg_img = resample_to(seg_img, image)
        else:
            seg_img.CopyInformation(image)
        array = sitk.GetArrayFromImage(seg_img)
        liver = np.isin(array, self.mapping["liver"]) if "liver" in self.mapping else None
        lesions = None
        if "lesions" in self.mapping:
            lesions = np.zeros(array.shape, dtype=np.uint8)
            for k, value in enumerate(self.mapping["lesions"], start=1):
                lesions[array == value] = k if len(self.lesion_classes) > 1 else 1
        primary = np.isin(array, self.mapping["primary"]) if "primary" in self.mapping else None
        return RawSegmentation(liver, lesions, list(self.lesion_classes), primary)


@BACKENDS.register("nnunet", options=NnUNetOptions)
def nnunet_backend(model: str | Path | None, options: NnUNetOptions) -> NnUNetBackend:
    """An nnU-Net v2 trained model folder (dataset.json, plans.json, fold_N/checkpoints)."""
    return NnUNetBackend(model, **options.model_dump())
