"""A lesion classifier the user brings (a TorchScript file, a folder with ``classifier.json``, or
a MONAI bundle) applied to livermets' lesion crops, with the output table of ``deep predict``.

The network gets crops as ``deep.crops`` cuts them: float32 [batch, channels, (D,) H, W], D along
z (axial slices), H along y, W along x, intensities windowed to [0, 1] then mapped linearly to
``scale_to``. Its output is one logit (sigmoid), one probability, per-class logits (softmax) or
per-class probabilities per crop; crops are averaged (or maxed) per lesion, lesions per patient.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from livermets.deep.config import CropSettings
from livermets.errors import ConfigError, InputFileError, NetworkError

SPEC_FILE = "classifier.json"
OUTPUTS = ("logit", "probability", "logits", "probabilities")
BINARY_OUTPUTS = ("logit", "probability")


class ClassifierSpec(BaseModel):
    """What livermets needs to know about a user's lesion classifier (``classifier.json``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str | None = None
    model: str | None = None
    crops: CropSettings = CropSettings()
    scale_to: tuple[float, float] = (0.0, 1.0)
    output: Literal["logit", "probability", "logits", "probabilities"] | None = None
    classes: list[str] | None = None
    threshold: float | None = Field(default=None, ge=0.0, le=1.0)
    lesion_aggregation: Literal["mean", "max"] = "mean"
    batch_size: int = Field(default=32, ge=1)

    @model_validator(mode="after")
    def _classes(self) -> ClassifierSpec:
        if self.classes is not None and len(self.classes) < 2:
            raise ValueError("classes must name at least 2 classes (negative first)")
        if (self.output in BINARY_OUTPUTS and self.classes is not None
                and len(self.classes) != 2):
            raise ValueError(f"output {self.output} is binary: classes must be 2 names "
                             "(negative, positive)")
        return self


def _validate(data: dict[str, Any], where: str) -> ClassifierSpec:
    try:
        return ClassifierSpec.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'spec'}: {e['msg']}"
                             for e in exc.errors())
        raise ConfigError(f"bad classifier settings in {where} ({problems}). Keys: "
                          f"{', '.join(ClassifierSpec.model_fields)}.") from exc


def parse_crop(text: str) -> dict[str, Any]:
    """``--crop 64`` or ``64,64`` (2D) or ``32,64,64`` (3D: depth, height, width) -> crop keys."""
    try:
        sizes = [int(v) for v in text.replace("x", ",").split(",") if v.strip()]
    except ValueError as exc:
        raise ConfigError(f"--crop {text!r} must be sizes such as 64 (2D) or 32,64,64 (3D: "
                          "depth, height, width).") from exc
    if len(sizes) == 1:
        sizes = [sizes[0], sizes[0]]
    if len(sizes) not in (2, 3) or sizes[-1] != sizes[-2]:
        raise ConfigError(f"--crop {text!r}: give H,W (2D) or D,H,W (3D) with H = W (livermets "
                          "crops are square in-plane).")
    if len(sizes) == 2:
        return {"mode": "2d", "size": sizes[0]}
    return {"mode": "3d", "depth": sizes[0], "size": sizes[1]}


def _numbers(text: str, option: str, count: int) -> list[float]:
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError as exc:
        raise ConfigError(f"{option} {text!r} must be {count} comma-separated numbers.") from exc
    if len(values) != count:
        raise ConfigError(f"{option} {text!r} needs {count} values.")
    return values


def overrides(crop: str | None = None, spacing: str | None = None, window: str | None = None,
              output: str | None = None, classes: str | None = None,
              threshold: float | None = None) -> dict[str, Any]:
    """The CLI's classifier options as spec keys (only those given)."""
    out: dict[str, Any] = {}
    crops: dict[str, Any] = parse_crop(crop) if crop else {}
    if spacing:
        crops["spacing"] = _numbers(spacing, "--spacing", 3)
    if window:
        crops["window"] = window if "," not in window else _numbers(window, "--window", 2)
    if crops:
        out["crops"] = crops
    if output:
        out["output"] = output
    if classes:
        out["classes"] = [c.strip() for c in classes.split(",") if c.strip()]
    if threshold is not None:
        out["threshold"] = threshold
    return out


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = {**base, **{k: v for k, v in extra.items() if k != "crops"}}
    if "crops" in extra:
        merged["crops"] = {**base.get("crops", {}), **extra["crops"]}
    return merged


def load_classifier(path: str | Path, options: dict[str, Any] | None = None
                    ) -> tuple[ClassifierSpec, Any, list[Path]]:
    """The spec, the network and its files, from a TorchScript file, a ``classifier.json``
    folder or a MONAI bundle folder (``options`` override the declared settings)."""
    from livermets._networks import (
        bundle_channel_names,
        bundle_network,
        load_torchscript,
        read_bundle,
    )

    path = Path(path)
    options = options or {}
    if path.is_dir() and (path / SPEC_FILE).is_file():
        try:
            declared = json.loads((path / SPEC_FILE).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InputFileError(f"cannot read {path / SPEC_FILE} as JSON ({exc}).") from exc
        spec = _validate(_merge(declared, options), str(path / SPEC_FILE))
        if spec.model is None:
            raise ConfigError(f"{path / SPEC_FILE} must name the TorchScript file: \"model\": "
                              "\"clf.pt\" (relative to its folder).")
        weights = path / spec.model
        return (spec.model_copy(update={"name": spec.name or path.name}),
                load_torchscript(weights), [path / SPEC_FILE, weights])
    if path.is_dir() and (path / "configs" / "metadata.json").is_file():
        bundle = read_bundle(path)
        declared: dict[str, Any] = {"name": path.name}
        names = bundle_channel_names(bundle)
        if len(names) >= 2:
            declared["classes"] = [names[k] for k in sorted(names)]
        shape = bundle.data_format("inputs", "image").get("spatial_shape")
        given = options.get("crops", {})
        if ("size" not in given and isinstance(shape, list)
                and all(isinstance(v, int) for v in shape)):
            try:
                declared["crops"] = parse_crop(",".join(str(v) for v in shape))
            except ConfigError as exc:
                raise ConfigError(f"the bundle's input spatial_shape {shape} is not a livermets "
                                  "crop (H,W or D,H,W with H = W); give --crop.") from exc
        spec = _validate(_merge(declared, options), f"{path} (bundle)")
        return spec, bundle_network(bundle), list(bundle.files)
    if path.is_dir():
        raise InputFileError(
            f"{path} is neither a livermets deep model (card.json), a classifier folder "
            f"({SPEC_FILE} naming a TorchScript file) nor a MONAI bundle "
            "(configs/metadata.json)."
        )
    spec = _validate({"name": path.stem, **options}, "the command-line options")
    return spec, load_torchscript(path), [path]


def _probabilities(out: np.ndarray, kind: str, source: Path) -> np.ndarray:
    """Class probabilities [N, K] from the network's raw output."""
    if kind in BINARY_OUTPUTS:
        if out.ndim == 2 and out.shape[1] == 1:
            out = out[:, 0]
        if out.ndim != 1:
            raise NetworkError(
                f"output {kind} needs one value per crop, but {source} returned shape "
                f"[batch, {', '.join(str(s) for s in out.shape[1:])}]; for per-class outputs "
                "use --output logits (softmax) or probabilities."
            )
        if kind == "logit":
            with np.errstate(over="ignore"):
                p = 1.0 / (1.0 + np.exp(-out.astype(np.float64)))
        else:
            p = out.astype(np.float64)
        return np.stack([1.0 - p, p], axis=1)
    if out.ndim != 2 or out.shape[1] < 2:
        raise NetworkError(
            f"output {kind} needs [batch, classes >= 2], but {source} returned shape "
            f"{['batch', *out.shape[1:]]}; a single logit per crop is --output logit."
        )
    if kind == "logits":
        shifted = out.astype(np.float64) - out.max(axis=1, keepdims=True)
        e = np.exp(shifted)
        return e / e.sum(axis=1, keepdims=True)
    return out.astype(np.float64)


def run_classifier(network: Any, crops: Any, spec: ClassifierSpec, source: Path) -> np.ndarray:
    """Class probabilities of every crop [N, K] (checks the output's shape and range)."""
    import torch

    kind = spec.output or "logit"
    low, high = spec.scale_to
    chunks = []
    with torch.inference_mode():
        for start in range(0, len(crops.images), spec.batch_size):
            batch = crops.images[start:start + spec.batch_size].astype(np.float32)
            batch = torch.from_numpy(low + batch * (high - low))
            try:
                out = network(batch)
            except Exception as exc:
                raise NetworkError(
                    f"the classifier {source} failed on crops of shape {list(batch.shape)} "
                    f"(batch, channels, {'D, ' if batch.ndim == 5 else ''}H, W): "
                    f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}. "
                    "Check --crop (and the phases / channels the network expects)."
                ) from exc
            if isinstance(out, list | tuple):
                out = out[0]
            if not isinstance(out, torch.Tensor) or out.ndim == 0 or out.shape[0] != len(batch):
                raise NetworkError(f"the classifier {source} must return a tensor with one row "
                                   f"per crop; it returned {getattr(out, 'shape', type(out))}.")
            chunks.append(out.float().cpu().numpy())
    prob = _probabilities(np.concatenate(chunks), kind, source)
    if not np.isfinite(prob).all() or prob.min() < -1e-6 or prob.max() > 1 + 1e-6:
        hint = "logit" if kind == "probability" else "logits"
        raise NetworkError(f"the classifier {source} gave probabilities outside [0, 1] for "
                           f"output {kind}; if it returns logits, use --output {hint}.")
    if kind == "probabilities" and not np.allclose(prob.sum(axis=1), 1.0, atol=1e-4):
        raise NetworkError(f"the classifier {source} returned per-class values that do not sum "
                           "to 1; if they are logits, use --output logits.")
    return prob


def class_names(spec: ClassifierSpec, n_classes: int) -> list[str]:
    """The class names (given, or negative / positive, or class_0..K-1)."""
    if spec.classes is not None:
        if len(spec.classes) != n_classes:
            raise ConfigError(f"--classes names {len(spec.classes)} classes, the classifier "
                              f"gives {n_classes}.")
        return list(spec.classes)
    return ["negative", "positive"] if n_classes == 2 else [f"class_{k}" for k in
                                                            range(n_classes)]
