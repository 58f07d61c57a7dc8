"""Regions, crops, cache and resume, errors table, tiny lesions, patient-level aggregation."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk
from scipy.ndimage import distance_transform_edt

from livermets.cohort import load_manifest
from livermets.lesions import LesionSettings, build_lesion_tables, split_instances
from livermets.radiomics import get_engine, params_from_dict, register_engine
from livermets.radiomics.engines import PyradiomicsEngine
from livermets.radiomics.regions import plan_patient
from livermets.radiomics.runner import extract_cohort
from livermets.radiomics.tables import error_table, feature_table
from tests.radiomics.conftest import write_cohort


def _table(manifest, params, level="lesion", **kwargs):
    result = extract_cohort(load_manifest(manifest), params, **kwargs)
    engine = get_engine(params.engine).version()
    return feature_table(result, params, level, engine), error_table(result), result


def test_lesion_ids_and_sizes_match_the_lesions_table(tmp_path):
    manifest = write_cohort(tmp_path, 2, lesions=((6, 32, 24, 6.0), (6, 30, 38, 4.0),
                                                   (6, 50, 20, 1.0)))  # fmt: skip
    params = params_from_dict({"min_diameter_mm": 5.0})
    table, _, _ = _table(manifest, params)
    lesions, _ = build_lesion_tables(load_manifest(manifest), LesionSettings(min_diameter_mm=5.0))
    merged = table.merge(lesions, on=["patient_id", "lesion_id"], suffixes=("", "_lesions"))
    assert len(table) == len(lesions) == 4  # the 1 mm lesions are dropped by both
    assert np.allclose(merged["volume_ml"], merged["volume_ml_lesions"])
    assert np.allclose(merged["diameter_mm"], merged["diameter_mm_lesions"])
    # lesion volume from the features equals the lesions table's voxel volume
    assert np.allclose(merged["original_shape_VoxelVolume"] / 1000, merged["volume_ml_lesions"])
    assert list(merged["label"]) == ["metastasis", "hemangioma"] * 2
    # the image's voxel spacing as read (x, y, z), for the frozen models' spacing check
    spacing = table[["spacing_x_mm", "spacing_y_mm", "spacing_z_mm"]].to_numpy()
    np.testing.assert_allclose(spacing, [[0.8, 0.8, 2.5]] * 4, rtol=1e-6)


def test_crop_gives_the_features_of_the_whole_image(tmp_path):
    manifest = write_cohort(tmp_path, 1)
    row = load_manifest(manifest).rows()[0]
    image = sitk.ReadImage(str(row.image))
    labels = sitk.GetArrayFromImage(sitk.ReadImage(str(row.masks["lesion_mask"])))
    instance_map, _ = split_instances(labels, 26)
    engine = get_engine("pyradiomics")
    for extraction, tol in (
        ({}, 0.0),
        ({"resampling": {"spacing": [1.0, 1.0, 1.0], "interpolator": "linear"}}, 1e-9),
        ({"image_types": {"log": {"sigma": [1.0, 2.0]}, "wavelet": {}}}, 1e-5),  # float32
    ):  # fmt: skip
        params = params_from_dict({"extraction": extraction})
        table, _, _ = _table(manifest, params)
        for lesion_id in (1, 2):
            full = sitk.GetImageFromArray((instance_map == lesion_id).astype(np.uint8))
            full.CopyInformation(image)
            expected = engine.extract(image, full, params.extraction)
            got = table.loc[table["lesion_id"] == lesion_id].iloc[0]
            for name, value in expected.items():
                assert got[name] == pytest.approx(value, rel=tol, abs=tol), (extraction, name)


def test_regions_rings_liver_primary_extra(tmp_path):
    manifest_path = write_cohort(tmp_path, 1)
    table = pd.read_csv(manifest_path)
    folder = tmp_path / "p1"
    liver = sitk.ReadImage(str(folder / "liver.nii.gz"))
    half = sitk.GetArrayFromImage(liver).copy()
    half[:, :, :28] = 0
    extra = sitk.GetImageFromArray(half)
    extra.CopyInformation(liver)
    sitk.WriteImage(extra, str(folder / "right.nii.gz"))
    table["primary_mask"] = "p1/lesions.nii.gz"
    table["mask_right"] = "p1/right.nii.gz"
    table.to_csv(manifest_path, index=False)
    params = params_from_dict(
        {"extraction": {"feature_classes": ["shape", "firstorder"]},
         "regions": {"ring_mm": [3], "liver": True, "parenchyma": True, "primary": True,
                     "extra": "all"}}
    )  # fmt: skip
    features, errors, _ = _table(manifest_path, params)
    assert errors.empty
    row = features.iloc[0]
    voxel_mm3 = 0.8 * 0.8 * 2.5
    lesions = sitk.GetArrayFromImage(sitk.ReadImage(str(folder / "lesions.nii.gz")))
    liver_arr = sitk.GetArrayFromImage(liver) > 0
    instance_map, _ = split_instances(lesions, 26)
    distance = distance_transform_edt(instance_map != 1, sampling=(2.5, 0.8, 0.8))
    ring = (distance <= 3) & (lesions == 0) & liver_arr
    assert row["ring3mm_original_shape_VoxelVolume"] == pytest.approx(ring.sum() * voxel_mm3)
    assert row["liver_original_shape_VoxelVolume"] == pytest.approx(liver_arr.sum() * voxel_mm3)
    assert row["parenchyma_original_shape_VoxelVolume"] == pytest.approx(
        (liver_arr & (lesions == 0)).sum() * voxel_mm3
    )
    assert row["primary_original_shape_VoxelVolume"] == pytest.approx(
        (lesions > 0).sum() * voxel_mm3
    )
    assert row["right_original_shape_VoxelVolume"] == pytest.approx((half > 0).sum() * voxel_mm3)
    ct = sitk.GetArrayFromImage(sitk.ReadImage(str(folder / "ct.nii.gz")))
    assert row["ring3mm_original_firstorder_Mean"] == pytest.approx(ct[ring].mean())
    assert row["lesion_original_firstorder_Mean"] == pytest.approx(ct[instance_map == 1].mean())


def test_missing_liver_is_reported_not_fatal(tmp_path):
    manifest_path = write_cohort(tmp_path, 1)
    table = pd.read_csv(manifest_path).drop(columns=["liver_mask"])
    table.to_csv(manifest_path, index=False)
    params = params_from_dict({"regions": {"ring_mm": [5], "liver": True}})
    features, errors, _ = _table(manifest_path, params)
    assert len(features) == 2 and features["lesion_original_glcm_Contrast"].notna().all()
    assert errors["message"].str.contains("no liver_mask").tolist() == [True]


def test_cache_resume_and_params_change(tmp_path):
    manifest = write_cohort(tmp_path / "c", 2)
    cache = tmp_path / "cache"
    params = params_from_dict({"regions": {"ring_mm": [4], "liver": True}})
    first, _, run1 = _table(manifest, params, cache_dir=cache)
    assert (run1.stats.n_regions_computed, run1.stats.n_regions_cached) == (10, 0)
    assert (cache / "cache.parquet").is_file() and not list((cache / "parts").glob("*"))
    second, _, run2 = _table(manifest, params, cache_dir=cache)
    assert (run2.stats.n_regions_computed, run2.stats.n_regions_cached) == (0, 10)
    pd.testing.assert_frame_equal(first, second)
    # a new ring width only computes the new ring; a new bin width recomputes all
    wider = params_from_dict({"regions": {"ring_mm": [4, 6], "liver": True}})
    _, _, run3 = _table(manifest, wider, cache_dir=cache)
    assert (run3.stats.n_regions_computed, run3.stats.n_regions_cached) == (4, 10)
    coarser = params_from_dict(
        {"extraction": {"discretisation": {"bin_width": 50}}, "regions": {"liver": True}}
    )
    _, _, run4 = _table(manifest, coarser, cache_dir=cache)
    assert (run4.stats.n_regions_computed, run4.stats.n_regions_cached) == (6, 0)


class _FailOnSmall(PyradiomicsEngine):
    """A test engine that fails on regions under 200 voxels (to exercise the errors table)."""

    name = "fail-small"

    def extract(self, image, mask, extraction, *, texture=True):
        """Fail on small regions, else pyradiomics."""
        if int(sitk.GetArrayViewFromImage(mask).sum()) < 200:
            raise RuntimeError("synthetic failure on a small region")
        return super().extract(image, mask, extraction, texture=texture)


def test_failing_region_goes_to_the_errors_table(tmp_path):
    register_engine("fail-small", _FailOnSmall)
    manifest = write_cohort(tmp_path, 2)
    params = params_from_dict({"engine": "fail-small"})
    features, errors, result = _table(manifest, params, cache_dir=tmp_path / "cache")
    assert result.stats.n_errors == 2
    assert errors[["patient_id", "lesion_id", "region", "kind"]].values.tolist() == [
        ["p1", 2, "lesion", "error"], ["p2", 2, "lesion", "error"],
    ]  # fmt: skip
    assert errors["message"].str.contains("RuntimeError: synthetic failure").all()
    assert features.loc[features["lesion_id"] == 1, "original_glcm_Contrast"].notna().all()
    assert features.loc[features["lesion_id"] == 2, "original_glcm_Contrast"].isna().all()
    # errors are not cached: a re-run retries them
    _, _, again = _table(manifest, params, cache_dir=tmp_path / "cache")
    assert (again.stats.n_regions_cached, again.stats.n_errors) == (2, 2)


def test_tiny_lesions_get_shape_and_first_order_with_a_reason(tmp_path):
    manifest = write_cohort(tmp_path, 1, lesions=((6, 32, 24, 6.0), (6, 50, 20, 0.5)))
    params = params_from_dict({"min_diameter_mm": 0.0})
    features, errors, result = _table(manifest, params)
    tiny = features.loc[features["lesion_id"] == 2].iloc[0]
    assert tiny["original_shape_VoxelVolume"] == pytest.approx(0.8 * 0.8 * 2.5)
    ct = sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "p1" / "ct.nii.gz")))
    assert tiny["original_firstorder_Mean"] == ct[6, 50, 20]
    assert math.isnan(tiny["original_glcm_Contrast"])
    assert features.loc[features["lesion_id"] == 1, "original_glcm_Contrast"].notna().all()
    assert result.stats.n_texture_skipped == 1
    (reason,) = errors.loc[errors["kind"] == "texture_skipped", "message"]
    assert reason.startswith("1 voxel(s) < texture_min_voxels=27: glcm, glrlm, glszm, gldm")


@pytest.mark.parametrize("rule", ["largest", "volume_weighted_mean", "max"])
def test_patient_level_aggregation(tmp_path, rule):
    manifest = write_cohort(tmp_path, 2)
    params = params_from_dict({"aggregation": rule, "regions": {"liver": True}})
    lesions, _, _ = _table(manifest, params, cache_dir=tmp_path / "cache")
    patients, _, _ = _table(manifest, params, level="patient", cache_dir=tmp_path / "cache")
    assert list(patients["n_lesions"]) == [2, 2]
    assert patients["spacing_z_mm"].tolist() == pytest.approx([2.5, 2.5])
    name = "lesion_original_firstorder_Mean"
    for pid, group in lesions.groupby("patient_id"):
        got = patients.loc[patients["patient_id"] == pid, name].item()
        if rule == "largest":
            expected = group.loc[group["volume_ml"].idxmax(), name]
        elif rule == "max":
            expected = group[name].max()
        else:
            expected = np.average(group[name], weights=group["volume_ml"])
        assert got == pytest.approx(expected)
        liver = patients.loc[patients["patient_id"] == pid, "liver_original_firstorder_Mean"]
        assert liver.item() == group["liver_original_firstorder_Mean"].iloc[0]


def test_plan_loads_each_image_once(tmp_path, monkeypatch):
    manifest = write_cohort(tmp_path, 1)
    import livermets.radiomics.regions as regions

    calls = []
    original = regions.read_image
    monkeypatch.setattr(regions, "read_image", lambda p: calls.append(p) or original(p))
    params = params_from_dict({"regions": {"ring_mm": [3, 5], "liver": True, "parenchyma": True}})
    plan = plan_patient(load_manifest(manifest).rows()[0], params)
    assert len(calls) == 1
    assert [len(t.regions) for t in plan.tasks] == [2, 3, 3]  # liver+parenchyma, 2x lesion+rings
