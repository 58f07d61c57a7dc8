"""The ``torchscript`` and ``bundle`` backends: a network the user brings (a TorchScript file or
a MONAI bundle folder), run by sliding-window inference.

The preprocessing is declared by the user (options) or read from the bundle config: spacing,
orientation, axis order of the arrays, intensity range and scaling, z-scoring, window size.
The output is per-class logits (argmax over channels) or a one-channel label map; ``labels`` say
which output values are liver, lesions and primary. Predictions are put back on the image grid.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, cast

import numpy as np
import SimpleITK as sitk
from pydantic import BaseModel, ConfigDict, Field, field_validator

from livermets._hashing import file_sha256
from livermets._networks import (
    Bundle,
    bundle_channel_names,
    bundle_network,
    bundle_preprocessing,
    load_torchscript,
    read_bundle,
)
from livermets._registry import validate_options
from livermets.cohort import PatientRow
from livermets.errors import ConfigError, InputFileError, NetworkError
from livermets.io import geometry_differences, read_image, resample_to
from livermets.segment.backends.base import (
    BACKENDS,
    NONE_WORDS,
    RawSegmentation,
    check_regions,
    parse_labels,
    split_list,
)
from livermets.segment.backends.nnunet import default_label_map

KINDS = ("torchscript", "bundle")
DEFAULT_LABELS = {"liver": (1, 2), "lesions": (2,)}  # MSD liver: 1 liver, 2 tumour
ORIENTATION_LETTERS = ("LR", "PA", "SI")
# what each kind assumes when neither the options nor the bundle say otherwise
DEFAULTS: dict[str, dict[str, Any]] = {
    "torchscript": {"axes": "zyx", "orientation": "image", "spacing": "image"},
    "bundle": {"axes": "xyz", "orientation": "image", "spacing": "image"},
}
COMMON_DEFAULTS: dict[str, Any] = {
    "intensity_range": "none", "scale_to": (0.0, 1.0), "clip": True, "zscore": False,
    "roi": (96, 96, 96), "overlap": 0.25, "output": "logits",
}  # fmt: skip


class NetworkSettings(BaseModel):
    """Options of the torchscript / bundle backends (unset: from the bundle, else a default).

    ``spacing`` (x, y, z mm) or ``image``; ``orientation`` such as RAS or LPS, or ``image``;
    ``axes``: the network's array axis order after the channel axis; ``intensity_range``
    (low, high) scaled linearly to ``scale_to`` (clipped when ``clip``); ``zscore`` after that;
    ``roi``: sliding-window size in the network's axis order.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    labels: dict[str, tuple[int, ...]] | None = None
    channels: tuple[str, ...] | None = None
    spacing: tuple[float, float, float] | Literal["image", "none"] | None = None
    orientation: str | None = None
    axes: Literal["zyx", "xyz"] | None = None
    intensity_range: tuple[float, float] | Literal["none"] | None = None
    scale_to: tuple[float, float] | None = None
    clip: bool | None = None
    zscore: bool | None = None
    roi: tuple[int, int, int] | None = None
    overlap: float | None = Field(default=None, ge=0.0, lt=1.0)
    sw_batch_size: int = Field(default=1, ge=1)
    blend: Literal["gaussian", "constant"] = "gaussian"
    output: Literal["logits", "labels"] | None = None
    device: str = "cpu"
    threads: int | None = Field(default=None, ge=1)

    @field_validator("spacing", "intensity_range", "scale_to", "roi", "channels", mode="before")
    @classmethod
    def _tuples(cls, value: Any) -> Any:
        if isinstance(value, str) and value.strip().lower() in NONE_WORDS:
            return value.strip().lower() or None
        return split_list(value)

    _labels = field_validator("labels", mode="before")(parse_labels)
    _regions = field_validator("labels")(check_regions)

    @field_validator("orientation")
    @classmethod
    def _orientation(cls, value: str | None) -> str | None:
        if value is None or value.lower() in ("image", "none"):
            return None if value is None else "image"
        code = value.upper()
        if len(code) != 3 or sorted(
            next((i for i, pair in enumerate(ORIENTATION_LETTERS) if c in pair), -1) for c in code
        ) != [0, 1, 2]:
            raise ValueError(f"orientation {value!r} must be 3 letters, one of each pair L/R, "
                             "P/A, S/I (e.g. RAS, LPS), or 'image'")
        return code

    @field_validator("device")
    @classmethod
    def _device(cls, value: str) -> str:
        """``gpu`` / ``gpu:N`` (the CLI's spelling) are torch's ``cuda`` / ``cuda:N``."""
        value = value.strip().lower()
        return "cuda" + value[3:] if value.startswith("gpu") else value

    @field_validator("spacing", "roi")
    @classmethod
    def _positive(cls, value: Any) -> Any:
        if isinstance(value, tuple) and min(value) <= 0:
            raise ValueError(f"values must be positive, got {value}")
        return value


def parse_settings(options: dict[str, Any], kind: str = "network") -> NetworkSettings:
    """Validated settings; an unknown or bad option is a ``ConfigError`` naming it."""
    return cast(NetworkSettings, validate_options(NetworkSettings, options, f"the {kind} backend"))


def parse_assignments(items: list[str] | None) -> dict[str, str]:
    """``['spacing=1,1,2', 'axes=xyz']`` (the CLI's ``--set``) -> {key: text}."""
    out: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {item!r} must be KEY=VALUE, e.g. --set spacing=1,1,2.5.")
        out[key.strip().replace("-", "_")] = value.strip()
    return out


def network_grid(image: sitk.Image, spacing: Any, orientation: str | None) -> sitk.Image:
    """The grid the network sees: the image itself, reoriented, and/or resampled to spacing."""
    if spacing is None:
        return image if orientation is None else sitk.DICOMOrient(image, orientation)
    from livermets.nn.grid import to_grid

    if orientation is None:
        code = sitk.DICOMOrientImageFilter.GetOrientationFromDirectionCosines(
            image.GetDirection())
        return to_grid(image, spacing, code)
    return to_grid(image, spacing, orientation)


def channel_on_grid(image: sitk.Image, grid: sitk.Image, spacing: Any,
                    orientation: str | None) -> np.ndarray:
    """The image on the network grid as float32 (z, y, x); exact (no interpolation) when the
    grid is the image itself or a reorientation of it."""
    if spacing is None:
        oriented = image if orientation is None else sitk.DICOMOrient(image, orientation)
        return sitk.GetArrayFromImage(oriented).astype(np.float32)
    from livermets.nn.grid import image_on_grid

    return image_on_grid(image, grid)


class NetworkBackend:
    """Sliding-window inference with a TorchScript file or a MONAI bundle."""

    def __init__(self, kind: str, model: str | Path | None,
                 settings: NetworkSettings | None = None, **options: Any) -> None:
        """Validate the options (or take validated ``settings``); the network is loaded by
        ``check``."""
        if kind not in KINDS:
            raise ConfigError(f"network backend kind must be one of {KINDS}, got {kind!r}.")
        self.name = kind
        if model is None:
            what = ("a TorchScript file (torch.jit.save)" if kind == "torchscript"
                    else "a MONAI bundle folder (configs/metadata.json, models/model.pt)")
            raise InputFileError(f"the {kind} backend needs --model, {what}.")
        self.model = Path(model).expanduser().resolve()
        if settings is not None and options:
            raise ConfigError(f"give the {kind} backend settings or options, not both.")
        self.settings = settings if settings is not None else parse_settings(options, kind)
        self.resolved: dict[str, Any] = {}
        self.mapping: dict[str, tuple[int, ...]] = {}
        self.lesion_classes: list[str] = ["lesion"]
        self.files: list[Path] = []
        self._network: Any = None

    # ------------------------------------------------------------ loading and checks

    def _resolve(self, bundle: Bundle | None) -> dict[str, Any]:
        declared = bundle_preprocessing(bundle) if bundle is not None else {}
        given = self.settings.model_dump(exclude_none=True)
        merged = {**COMMON_DEFAULTS, **DEFAULTS[self.name], **declared, **given}
        for key in ("spacing", "orientation", "intensity_range"):
            if isinstance(merged[key], str) and merged[key].lower() in ("image", "none"):
                merged[key] = None
        if merged["spacing"] is not None and len(merged["spacing"]) != 3:
            raise ConfigError(f"spacing must be 3 values (x, y, z mm), got {merged['spacing']}.")
        if len(merged["roi"]) != 3:
            raise ConfigError(f"roi must be 3 window sizes, got {merged['roi']}.")
        return merged

    def _labels(self, bundle: Bundle | None) -> dict[str, tuple[int, ...]]:
        if self.settings.labels:
            return dict(self.settings.labels)
        names = bundle_channel_names(bundle) if bundle is not None else {}
        if names:
            mapping = default_label_map({"labels": {n: v for v, n in names.items()}})
            if not mapping:
                raise ConfigError(
                    f"cannot tell which output channels of {self.model} ({names}) are liver or "
                    "lesions; give --labels, e.g. 'liver=1,2;lesions=2'."
                )
            lesions = mapping.get("lesions", ())
            if len(lesions) > 1:
                self.lesion_classes = [names.get(v, f"label_{v}") for v in lesions]
            return mapping
        return dict(DEFAULT_LABELS)

    def check(self) -> None:
        """Load the network and run it once on a window of zeros to check its output."""
        import torch

        bundle = None
        if self.name == "bundle":
            bundle = read_bundle(self.model)
            self.files = list(bundle.files)
            network = bundle_network(bundle)
        else:
            network = load_torchscript(self.model)
            self.files = [self.model]
        self.resolved = self._resolve(bundle)
        self.mapping = self._labels(bundle)
        if len(self.mapping.get("lesions", ())) > 1 and self.lesion_classes == ["lesion"]:
            self.lesion_classes = [f"label_{v}" for v in self.mapping["lesions"]]
        self._network = network.to(torch.device(self.settings.device))
        n_channels = len(self.settings.channels or ("image",))
        probe = torch.zeros((1, n_channels, *self.resolved["roi"]),
                            device=torch.device(self.settings.device))
        try:
            with torch.inference_mode():
                out = network(probe)
        except Exception as exc:
            raise NetworkError(
                f"the network {self.model} failed on an input of shape {list(probe.shape)} "
                f"(batch, {n_channels} channel(s), roi {list(self.resolved['roi'])}): "
                f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}. Check "
                "--channels (one manifest image column per input channel) and the roi."
            ) from exc
        self._check_output(out, tuple(probe.shape))

    def _check_output(self, out: Any, shape: tuple[int, ...]) -> None:
        import torch

        if isinstance(out, list | tuple) and out:
            out = out[0]
        if not isinstance(out, torch.Tensor):
            raise NetworkError(f"the network {self.model} returned a {type(out).__name__}, not "
                               "a tensor of shape [batch, classes, *roi].")
        expected = f"[1, classes, {', '.join(str(s) for s in shape[2:])}]"
        if out.ndim != 5 or tuple(out.shape[2:]) != shape[2:] or out.shape[0] != 1:
            raise NetworkError(
                f"the network {self.model} returned shape {list(out.shape)} for an input of "
                f"shape {list(shape)}; a segmentation network must return {expected} "
                "(per-class logits, or one channel holding the label map)."
            )
        n_out = int(out.shape[1])
        values = sorted({v for vs in self.mapping.values() for v in vs})
        if self.resolved["output"] == "logits":
            if n_out < 2:
                raise NetworkError(
                    f"the network {self.model} returns 1 output channel, not per-class logits; "
                    "if that channel is a label map, set output=labels (--set output=labels)."
                )
            if values and max(values) >= n_out:
                raise ConfigError(
                    f"--labels {self.mapping} names value {max(values)}, but the network has "
                    f"{n_out} output channels (values 0..{n_out - 1})."
                )
        elif n_out != 1:
            raise NetworkError(
                f"output=labels needs one output channel (the label map); the network "
                f"{self.model} returns {n_out}: use output=logits for per-class outputs."
            )

    def signature(self) -> dict[str, Any]:
        """Backend, model, hashes of its files and the settings."""
        files = self.files or ([self.model] if self.model.is_file() else [])
        return {
            "backend": self.name,
            "model": str(self.model),
            "files_sha256": {p.name: file_sha256(p) for p in files if p.is_file()},
            "settings": self.settings.model_dump(mode="json"),
        }

    # ------------------------------------------------------------ inference

    def _channels(self, image: sitk.Image, row: PatientRow) -> list[sitk.Image]:
        out = []
        for column in self.settings.channels or ("image",):
            if column == "image" or row.images.get(column) == row.image:
                out.append(image)
                continue
            path = row.images.get(column)
            if path is None:
                raise InputFileError(f"patient {row.patient_id} has no {column} image, an input "
                                     "channel of the network (--channels).")
            other = read_image(path)
            if geometry_differences(other, image):
                other = sitk.Resample(other, image, sitk.Transform(), sitk.sitkLinear)
            out.append(other)
        return out

    def _normalise(self, volume: np.ndarray) -> np.ndarray:
        r = self.resolved
        if r["intensity_range"] is not None:
            a_min, a_max = r["intensity_range"]
            b_min, b_max = r["scale_to"]
            volume = (volume - a_min) / max(a_max - a_min, 1e-12) * (b_max - b_min) + b_min
            if r["clip"]:
                volume = np.clip(volume, min(b_min, b_max), max(b_min, b_max))
        if r["zscore"]:
            sd = float(volume.std()) or 1.0
            volume = (volume - float(volume.mean())) / sd
        return volume.astype(np.float32)

    def predict_labels(self, image: sitk.Image, row: PatientRow) -> np.ndarray:
        """The network's label map on the image grid, (z, y, x)."""
        import torch
        from monai.inferers import sliding_window_inference

        from livermets.nn.training import torch_threads

        if self._network is None:
            self.check()
        r = self.resolved
        grid = network_grid(image, r["spacing"], r["orientation"])
        volume = np.stack([
            self._normalise(channel_on_grid(c, grid, r["spacing"], r["orientation"]))
            for c in self._channels(image, row)
        ])
        if r["axes"] == "xyz":
            volume = volume.transpose(0, 3, 2, 1)
        device = torch.device(self.settings.device)
        with torch_threads(self.settings.threads), torch.inference_mode():
            out = sliding_window_inference(
                torch.from_numpy(np.ascontiguousarray(volume))[None].to(device),
                roi_size=r["roi"], sw_batch_size=self.settings.sw_batch_size,
                predictor=self._network, overlap=r["overlap"], mode=self.settings.blend,
            )  # fmt: skip
        out = torch.as_tensor(out[0] if isinstance(out, list | tuple) else out).cpu()
        if r["output"] == "logits":
            labels = out.argmax(dim=1)[0].numpy()
        else:
            labels = torch.round(out[0, 0]).numpy()
        labels = np.clip(labels, 0, 255).astype(np.uint8)
        if r["axes"] == "xyz":
            labels = labels.transpose(2, 1, 0)
        if grid is image:
            return labels
        on_grid = sitk.GetImageFromArray(np.ascontiguousarray(labels))
        on_grid.CopyInformation(grid)
        return sitk.GetArrayFromImage(resample_to(on_grid, image))

    def predict(self, image: sitk.Image, row: PatientRow) -> RawSegmentation:
        """Segment one patient and map the output values to liver, lesions and primary."""
        array = self.predict_labels(image, row)
        m = self.mapping
        liver = np.isin(array, m["liver"]) if "liver" in m else None
        lesions = None
        if "lesions" in m:
            lesions = np.zeros(array.shape, dtype=np.uint8)
            many = len(self.lesion_classes) > 1
            for k, value in enumerate(m["lesions"], start=1):
                lesions[array == value] = k if many else 1
        primary = np.isin(array, m["primary"]) if "primary" in m else None
        return RawSegmentation(liver, lesions, list(self.lesion_classes), primary)



@BACKENDS.register("torchscript", options=NetworkSettings)
def torchscript_backend(model: str | Path | None, options: NetworkSettings) -> NetworkBackend:
    """A TorchScript file (torch.jit.save), run by sliding-window inference."""
    return NetworkBackend("torchscript", model, settings=options)


@BACKENDS.register("bundle", options=NetworkSettings)
def bundle_backend(model: str | Path | None, options: NetworkSettings) -> NetworkBackend:
    """A MONAI bundle folder (configs/metadata.json, models/model.pt), sliding-window inference."""
    return NetworkBackend("bundle", model, settings=options)
