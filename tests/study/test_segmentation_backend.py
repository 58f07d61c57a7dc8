"""A study whose masks come from a segmentation backend instead of the manifest's files."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

from livermets.errors import ConfigError
from livermets.pipeline import run_study
from livermets.segment import RawSegmentation
from livermets.study.config import config_from_dict
from livermets.study.demo import demo_config
from livermets.study.segmentation import SegmentationSpec
from tests.helpers import make_cohort


class ShiftedOracle:
    """Predicts the reference masks shifted by one voxel, plus one false-positive blob."""

    name = "oracle"

    def signature(self) -> dict:
        return {"backend": "oracle"}

    def check(self) -> None:
        return None

    def predict(self, image: sitk.Image, row) -> RawSegmentation:
        liver = sitk.GetArrayFromImage(sitk.ReadImage(str(row.masks["liver_mask"]))) > 0
        lesions = sitk.GetArrayFromImage(sitk.ReadImage(str(row.masks["lesion_mask"]))) > 0
        lesions = np.roll(lesions, 1, axis=2)
        lesions[5:8, 43:47, 24:28] = True  # inside the liver, apart from both true lesions
        return RawSegmentation(liver=liver.astype(np.uint8), lesions=lesions.astype(np.uint8))


def test_backend_masks_replace_given_masks(tmp_path, monkeypatch):
    manifest = make_cohort(tmp_path / "cohort", n=6)
    monkeypatch.setattr("livermets.study.segmentation._backend", lambda spec: ShiftedOracle())
    base = demo_config(manifest, seed=1)
    config = base.model_copy(update={
        "models": base.models[:1],
        "validation": base.validation.model_copy(update={"folds": 2}),
        "explain": base.explain.model_copy(update={"shap": False, "permutation": False}),
        "segmentation": SegmentationSpec(backend="monai"),
    })  # fmt: skip
    result = run_study(config, tmp_path / "out")
    seg = tmp_path / "out" / "segmentation"
    used = pd.read_csv(seg / "study_manifest.csv")
    assert all(str(seg) in p for p in used["lesion_mask"])  # the predicted masks were used
    unmatched = pd.read_csv(seg / "unmatched_lesions.csv")
    assert len(unmatched) == 6 and set(unmatched["patient_id"]) == {f"p{i}" for i in range(1, 7)}
    features = pd.read_parquet(tmp_path / "out" / "features.parquet")
    assert len(features) == 12  # two matched lesions per patient; the false positives left out
    labels = pd.read_csv(seg / "labelled" / "p1" / "lesion_labels.csv")
    assert labels["label"].tolist() == ["metastasis", "hemangioma"]
    assert set(result.predictions["y_true"]) == {"metastasis", "hemangioma"}


def test_segmentation_key_is_validated(tmp_path):
    manifest = make_cohort(tmp_path / "cohort", n=2)
    raw = demo_config(manifest).model_dump(mode="json")
    raw["segmentation"] = {"backend": "sam2"}
    with pytest.raises(ConfigError, match="segmentation"):
        config_from_dict(raw, "study.yaml")
