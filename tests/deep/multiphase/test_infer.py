"""Inference: sliding-window probabilities with and without the delayed phase, lesion instances
and classes, patient rules, predictions written back on the image grid."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk
import torch

from livermets.deep.multiphase.config import LESION_CLASSES, make_settings
from livermets.deep.multiphase.infer import (
    RULES,
    extract_instances,
    lesion_table,
    predict_case,
    predict_cohort,
    write_predictions,
)
from livermets.deep.multiphase.network import MultiPhaseSegNet
from livermets.errors import ConfigError, DataError
from livermets.segment.monai_model import Intensity
from tests.deep.multiphase.test_data import tiny_case

SETTINGS = make_settings(patch=(16, 16, 8), features=(4, 8), stem_channels=4, embedding_size=4,
                         threads=1, min_lesion_voxels=3)


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread (the test machine's cores are shared)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def loaded():
    """An untrained seeded network with its settings and the tiny cases' intensity."""
    torch.manual_seed(3)
    return MultiPhaseSegNet(SETTINGS).eval(), SETTINGS, tiny_case().intensity


def test_instances_and_classes_of_a_hand_made_label_map():
    labels = np.ones((10, 10, 10), np.uint8)  # liver everywhere
    labels[0, 9, 0] = 2 + 2  # 1 voxel: dropped (min 2 voxels)
    labels[1:3, 1:3, 1:3] = 2  # 8 voxels of hcc ...
    labels[3, 3, 3] = 2 + 2  # ... touching one metastasis voxel by a corner: one lesion
    labels[6:9, 6:9, 6:9] = 2 + 5  # 27 voxels of cyst
    instances = extract_instances(labels, min_voxels=2)
    assert instances.max() == 2 and instances[0, 9, 0] == 0
    assert (instances == 1).sum() == 9 and instances[3, 3, 3] == 1
    assert (instances == 2).sum() == 27
    probs = np.eye(10, dtype=np.float32)[labels].transpose(3, 0, 1, 2)
    head = np.full((2, 8), 0.05)
    head[0, 3], head[1, 5] = 0.65, 0.65
    case = tiny_case(shape=(10, 10, 10))
    table = lesion_table(case, instances, probs, labels, head, LESION_CLASSES)
    assert table["pred_lesion_id"].tolist() == [1, 2]
    assert table["n_voxels"].tolist() == [9, 27]
    np.testing.assert_allclose(table["volume_ml"], [9 * 0.03125, 27 * 0.03125])
    assert table["pred_class"].tolist() == ["hemangioma", "cyst"]
    assert table["voxel_class"].tolist() == ["hcc", "cyst"]
    np.testing.assert_allclose(table["voxel_p_hcc"], [8 / 9, 0.0])
    np.testing.assert_allclose(table["p_hemangioma"], [0.65, 0.05])
    assert table.loc[1, ["centroid_z", "centroid_y", "centroid_x"]].tolist() == [7.0, 7.0, 7.0]
    assert table.loc[1, "centroid_x_mm"] == pytest.approx(7 * 2.5)


def test_predict_case_with_and_without_the_delayed_phase(loaded):
    model, settings, _ = loaded
    case = tiny_case()
    full = predict_case(model, settings, case)
    dropped = predict_case(model, settings, case, drop_phases=("delayed",))
    lacking = predict_case(model, settings, tiny_case(delayed=False))
    for pred in (full, dropped):
        assert pred.voxel_probs.shape == (10, 16, 32, 32)
        np.testing.assert_allclose(pred.voxel_probs.sum(axis=0), 1.0, atol=1e-5)
        np.testing.assert_array_equal(pred.label_map, pred.voxel_probs.argmax(axis=0))
    assert np.abs(full.voxel_probs - dropped.voxel_probs).max() > 1e-4
    np.testing.assert_allclose(dropped.voxel_probs, lacking.voxel_probs, atol=1e-6)
    lesions = full.lesions
    assert len(lesions) > 0 and lesions["pred_lesion_id"].tolist() == list(
        range(1, len(lesions) + 1))
    assert lesions["n_voxels"].min() >= 3
    assert lesions["n_voxels"].sum() == (full.instances > 0).sum()
    np.testing.assert_allclose(lesions[[f"p_{c}" for c in LESION_CLASSES]].sum(axis=1), 1.0,
                               atol=1e-5)
    patients = full.patients.set_index("rule")
    assert patients.index.tolist() == list(RULES)
    liver = full.label_map >= 1
    np.testing.assert_allclose(patients.loc["max_in_liver", "p_hcc"],
                               full.voxel_probs[2][liver].max(), rtol=1e-6)
    np.testing.assert_allclose(patients.loc["volume", "p_cyst"],
                               (full.label_map == 2 + 5).sum() * case.voxel_ml)
    np.testing.assert_allclose(
        patients.loc["max_in_liver", "p_malignant"],
        full.voxel_probs[2:5].sum(axis=0)[liver].max(), rtol=1e-6)
    head = patients.loc["patient_head", [f"p_{c}" for c in LESION_CLASSES]].to_numpy(float)
    assert ((head > 0) & (head < 1)).all()
    assert patients.loc["patient_head", "p_malignant"] == pytest.approx(head[:3].max())


def test_reference_liver_is_used_when_asked(loaded):
    model, settings, _ = loaded
    case = tiny_case()
    pred = predict_case(model, settings, case, use_reference_liver=True)
    np.testing.assert_array_equal(pred.liver, case.liver)
    best = pred.voxel_probs[2:][:, case.liver].max(axis=1)
    got = pred.patients.set_index("rule").loc["max_in_liver", [f"p_{c}" for c in LESION_CLASSES]]
    np.testing.assert_allclose(got.to_numpy(float), best, rtol=1e-6)


def test_cohort_tables_and_written_maps_on_the_image_grid(loaded, tmp_path):
    cases = [tiny_case("a", seed=1), tiny_case("b", seed=2)]
    fine = sitk.Image([64, 64, 16], sitk.sitkUInt8)  # 2x finer in x and y, same extent
    fine.SetSpacing((1.25, 1.25, 5.0))
    fine.SetOrigin((-0.625, -0.625, 0.0))
    cases[1].image_grid = fine
    pred = predict_cohort(loaded, cases, drop_phases=("delayed",))
    assert len(pred.patients) == 6 and pred.patients["rule"].tolist() == list(RULES) * 2
    assert pred.patients.columns.tolist() == ["patient_id", "center", "rule",
                                              *(f"p_{c}" for c in LESION_CLASSES),
                                              "p_malignant"]
    assert set(pred.lesions["patient_id"]) <= {"a", "b"} and pred.drop_phases == ("delayed",)
    write_predictions(pred, cases, tmp_path)
    same = sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "a" / "labels.nii.gz")))
    np.testing.assert_array_equal(same, pred.label_maps["a"])
    written = sitk.ReadImage(str(tmp_path / "b" / "instances.nii.gz"))
    assert written.GetSize() == (64, 64, 16)
    expected = np.repeat(np.repeat(pred.instances["b"], 2, axis=1), 2, axis=2)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(written), expected)
    table = pd.read_csv(tmp_path / "patients.csv")
    np.testing.assert_allclose(table["p_malignant"], pred.patients["p_malignant"])
    assert len(pd.read_csv(tmp_path / "lesions.csv")) == len(pred.lesions)


def test_mismatched_inputs_raise(loaded):
    model, settings, _ = loaded
    other = tiny_case()
    other.intensity = Intensity("ct", 0.0, 1.0, 0.0, 1.0)
    with pytest.raises(DataError, match="intensity=intensity"):
        predict_cohort(loaded, [other])
    with pytest.raises(ConfigError, match="cannot drop phase"):
        predict_case(model, settings, tiny_case(), drop_phases=("portal",))
