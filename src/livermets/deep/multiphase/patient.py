"""Patient-level scores of each lesion class from a multi-phase segmentation network's output.

Three rules turn one patient's voxel output into one score per lesion class:

- **max inside the liver** (the main rule): the highest probability of class k over the voxels
  of the liver mask (``max_inside_liver``);
- **predicted volume**: mL of voxels whose predicted label is class k (``predicted_volume``);
- a patient classification head (the network's own output; nothing to compute here).

The malignant score is either the maximum over liver voxels of the per-voxel *sum* of the
malignant classes' probabilities (``malignant_probability``: one voxel's malignant evidence is
pooled before the maximum), or a summary of the per-class patient scores (``group_score``).

``deep.aggregate.patient_probabilities`` aggregates lesion-crop CNN outputs over table rows and
treats two-column inputs as binary (column 0 = 1 - column 1); voxel maps with any number of lesion
classes need the plain masked maximum below instead.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from livermets.errors import ConfigError, DataError

MALIGNANT: tuple[str, ...] = ("hcc", "icc", "metastasis")
GROUP_RULES: tuple[str, ...] = ("max", "sum")


def _check_maps(class_probs: np.ndarray, liver: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Validate a [C, *S] numeric map and a [*S] liver mask; return them as arrays."""
    probs = np.asarray(class_probs)
    mask = np.asarray(liver)
    if probs.ndim < 2:
        raise DataError(
            f"class_probs must be shaped [classes, *spatial] (got shape {probs.shape}); pass the "
            "lesion-class channels of the network output, e.g. probs[2:]."
        )
    if probs.dtype.kind not in "fiu":
        raise DataError(f"class_probs must be numeric, got dtype {probs.dtype}.")
    if mask.shape != probs.shape[1:]:
        raise DataError(
            f"the liver mask has shape {mask.shape} but the probability map's spatial shape is "
            f"{probs.shape[1:]}; put both on the same voxel grid."
        )
    return probs, mask.astype(bool, copy=False)


def _finite(values: np.ndarray, what: str) -> np.ndarray:
    if not np.all(np.isfinite(values)):
        raise DataError(f"{what} has NaN or infinite values; check the network output (e.g. a "
                        "division by zero in the softmax).")
    return values


def max_inside_liver(class_probs: np.ndarray, liver: np.ndarray) -> np.ndarray:
    """Per class, the maximum of its probability over liver voxels ([C]; zeros if no liver)."""
    probs, mask = _check_maps(class_probs, liver)
    if not mask.any():
        return np.zeros(probs.shape[0])
    axes = tuple(range(1, probs.ndim))
    best = np.max(probs, axis=axes, where=mask[None], initial=-np.inf)
    return _finite(best.astype(float), "class_probs inside the liver")


def predicted_volume(
    label_map: np.ndarray, n_classes: int, voxel_ml: float, offset: int = 2
) -> np.ndarray:
    """mL of voxels predicted as each lesion class (label == offset + k), shape [n_classes]."""
    labels = np.asarray(label_map)
    if labels.dtype.kind not in "iub":
        raise DataError(f"label_map must hold integer labels, got dtype {labels.dtype}; pass the "
                        "argmax of the network output.")
    if int(n_classes) < 1 or int(offset) < 0:
        raise ConfigError(f"n_classes must be >= 1 and offset >= 0 (got {n_classes}, {offset}).")
    if not (np.isfinite(voxel_ml) and voxel_ml > 0):
        raise ConfigError(f"voxel_ml must be a positive volume in mL, got {voxel_ml}.")
    n_labels = int(offset) + int(n_classes)
    if labels.size and (labels.min() < 0 or labels.max() >= n_labels):
        raise DataError(
            f"label_map holds labels {int(labels.min())}..{int(labels.max())}, outside 0.."
            f"{n_labels - 1} (offset {offset} + {n_classes} lesion classes); check n_classes."
        )
    counts = np.bincount(labels.ravel().astype(np.intp, copy=False), minlength=n_labels)
    return counts[int(offset):n_labels].astype(float) * float(voxel_ml)


def malignant_mask(
    classes: Sequence[str], malignant: Sequence[str] = MALIGNANT
) -> np.ndarray:
    """Boolean [C]: which of ``classes`` are malignant; unknown or repeated names raise."""
    names = [str(c) for c in classes]
    if len(set(names)) != len(names):
        raise ConfigError(f"class names must be unique, got {names}.")
    wanted = [str(m) for m in malignant]
    unknown = sorted(set(wanted) - set(names))
    if unknown:
        raise ConfigError(f"malignant class(es) {unknown} are not among the classes {names}; "
                          "fix the malignant list in the configuration.")
    if not wanted:
        raise ConfigError("the malignant class list is empty; name at least one class.")
    return np.isin(names, wanted)


def malignant_probability(
    class_probs: np.ndarray,
    liver: np.ndarray,
    classes: Sequence[str],
    malignant: Sequence[str] = MALIGNANT,
) -> float:
    """Max over liver voxels of the voxel-wise sum of malignant-class probabilities (0 if none)."""
    probs, mask = _check_maps(class_probs, liver)
    if len(classes) != probs.shape[0]:
        raise DataError(f"class_probs has {probs.shape[0]} class channels but {len(classes)} "
                        f"class names were given ({list(classes)}).")
    chosen = malignant_mask(classes, malignant)
    if not mask.any():
        return 0.0
    summed = probs[chosen].sum(axis=0)
    best = np.max(summed, where=mask, initial=-np.inf)
    return float(_finite(best, "class_probs inside the liver"))


def group_score(
    per_class: np.ndarray,
    classes: Sequence[str],
    malignant: Sequence[str] = MALIGNANT,
    how: str = "max",
) -> float:
    """Malignant score of one patient: max or sum of the malignant classes' patient scores."""
    scores = np.asarray(per_class, dtype=float)
    if scores.shape != (len(classes),):
        raise DataError(f"per_class must hold one score per class ({len(classes)}), got shape "
                        f"{scores.shape}.")
    if how not in GROUP_RULES:
        raise ConfigError(f"group score must be one of {GROUP_RULES}, got {how!r}.")
    chosen = scores[malignant_mask(classes, malignant)]
    _finite(chosen, "per_class")
    return float(chosen.max() if how == "max" else chosen.sum())
