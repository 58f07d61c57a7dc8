"""Deep crops of the primary tumour or the liver (patient level), not only of lesions."""

from __future__ import annotations

import numpy as np
import pytest

from livermets.deep.config import CropSettings, DeepModelSpec
from livermets.deep.study import lesion_crops, region_manifest
from livermets.errors import ConfigError


@pytest.fixture(scope="module")
def rectal(tmp_path_factory):
    """24 slm-clinical patients (rectal MRI, primary tumour mask, no liver lesion)."""
    from livermets.synth import generate_cohort, make_config

    out = tmp_path_factory.mktemp("slm")
    return generate_cohort(make_config("slm-clinical", 24, 2, scale=2.5), out, workers=1).manifest


def test_primary_tumour_crops_one_per_patient_with_every_sequence(rectal, tmp_path):
    from livermets.cohort import load_manifest

    manifest = load_manifest(rectal)
    spec = DeepModelSpec(name="t2", crops=CropSettings(region="primary", size=24,
                                                       slices="largest"))
    crops = lesion_crops(rectal, spec, tmp_path / "cache")
    assert sorted(crops.meta["patient_id"].unique()) == sorted(
        manifest.table["patient_id"].astype(str))
    # every MRI sequence is a channel
    assert crops.phases == ["t2", "dwi", "adc"]
    assert crops.images.shape[1] == len(crops.phases) and crops.images.shape[-1] == 24
    assert np.isfinite(crops.images).all() and crops.images.std() > 0
    again = lesion_crops(rectal, spec, tmp_path / "cache")  # from the cache
    np.testing.assert_array_equal(again.images, crops.images)


def test_a_region_without_its_mask_column_is_a_clear_error(rectal):
    from livermets.cohort import load_manifest
    from livermets.cohort.manifest import Manifest

    manifest = load_manifest(rectal)
    without = Manifest(manifest.path, manifest.table.drop(columns=["primary_mask"]))
    with pytest.raises(ConfigError, match=r"crops\.region: primary needs a primary_mask column"):
        region_manifest(without, "primary")
    view = region_manifest(manifest, "primary")
    assert "lesion_mask" in view.table and "primary_mask" not in view.table
    assert view.table["lesion_mask"].tolist() == manifest.table["primary_mask"].tolist()
    assert region_manifest(manifest, "lesion") is manifest


def test_a_patient_level_study_with_a_cnn_on_the_primary_tumour(rectal, tmp_path):
    """The synchronous-metastasis design: ResNet-style CNN on the rectal MRI primary (T2, DWI,
    ADC as channels) and the same CNN fused with clinical variables, patient-grouped CV."""
    import json

    import pandas as pd

    from livermets.pipeline import run_study
    from livermets.study.config import config_from_dict

    clinical = pd.read_csv(rectal.parent / "clinical.csv")
    features = tmp_path / "clinical.csv"
    clinical.assign(tumour_length=np.arange(len(clinical), dtype=float)).to_csv(features,
                                                                                 index=False)
    deep = {"crops": {"region": "primary", "size": 24, "max_slices": 2},
            "network": {"backbone": "densenet_tiny"}, "manifest": str(rectal),
            "train": {"epochs": 1, "batch_size": 8, "threads": 1}, "gradcam": 0}
    config = config_from_dict({
        "name": "slm", "seed": 1, "synthetic": True,
        "data": {"features": str(features), "level": "patient", "positive": 1,
                 "clinical": ["cea", "age"]},
        "models": [{"name": "logit", "select": "none", "redundancy": None}],
        "deep": [{**deep, "name": "primary_cnn"},
                 {**deep, "name": "primary_cnn_clin", "inputs": "image+clinical"}],
        "validation": {"folds": 2, "repeats": 1, "bootstrap": 100, "tuning": {"inner_folds": 2}},
        "explain": {"shap": False, "permutation": False}})
    result = run_study(config, tmp_path / "out")
    pred = result.predictions
    assert {"primary_cnn", "primary_cnn_clin"} <= set(pred["model"])
    cnn = pred[pred["model"] == "primary_cnn"]
    assert sorted(cnn["patient_id"]) == sorted(clinical["patient_id"].astype(str))  # one each
    assert cnn["y_prob"].between(0, 1).all()
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert "primary_cnn_clin" in metrics["models"]


def test_a_lesion_cnn_on_a_cohort_without_lesions_is_refused_before_any_work(rectal, tmp_path):
    import pandas as pd

    from livermets.pipeline import run_study
    from livermets.study.config import config_from_dict

    features = tmp_path / "clinical.csv"
    pd.read_csv(rectal.parent / "clinical.csv").assign(x=1.0).to_csv(features, index=False)
    config = config_from_dict({
        "name": "slm", "seed": 1,
        "data": {"features": str(features), "level": "patient", "positive": 1,
                 "clinical": ["cea"]},
        "models": [{"name": "logit", "select": "none", "redundancy": None}],
        "deep": [{"name": "cnn", "manifest": str(rectal)}],
        "validation": {"folds": 2, "bootstrap": 100}})
    with pytest.raises(ConfigError, match=r"set deep\[\]\.crops\.region to primary"):
        run_study(config, tmp_path / "out")
    assert not (tmp_path / "out" / "predictions.parquet").exists()


def test_too_few_patients_for_stratified_folds_is_a_clear_error():
    from livermets.errors import DataError
    from livermets.models.validation import grouped_kfold

    with pytest.raises(DataError, match=r"3 stratified folds cannot be made from 0: 2 "
                                        r"patient\(s\), 1: 1 patient\(s\)"):
        grouped_kfold(np.array([0, 0, 1]), np.array(["a", "b", "c"]), 3)
