"""Multi-phase cases: phases on one grid, class labels per instance, cache, missing phases."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

from livermets.deep.multiphase.config import LESION_CLASSES, make_settings
from livermets.deep.multiphase.data import MultiphaseCase, load_cases
from livermets.errors import DataError
from livermets.io import read_image
from livermets.nn.grid import image_on_grid
from livermets.nn.intensity import Intensity

SETTINGS = make_settings(spacing_mm=(6.0, 6.0, 10.0), patch=(16, 16, 8), features=(4, 8),
                         stem_channels=4, embedding_size=4)


def ball(shape, centre, radius) -> np.ndarray:
    """Boolean ball (in voxels) in a (z, y, x) grid."""
    z, y, x = np.indices(shape)
    return (z - centre[0]) ** 2 + (y - centre[1]) ** 2 + (x - centre[2]) ** 2 <= radius**2


def tiny_case(pid: str = "t1", shape=(16, 32, 32), delayed: bool = True, seed: int = 0,
              classes=("hcc", "cyst")) -> MultiphaseCase:
    """A hand-made 4-phase case: liver, lesion 1 of classes[0], lesion 2 of classes[1]."""
    rng = np.random.default_rng(seed)
    z, y, x = np.indices(shape)
    cz, cy, cx = (s // 2 for s in shape)
    liver = ((z - cz) / (cz - 0.5)) ** 2 + ((y - cy) / (cy - 3)) ** 2 + ((x - cx) / (cx - 3)) ** 2
    liver = liver <= 1
    instances = np.zeros(shape, np.int32)
    instances[ball(shape, (cz, cy - 6, cx - 4), 3) & liver] = 1
    instances[ball(shape, (cz, cy + 6, cx + 4), 3) & liver] = 2
    labels = liver.astype(np.uint8)
    image = np.full((4, *shape), -2.0, np.float32)
    image[:, liver] = 0.0
    enhancement = {1: (-0.5, 2.0, 0.2, -0.5), 2: (-1.5, -1.5, -1.5, -1.5)}
    for lesion, name in zip((1, 2), classes, strict=True):
        labels[instances == lesion] = 2 + LESION_CLASSES.index(name)
        for p, value in enumerate(enhancement[lesion]):
            image[p][instances == lesion] = value
    image += rng.normal(0, 0.1, image.shape).astype(np.float32)
    present = np.array([True, True, True, delayed])
    if not delayed:
        image[3] = 0.0
    grid = sitk.Image([shape[2], shape[1], shape[0]], sitk.sitkUInt8)
    grid.SetSpacing((2.5, 2.5, 5.0))
    return MultiphaseCase(pid, "A", image, present, labels, instances,
                          {1: classes[0], 2: classes[1]}, liver, (5.0, 2.5, 2.5), grid,
                          sitk.Image(grid), Intensity("ct", -100, 200, 50, 50),
                          tuple(SETTINGS.phases))


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    """Two synthetic 4-phase patients at 4x coarser voxels: the manifest path."""
    from livermets.synth import generate_cohort, make_config

    out = tmp_path_factory.mktemp("mp_cohort")
    return generate_cohort(make_config("multiphase-multiclass", 2, 3, centres=1, scale=4.0),
                           out, workers=1).manifest


def _variant(manifest, name: str, **changes) -> str:
    """A copy of the manifest beside it with cells changed: {column: {patient: value}}."""
    table = pd.read_csv(manifest, dtype={"patient_id": str})
    for column, cells in changes.items():
        for pid, value in cells.items():
            table.loc[table["patient_id"] == pid, column] = value
    path = manifest.parent / name
    table.to_csv(path, index=False)
    return path


def test_instance_classes_match_lesion_label_files(cohort):
    cases = load_cases(cohort, SETTINGS)
    manifest = pd.read_csv(cohort, dtype={"patient_id": str}).set_index("patient_id")
    assert [c.patient_id for c in cases] == ["P0001", "P0002"]
    for case in cases:
        table = pd.read_csv(cohort.parent / manifest.loc[case.patient_id, "lesion_labels"])
        assert case.instance_classes == dict(zip(table["lesion_label"], table["label"],
                                                 strict=True))
        assert case.image.shape[0] == 4 and case.present.tolist() == [True] * 4
        for lesion, name in case.instance_classes.items():
            inside = case.instances == lesion
            assert inside.any()
            assert set(np.unique(case.labels[inside])) == {2 + LESION_CLASSES.index(name)}
        assert set(np.unique(case.labels[case.liver & (case.instances == 0)])) == {1}
        assert not case.liver[case.labels == 0].any()
        np.testing.assert_array_equal(case.class_targets(LESION_CLASSES),
                                      [c in case.instance_classes.values()
                                       for c in LESION_CLASSES])


def test_phases_resampled_in_order_with_one_shared_normalisation(cohort):
    cases = load_cases(cohort, SETTINGS)
    case = cases[0]
    arterial = read_image(cohort.parent / "patients/P0001/ct_arterial.nii.gz")
    expected = case.intensity.apply(image_on_grid(arterial, case.grid))
    np.testing.assert_allclose(case.image[1], expected, atol=1e-5)
    assert not np.allclose(case.image[1], case.image[2])
    inside = np.concatenate([c.image[:, c.liver].ravel() for c in cases])
    clipped = (np.clip(inside * case.intensity.std + case.intensity.mean, case.intensity.low,
                       case.intensity.high) - case.intensity.mean) / case.intensity.std
    assert abs(clipped.mean()) < 1e-3 and abs(clipped.std() - 1.0) < 1e-3
    assert case.spacing_zyx == (10.0, 6.0, 6.0)
    assert case.voxel_ml == pytest.approx(0.36)
    assert case.image_grid.GetSize() == arterial.GetSize()


def test_second_load_reads_the_cache_only(cohort, tmp_path, monkeypatch):
    first = load_cases(cohort, SETTINGS, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("*.npz"))) == 2

    def no_read(*args, **kwargs):
        raise AssertionError("a NIfTI file was read")

    monkeypatch.setattr(sitk, "ReadImage", no_read)
    second = load_cases(cohort, SETTINGS, cache_dir=tmp_path)
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a.image, b.image)
        np.testing.assert_array_equal(a.labels, b.labels)
        np.testing.assert_array_equal(a.instances, b.instances)
        assert a.instance_classes == b.instance_classes and a.intensity == b.intensity
        assert a.grid.GetOrigin() == b.grid.GetOrigin()
    with pytest.raises(AssertionError, match="NIfTI"):  # other settings: not in the cache
        load_cases(cohort, SETTINGS.model_copy(update={"spacing_mm": (5.0, 5.0, 10.0)}),
                   cache_dir=tmp_path)


def test_missing_delayed_phase_is_absent_and_zero(cohort):
    path = _variant(cohort, "no_delayed.csv", image_delayed={"P0002": ""})
    full = load_cases(cohort, SETTINGS)[1]
    partial = load_cases(path, SETTINGS, intensity=full.intensity)[1]
    assert partial.present.tolist() == [True, True, True, False]
    assert not partial.image[3].any()
    np.testing.assert_array_equal(partial.image[:3], full.image[:3])


def test_new_patients_reuse_the_given_normalisation(cohort):
    intensity = Intensity("ct", -50.0, 250.0, 100.0, 40.0)
    path = _variant(cohort, "no_masks.csv", lesion_mask={"P0001": "", "P0002": ""})
    case = load_cases(path, SETTINGS, intensity=intensity)[0]
    assert case.labels is None and case.instances is None and case.instance_classes == {}
    venous = read_image(cohort.parent / "patients/P0001/ct_venous.nii.gz")
    np.testing.assert_allclose(case.image[2], intensity.apply(image_on_grid(venous, case.grid)),
                               atol=1e-5)


@pytest.mark.parametrize(("changes", "message"), [
    ({"image_venous": {"P0001": ""}}, "P0001 has no venous"),
    ({"lesion_labels": {"P0002": "bad_labels.csv"}}, r"'tumourx'.*'hcc', 'icc'"),
])
def test_unusable_patients_raise(cohort, changes, message):
    pd.DataFrame({"lesion_label": [1], "label": ["tumourx"]}).to_csv(
        cohort.parent / "bad_labels.csv", index=False)
    with pytest.raises(DataError, match=message):
        load_cases(_variant(cohort, "bad.csv", **changes), SETTINGS)
