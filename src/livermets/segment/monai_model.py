"""livermets' own trainable 3D segmenter: MONAI DynUNet or UNet, nnU-Net-like patch training,
sliding-window inference. Classes: background, liver (when the cohort has liver masks), then one
class per lesion class (one 'lesion' class, or the classes of the lesion-label files).

Images are put in LPS orientation and resampled to the training spacing before the network sees
them; predictions go back onto the original image grid (nearest neighbour), so any orientation or
spacing in, the masks out lie on the image's own grid.
"""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk
import torch

from livermets import __version__
from livermets._atomic import atomic_path, write_text
from livermets.cohort import Manifest, PatientRow, read_lesion_labels
from livermets.errors import ConfigError, DataError, InputFileError
from livermets.io import read_image, read_mask, resample_to
from livermets.nn.grid import ORIENTATION, image_on_grid, to_grid
from livermets.nn.intensity import Intensity
from livermets.nn.training import adamw, check_finite, deterministic, make_schedule, torch_threads

NETWORKS = ("dynunet", "unet")
LESION_CLASS_MODES = ("single", "labels")
MODEL_FILE = "model.pt"
CONFIG_FILE = "model.json"


@dataclass(frozen=True)
class SegmenterSettings:
    """Hyperparameters of the MONAI segmenter (patch size is (z, y, x), spacing (x, y, z) mm)."""

    network: str = "dynunet"
    patch_size: tuple[int, int, int] = (32, 96, 96)
    spacing: tuple[float, float, float] | None = None
    filters: tuple[int, ...] = (16, 32, 64, 128, 256)
    iterations: int = 2000
    batch_size: int = 2
    learning_rate: float = 2e-3
    foreground_fraction: float = 0.33
    lesion_classes: str = "single"
    seed: int = 0
    sw_overlap: float = 0.5
    sw_batch_size: int = 2
    threads: int | None = None

    def __post_init__(self) -> None:
        """Validate every value, saying which option to change."""
        if self.network not in NETWORKS:
            raise ConfigError(f"network must be one of {NETWORKS}, got {self.network!r}.")
        if self.lesion_classes not in LESION_CLASS_MODES:
            raise ConfigError(
                f"lesion classes must be one of {LESION_CLASS_MODES}, got "
                f"{self.lesion_classes!r}: 'single' trains one lesion class, 'labels' one class "
                "per lesion class of the lesion-label files."
            )
        if len(self.patch_size) != 3 or min(self.patch_size) < 4:
            raise ConfigError(
                f"patch size must be 3 sizes >= 4 (x, y, z), got {self.patch_size[::-1]}."
            )
        if self.spacing is not None and (len(self.spacing) != 3 or min(self.spacing) <= 0):
            raise ConfigError(f"spacing must be 3 positive values in mm, got {self.spacing}.")
        if len(self.filters) < 2 or min(self.filters) < 1:
            raise ConfigError(f"filters must list >= 2 positive widths, got {self.filters}.")
        if self.iterations < 1 or self.batch_size < 1 or self.learning_rate <= 0:
            raise ConfigError("iterations, batch size and learning rate must be positive.")
        if not 0.0 <= self.foreground_fraction <= 1.0:
            raise ConfigError("the foreground fraction of patches must be in [0, 1].")
        if self.threads is not None and self.threads < 1:
            raise ConfigError(f"threads must be >= 1, got {self.threads}.")
        if not 0.0 <= self.sw_overlap < 1.0:
            raise ConfigError("the sliding-window overlap must be in [0, 1).")
        if self.network == "unet":
            factor = 2 ** (len(self.filters) - 1)
            if any(s % factor for s in self.patch_size):
                raise ConfigError(
                    f"a UNet with {len(self.filters)} levels needs patch sizes divisible by "
                    f"{factor}; got {self.patch_size[::-1]} (x, y, z). Change --patch or "
                    "--filters."
                )


def dynunet_layout(
    patch_size: Sequence[int], spacing_zyx: Sequence[float], levels: int
) -> tuple[list[list[int]], list[list[int]]]:
    """nnU-Net-style kernels and strides: pool an axis while it stays >= 4 voxels and is not
    more than twice as coarse as the finest axis; 1-voxel kernels along very coarse axes."""
    size = [int(s) for s in patch_size]
    spacing = [float(s) for s in spacing_zyx]
    kernels: list[list[int]] = []
    strides: list[list[int]] = [[1, 1, 1]]
    for level in range(levels):
        finest = min(spacing)
        kernels.append([3 if sp <= 2 * finest else 1 for sp in spacing])
        if level == levels - 1:
            break
        stride = [
            2 if size[a] % 2 == 0 and size[a] // 2 >= 4 and spacing[a] <= 2 * finest else 1
            for a in range(3)
        ]
        if stride == [1, 1, 1]:
            break
        strides.append(stride)
        size = [s // st for s, st in zip(size, stride, strict=True)]
        spacing = [sp * st for sp, st in zip(spacing, stride, strict=True)]
    return kernels[: len(strides)], strides


def build_network(
    settings: SegmenterSettings, n_classes: int, spacing_xyz: Sequence[float]
) -> torch.nn.Module:
    """The MONAI network of these settings."""
    from monai.networks.nets import DynUNet, UNet

    if settings.network == "unet":
        return UNet(
            spatial_dims=3,
            in_channels=1,
            out_channels=n_classes,
            channels=settings.filters,
            strides=(2,) * (len(settings.filters) - 1),
            num_res_units=2,
            norm="instance",
        )
    kernels, strides = dynunet_layout(
        settings.patch_size, list(spacing_xyz)[::-1], len(settings.filters)
    )
    return DynUNet(
        spatial_dims=3,
        in_channels=1,
        out_channels=n_classes,
        kernel_size=kernels,
        strides=strides,
        upsample_kernel_size=strides[1:],
        filters=list(settings.filters[: len(strides)]),
        norm_name="instance",
        res_block=False,
    )


# ---------------------------------------------------------------- preprocessing


def labels_on_grid(labels: sitk.Image, grid: sitk.Image) -> np.ndarray:
    """A label map resampled (nearest neighbour) onto the grid, as uint8 (z, y, x)."""
    return sitk.GetArrayFromImage(resample_to(sitk.Cast(labels, sitk.sitkUInt8), grid))


def fit_intensity(volumes: Sequence[np.ndarray], labels: Sequence[np.ndarray], ct: bool):
    """Fit the normalisation on the foreground voxels of the training volumes."""
    if not ct:
        return Intensity("zscore")
    samples = [v[lab > 0] for v, lab in zip(volumes, labels, strict=True)]
    values = np.concatenate([s for s in samples if s.size] or [np.concatenate(volumes)])
    low, high = (float(v) for v in np.percentile(values, [0.5, 99.5]))
    clipped = np.clip(values, low, high)
    return Intensity("ct", low, high, float(clipped.mean()), float(clipped.std()) or 1.0)


# ---------------------------------------------------------------- training data


@dataclass
class TrainingCase:
    """One training patient on the network grid."""

    patient_id: str
    volume: np.ndarray
    labels: np.ndarray
    foreground: dict[int, np.ndarray] = field(default_factory=dict)


def lesion_class_names(rows: Sequence[PatientRow], mode: str) -> list[str]:
    """The lesion class names: ['lesion'], or the sorted classes of the lesion-label files."""
    if mode == "single":
        return ["lesion"]
    names: set[str] = set()
    for row in rows:
        if row.lesion_labels is not None:
            names.update(read_lesion_labels(row.lesion_labels).values())
    if not names:
        raise DataError(
            "--lesion-classes labels needs lesion-label files (manifest column lesion_labels) "
            "that name each lesion's class; none of the training patients has one. Use "
            "--lesion-classes single."
        )
    return sorted(names)


def patient_labels(
    row: PatientRow,
    image: sitk.Image,
    has_liver: bool,
    classes: list[str],
    mode: str,
    resample_masks: bool,
) -> sitk.Image:
    """Training target on the image grid: 0 background, 1 liver, then lesion classes."""
    shape = sitk.GetArrayViewFromImage(image).shape
    target = np.zeros(shape, dtype=np.uint8)
    offset = 2 if has_liver else 1
    if has_liver:
        liver_path = row.masks.get("liver_mask")
        if liver_path is None:
            raise DataError(
                f"patient {row.patient_id} has no liver_mask while other training patients do: "
                "give every training patient a liver mask, or none."
            )
        liver = read_mask(liver_path, image, resample=resample_masks, name="liver mask")
        target[sitk.GetArrayViewFromImage(liver) > 0] = 1
    lesion_path = row.masks.get("lesion_mask")
    if lesion_path is not None:
        lesions = sitk.GetArrayFromImage(
            read_mask(lesion_path, image, resample=resample_masks, name="lesion mask")
        )
        if mode == "single":
            target[lesions > 0] = offset
        else:
            mapping = read_lesion_labels(row.lesion_labels) if row.lesion_labels else {}
            for value in np.unique(lesions[lesions > 0]):
                if int(value) not in mapping:
                    raise DataError(
                        f"patient {row.patient_id}: lesion value {int(value)} has no class in "
                        f"{row.lesion_labels}. Add it to the lesion-label file."
                    )
                target[lesions == value] = offset + classes.index(mapping[int(value)])
    out = sitk.GetImageFromArray(target)
    out.CopyInformation(image)
    return out


def _foreground_index(labels: np.ndarray, rng: np.random.Generator) -> dict[int, np.ndarray]:
    out = {}
    for value in np.unique(labels):
        if value == 0:
            continue
        idx = np.argwhere(labels == value)
        if len(idx) > 20000:
            idx = idx[rng.choice(len(idx), 20000, replace=False)]
        out[int(value)] = idx
    return out


class PatchSampler:
    """Training patches from MONAI's croppers: centred on a voxel of a random foreground class
    (``RandCropByLabelClasses``) or anywhere (``RandSpatialCrop``), padded to the patch size with
    the volume's minimum (labels with background)."""

    def __init__(self, patch: Sequence[int], n_classes: int, seed: int) -> None:
        from monai.transforms import RandCropByLabelClasses, RandSpatialCrop

        self.patch = tuple(int(p) for p in patch)
        self.n_classes = n_classes
        # background never chosen as a centre; a class absent from a case gets ratio 0 there
        self.foreground = RandCropByLabelClasses(
            self.patch, ratios=[0.0] + [1.0] * (n_classes - 1), num_classes=n_classes,
            num_samples=1, allow_smaller=True, warn=False,
        )
        self.anywhere = RandSpatialCrop(self.patch, random_size=False)
        self.foreground.set_random_state(seed)
        self.anywhere.set_random_state(seed + 1)

    def __call__(self, case: TrainingCase, foreground: bool) -> tuple[np.ndarray, np.ndarray]:
        """One (volume, labels) patch of ``case``, (z, y, x)."""
        volume, labels = case.volume[None], case.labels[None]
        if foreground and case.foreground:
            shape = case.volume.shape
            empty = np.zeros(0, dtype=np.int64)
            indices = [empty] + [
                np.ravel_multi_index(tuple(case.foreground[c].T), shape)
                if c in case.foreground else empty for c in range(1, self.n_classes)
            ]  # fmt: skip
            x = self.foreground(volume, label=labels, indices=indices)[0]
            y = self.foreground(labels, label=labels, indices=indices, randomize=False)[0]
        else:
            self.anywhere.randomize(volume.shape[1:])
            x = self.anywhere(volume, randomize=False)
            y = self.anywhere(labels, randomize=False)
        return (_pad(np.asarray(x)[0], self.patch, float(case.volume.min())).astype(np.float32),
                _pad(np.asarray(y)[0], self.patch, 0).astype(np.int64))


def _pad(array: np.ndarray, patch: tuple[int, ...], value: float) -> np.ndarray:
    """``array`` padded (symmetrically, with ``value``) up to ``patch``."""
    from monai.transforms import SpatialPad

    if array.shape == patch:
        return array
    return np.asarray(SpatialPad(patch, value=value)(array[None]))[0]


# ---------------------------------------------------------------- the model


@dataclass
class SegmenterModel:
    """A trained segmenter: settings, classes, grid spacing, normalisation and weights."""

    settings: SegmenterSettings
    classes: list[str]
    spacing: tuple[float, float, float]
    intensity: Intensity
    network: torch.nn.Module
    history: dict[str, Any] = field(default_factory=dict)

    @property
    def has_liver(self) -> bool:
        """True when the model segments the liver."""
        return "liver" in self.classes[1:2]

    @property
    def lesion_classes(self) -> list[str]:
        """Names of the lesion classes, in class order."""
        return self.classes[2:] if self.has_liver else self.classes[1:]

    def save(self, folder: str | Path) -> Path:
        """Write ``model.pt`` (weights) and ``model.json`` (everything else) atomically."""
        folder = Path(folder)
        with atomic_path(folder / MODEL_FILE) as tmp:
            torch.save(self.network.state_dict(), tmp)
        config = {
            "format": "livermets-segmenter/1",
            "settings": asdict(self.settings),
            "classes": self.classes,
            "spacing": list(self.spacing),
            "orientation": ORIENTATION,
            "intensity": asdict(self.intensity),
            "history": self.history,
            "versions": {
                "livermets": __version__,
                "torch": torch.__version__,
                "python": platform.python_version(),
            },
        }
        write_text(folder / CONFIG_FILE, json.dumps(config, indent=2) + "\n")
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> SegmenterModel:
        """Load a model folder written by ``save`` (``livermets segment train``)."""
        folder = Path(folder)
        config_path, weights = folder / CONFIG_FILE, folder / MODEL_FILE
        if not config_path.is_file() or not weights.is_file():
            raise InputFileError(
                f"{folder} is not a livermets segmenter folder: it needs {CONFIG_FILE} and "
                f"{MODEL_FILE}. Train one with `livermets segment train COHORT.csv --out "
                f"{folder}`."
            )
        config = json.loads(config_path.read_text())
        raw = config["settings"]
        settings = SegmenterSettings(
            **{
                **raw,
                "patch_size": tuple(raw["patch_size"]),
                "filters": tuple(raw["filters"]),
                "spacing": tuple(raw["spacing"]) if raw["spacing"] else None,
            }
        )
        spacing = tuple(float(v) for v in config["spacing"])
        network = build_network(settings, len(config["classes"]), spacing)
        network.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
        network.eval()
        return cls(
            settings, list(config["classes"]), spacing,  # type: ignore[arg-type]
            Intensity(**config["intensity"]), network, config.get("history", {}),
        )  # fmt: skip

    def predict_grid(self, image: sitk.Image) -> tuple[np.ndarray, sitk.Image]:
        """Class map (z, y, x) on the network grid, and that grid."""
        from monai.inferers import sliding_window_inference

        grid = to_grid(image, self.spacing)
        volume = self.intensity.apply(image_on_grid(image, grid))
        self.network.eval()
        with torch_threads(self.settings.threads), torch.inference_mode():
            logits = sliding_window_inference(
                torch.from_numpy(volume)[None, None],
                roi_size=self.settings.patch_size,
                sw_batch_size=self.settings.sw_batch_size,
                predictor=self.network,
                overlap=self.settings.sw_overlap,
                mode="gaussian",
            )
        classes = torch.as_tensor(logits).argmax(dim=1)[0].numpy().astype(np.uint8)
        return classes, grid

    def predict(self, image: sitk.Image) -> sitk.Image:
        """Class map on the image's own grid (orientation, spacing, origin of the image)."""
        classes, grid = self.predict_grid(image)
        on_grid = sitk.GetImageFromArray(classes)
        on_grid.CopyInformation(grid)
        return resample_to(on_grid, image)


def _median_spacing(images: Sequence[sitk.Image]) -> tuple[float, float, float]:
    spacings = np.array([sitk.DICOMOrient(im, ORIENTATION).GetSpacing() for im in images])
    return tuple(float(v) for v in np.median(spacings, axis=0))  # type: ignore[return-value]


def training_rows(manifest: Manifest, splits: Sequence[str] | None) -> list[PatientRow]:
    """Rows to train on: those whose split is listed (all rows when no split is given)."""
    rows = manifest.rows()
    if splits:
        rows = [r for r in rows if (r.split or "train") in set(splits)]
    rows = [r for r in rows if "lesion_mask" in r.masks or "liver_mask" in r.masks]
    if not rows:
        raise DataError(
            f"no patient of {manifest.path} has a lesion or liver mask"
            f"{f' in splits {list(splits)}' if splits else ''}: there is nothing to train on."
        )
    missing = [r.patient_id for r in rows if r.image is None]
    if missing:
        raise DataError(f"patients {missing} have no image; add the image column.")
    return rows


def train_segmenter(
    manifest: Manifest,
    settings: SegmenterSettings | None = None,
    *,
    splits: Sequence[str] | None = None,
    resample_masks: bool = False,
    progress: Callable[[int, float], None] | None = None,
) -> SegmenterModel:
    """Train a segmenter on a cohort's images with their liver and lesion masks."""
    settings = settings or SegmenterSettings()
    with deterministic(settings.seed, settings.threads):
        return _train(manifest, settings, splits, resample_masks, progress)


def _train(
    manifest: Manifest,
    settings: SegmenterSettings,
    splits: Sequence[str] | None,
    resample_masks: bool,
    progress: Callable[[int, float], None] | None,
) -> SegmenterModel:
    from monai.losses import DiceCELoss

    rows = training_rows(manifest, splits)
    has_liver = any("liver_mask" in r.masks for r in rows)
    classes = ["background", *(["liver"] if has_liver else [])]
    lesion_names = lesion_class_names(rows, settings.lesion_classes)
    classes += lesion_names
    images = [read_image(r.image) for r in rows]  # type: ignore[arg-type]
    spacing = settings.spacing or _median_spacing(images)
    rng = np.random.default_rng(settings.seed)
    volumes, label_maps = [], []
    for row, image in zip(rows, images, strict=True):
        target = patient_labels(
            row, image, has_liver, lesion_names, settings.lesion_classes, resample_masks
        )
        grid = to_grid(image, spacing)
        volumes.append(image_on_grid(image, grid))
        label_maps.append(labels_on_grid(target, grid))
    intensity = fit_intensity(volumes, label_maps, rows[0].modality == "CT")
    cases = [
        TrainingCase(r.patient_id, intensity.apply(v), lab, _foreground_index(lab, rng))
        for r, v, lab in zip(rows, volumes, label_maps, strict=True)
    ]
    network = build_network(settings, len(classes), spacing)
    optimiser = adamw(network.parameters(), settings.learning_rate, weight_decay=1e-5)
    schedule = make_schedule(optimiser, "poly", settings.iterations)
    loss_fn = DiceCELoss(to_onehot_y=True, softmax=True)
    sampler = PatchSampler(settings.patch_size, len(classes), settings.seed)
    losses: list[float] = []
    started = time.perf_counter()
    network.train()
    for iteration in range(settings.iterations):
        batch_x, batch_y = [], []
        for _ in range(settings.batch_size):
            case = cases[rng.integers(len(cases))]
            fg = rng.random() < settings.foreground_fraction
            x, y = sampler(case, fg)
            x = x * rng.normal(1.0, 0.1) + rng.normal(0.0, 0.1)
            batch_x.append(x)
            batch_y.append(y)
        inputs = torch.from_numpy(np.stack(batch_x)[:, None].astype(np.float32))
        targets = torch.from_numpy(np.stack(batch_y)[:, None])
        optimiser.zero_grad(set_to_none=True)
        loss = loss_fn(network(inputs), targets)
        loss.backward()
        optimiser.step()
        schedule.step()
        value = check_finite(float(loss.detach()), iteration + 1, "lower --learning-rate")
        losses.append(value)
        if progress is not None:
            progress(iteration + 1, value)
    network.eval()
    history = {
        "patients": [r.patient_id for r in rows],
        "loss": losses,
        "seconds": time.perf_counter() - started,
    }
    return SegmenterModel(settings, classes, spacing, intensity, network, history)
