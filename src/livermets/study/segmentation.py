"""Masks from a segmentation backend instead of the manifest's files, for the study runner.

The backend's liver / primary masks replace the given ones. Predicted lesions of a lesion-level
study take the class of the reference lesion they match (one-to-one, Dice above a threshold);
unmatched predictions (false positives) have no truth and are left out of training and
evaluation, and listed in ``segmentation/unmatched_lesions.csv``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import SimpleITK as sitk
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from livermets._atomic import write_table
from livermets.cohort import Manifest, load_manifest, read_lesion_labels
from livermets.errors import ConfigError, DataError
from livermets.io import read_mask, write_image
from livermets.lesions import split_instances

if TYPE_CHECKING:
    from livermets.segment import Backend


class SegmentationSpec(BaseModel):
    """``segmentation:`` in the study YAML: which backend makes the masks, and with what."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    backend: str
    model: Path | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    match_dice: float = Field(default=0.1, ge=0.0, lt=1.0)

    @field_validator("backend")
    @classmethod
    def _registered(cls, value: str) -> str:
        """A backend of the registry (``segment.backends.BACKENDS``)."""
        from livermets.segment.backends import BACKENDS

        if value not in BACKENDS:
            raise ValueError(f"unknown segmentation backend {value!r}: use one of "
                             f"{', '.join(BACKENDS.names())}")
        return value

    @model_validator(mode="after")
    def _options(self) -> SegmentationSpec:
        """``options`` validated by the backend's options model (a mistyped key is an error)."""
        from livermets.segment.backends import backend_options

        try:
            backend_options(self.backend, self.options)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
        return self


def _backend(spec: SegmentationSpec) -> Backend:
    from livermets.segment import make_backend

    options = dict(spec.options)
    if spec.model is not None:
        options["model"] = spec.model
    return make_backend(spec.backend, **options)


def _label_lesions(
    reference: Manifest, predicted: Manifest, out: Path, match_dice: float
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Instance maps of the matched predicted lesions and their classes; unmatched ones."""
    from livermets.segment.matching import MatchSettings, match_lesions

    ref_rows = {r.patient_id: r for r in reference.rows()}
    table = predicted.table.copy()
    unmatched: list[dict] = []
    masks, labels = [], []
    for row in predicted.rows():
        ref = ref_rows[row.patient_id]
        path = row.masks.get("lesion_mask")
        if path is None or "lesion_mask" not in ref.masks:
            masks.append("")
            labels.append("")
            continue
        image = sitk.ReadImage(str(row.image)) if row.image is not None else None
        pred_img = read_mask(path, image, resample=True)
        pred = sitk.GetArrayFromImage(pred_img)
        truth = sitk.GetArrayFromImage(read_mask(ref.masks["lesion_mask"], pred_img, resample=True))
        classes = read_lesion_labels(ref.lesion_labels) if ref.lesion_labels else {}
        match = match_lesions(
            row.patient_id,
            truth,
            pred,
            pred_img.GetSpacing(),
            MatchSettings(threshold=match_dice),
        )
        instance_map, _ = split_instances(pred, MatchSettings().connectivity)
        ref_source = {r["lesion_id"]: r["source_label"] for r in match.reference}
        kept = np.zeros(instance_map.shape, dtype=np.uint16)
        rows = []
        for p in match.predicted:
            if not p["true_positive"]:
                unmatched.append(
                    {k: p[k] for k in ("patient_id", "prediction_id", "diameter_mm", "volume_ml")}
                )
                continue
            value = len(rows) + 1
            kept[instance_map == p["prediction_id"]] = value
            source = ref_source[p["matched_lesion"]]
            rows.append(
                {
                    "lesion_label": value,
                    "label": classes.get(source, ref.label if ref.label is not None else ""),
                    "reference_lesion": p["matched_lesion"],
                }
            )
        if not rows:
            masks.append("")
            labels.append("")
            continue
        folder = out / "labelled" / row.patient_id
        out_img = sitk.GetImageFromArray(kept)
        out_img.CopyInformation(pred_img)
        write_image(out_img, folder / "lesions.nii.gz")
        write_table(pd.DataFrame(rows), folder / "lesion_labels.csv")
        masks.append(str((folder / "lesions.nii.gz").resolve()))
        labels.append(str((folder / "lesion_labels.csv").resolve()))
    table["lesion_mask"] = masks
    table["lesion_labels"] = labels
    columns = ["patient_id", "prediction_id", "diameter_mm", "volume_ml"]
    return table, pd.DataFrame(unmatched, columns=columns)


def segmented_manifest(
    spec: SegmentationSpec, manifest: Manifest, out: Path, level: str
) -> Manifest:
    """Segment the cohort (resumable) and return the manifest the rest of the study uses."""
    from livermets.segment import run_segmentation

    out = Path(out)
    result = run_segmentation(manifest, _backend(spec), out)
    predicted = load_manifest(result.manifest)
    table = predicted.table.copy()
    for column in [*predicted.image_columns, *predicted.mask_columns, "lesion_labels"]:
        if column in table.columns:
            table[column] = [
                str(p) if (p := predicted.resolve(v)) is not None else "" for v in table[column]
            ]
    if level == "lesion":
        relabelled = Manifest(predicted.path, table)
        table, unmatched = _label_lesions(manifest, relabelled, out, spec.match_dice)
        write_table(unmatched, out / "unmatched_lesions.csv")
        if not any(table["lesion_mask"].astype(str).str.len() > 0):
            raise DataError(
                f"the {spec.backend} backend found no lesion matching a reference lesion "
                f"(Dice > {spec.match_dice}); see {out / 'segmentation.csv'}. Check the model, "
                "or give the lesion masks."
            )
    path = write_table(table, out / "study_manifest.csv")
    return Manifest(path=path.resolve(), table=table)
