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
    confident_instances,
    extract_instances,
    instance_class_probs,
    lesion_aware_probs,
    lesion_decision,
    lesion_table,
    predict_case,
    predict_cohort,
    relabel_instances,
    write_predictions,
)
from livermets.deep.multiphase.network import MultiPhaseSegNet
from livermets.errors import ConfigError, DataError
from livermets.nn.intensity import Intensity
from tests.deep.multiphase.test_data import tiny_case

SETTINGS = make_settings(patch=(16, 16, 8), features=(4, 8), stem_channels=4, embedding_size=4,
                         threads=1, min_lesion_voxels=3)


@pytest.fixture(scope="module")
def loaded():
    """An untrained seeded network with its settings and the tiny cases' intensity; its voxel
    head's biases are zeroed (no rare-lesion prior), so that it predicts lesions."""
    torch.manual_seed(3)
    net = MultiPhaseSegNet(SETTINGS).eval()
    with torch.no_grad():
        net.voxel_head.conv.conv.bias.zero_()
    return net, SETTINGS, tiny_case().intensity


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


def test_hierarchical_lesion_decision_of_a_hand_made_probability_map():
    probs = np.zeros((10, 4, 6, 6), np.float32)
    probs[1] = 1.0  # liver everywhere ...
    probs[:, :, :, 5] = 0.0
    probs[0, :, :, 5] = 1.0  # ... except background in the last column
    # lesion A: 2x2x2, each lesion class < liver, but hcc + metastasis = 0.6 > 0.5
    probs[:, 0:2, 0:2, 0:2] = 0.0
    probs[1, 0:2, 0:2, 0:2] = 0.4
    probs[2, 0:2, 0:2, 0:2] = 0.35  # hcc
    probs[4, 0:2, 0:2, 0:2] = 0.25  # metastasis
    probs[4, 1, 1, 1], probs[2, 1, 1, 1] = 0.35, 0.25  # one voxel votes metastasis
    # lesion B: 2x2x1 of cyst at 0.55 summed (over the threshold), liver 0.45
    probs[:, 3, 3:5, 3:5] = 0.0
    probs[1, 3, 3:5, 3:5], probs[7, 3, 3:5, 3:5] = 0.45, 0.55
    # a lone cyst voxel (dropped: under min_voxels) and a voxel with 0.45 summed (not lesion)
    probs[:, 3, 0, 4] = 0.0
    probs[1, 3, 0, 4], probs[7, 3, 0, 4] = 0.1, 0.9
    probs[:, 2, 4, 0] = 0.0
    probs[1, 2, 4, 0], probs[2, 2, 4, 0] = 0.55, 0.45
    np.testing.assert_allclose(probs.sum(axis=0), 1.0)
    assert (probs.argmax(axis=0) >= 2).sum() == 5  # the plain argmax misses lesion A
    labels, instances = lesion_decision(probs, threshold=0.5, min_voxels=2)
    expected = np.ones((4, 6, 6), np.uint8)
    expected[:, :, 5] = 0
    expected[0:2, 0:2, 0:2] = 2  # hcc
    expected[1, 1, 1] = 4  # metastasis
    expected[3, 3:5, 3:5] = 7  # cyst
    np.testing.assert_array_equal(labels, expected)
    expected_instances = np.zeros((4, 6, 6), np.int32)
    expected_instances[0:2, 0:2, 0:2] = 1
    expected_instances[3, 3:5, 3:5] = 2
    np.testing.assert_array_equal(instances, expected_instances)
    assert (lesion_decision(probs, threshold=0.58, min_voxels=2)[1] > 0).sum() == 8  # A only
    # one class per instance: lesion head says metastasis for A; voxel means say hcc
    head = np.full((2, 8), 0.02)
    head[0, 2], head[1, 5] = 0.86, 0.86
    case = tiny_case()  # only its grid and voxel size are used
    voxel = lesion_table(case, instances, probs, labels, head, LESION_CLASSES, "voxel")
    assert voxel["pred_class"].tolist() == ["hcc", "cyst"]
    assert voxel["voxel_class"].tolist() == ["hcc", "cyst"]
    by_head = lesion_table(case, instances, probs, labels, head, LESION_CLASSES, "head")
    assert by_head["pred_class"].tolist() == ["metastasis", "cyst"]
    both = instance_class_probs(head, np.array([[0.34, 0, 0.26, 0, 0, 0, 0, 0],
                                                [0, 0, 0, 0, 0, 0.55, 0, 0]]), "both")
    np.testing.assert_allclose(both.sum(axis=1), 1.0)
    assert both[0].argmax() == 2  # (0.86 + 0.43) / 2 for metastasis beats (0.02 + 0.57) / 2
    relabelled = relabel_instances(labels, instances, [2, 5])
    assert (relabelled[0:2, 0:2, 0:2] == 4).all() and (relabelled[3, 3:5, 3:5] == 7).all()
    np.testing.assert_array_equal(relabelled[instances == 0], labels[instances == 0])
    with pytest.raises(ConfigError, match="lesion_class_from"):
        instance_class_probs(head, head, "vote")


def test_confidence_filter_and_lesion_aware_probabilities_by_hand():
    instances = np.array([[0, 1, 1, 0, 2, 3, 3]], np.int32)
    head = np.array([[0.9, 0.1], [0.5, 0.5], [0.3, 0.7]])  # max 0.9, 0.5, 0.7
    kept, rows = confident_instances(instances, head, 0.6)
    np.testing.assert_array_equal(kept, [[0, 1, 1, 0, 0, 2, 2]])  # 2 dropped, 3 -> 2
    assert rows.tolist() == [0, 2]
    assert confident_instances(instances, head, 0.0)[1].tolist() == [0, 1, 2]
    empty, none = confident_instances(np.zeros((1, 3), np.int32), np.zeros((0, 2)), 0.5)
    assert not empty.any() and len(none) == 0
    probs = np.zeros((4, 1, 7), np.float32)  # background, liver, 2 lesion classes
    probs[1] = 1.0
    probs[:, 0, 1:3] = [[0, 0], [0.2, 0.4], [0.5, 0.3], [0.3, 0.3]]  # lesion sums 0.8, 0.6
    probs[:, 0, 5:7] = [[0, 0], [0.1, 0.5], [0.6, 0.1], [0.3, 0.4]]  # lesion sums 0.9, 0.5
    probs[:, 0, 3] = [0, 0.1, 0.9, 0.0]  # a lesion-like voxel outside every retained lesion
    aware = lesion_aware_probs(probs, kept, head[rows])
    expected = np.zeros((2, 1, 7), np.float32)
    expected[:, 0, 1] = [0.8 * 0.9, 0.8 * 0.1]
    expected[:, 0, 2] = [0.6 * 0.9, 0.6 * 0.1]
    expected[:, 0, 5] = [0.9 * 0.3, 0.9 * 0.7]
    expected[:, 0, 6] = [0.5 * 0.3, 0.5 * 0.7]
    np.testing.assert_allclose(aware, expected, rtol=1e-6)
    assert not lesion_aware_probs(probs, np.zeros_like(kept), head[:0]).any()


def test_confidence_filter_in_predict_case(loaded):
    model, settings, _ = loaded
    case = tiny_case()
    full = predict_case(model, settings, case)
    p = full.lesions[[f"p_{c}" for c in LESION_CLASSES]].to_numpy(float).max(axis=1)
    assert len(p) >= 1
    for cut in (float(p.min()), float(p.max()) + 1e-3):  # keeps all / drops the most confident
        strict = predict_case(model, settings.model_copy(update={"lesion_min_confidence": cut}),
                              case)
        assert len(strict.lesions) == int((p >= cut).sum())
        np.testing.assert_allclose(strict.lesions["n_voxels"].to_numpy(float),
                                   full.lesions["n_voxels"].to_numpy(float)[p >= cut])
        assert strict.instances.max(initial=0) == len(strict.lesions)
        gone = (full.instances > 0) & (strict.instances == 0)
        assert gone.any() == (cut > p.min())
        np.testing.assert_array_equal(strict.label_map[gone],
                                      full.voxel_probs[:2, gone].argmax(axis=0))
    assert not strict.patients.set_index("rule").loc["max_in_liver", "p_malignant"]


def test_predict_case_with_and_without_the_delayed_phase(loaded):
    model, settings, _ = loaded
    case = tiny_case()
    full = predict_case(model, settings, case)
    dropped = predict_case(model, settings, case, drop_phases=("delayed",))
    lacking = predict_case(model, settings, tiny_case(delayed=False))
    for pred in (full, dropped):
        assert pred.voxel_probs.shape == (10, 16, 32, 32)
        np.testing.assert_allclose(pred.voxel_probs.sum(axis=0), 1.0, atol=1e-5)
        voxel_labels, instances = lesion_decision(pred.voxel_probs, settings.lesion_threshold,
                                                  settings.min_lesion_voxels)
        np.testing.assert_array_equal(pred.instances, instances)
        outside = instances == 0
        np.testing.assert_array_equal(pred.label_map[outside], voxel_labels[outside])
        classes = [LESION_CLASSES.index(c) for c in pred.lesions["pred_class"]]
        for j, k in enumerate(classes, start=1):  # one class per instance
            assert (pred.label_map[instances == j] == 2 + k).all()
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
    # lesion-aware map (default): inside lesion j, summed lesion prob x its head probability
    summed = full.voxel_probs[2:].sum(axis=0)
    peak = np.array([summed[full.instances == j].max() for j in range(1, len(lesions) + 1)])
    head_p = lesions[[f"p_{c}" for c in LESION_CLASSES]].to_numpy(float)
    np.testing.assert_allclose(patients.loc["max_in_liver", "p_hcc"],
                               (peak * head_p[:, 0]).max(), rtol=1e-5)
    np.testing.assert_allclose(patients.loc["max_in_liver", "p_malignant"],
                               (peak * head_p[:, :3].sum(axis=1)).max(), rtol=1e-5)
    voxel = predict_case(model, settings.model_copy(update={"patient_probs": "voxel"}), case)
    patients = voxel.patients.set_index("rule")
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
    pred = predict_case(model, settings.model_copy(update={"patient_probs": "voxel"}), case,
                        use_reference_liver=True)
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
