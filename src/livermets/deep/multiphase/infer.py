"""Inference of the multi-phase network: sliding-window voxel probabilities, lesion instances,
lesion classes from the lesion head, and patient scores by three rules.

The voxel logits *and* the decoder features come from one Gaussian-weighted sliding window over
the whole normalised volume (the predictor returns both), so the lesion head pools features of
every predicted lesion however large the volume, at the memory cost of F extra channels; the
patient head pools the bottleneck of one encoder pass over the whole volume (encoder only, so it
stays affordable on a CPU).

Lesion decision (hierarchical, not the plain argmax): a voxel is lesion where the summed
probability of the lesion classes exceeds ``settings.lesion_threshold``, otherwise background or
liver by the larger of the two. Lesion voxels form 26-connected instances (those under
``min_lesion_voxels`` go back to the tissue label), and every instance gets one class, the argmax
over the lesion classes of the lesion head (``lesion_class_from="head"``), of the mean voxel
probabilities (``"voxel"``) or of the average of both (``"both"``); the label map carries that
class on all the instance's voxels. The plain argmax almost never picks one of eight small lesion
classes over the liver, even where the lesion classes together dominate.

Patient rules (one row per patient and rule; ``p_<class>`` columns, plus ``p_malignant``):

- ``max_in_liver``: max over liver voxels of each class's voxel probability (of the map chosen by
  ``patient_probs``); malignant = max over liver voxels of the voxel-wise sum of the malignant
  classes (``patient.malignant_probability``). With ``patient_probs="lesion"`` this is the max
  over retained lesions of (peak lesion probability x the lesion's class probability);
- ``volume``: predicted mL of each class (a score, not a probability); malignant = summed mL;
- ``patient_head``: sigmoid of the patient head; malignant = max over the malignant classes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import SimpleITK as sitk
import torch
from scipy import ndimage

from livermets._atomic import write_table
from livermets.deep.multiphase import patient
from livermets.deep.multiphase.config import N_TISSUE, MultiphaseSettings
from livermets.deep.multiphase.data import MultiphaseCase
from livermets.deep.multiphase.network import MultiPhaseSegNet
from livermets.deep.multiphase.train import load_multiphase_model
from livermets.errors import ConfigError, DataError
from livermets.io import resample_to, write_image
from livermets.nn.intensity import Intensity
from livermets.nn.training import torch_threads

RULES: tuple[str, ...] = ("max_in_liver", "volume", "patient_head")
Loaded = tuple[MultiPhaseSegNet, MultiphaseSettings, Intensity]


@dataclass
class CasePrediction:
    """The network's output for one patient, on its network grid."""

    patient_id: str
    center: str | None
    voxel_probs: np.ndarray  # float32 [2 + C, Z, Y, X]
    label_map: np.ndarray  # uint8: hierarchical decision, one class per lesion instance
    instances: np.ndarray  # int32 predicted lesion instances 1..n
    liver: np.ndarray  # bool
    lesions: pd.DataFrame
    patients: pd.DataFrame  # one row per rule


@dataclass
class MultiphasePredictions:
    """Predictions of a cohort: patient and lesion tables, per-case maps for evaluation."""

    patients: pd.DataFrame
    lesions: pd.DataFrame
    classes: tuple[str, ...]
    drop_phases: tuple[str, ...] = ()
    label_maps: dict[str, np.ndarray] = field(default_factory=dict)
    instances: dict[str, np.ndarray] = field(default_factory=dict)
    livers: dict[str, np.ndarray] = field(default_factory=dict)


def extract_instances(label_map: np.ndarray, min_voxels: int = 1) -> np.ndarray:
    """Lesion instances: 26-connected components of labels >= 2, small ones dropped, 1..n."""
    components, n = ndimage.label(label_map >= N_TISSUE, structure=np.ones((3, 3, 3), bool))
    if n == 0:
        return components.astype(np.int32)
    sizes = np.bincount(components.ravel(), minlength=n + 1)
    keep = np.flatnonzero(sizes >= min_voxels)
    keep = keep[keep > 0]
    relabel = np.zeros(n + 1, dtype=np.int32)
    relabel[keep] = np.arange(1, len(keep) + 1, dtype=np.int32)
    return relabel[components]


def lesion_decision(probs: np.ndarray, threshold: float = 0.5, min_voxels: int = 1
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Hierarchical label map and lesion instances of voxel probabilities [2 + C, Z, Y, X].

    Lesion where the lesion classes' summed probability exceeds ``threshold`` (voxel class: the
    argmax among the lesion classes), else background / liver by their argmax; lesion components
    under ``min_voxels`` go back to that tissue label. Returns (label map uint8, instances 1..n).
    """
    lesion_probs = probs[N_TISSUE:]
    tissue = probs[:N_TISSUE].argmax(axis=0).astype(np.uint8)
    lesion = lesion_probs.sum(axis=0) > threshold
    labels = np.where(lesion, N_TISSUE + lesion_probs.argmax(axis=0), tissue).astype(np.uint8)
    instances = extract_instances(labels, min_voxels)
    dropped = lesion & (instances == 0)
    labels[dropped] = tissue[dropped]
    return labels, instances


def instance_class_probs(head_probs: np.ndarray, voxel_means: np.ndarray, class_from: str
                         ) -> np.ndarray:
    """Per-instance class probabilities [N, C] from the lesion head, the mean voxel lesion-class
    probabilities (renormalised over the lesion classes) or the average of both."""
    voxel = voxel_means / np.maximum(voxel_means.sum(axis=1, keepdims=True), 1e-12)
    if class_from == "head":
        return head_probs
    if class_from == "voxel":
        return voxel
    if class_from == "both":
        return 0.5 * (head_probs + voxel)
    raise ConfigError(f"lesion_class_from must be 'head', 'voxel' or 'both', got {class_from!r}.")


def relabel_instances(label_map: np.ndarray, instances: np.ndarray,
                      class_index: Sequence[int]) -> np.ndarray:
    """The label map with every voxel of instance j + 1 set to lesion class ``class_index[j]``."""
    out = label_map.copy()
    if len(class_index):
        lut = np.concatenate([[0], N_TISSUE + np.asarray(class_index, dtype=np.int64)])
        inside = instances > 0
        out[inside] = lut[instances[inside]].astype(out.dtype)
    return out


def confident_instances(instances: np.ndarray, class_probs: np.ndarray, min_confidence: float
                        ) -> tuple[np.ndarray, np.ndarray]:
    """Instances renumbered 1..m keeping those whose largest class probability (row j of
    ``class_probs`` [n, C] is instance j + 1) is >= ``min_confidence``; (instances, kept rows)."""
    n = len(class_probs)
    keep = np.flatnonzero(class_probs.max(axis=1, initial=0.0) >= min_confidence) if n else \
        np.zeros(0, dtype=np.int64)
    lut = np.zeros(n + 1, dtype=np.int32)
    lut[keep + 1] = np.arange(1, len(keep) + 1, dtype=np.int32)
    return lut[instances], keep


def lesion_aware_probs(probs: np.ndarray, instances: np.ndarray, class_probs: np.ndarray
                       ) -> np.ndarray:
    """Lesion-class probabilities [C, Z, Y, X] for the patient rules: inside instance j + 1 the
    voxel's summed lesion-class probability times ``class_probs[j]``; 0 outside every instance."""
    n_classes = probs.shape[0] - N_TISSUE
    out = np.zeros((n_classes, *probs.shape[1:]), dtype=np.float32)
    inside = instances > 0
    if inside.any():
        lesion = probs[N_TISSUE:, inside].sum(axis=0)
        out[:, inside] = (np.asarray(class_probs, dtype=np.float32)[instances[inside] - 1].T
                          * lesion[None])
    return out


def _phase_input(case: MultiphaseCase, settings: MultiphaseSettings,
                 drop_phases: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """Image [1, P, Z, Y, X] and present [1, P] with the dropped phases zeroed and absent."""
    unknown = [p for p in drop_phases if p not in settings.phases]
    if unknown:
        raise ConfigError(f"cannot drop phase(s) {unknown}: the model's phases are "
                          f"{list(settings.phases)}.")
    image, present = case.image.copy(), case.present.copy()
    for phase in drop_phases:
        i = settings.phases.index(phase)
        image[i], present[i] = 0.0, False
    if not present.any():
        raise DataError(f"patient {case.patient_id} has no phase left after dropping "
                        f"{list(drop_phases)}.")
    return torch.from_numpy(image)[None], torch.from_numpy(present)[None]


def _network_outputs(model: MultiPhaseSegNet, settings: MultiphaseSettings, x: torch.Tensor,
                     present: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Voxel logits and decoder features (sliding window) and whole-volume patient logits."""
    from monai.inferers import sliding_window_inference

    def predictor(window: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = model(window, present.expand(window.shape[0], -1))
        return out.voxel_logits, out.features

    model.eval()
    with torch.inference_mode():
        logits, features = sliding_window_inference(
            x, roi_size=settings.patch_zyx, sw_batch_size=settings.sw_batch_size,
            predictor=predictor, overlap=settings.sw_overlap, mode="gaussian")
        patient_logits = model.patient_logits(x, present)
    return torch.as_tensor(logits), torch.as_tensor(features), patient_logits


def lesion_table(case: MultiphaseCase, instances: np.ndarray, probs: np.ndarray,
                 label_map: np.ndarray, head_probs: np.ndarray,
                 classes: Sequence[str], class_from: str = "head") -> pd.DataFrame:
    """One row per predicted lesion: size, centroid, lesion-head and mean voxel probabilities;
    ``pred_class`` from the lesion head, the voxel means or both (``instance_class_probs``),
    ``voxel_class`` the majority vote of the label map's voxels."""
    ids = np.arange(1, int(instances.max()) + 1)
    columns = ["patient_id", "pred_lesion_id", "n_voxels", "volume_ml", "pred_class",
               "voxel_class", *(f"p_{c}" for c in classes), *(f"voxel_p_{c}" for c in classes),
               "centroid_z", "centroid_y", "centroid_x", "centroid_x_mm", "centroid_y_mm",
               "centroid_z_mm"]
    if not len(ids):
        return pd.DataFrame(columns=columns)
    counts = np.bincount(instances.ravel(), minlength=len(ids) + 1)[1:]
    rows = []
    centroids = ndimage.center_of_mass(np.ones_like(instances), instances, ids)
    voxel_means = np.stack([ndimage.mean(probs[N_TISSUE + k], instances, ids)
                            for k in range(len(classes))], axis=1)
    decided = instance_class_probs(head_probs, voxel_means, class_from)
    for j, lesion in enumerate(ids):
        votes = np.bincount(label_map[instances == lesion], minlength=N_TISSUE + len(classes))
        cz, cy, cx = (float(v) for v in centroids[j])
        mm = case.grid.TransformContinuousIndexToPhysicalPoint((cx, cy, cz))
        rows.append({
            "patient_id": case.patient_id, "pred_lesion_id": int(lesion),
            "n_voxels": int(counts[j]), "volume_ml": float(counts[j]) * case.voxel_ml,
            "pred_class": classes[int(np.argmax(decided[j]))],
            "voxel_class": classes[int(np.argmax(votes[N_TISSUE:]))],
            **{f"p_{c}": float(head_probs[j, k]) for k, c in enumerate(classes)},
            **{f"voxel_p_{c}": float(voxel_means[j, k]) for k, c in enumerate(classes)},
            "centroid_z": cz, "centroid_y": cy, "centroid_x": cx,
            "centroid_x_mm": mm[0], "centroid_y_mm": mm[1], "centroid_z_mm": mm[2],
        })
    return pd.DataFrame(rows, columns=columns)


def patient_rows(case: MultiphaseCase, probs: np.ndarray, label_map: np.ndarray,
                 liver: np.ndarray, head: np.ndarray, classes: Sequence[str],
                 lesion_probs: np.ndarray | None = None) -> pd.DataFrame:
    """One row per rule: per-class patient scores and the malignant score (``lesion_probs``
    [C, Z, Y, X]: the lesion-class map of ``max_in_liver``; default the voxel head's)."""
    malignant = tuple(c for c in patient.MALIGNANT if c in classes)
    if lesion_probs is None:
        lesion_probs = probs[N_TISSUE:]
    per_rule = {
        "max_in_liver": patient.max_inside_liver(lesion_probs, liver),
        "volume": patient.predicted_volume(label_map, len(classes), case.voxel_ml),
        "patient_head": head,
    }
    if malignant:
        scores = {
            "max_in_liver": patient.malignant_probability(lesion_probs, liver, classes, malignant),
            "volume": patient.group_score(per_rule["volume"], classes, malignant, how="sum"),
            "patient_head": patient.group_score(head, classes, malignant, how="max"),
        }
    else:
        scores = dict.fromkeys(RULES, float("nan"))
    return pd.DataFrame([
        {"patient_id": case.patient_id, "center": case.center, "rule": rule,
         **{f"p_{c}": float(v) for c, v in zip(classes, per_rule[rule], strict=True)},
         "p_malignant": float(scores[rule])}
        for rule in RULES])


def predict_case(model: MultiPhaseSegNet, settings: MultiphaseSettings, case: MultiphaseCase,
                 *, drop_phases: Sequence[str] = (), use_reference_liver: bool = False
                 ) -> CasePrediction:
    """Voxel probabilities, label map, lesion instances and tables of one patient."""
    x, present = _phase_input(case, settings, drop_phases)
    logits, features, patient_logits = _network_outputs(model, settings, x, present)
    probs = torch.softmax(logits.float(), dim=1)[0].numpy()
    voxel_labels, instances = lesion_decision(probs, settings.lesion_threshold,
                                              settings.min_lesion_voxels)
    reference = use_reference_liver and case.liver is not None
    liver = case.liver if reference else voxel_labels >= 1
    with torch.inference_mode():
        head = model.lesion_head(features, torch.from_numpy(instances.astype(np.int64))[None], x)
    head_probs = torch.softmax(head.logits.float(), dim=1).numpy()
    if settings.lesion_min_confidence > 0 and len(head_probs):
        kept, rows = confident_instances(instances, head_probs, settings.lesion_min_confidence)
        dropped = (instances > 0) & (kept == 0)
        voxel_labels[dropped] = probs[:N_TISSUE, dropped].argmax(axis=0).astype(np.uint8)
        instances, head_probs = kept, head_probs[rows]
    classes = list(settings.classes)
    lesions = lesion_table(case, instances, probs, voxel_labels, head_probs, classes,
                           settings.lesion_class_from)
    label_map = relabel_instances(voxel_labels, instances,
                                  [classes.index(c) for c in lesions["pred_class"]])
    scores = None
    if settings.patient_probs == "lesion":
        decided = lesions[[f"p_{c}" for c in classes]].to_numpy(float)
        if settings.lesion_class_from != "head" and len(lesions):
            voxel = lesions[[f"voxel_p_{c}" for c in classes]].to_numpy(float)
            decided = instance_class_probs(decided, voxel, settings.lesion_class_from)
        scores = lesion_aware_probs(probs, instances, decided.reshape(-1, len(classes)))
    return CasePrediction(
        case.patient_id, case.center, probs.astype(np.float32), label_map, instances, liver,
        lesions,
        patient_rows(case, probs, label_map, liver,
                     torch.sigmoid(patient_logits.float())[0].numpy(), classes, scores))


def predict_cohort(model: str | Path | Loaded, cases: Sequence[MultiphaseCase], *,
                   drop_phases: Sequence[str] = (), use_reference_liver: bool = False,
                   progress: Callable[[int, int], None] | None = None) -> MultiphasePredictions:
    """Predict every case with a model folder or ``load_multiphase_model``'s tuple."""
    net, settings, intensity = (load_multiphase_model(model) if isinstance(model, str | Path)
                                else model)
    for case in cases:
        if case.intensity != intensity or case.phases != tuple(settings.phases):
            raise DataError(
                f"patient {case.patient_id} was loaded with another normalisation or phases than "
                "the model's: load new patients with load_cases(manifest, settings, "
                "intensity=intensity) using the settings and intensity of load_multiphase_model.")
    patients, lesions = [], []
    out = MultiphasePredictions(pd.DataFrame(), pd.DataFrame(), tuple(settings.classes),
                                tuple(drop_phases))
    with torch_threads(settings.threads):
        for done, case in enumerate(cases, start=1):
            pred = predict_case(net, settings, case, drop_phases=drop_phases,
                                use_reference_liver=use_reference_liver)
            patients.append(pred.patients)
            lesions.append(pred.lesions)
            out.label_maps[case.patient_id] = pred.label_map
            out.instances[case.patient_id] = pred.instances
            out.livers[case.patient_id] = pred.liver
            if progress is not None:
                progress(done, len(cases))
    out.patients = pd.concat(patients, ignore_index=True) if patients else pd.DataFrame()
    nonempty = [t for t in lesions if len(t)]
    out.lesions = (pd.concat(nonempty, ignore_index=True) if nonempty
                   else lesions[0] if lesions else pd.DataFrame())
    return out


def _on_image_grid(array: np.ndarray, case: MultiphaseCase, pixel: int) -> sitk.Image:
    """A network-grid label array resampled (nearest neighbour) onto the image's own grid."""
    image = sitk.Cast(sitk.GetImageFromArray(array), pixel)
    image.CopyInformation(case.grid)
    return resample_to(image, case.image_grid)


def write_predictions(pred: MultiphasePredictions, cases: Sequence[MultiphaseCase],
                      out_dir: str | Path) -> Path:
    """Per patient ``<id>/labels.nii.gz`` and ``<id>/instances.nii.gz`` on the image's grid,
    plus ``patients.csv`` and ``lesions.csv`` (all written atomically)."""
    out = Path(out_dir)
    for case in cases:
        if case.patient_id not in pred.label_maps:
            raise DataError(f"patient {case.patient_id} is not in these predictions.")
        folder = out / case.patient_id
        write_image(_on_image_grid(pred.label_maps[case.patient_id], case, sitk.sitkUInt8),
                    folder / "labels.nii.gz")
        instances = pred.instances[case.patient_id]
        pixel = sitk.sitkUInt16 if instances.max(initial=0) < 2**16 else sitk.sitkUInt32
        write_image(_on_image_grid(instances, case, pixel), folder / "instances.nii.gz")
    write_table(pred.patients, out / "patients.csv")
    write_table(pred.lesions, out / "lesions.csv")
    return out
